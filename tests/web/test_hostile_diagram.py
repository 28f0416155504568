"""Hostile diagrams end to end: refused at upload through the API, and a diagram already stored (deployed before
the check existed) is served as an inert document — sandboxed, never sniffed, with an XML content type."""

from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import select

from tests.factories import make_user
from tests.support.api_errors import problems as problems_of
from tests.web.test_browser_casework import _start_case
from tsunagu.cases.models import Case
from tsunagu.core.session import transaction
from tsunagu.engine.models import Deployment, ProcessInstance

FIXTURE = Path(__file__).resolve().parents[1] / "engine" / "hostile"
CASEWORK = Path(__file__).resolve().parents[2] / "workflows" / "casework" / "casework.bpmn"
HOSTILE_DOCUMENTATION = (
    '<bpmn:documentation><xhtml:img xmlns:xhtml="http://www.w3.org/1999/xhtml" src="x" '
    "onerror=\"fetch('/t/yokohama/api/v1/tasks')\"/></bpmn:documentation>"
)


def _with_documentation(text: str) -> tuple[str, int]:
    """The casework process with script-bearing documentation; and the line it is on."""
    start = text.index('<bpmn:process id="casework"')
    end = text.index(">", start) + 1
    return text[:end] + HOSTILE_DOCUMENTATION + text[end:], text[:end].count("\n") + 1


def _upload(client, slug: str, token: str, files: dict[str, bytes]):
    return client.post(
        f"/t/{slug}/api/v1/definitions",
        data={"files": [(io.BytesIO(data), name) for name, data in files.items()], "note": "hostile"},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {token}"},
    )


def test_uploading_the_hostile_diagram_is_refused_with_file_line_and_element(runtime, client, yokohama):
    admin = make_user(runtime, yokohama, email="admin@yokohama.example", roles=["tenant_admin"])
    files = {
        "hostile.bpmn": (FIXTURE / "hostile.bpmn").read_bytes(),
        "forms/intake.form": (FIXTURE / "forms" / "intake.form").read_bytes(),
    }
    response = _upload(client, "yokohama", admin.token, files)
    assert response.status_code == 422
    problems = problems_of(response.get_json())
    assert any(p.startswith("hostile.bpmn:13: [hostile]") and "onerror" in p for p in problems)
    assert any(p.startswith("hostile.bpmn:21: [intake]") and "<script>" in p for p in problems)
    assert any(p.startswith("hostile.bpmn:32: [start_di]") and "javascript:" in p for p in problems)
    with transaction(runtime.sessions, yokohama.id) as session:
        assert session.execute(select(Deployment).where(Deployment.source == "upload")).first() is None


def test_a_documented_casework_with_a_script_handler_is_refused(runtime, client, yokohama):
    admin = make_user(runtime, yokohama, email="admin2@yokohama.example", roles=["tenant_admin"])
    hostile, line = _with_documentation(CASEWORK.read_text(encoding="utf-8"))
    response = _upload(client, "yokohama", admin.token, {"casework.bpmn": hostile.encode("utf-8")})
    assert response.status_code == 422
    problems = problems_of(response.get_json())
    assert any(p.startswith(f"casework.bpmn:{line}: [casework]") and "onerror" in p for p in problems)


def test_a_stored_diagram_is_served_sandboxed_and_never_sniffed(runtime, yokohama, act_as):
    me = act_as(yokohama, ["consultant"])
    case_id = _start_case(runtime, yokohama, "山田 花子", "ヤマダ ハナコ")
    # As if deployed before uploads were checked: put script-bearing markup into the stored file.
    with transaction(runtime.sessions, yokohama.id) as session:
        case = session.execute(select(Case)).scalar_one()
        instance = session.get(ProcessInstance, (yokohama.id, case.process_instance_id))
        deployment = session.get(Deployment, (yokohama.id, instance.deployment_id))
        files = dict(deployment.files)
        name = next(n for n, t in files.items() if 'id="casework"' in t)
        hostile, _line = _with_documentation(files[name])
        files[name] = hostile.replace(
            "?>", '?>\n<?xml-stylesheet type="text/xsl" href="data:text/xsl,x"?>', 1
        )
        deployment.files = files

    diagram = me.get(f"/cases/{case_id}/diagram.bpmn")

    assert diagram.status_code == 200
    assert diagram.headers["Content-Type"] == "application/xml; charset=utf-8"
    csp = [d.strip() for d in diagram.headers["Content-Security-Policy"].split(";")]
    assert "sandbox" in csp and "default-src 'none'" in csp
    assert diagram.headers["X-Content-Type-Options"] == "nosniff"
    assert b"xml-stylesheet" in diagram.data  # served as stored, but inert
    page = me.get(f"/cases/{case_id}")
    assert "sandbox" not in page.headers["Content-Security-Policy"]  # the workspace itself keeps its scripts
