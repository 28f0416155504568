"""Reading the API's error ``details`` (a list of ``{field | file, line, element, code, message}``) in tests."""

from __future__ import annotations

from typing import Any


def _details(body: Any) -> list[dict[str, Any]]:
    details = body["error"]["details"]
    assert isinstance(details, list), details
    return details


def problems(body: Any) -> list[str]:
    """Definition problems as ``"file:line: [element] message"`` (``?`` for an unknown line)."""
    out = []
    for d in _details(body):
        if "file" in d:
            element = f"[{d['element']}] " if d.get("element") else ""
            out.append(f"{d['file']}:{d.get('line', '?')}: {element}{d['message']}")
        else:
            out.append(d["message"])
    return out


def fields(body: Any) -> dict[str, list[str]]:
    """Per-field messages, ``{field: [message, ...]}`` in the order given."""
    out: dict[str, list[str]] = {}
    for d in _details(body):
        if "field" in d:
            out.setdefault(d["field"], []).append(d["message"])
    return out


def facts(body: Any) -> dict[str, Any]:
    """The one details entry that is not about a field (e.g. a workflow error's element and incident)."""
    (entry,) = [d for d in _details(body) if "field" not in d]
    return entry
