"""Definition size: the bench completion against a casework definition ten times larger.

``bigger_library`` writes a copy of the standard library whose ``casework`` process carries an embedded
subprocess of many user tasks behind a screening outcome no form can send (``'bench_unused'``): the
process and every path the bench case takes are unchanged, the parsed definition (``spec`` +
``subprocess_specs`` as Spiff serializes them) is ``FACTOR`` times larger. The level then runs the same cases

* in memory, before and now (Spiff's full round trip; the platform's stored form), on both definitions;
* through the services on PostgreSQL in two tenants with the same meeting style, one on the library, the
  other with the larger definition deployed,

the cases alternating between the two definitions (so that both see the same machine), and reports the cost
per completion on the larger definition over the standard one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import BenchError, log, ratio, summarize_ms
from .floor import load_library, run_case

FACTOR = 10
#: Hybrid meetings like the bench tenant, used by no other level: the library in one, the 10× definition in
#: the other.
DEFSIZE_TENANTS = ("demo", "kunitachi")
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}


def spec_bytes(library: Any) -> int:
    """Size of the parsed definition as Spiff's serializer writes it into every instance row (before)."""
    from tsunagu.engine.spiff import full_serializer

    registry = full_serializer().registry
    specs = [
        registry.convert(library.spec),
        {k: registry.convert(v) for k, v in library.subprocess_specs.items()},
    ]
    return len(json.dumps(specs))


def _grow(casework_xml: bytes, extra_tasks: int, chain: int = 10) -> bytes:
    """Hang an embedded subprocess off ``gw_screening`` behind a condition no form can meet, holding
    ``extra_tasks`` user tasks in chains of ``chain`` (Spiff's parser recurses along a chain). An embedded
    subprocess is predicted by the engine only once entered, so the bench case's state does not change."""
    from lxml import etree

    root = etree.fromstring(casework_xml)
    process = root.find("bpmn:process[@id='casework']", NS)
    if process is None:
        raise BenchError("the library has no casework process to grow")
    gateway = process.find("bpmn:exclusiveGateway[@id='gw_screening']", NS)
    lane = process.find(".//bpmn:lane[@id='Lane_consultant']", NS)
    if gateway is None or lane is None:
        raise BenchError("the casework definition has no gw_screening / Lane_consultant to grow from")
    bpmn = "{" + NS["bpmn"] + "}"
    spiff = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
    xsi_type = "{http://www.w3.org/2001/XMLSchema-instance}type"

    def node(
        parent: Any, tag: str, node_id: str, incoming: list[str], outgoing: list[str], **attrs: str
    ) -> Any:
        element = etree.SubElement(parent, bpmn + tag, id=node_id, **attrs)
        for flow_id in incoming:
            etree.SubElement(element, bpmn + "incoming").text = flow_id
        for flow_id in outgoing:
            etree.SubElement(element, bpmn + "outgoing").text = flow_id
        return element

    def flow(parent: Any, flow_id: str, source: str, target: str, condition: str | None = None) -> None:
        element = etree.SubElement(
            parent, bpmn + "sequenceFlow", id=flow_id, sourceRef=source, targetRef=target
        )
        if condition:
            expr = etree.SubElement(element, bpmn + "conditionExpression")
            expr.set(xsi_type, "bpmn:tFormalExpression")
            expr.text = condition

    etree.SubElement(gateway, bpmn + "outgoing").text = "Flow_bench_in"
    sub = node(
        process, "subProcess", "bench_unused", ["Flow_bench_in"], ["Flow_bench_out"], name="未使用の手順"
    )
    node(process, "endEvent", "end_bench_unused", ["Flow_bench_out"], [], name="未使用")
    for node_id in ("bench_unused", "end_bench_unused"):
        etree.SubElement(lane, bpmn + "flowNodeRef").text = node_id
    flow(process, "Flow_bench_in", "gw_screening", "bench_unused", "screening_outcome == 'bench_unused'")
    flow(process, "Flow_bench_out", "bench_unused", "end_bench_unused")

    branches = max(1, -(-extra_tasks // chain))
    node(sub, "startEvent", "bench_start", [], ["Flow_bench_s"])
    fan_out = [f"Flow_bench_b{b}_0" for b in range(branches)] + ["Flow_bench_default"]
    node(sub, "exclusiveGateway", "bench_fan", ["Flow_bench_s"], fan_out, default="Flow_bench_default")
    ends = [f"Flow_bench_b{b}_{chain}" for b in range(branches)] + ["Flow_bench_default"]
    node(sub, "endEvent", "bench_end", ends, [])
    flow(sub, "Flow_bench_s", "bench_start", "bench_fan")
    flow(sub, "Flow_bench_default", "bench_fan", "bench_end")
    for b in range(branches):
        previous = "bench_fan"
        for n in range(1, chain + 1):
            task_id = f"bench_unused_{b}_{n}"
            task = node(sub, "userTask", task_id, [f"Flow_bench_b{b}_{n - 1}"], [f"Flow_bench_b{b}_{n}"])
            task.set("name", f"未使用の手順 {b}-{n}")
            documentation = etree.Element(bpmn + "documentation")
            documentation.text = "Generated by the benchmark (definition size level): never reached."
            task.insert(0, documentation)
            ext = etree.Element(bpmn + "extensionElements")
            props = etree.SubElement(ext, spiff + "properties")
            etree.SubElement(props, spiff + "property", name="formKey", value="monitoring")
            etree.SubElement(props, spiff + "property", name="dueInDays", value="7")
            task.insert(1, ext)
            condition = f"bench_branch == {b}" if n == 1 else None
            flow(sub, f"Flow_bench_b{b}_{n - 1}", previous, task_id, condition)
            previous = task_id
        flow(sub, f"Flow_bench_b{b}_{chain}", previous, "bench_end")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def bigger_library(workflows_dir: Path, target: Path, factor: int = FACTOR) -> dict[str, Any]:
    """Copy the library to ``target`` with ``casework`` grown until its parsed definition is ``factor``×."""
    base = spec_bytes(load_library(workflows_dir))
    casework = (workflows_dir / "casework" / "casework.bpmn").read_bytes()
    extra = 100
    for _ in range(8):
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(workflows_dir, target)
        (target / "casework" / "casework.bpmn").write_bytes(_grow(casework, extra))
        size = spec_bytes(load_library(target))
        if size >= factor * base:
            return {"extra_tasks": extra, "spec_bytes": size, "base_spec_bytes": base, "factor": size / base}
        extra = int(extra * (factor * base) / size) + 10
    raise BenchError("could not grow the casework definition to the wanted size")


def _memory(workflows_dir: Path, big_dir: Path, cases: int, stored: bool) -> dict[str, Any]:
    """The same cases on both definitions, alternating case by case so that both see the same machine."""
    libraries = {"standard": load_library(workflows_dir), "bigger": load_library(big_dir)}
    steps: dict[str, list[Any]] = {"standard": [], "bigger": []}
    for n in range(-2, cases):
        for label, library in libraries.items():
            done = [s for s in run_case(library, n, stored=stored).steps if s.kind == "task"]
            if n >= 0:  # the first two of each are warm-up
                steps[label].extend(done)
    result: dict[str, Any] = {
        label: {
            "per_task_ms": summarize_ms([s.total for s in taken]),
            "state_bytes_max": max(s.state_bytes for s in taken),
        }
        for label, taken in steps.items()
    }
    result["ratio"] = ratio(
        result["bigger"]["per_task_ms"]["mean"], result["standard"]["per_task_ms"]["mean"]
    )
    return result


def run_defsize(
    runtime: Any,
    workflows_dir: Path,
    work: Path,
    cases: int,
    progress: Callable[[str], None] = log,
) -> dict[str, Any]:
    from tsunagu.cases.services import LANE_ROLES
    from tsunagu.core.session import transaction
    from tsunagu.engine.definitions import deploy, read_library

    from .service import prepare_tenant, without_broker
    from .service import run_case as service_case

    big_dir = work / "workflows-bigger"
    grown = bigger_library(workflows_dir, big_dir)
    progress(
        f"definition size: casework grown by {grown['extra_tasks']} unused tasks, "
        f"{grown['base_spec_bytes'] / 1024:.0f} KiB → {grown['spec_bytes'] / 1024:.0f} KiB ({grown['factor']:.1f}×)"
    )
    memory = {
        label: _memory(workflows_dir, big_dir, cases, stored)
        for label, stored in (("before", False), ("now", True))
    }

    # Two tenants with the same meeting style, used by no other level: one runs the library, the other the
    # larger definition as its first deployment; their cases alternate.
    runtime = without_broker(runtime)
    tenants = {
        "standard": (prepare_tenant(runtime, DEFSIZE_TENANTS[0], clients=0), workflows_dir),
        "bigger": (prepare_tenant(runtime, DEFSIZE_TENANTS[1], clients=0), big_dir),
    }
    with transaction(runtime.sessions, tenants["bigger"][0].tenant_id) as session:
        deploy(
            session, read_library(big_dir), lanes=LANE_ROLES, source="upload", note="bench: 10x definition"
        )
    times: dict[str, list[float]] = {"standard": [], "bigger": []}
    for n in range(-2, cases):
        for label, (bench, directory) in tenants.items():
            done = service_case(runtime, bench, directory, 20_000 + n)
            if n >= 0:
                times[label].extend(t for _, t in done.tasks)
    standard = {"per_task_ms": summarize_ms(times["standard"])}
    bigger = {"per_task_ms": summarize_ms(times["bigger"])}
    result = {
        "definition": grown,
        "memory": memory,
        "service": {
            "standard": standard,
            "bigger": bigger,
            "ratio": ratio(bigger["per_task_ms"]["mean"], standard["per_task_ms"]["mean"]),
        },
    }
    progress(
        f"definition size: service {standard['per_task_ms']['mean']:.2f} → {bigger['per_task_ms']['mean']:.2f} ms "
        f"per completion ({result['service']['ratio']:.2f}×); in memory before "
        f"{memory['before']['ratio']:.2f}×, now {memory['now']['ratio']:.2f}×"
    )
    return result
