"""The stored form of a workflow: dynamic state only, definitions by reference, compact UTF-8 JSON."""

from __future__ import annotations

import json
import uuid

import pytest
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_VERSION

from tests.workflows import samples
from tests.workflows.driver import CaseDriver, FakeClock, drive_to_delivery
from tsunagu.engine import spiff
from tsunagu.engine.serialization import (
    ResolvedSpecs,
    SpecCache,
    SpecRef,
    attach_specs,
    detach_specs,
    spec_ref_of,
)

REF = SpecRef.of(uuid.UUID("12345678-1234-5678-1234-567812345678"), "casework", {"meeting": "meeting_hybrid"})


def _case_in_delivery() -> CaseDriver:
    with FakeClock() as clock:
        case = CaseDriver(meeting="meeting_hybrid", clock=clock)
        drive_to_delivery(case, plan={"end_in_days": 3000})
        clock.advance(days=31)
        case.refresh()
        case.complete("monitoring", samples.monitoring())
    return case


def _specs(case: CaseDriver) -> ResolvedSpecs:
    return ResolvedSpecs.of(case.workflow.spec, case.workflow.subprocess_specs)


def _tasks(workflow: object) -> list[tuple[str, int, str, str]]:
    wf = workflow
    return sorted(
        (str(t.id), t.state, t.task_spec.name, json.dumps(t.data, sort_keys=True, default=str))
        for w in [wf, *wf.subprocesses.values()]  # type: ignore[attr-defined]
        for t in w.tasks.values()
    )


def test_the_stored_form_holds_no_definitions_only_a_reference() -> None:
    case = _case_in_delivery()
    state = spiff.dumps(case.workflow, REF)
    dct = json.loads(state)
    assert "spec" not in dct and "subprocess_specs" not in dct
    assert dct["spec_ref"] == {
        "deployment": "12345678-1234-5678-1234-567812345678",
        "process": "casework",
        "aliases": {"meeting": "meeting_hybrid"},
    }
    assert spec_ref_of(state) == REF
    # Spiff's own format version, with no migration pending for it: Spiff's migrations apply on upgrades.
    assert dct["serializer_version"] == SPIFF_VERSION and SPIFF_VERSION not in MIGRATIONS
    full = spiff.full_serializer().serialize_json(case.workflow)
    assert len(state) < 0.5 * len(full)


def test_json_is_compact_utf8() -> None:
    case = _case_in_delivery()
    state = spiff.dumps(case.workflow, REF)
    assert "山田 花子" in state and "\\u" not in state
    assert ", " not in state and ": " not in state.replace("山田 花子", "")


def test_restoring_takes_the_specs_from_the_resolver_and_keeps_every_task() -> None:
    case = _case_in_delivery()
    specs = _specs(case)
    asked: list[SpecRef] = []

    def resolve(ref: SpecRef) -> ResolvedSpecs:
        asked.append(ref)
        return specs

    restored = spiff.loads(spiff.dumps(case.workflow, REF), resolve)
    assert asked == [REF]
    assert restored.spec is specs.spec
    assert restored.subprocess_specs == dict(specs.subprocess_specs)
    assert restored.subprocess_specs is not specs.subprocess_specs  # each workflow has its own mapping
    assert _tasks(restored) == _tasks(case.workflow)
    assert isinstance(restored.script_engine, spiff.SafeScriptEngine)
    with pytest.raises(ValueError, match="resolver"):
        spiff.loads(spiff.dumps(case.workflow, REF))


def test_rows_in_spiffs_full_form_still_load() -> None:
    case = _case_in_delivery()
    legacy = spiff.full_serializer().serialize_json(case.workflow)
    restored = spiff.loads(legacy)  # no resolver needed: the specs are inline
    assert _tasks(restored) == _tasks(case.workflow)
    assert spec_ref_of(legacy) is None


def test_detach_then_attach_gives_back_what_spiff_reads() -> None:
    case = _case_in_delivery()
    legacy = spiff.full_serializer().serialize_json(case.workflow)
    referenced = detach_specs(legacy, REF)
    assert spec_ref_of(referenced) == REF and "subprocess_specs" not in json.loads(referenced)
    assert _tasks(spiff.loads(referenced, lambda _ref: _specs(case))) == _tasks(case.workflow)
    assert detach_specs(referenced, REF) == referenced  # converting twice changes nothing
    full = attach_specs(spiff.full_serializer(), referenced, _specs(case))
    assert json.loads(full)["spec"] == json.loads(legacy)["spec"]
    assert json.loads(full)["subprocess_specs"] == json.loads(legacy)["subprocess_specs"]
    assert _tasks(spiff.full_serializer().deserialize_json(full)) == _tasks(case.workflow)


def test_spec_cache_is_a_bounded_lru_that_builds_each_key_once() -> None:
    cache = SpecCache(size=2)
    built: list[str] = []
    case = _case_in_delivery()

    def build(name: str) -> ResolvedSpecs:
        built.append(name)
        return _specs(case)

    first = cache.get("a", lambda: build("a"))
    assert cache.get("a", lambda: build("a")) is first
    cache.get("b", lambda: build("b"))
    cache.get("a", lambda: build("a"))  # a is now the most recent
    cache.get("c", lambda: build("c"))  # evicts b
    assert len(cache) == 2
    cache.get("b", lambda: build("b"))
    assert built == ["a", "b", "c", "b"]
    assert (cache.hits, cache.misses) == (2, 4)
