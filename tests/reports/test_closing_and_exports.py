"""Exports open in Excel's way (openpyxl; CSV with a BOM) and a closed month stays frozen when a late
correction arrives, the revision showing the difference (issue #19, done-when 2)."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from tests.engine_api.driver import Api
from tests.factories import make_user, tenant_row
from tests.reports.conftest import MONTH, admin_api, on
from tsunagu.reports.exports import HEADERS


def _intake(api: Api, unit: str, outcome: str, day: int) -> None:
    case = api.start_case(org_unit=unit)
    api.complete(case["id"], "intake", screening_outcome=outcome, reception_date=on(day))


def _xlsx(api: Api, query: str):
    response = api.get(f"/reports/monthly/export.xlsx?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return load_workbook(io.BytesIO(response.data))


def test_excel_has_a_sheet_per_month_ward_rows_and_a_totals_row(client, runtime, presets):
    api = admin_api(client, runtime, "yokohama")
    _intake(api, "kohoku", "advice_only", 5)
    _intake(api, "tsurumi", "refer_elsewhere", 6)
    _intake(api, "tsurumi", "advice_only", 7)

    book = _xlsx(api, f"from=2026-10&to={MONTH}")
    assert book.sheetnames == ["2026-10", MONTH]
    sheet = book[MONTH]
    assert "令和8年11月" in sheet["A1"].value and "横浜市" in sheet["A1"].value
    assert [c.value for c in sheet[3]] == HEADERS
    rows = list(sheet.iter_rows(min_row=4, values_only=True))
    assert len(rows) == 18 + 1
    by_name = {r[0]: r for r in rows}
    column = {h: i for i, h in enumerate(HEADERS)}
    assert by_name["港北区"][column["相談・情報提供のみで終了"]] == 1
    assert by_name["鶴見区"][column["新規相談受付件数"]] == 2
    assert by_name["鶴見区"][column["他制度・他機関へのつなぎ"]] == 1
    total = rows[-1]
    assert total[0] == "合計"
    assert total[column["新規相談受付件数"]] == 3
    assert total[column["人口"]] == 3_733_886
    assert total[column["新規相談受付件数（人口10万人あたり）"]] == round(3 * 100_000 / 3_733_886, 2)
    october = list(book["2026-10"].iter_rows(min_row=4, values_only=True))
    assert october[-1][column["新規相談受付件数"]] == 0


def test_csv_is_utf8_with_bom_in_the_national_layout(client, runtime, presets):
    api = admin_api(client, runtime, "yokohama")
    _intake(api, "kohoku", "advice_only", 5)
    response = api.get(f"/reports/monthly/export.csv?from={MONTH}")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.data.startswith(b"\xef\xbb\xbf")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0] == ["対象月", "締め", *HEADERS]
    assert len(rows) == 1 + 18 + 1
    kohoku = next(r for r in rows if r[2] == "港北区")
    assert kohoku[0] == MONTH and kohoku[1] == "未締め"
    assert kohoku[2 + HEADERS.index("新規相談受付件数")] == "1"
    assert rows[-1][2] == "合計"


def test_a_closed_month_stays_frozen_and_a_late_correction_becomes_a_revision(client, runtime, presets):
    api = admin_api(client, runtime, "yokohama")
    _intake(api, "kohoku", "advice_only", 5)
    _intake(api, "tsurumi", "refer_elsewhere", 6)

    closed = api.post("/reports/monthly/close", json={"month": MONTH, "note": "11月分 報告"})
    assert closed.status_code == 201, closed.get_json()
    assert closed.get_json()["revision"] == 1
    report = api.get(f"/reports/monthly?month={MONTH}").get_json()
    assert report["status"] == "closed" and report["revision"] == 1
    assert report["correction"] is None

    # a late correction: an intake entered after the closing, received on the 20th of the closed month
    _intake(api, "kohoku", "refer_elsewhere", 20)
    report = api.get(f"/reports/monthly?month={MONTH}").get_json()
    assert report["total"]["figures"]["new_consultations"] == 2  # frozen
    difference = report["correction"]["difference"]
    assert difference["total"]["new_consultations"] == 1
    assert difference["total"]["referred"] == 1
    assert difference["total"]["advice_only"] == 0
    assert [r["code"] for r in difference["rows"]] == ["kohoku"]
    assert report["correction"]["live"]["total"]["figures"]["new_consultations"] == 3

    book = _xlsx(api, f"from={MONTH}")
    assert book.sheetnames == [MONTH, f"{MONTH} 修正差分"]
    assert "締め済（第1版）" in str(book[MONTH]["C1"].value)
    diff_rows = list(book[f"{MONTH} 修正差分"].iter_rows(min_row=3, values_only=True))
    assert diff_rows[0][0] == "港北区" and diff_rows[0][1] == 1  # 新規相談受付件数 +1
    assert diff_rows[-1][0] == "合計"

    again = api.post("/reports/monthly/close", json={"month": MONTH, "note": "修正"})
    assert again.status_code == 201
    assert again.get_json()["revision"] == 2
    report = api.get(f"/reports/monthly?month={MONTH}").get_json()
    assert report["revision"] == 2
    assert report["total"]["figures"]["new_consultations"] == 3
    assert report["correction"] is None
    assert report["revisions"][1]["difference"]["total"]["new_consultations"] == 1
    assert report["revisions"][1]["note"] == "修正"

    unchanged = api.post("/reports/monthly/close", json={"month": MONTH})
    assert unchanged.status_code == 409
    assert unchanged.get_json()["error"]["code"] == "already_closed"


def test_only_administrators_close_a_month_and_bad_input_is_a_client_error(client, runtime, presets):
    tenant = tenant_row(runtime, "yokohama")
    consultant = make_user(runtime, tenant, email="c@yokohama.example.jp", roles=["consultant"])
    api = Api(client, "yokohama", consultant.token)
    assert api.get(f"/reports/monthly?month={MONTH}").status_code == 200
    assert api.post("/reports/monthly/close", json={"month": MONTH}).status_code == 403
    admin = admin_api(client, runtime, "yokohama")
    assert admin.post("/reports/monthly/close", json={"month": "November"}).status_code == 422
    assert admin.get("/reports/monthly/export.csv?from=2026-11&to=2026-01").status_code == 422
    assert admin.get("/reports/monthly/export.xlsx?from=2020-01&to=2026-01").status_code == 422
