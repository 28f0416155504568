"""SpiffWorkflow 3.2 integration: script engine, parser, definition bundles and the serializer.

* ``SafeScriptEngine`` routes every expression Spiff evaluates (gateway conditions, timers, DMN cells,
  service parameters, message payloads and correlations) through ``expressions``; scripts never run and
  service tasks only *record* an outbox side effect (see ``collect_side_effects``).
* ``load_definitions`` parses uploaded files with ``safe_xml`` before Spiff sees them.
* ``resolve_specs`` maps the ``calledElement="meeting"`` alias to the tenant's chosen meeting process.
* ``dumps``/``loads`` use Spiff's versioned serializer with the definitions stored by reference
  (``serialization``); ``loads`` re-attaches the safe engine.

Timers and messages are in ``events`` and re-exported here.
"""

from __future__ import annotations

import json
import threading
from collections import ChainMap
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from . import expressions, serialization
from .errors import DefinitionError, ExpressionError, OperationError, Problem
from .events import deliver_message, fire_timer, timer_due_at, waiting_timers
from .operations import get_operation
from .policy import script_problems
from .safe_xml import parse_xml

SCRIPTS_REFUSED = "スクリプトは実行できません / scripts are not allowed in Tsunagu workflows"
DEFAULT_ALIASES: Mapping[str, str] = {"meeting": "meeting_hybrid"}

# --- script engine ----------------------------------------------------------------------------------------

_pending_side_effects: ContextVar[list[dict[str, Any]] | None] = ContextVar(
    "pending_side_effects", default=None
)


@contextmanager
def collect_side_effects() -> Iterator[list[dict[str, Any]]]:
    """Collect the service calls made while the block runs (write them to the outbox in the same transaction).

    Each item is ``{"operation", "params", "task_id", "task_spec"}``; ``task_id`` makes a natural
    idempotency key. Service tasks reached outside this block fail instead of losing the side effect.
    """
    effects: list[dict[str, Any]] = []
    token = _pending_side_effects.set(effects)
    try:
        yield effects
    finally:
        _pending_side_effects.reset(token)


class SafeEnvironment(BasePythonScriptEngineEnvironment):
    """Spiff calls the environment directly for correlations and process conditions — make it safe too."""

    def evaluate(self, expression: str, context: Any, external_context: Any = None) -> Any:
        return expressions.evaluate(expression, ChainMap(context or {}, external_context or {}))

    def execute(self, script: str, context: Any, external_context: Any = None) -> Any:
        raise ExpressionError(SCRIPTS_REFUSED)

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        raise ExpressionError(
            "サービスはエンジンから呼び出します / services are called via the script engine"
        )


class SafeScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(environment=SafeEnvironment())

    def validate(self, expression: str) -> None:
        # DMNEngine.needs_eq relies on SyntaxError to tell "'high'" from ">= 3".
        try:
            expressions.compile_expression(expression)
        except ExpressionError as exc:
            if exc.syntax:
                raise SyntaxError(exc.message) from None
            raise

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> Any:
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except ExpressionError as exc:
            raise WorkflowTaskException(f"{exc.message} — {expression!r}", task=task, exception=exc) from exc

    def execute(self, task: Any, script: str, external_context: Any = None) -> Any:
        raise WorkflowTaskException(SCRIPTS_REFUSED, task=task)

    def call_service(
        self,
        task: Any,
        operation_name: str | None = None,
        operation_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> str:
        effects = _pending_side_effects.get()
        try:
            if effects is None:
                raise OperationError(
                    "副作用の記録先がありません / no side-effect collector is active (use collect_side_effects())"
                )
            operation = get_operation(operation_name or "")
            values = {
                name: value["value"] if isinstance(value, Mapping) and "value" in value else value
                for name, value in (operation_params or {}).items()
            }
            params = operation.coerce_params(values)
        except OperationError as exc:
            raise WorkflowTaskException(str(exc), task=task, exception=exc) from exc
        effects.append(
            {
                "operation": operation.name,
                "params": params,
                "task_id": str(task.id),
                "task_spec": task.task_spec.bpmn_id or task.task_spec.name,
            }
        )
        # ServiceTask._execute json.loads() this into task.data[result_variable].
        return json.dumps({"queued": True, "operation": operation.name})


def new_workflow(spec: BpmnProcessSpec, subprocess_specs: Mapping[str, BpmnProcessSpec]) -> BpmnWorkflow:
    return BpmnWorkflow(spec, dict(subprocess_specs), script_engine=SafeScriptEngine())


# --- parsing ----------------------------------------------------------------------------------------------


class TsunaguBpmnParser(SpiffBpmnParser):  # type: ignore[misc]
    """Spiff's parser (with DMN and ``spiffworkflow:calledDecisionId``) that refuses scripts on its own,
    so that no code path can load a definition with a script even if validation was skipped."""

    def add_bpmn_xml(self, bpmn: Any, filename: str | None = None) -> None:
        root = bpmn.getroot() if hasattr(bpmn, "getroot") else bpmn
        found = script_problems(root, filename or "")
        if found:
            exc = ValidationException(found[0].message, file_name=filename, id=found[0].element_id or "")
            exc.line_number = found[0].line
            raise exc
        super().add_bpmn_xml(bpmn, filename)


def build_parser(*, validate_schema: bool = True) -> TsunaguBpmnParser:
    """A fresh parser; with ``validate_schema`` the BPMN (and DMN) XML schemas are enforced."""
    return TsunaguBpmnParser(validator=VALIDATOR if validate_schema else None)


@dataclass
class ParsedBundle:
    parser: TsunaguBpmnParser
    specs: dict[str, BpmnProcessSpec]
    subprocess_specs: dict[str, dict[str, BpmnProcessSpec | None]]
    process_files: dict[str, str] = field(default_factory=dict)

    @property
    def top_level_ids(self) -> list[str]:
        """Processes not called by another process of the bundle."""
        called = {name for subs in self.subprocess_specs.values() for name in subs}
        return sorted(pid for pid in self.specs if pid not in called)


def _line_for(roots: Mapping[str, etree._Element], filename: str, element_id: str) -> int | None:
    root = roots.get(filename)
    if root is None or not element_id:
        return None
    for element in root.iter():
        if isinstance(element.tag, str) and element.get("id") == element_id:
            return element.sourceline
    return None


def spiff_problem(exc: Exception, roots: Mapping[str, etree._Element], default_file: str) -> Problem:
    """Turn a Spiff ``ValidationException`` (or a stray parser error) into a ``Problem`` with a line."""
    if isinstance(exc, ValidationException):
        filename = exc.file_name or default_file
        element_id = exc.id or None
        line = exc.line_number if isinstance(exc.line_number, int) else None
        if line is None and element_id:
            line = _line_for(roots, filename, element_id)
        message = str(exc.args[0]) if exc.args else str(exc)
        return Problem(filename, line, element_id, f"定義を読み込めません / {message}")
    return Problem(default_file, None, None, f"定義を読み込めません / cannot load definition: {exc!r}")


def load_definitions(files: Mapping[str, bytes], *, validate_schema: bool = True) -> ParsedBundle:
    """Parse ``{filename: bytes}`` (``*.bpmn``, ``*.dmn``; other files ignored) into process specs.

    Raises ``DefinitionError`` listing every problem found.
    """
    parser = build_parser(validate_schema=validate_schema)
    roots: dict[str, etree._Element] = {}
    problems: list[Problem] = []
    for name in sorted(files):
        if not name.endswith((".bpmn", ".dmn")):
            continue
        try:
            roots[name] = parse_xml(files[name], filename=name)
        except DefinitionError as exc:
            problems.extend(exc.problems)
    # DMN first: business rule tasks look their decision up while the BPMN is parsed.
    for name in sorted(roots, key=lambda n: (not n.endswith(".dmn"), n)):
        try:
            if name.endswith(".dmn"):
                parser.add_dmn_xml(roots[name], filename=name)
            else:
                parser.add_bpmn_xml(roots[name], filename=name)
        except Exception as exc:  # Spiff raises ValidationException, but also KeyError etc. on odd XML
            problems.append(spiff_problem(exc, roots, name))
    bundle = ParsedBundle(parser, {}, {})
    for pid in parser.get_process_ids():
        filename = parser.get_process_parser(pid).filename or ""
        bundle.process_files[pid] = filename
        try:
            bundle.specs[pid] = parser.get_spec(pid)
            bundle.subprocess_specs[pid] = parser.get_subprocess_specs(pid, require_call_activity_specs=False)
        except Exception as exc:
            problems.append(spiff_problem(exc, roots, filename))
    if problems:
        raise DefinitionError(problems)
    return bundle


def resolve_specs(
    bundle: ParsedBundle, top_process_id: str, aliases: Mapping[str, str] | None = None
) -> tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]:
    """The spec and subprocess specs for ``top_process_id``, with each alias (a ``calledElement`` that is
    not a process, e.g. ``meeting``) bound to the chosen process (e.g. ``meeting_hybrid``).

    Spiff looks subprocess specs up by the ``calledElement`` string, so the alias key simply maps to the
    chosen spec; the mapping is serialized with the workflow, so running instances keep their choice.
    """
    aliases = DEFAULT_ALIASES if aliases is None else aliases
    if top_process_id not in bundle.specs:
        raise DefinitionError(
            [
                Problem(
                    "",
                    None,
                    top_process_id,
                    f"プロセス {top_process_id} がありません / process '{top_process_id}' not found",
                )
            ]
        )
    resolved: dict[str, BpmnProcessSpec] = {}

    def add(subprocesses: Mapping[str, BpmnProcessSpec | None]) -> None:
        # Embedded subprocesses and event subprocesses come with their spec; aliases and calls to other
        # processes of the bundle are looked up (with their own subprocesses).
        for name, spec in subprocesses.items():
            if name in resolved:
                continue
            if spec is not None and name not in aliases:
                resolved[name] = spec
                continue
            target = aliases.get(name, name)
            found = bundle.specs.get(target)
            if found is None:
                raise DefinitionError(
                    [
                        Problem(
                            bundle.process_files.get(top_process_id, ""),
                            None,
                            name,
                            f"呼び出し先 {name} を解決できません / cannot resolve called element '{name}' "
                            f"(alias target '{target}' not found)",
                        )
                    ]
                )
            resolved[name] = found
            add(bundle.subprocess_specs.get(target, {}))

    add(bundle.subprocess_specs.get(top_process_id, {}))
    return bundle.specs[top_process_id], resolved


# --- serializer -------------------------------------------------------------------------------------------

# What is stored is described in ``serialization``: Spiff's format with the specs by reference. We keep
# Spiff's own format version so that Spiff's migrations keep applying after upgrades.
SERIALIZER_VERSION: str = serialization.SERIALIZER_VERSION
_lock = threading.Lock()
DESERIALIZE_COUNT = 0
_serializer: BpmnWorkflowSerializer | None = None
_full_serializer: BpmnWorkflowSerializer | None = None


def _registry() -> Any:
    registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
    return registry


def serializer() -> BpmnWorkflowSerializer:
    """The serializer of stored states: Spiff's registry with the referencing workflow converter."""
    global _serializer
    if _serializer is None:
        _serializer = BpmnWorkflowSerializer(serialization.configure(_registry()), version=SERIALIZER_VERSION)
    return _serializer


def full_serializer() -> BpmnWorkflowSerializer:
    """Spiff's default serializer (specs inline), with the platform's data types: the engine floor's yardstick
    and the form rows had before migration 0009."""
    global _full_serializer
    if _full_serializer is None:
        _full_serializer = BpmnWorkflowSerializer(_registry(), version=SERIALIZER_VERSION)
    return _full_serializer


def dumps(workflow: BpmnWorkflow, ref: serialization.SpecRef) -> str:
    """The stored form: dynamic state and a reference to the definitions (see ``serialization``)."""
    return serialization.dumps(serializer(), workflow, ref)


def loads(state: str, resolve: serialization.SpecResolver | None = None) -> BpmnWorkflow:
    """Restore a stored state (either form); referenced specs come from ``resolve``."""
    global DESERIALIZE_COUNT
    with _lock:
        DESERIALIZE_COUNT += 1
    workflow = serialization.loads(serializer(), state, resolve)
    workflow.script_engine = SafeScriptEngine()
    return workflow


def deserialize_count() -> int:
    """How many times ``loads`` ran in this process (tests prove the inbox never deserializes)."""
    return DESERIALIZE_COUNT


__all__ = [
    "DEFAULT_ALIASES",
    "SERIALIZER_VERSION",
    "ParsedBundle",
    "SafeScriptEngine",
    "TsunaguBpmnParser",
    "build_parser",
    "collect_side_effects",
    "deliver_message",
    "deserialize_count",
    "dumps",
    "fire_timer",
    "full_serializer",
    "load_definitions",
    "loads",
    "new_workflow",
    "resolve_specs",
    "serializer",
    "timer_due_at",
    "waiting_timers",
]
