"""Service operations: the platform-owned allowlist that BPMN service tasks may name.

A service task in a tenant's definition says *what* should happen
(``<spiffworkflow:serviceTaskOperator id="notify">``) and with which parameters; it never says *how*.
At runtime nothing is executed inline: ``SafeScriptEngine.call_service`` checks the parameters against the
operation declared here and records a side effect, which the runner writes to the outbox in the same
transaction as the workflow state. Workers execute it after commit (DESIGN §2.4, "Outbox").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .errors import OperationError

PARAM_TYPES = ("str", "int", "number", "bool", "date", "list", "dict")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Operation:
    name: str
    description: str
    params: tuple[Param, ...]

    @property
    def param_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.params)

    def coerce_params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check evaluated parameter values and return a JSON-serialisable copy, or raise OperationError."""
        unknown = sorted(set(values) - self.param_names)
        if unknown:
            raise OperationError(
                f"操作 {self.name} に引数 {', '.join(unknown)} はありません / "
                f"operation '{self.name}' has no parameter(s) {', '.join(unknown)}"
            )
        result: dict[str, Any] = {}
        for param in self.params:
            if param.name not in values or values[param.name] is None:
                if param.required:
                    raise OperationError(
                        f"操作 {self.name} の引数 {param.name} は必須です / "
                        f"operation '{self.name}' requires parameter '{param.name}'"
                    )
                continue
            result[param.name] = _coerce(self.name, param, values[param.name])
        return result


def _coerce(operation: str, param: Param, value: Any) -> Any:
    ok: bool
    if param.type == "str":
        ok = isinstance(value, str)
    elif param.type == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif param.type == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif param.type == "bool":
        ok = isinstance(value, bool)
    elif param.type == "date":
        if isinstance(value, date | datetime):
            return value.isoformat()
        ok = isinstance(value, str)
        if ok:
            try:
                date.fromisoformat(value[:10])
            except ValueError:
                ok = False
    elif param.type == "list":
        ok = isinstance(value, list | tuple) and all(isinstance(v, str | int | float | bool) for v in value)
        value = list(value) if ok else value
    else:  # dict
        ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if not ok:
        raise OperationError(
            f"操作 {operation} の引数 {param.name} は {param.type} 型です / "
            f"parameter '{param.name}' of '{operation}' must be of type {param.type}, got {type(value).__name__}"
        )
    return value


def _op(name: str, description: str, *params: Param) -> Operation:
    return Operation(name, description, params)


# The case and org unit an effect applies to are bound by the runner from the process instance, never
# taken from parameters: a definition must not be able to point an effect at another case.
OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        _op(
            "notify",
            "通知を送る — send a notification (e-mail / in-app) about the case",
            Param("template", "str", True, "notification template key"),
            Param("role", "str", False, "role (key or Japanese label) whose members are notified"),
            Param("to_assignee", "bool", False, "notify the case's current assignee"),
            Param("subject", "str", False, "subject line override"),
            Param("message", "str", False, "free text appended to the template"),
        ),
        _op(
            "schedule_meeting",
            "支援調整会議を登録する — create the plan coordination meeting and invite attendees",
            Param("scope", "str", False, "scheduled / adhoc / adhoc_internal"),
            Param("meeting_date", "date", False, "date of the meeting (ISO)"),
            Param("meeting_time", "str", False, "start time, HH:MM"),
            Param("purpose", "str", False, "purpose shown on the invitation"),
        ),
        _op(
            "record_statistic",
            "統計を記録する — record a value for the statutory statistics",
            Param("metric", "str", True, "metric key"),
            Param("value", "number", False, "value (default 1)"),
            Param("category", "str", False, "breakdown category"),
        ),
        _op(
            "add_to_agenda",
            "会議の議題に追加する — put the case on the next regular meeting with capacity",
            Param("purpose", "str", True, "agenda item kind, e.g. plan_review"),
            Param("after_the_fact_report", "bool", False, "report of support already started (事後報告)"),
            Param("priority", "int", False, "ordering on the agenda (lower first)"),
            Param("due", "date", False, "latest meeting date for the item"),
        ),
        _op(
            "export_case",
            "ケース記録を出力する — export the case record",
            Param("format", "str", True, "pdf / csv / json"),
            Param("destination", "str", False, "configured export destination key"),
            Param("include_history", "bool", False, "include the full task history"),
            Param("sections", "list", False, "sections to include"),
        ),
    )
}


def get_operation(name: str) -> Operation:
    """Return the operation called ``name`` or raise ``OperationError``."""
    try:
        return OPERATIONS[name]
    except KeyError:
        known = ", ".join(sorted(OPERATIONS))
        raise OperationError(
            f"サービス操作 {name} はありません / unknown service operation '{name}' (known: {known})"
        ) from None


#: What an operation does, registered by the module that owns its effect (``meetings.tasks`` for
#: ``add_to_agenda`` and ``schedule_meeting``): ``fn(session, payload)`` with the outbox payload — ``case_id``,
#: ``process_instance_id``, ``params`` (already checked). The engine knows no domain module: it only calls
#: what was registered here; an operation nobody registered is logged and otherwise does nothing.
Executor = Callable[[Any, dict[str, Any]], None]
_executors: dict[str, Executor] = {}


def register_executor(name: str, fn: Executor) -> Executor:
    get_operation(name)  # only allowlisted operations
    existing = _executors.get(name)
    if existing is not None and existing is not fn and _qual(existing) != _qual(fn):
        raise ValueError(f"operation {name!r} already has an executor ({_qual(existing)})")
    _executors[name] = fn
    return fn


def executor_for(name: str) -> Executor | None:
    return _executors.get(name)


def _qual(fn: Executor) -> str:
    return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"
