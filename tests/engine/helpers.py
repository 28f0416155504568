"""Small builders for BPMN snippets used by the engine unit tests."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                  id="Definitions_t" targetNamespace="http://tsunagu.example/bpmn">
"""


def form_task(task_id: str = "intake", form: str = "intake", extra: str = "") -> str:
    return f"""
    <bpmn:userTask id="{task_id}" name="タスク">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formKey" value="{form}" />
        </spiffworkflow:properties>{extra}
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>"""


def process(middle: str | None = None, *, lanes: str = "", extra: str = "", process_id: str = "p") -> bytes:
    """A start → ``middle`` (a task with incoming f1 / outgoing f2) → end process."""
    middle = form_task() if middle is None else middle
    return (
        HEADER
        + f"""
  <bpmn:process id="{process_id}" isExecutable="true">{lanes}
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    {middle}
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="{_task_id(middle)}" />
    <bpmn:sequenceFlow id="f2" sourceRef="{_task_id(middle)}" targetRef="end" />{extra}
  </bpmn:process>
</bpmn:definitions>
"""
    ).encode("utf-8")


def _task_id(middle: str) -> str:
    start = middle.index('id="') + 4
    return middle[start : middle.index('"', start)]


FORM = b'{"components": [], "type": "default"}'


def bundle(bpmn: bytes, *, name: str = "t.bpmn", forms: tuple[str, ...] = ("intake",)) -> dict[str, bytes]:
    files = {name: bpmn}
    files.update({f"forms/{form}.form": FORM for form in forms})
    return files


def fixture_files(name: str) -> dict[str, bytes]:
    """``{relative path: bytes}`` of the fixture bundle directory ``name``."""
    root = FIXTURES / name
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def round_trip_state(workflow: object) -> tuple[str, object]:
    """``(state, resolver)`` for an in-memory workflow: its stored form and a resolver that hands back its
    own specs (what the per-process cache does for a deployment)."""
    import uuid

    from tsunagu.engine import spiff
    from tsunagu.engine.serialization import ResolvedSpecs, SpecRef

    wf = workflow  # a BpmnWorkflow
    ref = SpecRef.of(uuid.UUID(int=0), wf.spec.name, {})  # type: ignore[attr-defined]
    specs = ResolvedSpecs.of(wf.spec, wf.subprocess_specs)  # type: ignore[attr-defined]
    return spiff.dumps(wf, ref), lambda _ref: specs  # type: ignore[arg-type]


def round_trip(workflow: object) -> object:
    """Store and restore an in-memory workflow through the platform's serializer."""
    from tsunagu.engine import spiff

    state, resolve = round_trip_state(workflow)
    return spiff.loads(state, resolve)
