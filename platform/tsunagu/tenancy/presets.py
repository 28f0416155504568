"""Tenant presets: ``tenants/<slug>.toml`` — the schema, loading and validation.

A preset describes one municipality (自治体): its registry entry, its org units (区・課・委託先), the identity
provider block, the meeting configuration (開催パターン, DESIGN 1.3/1.4) and workflow settings. Validation has
two stages: a JSON Schema (Draft 2020-12, ``additionalProperties: false`` everywhere, so a misspelt key fails
instead of being silently ignored), then semantic checks the schema cannot express (recurrence rules, ISO 8601
durations, org-unit references, consistency between sections). Semantic checks run once a file matches the
schema, so they can rely on the types.

Every problem is reported as ``file: key.path[0].leaf: reason`` so the person editing the file knows where to
look; all files are checked and every problem is listed, not only the first.

The schema and the wording of its errors live in :mod:`.preset_schema`, the semantic checks in
:mod:`.preset_checks`; this module loads and validates files and is the one other modules import.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .preset_checks import duration_minutes, parse_duration, parse_recurrence, semantic_issues
from .preset_schema import (
    ADHOC_PARTICIPANTS,
    CASE_KINDS,
    HOLIDAY_POLICIES,
    MEETING_KINDS,
    MEETING_STYLES,
    PRESET_SCHEMA,
    SLUG_RE,
    STYLE_PROCESS,
    VALIDATOR,
    PresetIssue,
    document_order,
    format_key_path,
    schema_issues,
)

__all__ = [
    "ADHOC_PARTICIPANTS",
    "CASE_KINDS",
    "HOLIDAY_POLICIES",
    "MEETING_KINDS",
    "MEETING_STYLES",
    "PRESET_SCHEMA",
    "SETTINGS_SECTIONS",
    "SLUG_RE",
    "STYLE_PROCESS",
    "OrgUnitPreset",
    "PresetError",
    "PresetIssue",
    "TenantPreset",
    "display_path",
    "duration_minutes",
    "format_key_path",
    "load_preset",
    "load_presets",
    "parse_duration",
    "parse_recurrence",
    "validate_preset",
]

SETTINGS_SECTIONS = ("meetings", "identity_provider", "workflow")
#: Sections a preset may leave out (their keys all have defaults).
OPTIONAL_SECTIONS = ("notifications", "partners", "reports")


# ---------------------------------------------------------------------------------------------------------
# Results and errors


class PresetError(ValueError):
    """One or more preset files are invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: Iterable[PresetIssue]) -> None:
        self.issues: list[PresetIssue] = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


@dataclass(frozen=True)
class OrgUnitPreset:
    code: str
    name: str
    name_kana: str
    kind: str
    parent: str | None = None
    #: codes of the units this one oversees (the municipality's department over its contracted agency)
    oversees: tuple[str, ...] = ()


@dataclass(frozen=True)
class TenantPreset:
    """A validated preset. ``org_units`` come parents first; ``settings`` is what ``Tenant.settings`` holds."""

    file: Path
    slug: str
    name: str
    name_kana: str
    name_en: str
    prefecture_code: str
    population: int
    status: str
    org_units: tuple[OrgUnitPreset, ...]
    settings: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------
# Loading


def load_presets(directory: Path) -> list[TenantPreset]:
    """Every ``*.toml`` in ``directory``, validated; raises :class:`PresetError` listing all problems."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PresetError([PresetIssue(display_path(directory), "", "no such directory")])
    files = sorted(p for p in directory.glob("*.toml") if not p.name.startswith("."))
    if not files:
        raise PresetError([PresetIssue(display_path(directory), "", "no tenant presets (*.toml) found")])
    presets: list[TenantPreset] = []
    issues: list[PresetIssue] = []
    for path in files:
        try:
            presets.append(load_preset(path))
        except PresetError as exc:
            issues.extend(exc.issues)
    if issues:
        raise PresetError(issues)
    return presets


def load_preset(path: Path) -> TenantPreset:
    path = Path(path)
    shown = display_path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PresetError([_toml_issue(shown, exc)]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError([PresetIssue(shown, "", f"cannot read file: {exc}")]) from exc
    issues = validate_preset(data, file=shown, expected_slug=path.stem)
    if issues:
        raise PresetError(issues)
    return _build(path, data)


def validate_preset(
    data: Mapping[str, Any], *, file: str, expected_slug: str | None = None
) -> list[PresetIssue]:
    """All problems in one parsed preset: schema first; semantic checks once the schema is satisfied."""
    raw = [schema_issues(file, error) for error in VALIDATOR.iter_errors(data)]
    found = [issue for group in raw for issue in group]
    if found:
        return sorted(found, key=lambda i: document_order(data, i.key_path))
    return semantic_issues(data, file, expected_slug)


def display_path(path: Path) -> str:
    """``tenants/x.toml`` when under the working directory, the full path otherwise."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _toml_issue(file: str, exc: tomllib.TOMLDecodeError) -> PresetIssue:
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)$", message)
    if match is None:
        return PresetIssue(file, "", f"invalid TOML: {message}")
    reason = message[: match.start()].strip()
    return PresetIssue(file, "", f"invalid TOML: {reason} (column {match[2]})", line=int(match[1]))


def _build(path: Path, data: Mapping[str, Any]) -> TenantPreset:
    units = [
        OrgUnitPreset(**{"name_kana": "", **unit, "oversees": tuple(unit.get("oversees", ()))})
        for unit in data["org_units"]
    ]
    registry = ("slug", "name", "name_kana", "name_en", "prefecture_code", "population", "status")
    return TenantPreset(
        file=path,
        org_units=tuple(_parents_first(units)),
        settings={
            **{section: data[section] for section in SETTINGS_SECTIONS},
            **{section: data[section] for section in OPTIONAL_SECTIONS if section in data},
        },
        **{key: data[key] for key in registry},
    )


def _parents_first(units: list[OrgUnitPreset]) -> list[OrgUnitPreset]:
    placed: set[str] = set()
    ordered: list[OrgUnitPreset] = []
    pending = list(units)
    while pending:  # validation guarantees every parent exists and there is no cycle
        waiting = []
        for unit in pending:
            if unit.parent is None or unit.parent in placed:
                ordered.append(unit)
                placed.add(unit.code)
            else:
                waiting.append(unit)
        pending = waiting
    return ordered
