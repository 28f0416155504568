"""Hostile diagrams: script-bearing XHTML/SVG and javascript:/data: URLs are refused at upload, each with
file, line and element, like every other validation problem."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from tests.engine.helpers import bundle, form_task, process
from tsunagu.cases.services import LANE_ROLES
from tsunagu.engine import validation
from tsunagu.engine.errors import Problem

validate_bundle = partial(validation.validate_bundle, lanes=LANE_ROLES)

#: Outside ``fixtures/`` (whose bundles must all validate): every way the file hides something runs script.
HOSTILE = Path(__file__).parent / "hostile"
XHTML = 'xmlns:xhtml="http://www.w3.org/1999/xhtml"'
SVG = 'xmlns:svg="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


def _with_namespaces(bpmn: bytes) -> bytes:
    return bpmn.replace(b"<bpmn:definitions ", f"<bpmn:definitions {XHTML} {SVG} ".encode(), 1)


def _documented(documentation: str) -> dict[str, bytes]:
    task = form_task().replace(
        '<bpmn:userTask id="intake" name="タスク">',
        f'<bpmn:userTask id="intake" name="タスク">\n      <bpmn:documentation>{documentation}</bpmn:documentation>',
    )
    return bundle(_with_namespaces(process(task)))


def _extension(markup: str) -> dict[str, bytes]:
    return bundle(_with_namespaces(process(form_task(extra="\n        " + markup))))


def _markup_problems(files: dict[str, bytes]) -> list[Problem]:
    return [p for p in validate_bundle(files) if "/" in p.message and "not allowed" in p.message]


def test_the_hostile_fixture_is_refused_at_every_place_it_hides_something():
    files = {
        p.relative_to(HOSTILE).as_posix(): p.read_bytes() for p in sorted(HOSTILE.rglob("*")) if p.is_file()
    }
    problems = validate_bundle(files)
    found = {(p.line, p.element_id) for p in problems}
    assert (2, None) in found  # <?xml-stylesheet?> before the root
    assert (13, "hostile") in found  # <xhtml:img onerror> in the process documentation
    assert (16, "intake") in found  # escaped <img onerror> in a task's documentation
    assert {(21, "intake")} <= found  # <svg:svg onload><svg:foreignObject><xhtml:script> in extensions
    assert (26, "end") in found  # <xhtml:a href=" java\tscript:">
    assert (32, "start_di") in found  # xlink:href="javascript:" on a DI shape
    assert (35, "intake_di") in found  # svg:onmouseover on a DI shape
    assert (40, "end_di") in found  # data: URL in a DI label
    assert all(p.file == "hostile.bpmn" for p in problems)
    messages = " ".join(p.message for p in problems)
    for fragment in (
        "onerror",
        "onload",
        "<foreignObject>",
        "<script>",
        "onmouseover",
        "javascript:",
        "<?...?>",
    ):
        assert fragment in messages, fragment


@pytest.mark.parametrize(
    ("documentation", "fragment"),
    [
        ('<xhtml:img src="x" onerror="alert(1)"/>', "onerror"),
        ("<xhtml:script>alert(1)</xhtml:script>", "<script>"),
        ('<xhtml:a href="javascript:alert(1)">x</xhtml:a>', "javascript:"),
        ('<xhtml:a href="JaVa&#10;Script:alert(1)">x</xhtml:a>', "javascript:"),
        ('<xhtml:iframe src="https://evil.example"/>', "<iframe>"),
        ("&lt;img src=x onerror=alert(1)&gt;", "<img on…=>"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;", "<script>"),
        ("手順は javascript:void(0) を参照", "javascript:"),
        (
            '<svg:svg><svg:a xlink:href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">x</svg:a></svg:svg>',
            "data:",
        ),
    ],
)
def test_script_bearing_documentation_is_refused(documentation, fragment):
    problems = _markup_problems(_documented(documentation))
    assert problems, documentation
    assert all(p.file == "t.bpmn" and p.element_id == "intake" and p.line for p in problems)
    assert any(fragment in p.message for p in problems), [p.message for p in problems]


@pytest.mark.parametrize(
    "markup",
    [
        '<svg:svg onload="alert(1)"/>',
        "<svg:svg><svg:foreignObject><xhtml:p>x</xhtml:p></svg:foreignObject></svg:svg>",
        '<svg:svg><svg:set attributeName="href" to="javascript:alert(1)"/></svg:svg>',
        '<svg:svg><svg:animate attributeName="href" values="javascript:alert(1)"/></svg:svg>',
        '<vendor:hook xmlns:vendor="urn:vendor" onclick="alert(1)"/>',
        '<spiffworkflow:instructionsForEndUser xmlns:h="http://www.w3.org/1999/xhtml"><h:object data="x.swf"/></spiffworkflow:instructionsForEndUser>',
    ],
)
def test_script_bearing_extension_elements_are_refused(markup):
    problems = _markup_problems(_extension(markup))
    assert problems and all(p.element_id == "intake" for p in problems), markup


def test_event_handlers_and_script_urls_on_di_are_refused():
    di = f"""
  <bpmndi:BPMNDiagram xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" {SVG} id="d">
    <bpmndi:BPMNPlane id="plane" bpmnElement="p">
      <bpmndi:BPMNShape id="intake_di" bpmnElement="intake" onclick="alert(1)"/>
      <bpmndi:BPMNShape id="start_di" bpmnElement="start" xlink:href="vbscript:msgbox(1)"/>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>"""
    bpmn = process().replace(b"</bpmn:definitions>", di.encode())
    problems = {(p.element_id, p.message.split(" / ")[1][:30]) for p in _markup_problems(bundle(bpmn))}
    assert ("intake_di", "event handler attribute 'oncli") in problems
    assert ("start_di", "attribute 'href' holds a javas") in problems


def test_a_stylesheet_processing_instruction_is_refused():
    bpmn = process().replace(
        b"<bpmn:definitions", b'<?xml-stylesheet type="text/xsl" href="x.xsl"?>\n<bpmn:definitions', 1
    )
    (problem,) = _markup_problems(bundle(bpmn))
    assert problem.line == 2 and "processing instructions" in problem.message


def test_plain_documentation_and_harmless_xhtml_are_accepted():
    text = "相談者の同意（data: 同意書）を確認する。条件は a < b のとき。 on time"
    assert validate_bundle(_documented(text.replace("<", "&lt;"))) == []
    harmless = '<xhtml:p>手順 <xhtml:b>重要</xhtml:b> <xhtml:a href="https://www.mhlw.go.jp/">厚労省</xhtml:a></xhtml:p>'
    assert validate_bundle(_documented(harmless)) == []


def test_the_standard_library_passes():
    from pathlib import Path

    assert validation.validate_paths([Path(__file__).resolve().parents[2] / "workflows"], LANE_ROLES) == []
