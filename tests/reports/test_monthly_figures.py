"""A month of cases driven through the API in each preset: every figure equals what the cases imply, per
tenant and per ward (issue #19, done-when 1)."""

from __future__ import annotations

import pytest

from tests.reports.conftest import MONTH, CaseDriver, admin_api

#: the six paths of a month: (org unit index, what happens)
PATHS = ("advice_only", "referred", "work", "income", "closed", "replan")


def _drive(api, runtime, units: tuple[str, str]) -> None:
    """Paths 0–2 in the first unit, 3–5 in the second."""
    for i, path in enumerate(PATHS):
        driver = CaseDriver(api, runtime, units[0] if i < 3 else units[1], day=3 + i)
        if path in ("advice_only", "referred"):
            driver.intake("advice_only" if path == "advice_only" else "refer_elsewhere")
        elif path == "work":
            driver.plan(work_support=True)
            driver.evaluate(got_work=True, changes_observed=["motivation", "work_readiness"])
        elif path == "income":
            driver.plan(work_support=True)
            driver.evaluate(income_increase=True, changes_observed=[])
        elif path == "closed":
            driver.plan(work_support=False)
            driver.evaluate(changes_observed=[])
        else:  # re-planned: evaluated (improved), back to assessment, a second plan decided
            driver.plan(work_support=False)
            driver.evaluate(outcome="replan", changes_observed=["lifestyle"])
            driver.plan(work_support=False, first=False)


FIRST = {  # advice-only, referred, plan → work found
    "new_consultations": 3,
    "advice_only": 1,
    "referred": 1,
    "plans": 1,
    "work_support_targets": 1,
    "employed": 1,
    "income_increased": 0,
    "evaluated": 1,
    "improved": 1,
}
SECOND = {  # plan → income rose, closed, re-planned (two plans)
    "new_consultations": 3,
    "advice_only": 0,
    "referred": 0,
    "plans": 4,
    "work_support_targets": 1,
    "employed": 0,
    "income_increased": 1,
    "evaluated": 3,
    "improved": 1,
}
TOTAL = {k: FIRST[k] + SECOND[k] for k in FIRST}


@pytest.mark.parametrize(
    ("slug", "units", "rows"),
    [
        ("yokohama", ("kohoku", "tsurumi"), ("kohoku", "tsurumi")),
        ("iwamizawa", ("jiritsu-soudan", "hogo"), ("jiritsu-soudan", "kenko-fukushi")),
        ("kunitachi", ("seikatsu-fukushi", "fukushi-somu"), ("seikatsu-fukushi", "fukushi-somu")),
    ],
)
def test_every_figure_equals_what_the_month_of_cases_implies(client, runtime, presets, slug, units, rows):
    api = admin_api(client, runtime, slug)
    _drive(api, runtime, units)

    report = api.get(f"/reports/monthly?month={MONTH}")
    assert report.status_code == 200, report.get_json()
    body = report.get_json()
    assert body["status"] == "open"
    assert body["total"]["figures"] == TOTAL
    by_code = {r["code"]: r for r in body["rows"]}
    assert by_code[rows[0]]["figures"] == FIRST
    assert by_code[rows[1]]["figures"] == SECOND
    others = [r for code, r in by_code.items() if code not in rows]
    assert all(not any(r["figures"].values()) for r in others)  # nothing counted anywhere else
    assert body["total"]["improvement_share"] == pytest.approx(2 / 4)
    # per 100,000 population against the FY2017 reference values
    assert body["reference"] == {
        "fiscal_year": 2017,
        "new_consultations": 24,
        "plans": 12,
        "work_support_targets": 7,
    }
    population = body["total"]["population"]
    assert body["total"]["per_100k"]["new_consultations"] == pytest.approx(round(6 * 100_000 / population, 2))

    one = api.get(f"/reports/monthly?month={MONTH}&org_unit={rows[1]}").get_json()
    assert [r["code"] for r in one["rows"]] == [rows[1]]
    assert one["total"]["figures"] == SECOND

    # nothing in the month before
    before = api.get("/reports/monthly?month=2026-10").get_json()
    assert not any(before["total"]["figures"].values())


def test_yokohama_wards_have_their_own_population_and_every_ward_is_a_row(client, runtime, presets):
    api = admin_api(client, runtime, "yokohama")
    body = api.get(f"/reports/monthly?month={MONTH}").get_json()
    assert len(body["rows"]) == 18
    assert body["rows"][0]["name"] == "鶴見区"  # the city's official ward order
    assert sum(r["population"] for r in body["rows"]) == body["total"]["population"] == 3_733_886


def test_bad_month_and_unknown_unit_are_clear_client_errors(client, runtime, presets):
    api = admin_api(client, runtime, "yokohama")
    bad = api.get("/reports/monthly?month=2026-13")
    assert bad.status_code == 422
    assert bad.get_json()["error"]["code"] == "validation_failed"
    missing = api.get("/reports/monthly?month=2026-11&org_unit=nowhere")
    assert missing.status_code == 404
    assert "kohoku" in str(missing.get_json()["error"]["details"])
