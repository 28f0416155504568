"""Structured errors for workflow definitions and expressions.

Messages are written "日本語 / English" so that both the municipal staff who upload a definition and the
engineers who read logs can act on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition: where (file, line, element) and why."""

    file: str
    line: int | None
    element_id: str | None
    message: str

    def __str__(self) -> str:
        line = self.line if self.line is not None else "?"
        element = f"[{self.element_id}] " if self.element_id else ""
        return f"{self.file}:{line}: {element}{self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "element_id": self.element_id, "message": self.message}


class DefinitionError(Exception):
    """A definition (BPMN, DMN, form) cannot be accepted. Carries every problem found, not only the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid definition")


class ExpressionError(ValueError):
    """An expression was refused (at compile time) or failed (at evaluation time).

    ``syntax`` is true when the source does not parse as Python; the DMN engine relies on telling the two
    apart (see ``SafeScriptEngine.validate``).
    """

    def __init__(self, message: str, *, syntax: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.syntax = syntax


class OperationError(ValueError):
    """A service task names an operation, or passes parameters, outside the platform allowlist."""


class EngineFault(Exception):
    """A command failed inside the workflow (a condition that raises, a DMN table with no matching rule, an
    expression error, a refused service call). Nothing the command did is kept; the caller records an
    incident and tells the user what failed where."""

    def __init__(self, command: str, element: str, element_name: str, error: str) -> None:
        self.command = command
        self.element = element
        self.element_name = element_name
        self.error = error
        super().__init__(f"{command} failed at {element or '?'}: {error}")

    @classmethod
    def from_exception(cls, command: str, exc: Exception) -> EngineFault:
        task = getattr(exc, "task", None)
        spec = getattr(task, "task_spec", None) or getattr(exc, "task_spec", None)
        element = str(getattr(spec, "bpmn_id", None) or getattr(spec, "name", "") or "")
        name = str(getattr(spec, "bpmn_name", None) or "")
        message = str(exc.args[0]) if getattr(exc, "args", None) else str(exc)
        return cls(command, element, name, f"{type(exc).__name__}: {message}"[:2000])
