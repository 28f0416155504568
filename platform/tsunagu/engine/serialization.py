"""What a process instance row stores, and how it is read back.

The row holds only the *dynamic* state of a workflow — its task trees, data, events — in SpiffWorkflow's own
serializer format (``serializer_version`` kept, so Spiff's migrations still apply), with one difference:
instead of ``spec`` and ``subprocess_specs`` (every process definition the instance may run, about half of the
JSON and a third of the time to restore it) it holds a *reference* to them::

    {"typename": "BpmnWorkflow", "tasks": {...}, "subprocesses": {...}, ...,
     "serializer_version": "1.5", "tsunagu_format": 2,
     "spec_ref": {"deployment": "<uuid>", "process": "casework", "aliases": {"meeting": "meeting_hybrid"}}}

The deployment is parsed once per process (``definitions.load_deployment``); the specs an instance needs —
the process with each alias bound (``spiff.resolve_specs``) — are cached per process in :class:`SpecCache`
(bounded LRU, keyed by tenant, deployment, process and aliases) and plugged into Spiff's own workflow
converter through the serializer registry (:class:`ReferencedWorkflowConverter`), not a fork. Specs are
shared by every workflow restored from them and never written to: Spiff keeps per-instance state in tasks
and workflows only (``tests/engine/test_serialization.py`` checks that a case run leaves them unchanged).
Each workflow gets its own copy of the subprocess-spec mapping.

A row without ``tsunagu_format`` is Spiff's full form (specs inline, as stored before migration ``0009``):
it still loads, so instances keep running whichever form they are in. JSON is written compactly: UTF-8
(no ``\\u`` escapes) and no whitespace.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    TaskConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_SERIALIZER_VERSION
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task

#: Spiff's own format version, kept so that Spiff's migrations keep applying after upgrades.
SERIALIZER_VERSION: str = SPIFF_SERIALIZER_VERSION
VERSION_KEY = BpmnWorkflowSerializer.VERSION_KEY
FORMAT_KEY = "tsunagu_format"
#: 2 = definitions by reference (``spec_ref``); absent = Spiff's full form with ``spec``/``subprocess_specs``.
FORMAT = 2
SPEC_REF_KEY = "spec_ref"


@dataclass(frozen=True)
class SpecRef:
    """Which definitions an instance runs: its deployment, its process and the aliases bound at start."""

    deployment_id: uuid.UUID
    process_id: str
    aliases: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, deployment_id: uuid.UUID, process_id: str, aliases: Mapping[str, str]) -> SpecRef:
        return cls(deployment_id, process_id, tuple(sorted(aliases.items())))

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": str(self.deployment_id),
            "process": self.process_id,
            "aliases": dict(self.aliases),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> SpecRef:
        return cls.of(uuid.UUID(str(value["deployment"])), str(value["process"]), value.get("aliases") or {})


@dataclass(frozen=True)
class ResolvedSpecs:
    """The top process spec and its subprocess specs (aliases bound), shared read-only by many workflows."""

    spec: BpmnProcessSpec
    subprocess_specs: Mapping[str, BpmnProcessSpec]

    @classmethod
    def of(cls, spec: BpmnProcessSpec, subprocess_specs: Mapping[str, BpmnProcessSpec]) -> ResolvedSpecs:
        return cls(spec, MappingProxyType(dict(subprocess_specs)))

    def new_workflow(self, script_engine: Any) -> BpmnWorkflow:
        return BpmnWorkflow(self.spec, dict(self.subprocess_specs), script_engine=script_engine)


SpecResolver = Callable[[SpecRef], ResolvedSpecs]


class SpecCache:
    """A bounded, thread-safe LRU of :class:`ResolvedSpecs` (one per process, shared by all its sessions)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[Any, ResolvedSpecs] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Any, build: Callable[[], ResolvedSpecs]) -> ResolvedSpecs:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        built = build()  # outside the lock: parsing a deployment on a miss may take a while
        with self._lock:
            found = self._items.setdefault(key, built)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return found

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class ReferencedWorkflowConverter(BpmnWorkflowConverter):  # type: ignore[misc]
    """Spiff's top-level workflow converter, minus the specs: they come from the cache when restoring.

    ``to_dict`` writes what Spiff's converter writes except ``spec`` and ``subprocess_specs``. ``from_dict``
    with ``specs`` hands the already-restored spec objects to Spiff's own ``from_dict`` (the registry passes
    objects that are not dictionaries through unchanged); without, it is Spiff's full restore.
    """

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], specs: ResolvedSpecs | None = None) -> BpmnWorkflow:
        if specs is not None:
            dct["spec"] = specs.spec
            dct["subprocess_specs"] = dict(specs.subprocess_specs)
        workflow: BpmnWorkflow = super().from_dict(dct)
        return workflow


class TaskDataConverter(TaskConverter):  # type: ignore[misc]
    """Spiff's task converter (data stored as a delta from the parent task's data), except for tasks with no
    data at all — predicted tasks, which get their data when they become ready: Spiff writes their delta as
    "delete every key of the parent", we write the empty data itself. Same layout; Spiff's ``from_dict``
    reads both."""

    def to_dict(self, task: Task) -> dict[str, Any]:
        if task.data or task.parent is None:
            dct: dict[str, Any] = super().to_dict(task)
            return dct
        return {
            "id": str(task.id),
            "parent": str(task._parent),
            "children": [str(child) for child in task._children],
            "last_state_change": task.last_state_change,
            "state": task.state,
            "task_spec": task.task_spec.name,
            "triggered": task.triggered,
            "internal_data": self.registry.convert(task.internal_data),
            "data": {},
            "delta": {},
        }


def configure(registry: Any) -> Any:
    """Register the referencing workflow converter and the task converter in a Spiff registry."""
    ReferencedWorkflowConverter(BpmnWorkflow, registry)
    TaskDataConverter(Task, registry)
    return registry


def dumps(serializer: BpmnWorkflowSerializer, workflow: BpmnWorkflow, ref: SpecRef) -> str:
    """The stored form of ``workflow``: dynamic state plus ``spec_ref``, compact UTF-8 JSON."""
    registry = serializer.registry
    registry._encoder_mode = True  # as Spiff's serialize_json: data is converted by the JSON encoder
    try:
        dct = registry.convert(workflow)
        dct[VERSION_KEY] = serializer.VERSION
        dct[FORMAT_KEY] = FORMAT
        dct[SPEC_REF_KEY] = ref.to_json()
        return json.dumps(dct, cls=serializer._encoder_cls, ensure_ascii=False, separators=(",", ":"))
    finally:
        registry._encoder_mode = False


def loads(serializer: BpmnWorkflowSerializer, state: str, resolve: SpecResolver | None) -> BpmnWorkflow:
    """Restore a workflow from either stored form; referenced specs are asked of ``resolve``."""
    dct = json.loads(state)
    ref = dct.pop(SPEC_REF_KEY, None)
    dct.pop(FORMAT_KEY, None)
    serializer.migrate(dct)  # Spiff's own migrations, on Spiff's own layout (pops serializer_version)
    specs = None
    if ref is not None:
        if resolve is None:
            raise ValueError("this state refers to its definitions; a spec resolver is needed to load it")
        specs = resolve(SpecRef.from_json(ref))
    workflow: BpmnWorkflow = serializer.registry.restore(dct, specs=specs)
    return workflow


def spec_ref_of(state: str | Mapping[str, Any]) -> SpecRef | None:
    """The reference a stored state holds, or None for Spiff's full form."""
    dct = json.loads(state) if isinstance(state, str) else state
    ref = dct.get(SPEC_REF_KEY)
    return SpecRef.from_json(ref) if ref is not None else None


# --- converting stored rows (migration 0009) ----------------------------------------------------------------


def detach_specs(state: str, ref: SpecRef) -> str:
    """Spiff's full form → the referenced form (specs dropped, ``spec_ref`` added, compact JSON).

    Works on the JSON alone: the specs dropped are the ones the deployment parses to, so nothing is lost.
    Already-referenced states are only re-encoded compactly.
    """
    dct = json.loads(state)
    dct.pop("spec", None)
    dct.pop("subprocess_specs", None)
    dct[FORMAT_KEY] = FORMAT
    dct.setdefault(SPEC_REF_KEY, ref.to_json())
    return json.dumps(dct, ensure_ascii=False, separators=(",", ":"))


def attach_specs(serializer: BpmnWorkflowSerializer, state: str, specs: ResolvedSpecs) -> str:
    """The referenced form → Spiff's full form (what ``BpmnWorkflowSerializer.serialize_json`` writes)."""
    dct = json.loads(state)
    if SPEC_REF_KEY not in dct:
        return state
    dct.pop(SPEC_REF_KEY)
    dct.pop(FORMAT_KEY, None)
    registry = serializer.registry
    dct["spec"] = registry.convert(specs.spec)
    dct["subprocess_specs"] = {name: registry.convert(spec) for name, spec in specs.subprocess_specs.items()}
    return json.dumps(dct)


# --- the per-process cache, fed from deployments -------------------------------------------------------------

#: Resolved specs per (tenant, deployment, process, aliases); deployments are immutable, so entries never go
#: stale, and the bound keeps memory flat however many versions tenants deploy.
SPEC_CACHE = SpecCache(size=256)


def resolver_for(session: Any) -> SpecResolver:
    """Resolve references within ``session``'s tenant: from the cache, else from the parsed deployment."""
    tenant_id = session.require_tenant_id()

    def resolve(ref: SpecRef) -> ResolvedSpecs:
        def build() -> ResolvedSpecs:
            from .definitions import load_deployment
            from .spiff import resolve_specs

            deployment = load_deployment(session, ref.deployment_id)
            spec, subprocess_specs = resolve_specs(deployment.bundle, ref.process_id, dict(ref.aliases))
            return ResolvedSpecs.of(spec, subprocess_specs)

        return SPEC_CACHE.get((tenant_id, ref), build)

    return resolve
