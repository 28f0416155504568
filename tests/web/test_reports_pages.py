"""The reports pages and files (issue #19): the dashboard and the monthly page with their downloads, closing a
month from the page, the operators' platform aggregates — and no report query deserializes a workflow
(done-when 5, counted as for the inbox)."""

from __future__ import annotations

import io
import uuid

from openpyxl import load_workbook
from sqlalchemy import select

from tests.engine_api.driver import Api, drive_to_monitoring
from tests.factories import make_user, tenant_row
from tests.support.oidc import app_with_idp_secret, authorize_at_provider, register_user
from tsunagu.core.session import transaction
from tsunagu.engine import spiff
from tsunagu.reports import services as reports
from tsunagu.reports.facts import today_jst
from tsunagu.tenancy.models import OrgUnit
from tsunagu.tenancy.sync import sync_presets

from .conftest import REPO

MONTH = "2026-11"


def _admin_api(client, runtime, slug: str) -> Api:
    user = make_user(runtime, tenant_row(runtime, slug), email=f"a@{slug}.example.jp", roles=["tenant_admin"])
    return Api(client, slug, user.token)


def _cases(api: Api, count: int) -> None:
    """Real cases with live workflows (so that deserializing one would show), dated in ``MONTH``."""
    for n in range(count):
        case = api.start_case(org_unit="kohoku" if n % 2 else "tsurumi")
        api.complete(case["id"], "intake", screening_outcome="continue", reception_date=f"{MONTH}-1{n}")
        drive_to_monitoring(api, case["id"])


def test_no_dashboard_export_or_report_query_deserializes_a_workflow(client, runtime, yokohama, act_as):
    api = _admin_api(client, runtime, "yokohama")
    _cases(api, 3)
    admin = act_as(yokohama, ["tenant_admin"])

    before = spiff.deserialize_count()
    for path in (
        f"/reports/monthly?month={MONTH}",
        f"/reports/monthly?month={MONTH}&org_unit=kohoku",
        f"/reports/monthly/export.csv?from=2026-01&to={MONTH}",
        f"/reports/monthly/export.xlsx?from=2026-01&to={MONTH}",
    ):
        assert api.get(path).status_code == 200, path
    for path in (
        f"/reports?month={MONTH}",
        f"/reports/monthly?month={MONTH}",
        f"/reports/monthly/export.csv?month={MONTH}",
        f"/reports/monthly/export.xlsx?month={MONTH}",
        *(f"/reports/charts/{key}.csv?month={MONTH}" for key in ("trend", "funnel", "wards", "open_by_ward")),
    ):
        assert admin.client.get(admin.url(path)).status_code == 200, path  # files: not parsed for a token
    assert admin.post("/reports/monthly/close", {"month": MONTH}).status_code == 302
    assert spiff.deserialize_count() == before

    # and the numbers are the cases': 3 new consultations, 3 plans; open work in both wards
    body = api.get(f"/reports/monthly?month={MONTH}").get_json()
    assert body["status"] == "closed"
    assert body["total"]["figures"]["new_consultations"] == 3
    assert body["total"]["figures"]["plans"] == 0  # confirmed today, not in November
    page = admin.get(f"/reports?month={MONTH}").get_data(as_text=True)
    assert 'id="table-open_by_ward"' in page and "鶴見区" in page and "港北区" in page


def test_the_dashboard_page_has_every_chart_with_a_table_view_and_downloads(runtime, yokohama, act_as):
    consultant = act_as(yokohama, ["consultant"])
    with transaction(runtime.sessions, yokohama.id) as session:
        kohoku = session.execute(select(OrgUnit).where(OrgUnit.code == "kohoku")).scalar_one()
        for n, kind in enumerate(("consultation_received", "consultation_received", "plan_made", "got_work")):
            reports.record_fact(session, uuid.uuid4(), kind, today_jst(), org_unit_id=kohoku.id, cycle=n)
    page = consultant.get("/reports")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for key in ("trend", "funnel", "wards", "after_the_fact", "open_by_consultant", "open_by_ward"):
        assert f'id="table-{key}"' in html
        assert f"/reports/charts/{key}.csv" in html
    assert "echarts.min.js" in html and "dashboard.js" in html
    funnel = consultant.get("/reports/charts/funnel.csv")
    assert funnel.data.startswith(b"\xef\xbb\xbf")
    lines = funnel.data.decode("utf-8-sig").splitlines()
    assert lines[1].endswith(",2")  # 新規相談受付件数 2
    assert lines[2].endswith(",1")  # プラン作成件数 1
    assert consultant.get("/reports/charts/nothing.csv").status_code == 404
    # a consultant reads but does not close
    monthly = consultant.get(f"/reports/monthly?month={MONTH}").get_data(as_text=True)
    assert 'data-status="open"' in monthly and "reports/monthly/close" not in monthly
    assert consultant.post("/reports/monthly/close", {"month": MONTH}).status_code == 403


def test_the_monthly_page_closes_and_exports_the_month(runtime, yokohama, act_as):
    admin = act_as(yokohama, ["tenant_admin"])
    page = admin.get(f"/reports/monthly?month={MONTH}").get_data(as_text=True)
    assert 'data-status="open"' in page
    assert page.count("<tr") == 1 + 18 + 1
    closed = admin.post("/reports/monthly/close", {"month": MONTH, "note": "報告済"})
    assert closed.status_code == 302
    assert 'data-status="closed"' in admin.get(f"/reports/monthly?month={MONTH}").get_data(as_text=True)
    book = load_workbook(
        io.BytesIO(admin.client.get(admin.url(f"/reports/monthly/export.xlsx?month={MONTH}")).data)
    )
    assert book.sheetnames == [MONTH]
    again = admin.post("/reports/monthly/close", {"month": MONTH})
    assert again.status_code == 302  # nothing changed: said on the page, no new revision
    with transaction(runtime.sessions, yokohama.id) as session:
        assert [c.revision for c in reports.closings(session, MONTH)] == [1]


def test_operators_see_platform_counts_and_only_shared_tenants_figures(runtime, web_provider):
    sync_presets(runtime, REPO / "tenants")
    month = today_jst().strftime("%Y-%m")
    for slug, count in (("yokohama", 3), ("iwamizawa", 2)):
        tenant = tenant_row(runtime, slug)
        with transaction(runtime.sessions, tenant.id) as session:
            for _ in range(count):
                reports.record_fact(
                    session, uuid.uuid4(), "consultation_received", today_jst(), org_unit_id=None
                )
    aggregates = reports.platform_aggregates(runtime, month)
    assert aggregates.cases_per_month[month] == 5
    assert aggregates.tenants >= 4
    # Iwamizawa and Kunitachi share their figures; Yokohama does not
    assert set(aggregates.shared) == {"岩見沢市", "国立市", "つなぐ市"}  # the demo tenant shares too
    assert aggregates.shared["岩見沢市"][month] == 2

    app = app_with_idp_secret(
        runtime,
        operator_issuer=web_provider.issuer,
        operator_client_id="tsunagu-operators",
        operator_client_secret="operator-secret",
        operator_emails=frozenset({"ops@platform.example"}),
    )
    client = app.test_client()
    assert client.get("/operator/reports").status_code == 302  # not signed in
    start = client.get("/operator/auth/start")
    register_user(
        start.headers["Location"].split("/oauth2/")[0],
        "ops@platform.example",
        {"email": "ops@platform.example"},
    )
    client.get(authorize_at_provider(start.headers["Location"], "ops@platform.example"))
    assert 'href="/operator/reports"' in client.get("/operator/").get_data(as_text=True)
    page = client.get(f"/operator/reports?month={month}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "岩見沢市" in html and "横浜市" not in html
    assert "山田" not in html  # no personal data
