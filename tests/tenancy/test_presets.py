"""Preset files: the shipped ones are valid and say what DESIGN 1.4 says; broken ones are precisely reported."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from dateutil.rrule import rrulestr

from tsunagu.tenancy.presets import PresetError, PresetIssue, load_preset, load_presets, parse_duration

from .conftest import SHIPPED, TENANTS_DIR, preset_text, write_preset

YOKOHAMA_WARDS = {
    "tsurumi": "鶴見区", "kanagawa": "神奈川区", "nishi": "西区", "naka": "中区", "minami": "南区",
    "konan": "港南区", "hodogaya": "保土ケ谷区", "asahi": "旭区", "isogo": "磯子区", "kanazawa": "金沢区",
    "kohoku": "港北区", "midori": "緑区", "aoba": "青葉区", "tsuzuki": "都筑区", "totsuka": "戸塚区",
    "sakae": "栄区", "izumi": "泉区", "seya": "瀬谷区",
}  # fmt: skip


def presets_by_slug():
    return {p.slug: p for p in load_presets(TENANTS_DIR)}


def occurrences(rule: str, start: datetime, end: datetime) -> list[datetime]:
    return list(rrulestr(rule, dtstart=start).between(start, end, inc=True))


def test_every_shipped_preset_validates():
    presets = presets_by_slug()
    assert sorted(presets) == list(SHIPPED)
    for preset in presets.values():
        optional = {"partners"} if preset.slug == "demo" else set()  # issue #20: the demo's partners
        assert set(preset.settings) == {
            "meetings",
            "identity_provider",
            "workflow",
            "notifications",
            *optional,
            "reports",
        }


@pytest.mark.parametrize(
    ("slug", "prefecture", "population", "style"),
    [
        ("iwamizawa", "01", 83_237, "scheduled"),
        ("yokohama", "14", 3_733_886, "hybrid"),
        ("kunitachi", "13", 75_782, "hybrid"),
        ("demo", "13", 50_000, "hybrid"),
    ],
)
def test_presets_carry_the_municipality_facts(slug, prefecture, population, style):
    preset = presets_by_slug()[slug]
    assert (preset.prefecture_code, preset.population) == (prefecture, population)
    assert preset.settings["meetings"]["style"] == style
    assert preset.settings["workflow"]["meeting_process"] == f"meeting_{style}"


def test_yokohama_has_its_18_wards_each_with_a_seikatsu_shien_department():
    units = presets_by_slug()["yokohama"].org_units
    wards = {u.code: u for u in units if u.kind == "ward"}
    assert {code: u.name for code, u in wards.items()} == YOKOHAMA_WARDS
    assert all(u.name_kana.endswith("ク") for u in wards.values())
    departments = [u for u in units if u.kind == "department"]
    assert sorted(u.parent for u in departments) == sorted(YOKOHAMA_WARDS)
    assert all(u.name == YOKOHAMA_WARDS[u.parent] + "生活支援課" for u in departments if u.parent)


def test_kunitachi_has_seven_welfare_departments():
    units = presets_by_slug()["kunitachi"].org_units
    assert len(units) == 7
    assert all(u.kind == "department" for u in units)
    assert "生活福祉課" in {u.name for u in units}


def test_iwamizawa_consultation_is_contracted_to_an_agency():
    units = presets_by_slug()["iwamizawa"].org_units
    assert [u.code for u in units if u.kind == "agency"] == ["jiritsu-soudan"]
    assert {u.code: u.parent for u in units}["hogo"] == "kenko-fukushi"


def test_parents_come_before_children():
    for preset in presets_by_slug().values():
        seen: set[str] = set()
        for unit in preset.org_units:
            assert unit.parent is None or unit.parent in seen
            seen.add(unit.code)


def test_iwamizawa_meets_on_the_1st_2nd_4th_wednesday_and_networks_on_the_3rd():
    series = {s["key"]: s for s in presets_by_slug()["iwamizawa"].settings["meetings"]["series"]}
    review, network = series["case-review"], series["network"]
    assert review["rrule"] == "FREQ=MONTHLY;BYDAY=1WE,2WE,4WE"
    assert (review["cases_per_meeting"], review["minutes_per_case"]) == (5, 15)
    start, end = datetime(2027, 1, 1), datetime(2027, 1, 31, 23, 59)
    assert [d.day for d in occurrences(review["rrule"], start, end)] == [6, 13, 27]
    assert [d.day for d in occurrences(network["rrule"], start, end)] == [20]
    assert all(d.weekday() == 2 for d in occurrences(review["rrule"], start, datetime(2027, 12, 31)))


def test_yokohama_theme_meetings_run_per_ward_two_to_six_times_a_year():
    meetings = presets_by_slug()["yokohama"].settings["meetings"]
    (theme,) = meetings["series"]
    assert theme["kind"] == "theme" and theme["per_org_unit"] == "ward"
    per_year = occurrences(theme["rrule"], datetime(2027, 1, 1), datetime(2027, 12, 31))
    assert 2 <= len(per_year) <= 6
    (adhoc,) = meetings["adhoc"]
    assert (adhoc["minutes_per_case"], adhoc["person_attends"]) == (20, True)


def test_kunitachi_is_mostly_scheduled_with_an_internal_only_adhoc_variant():
    meetings = presets_by_slug()["kunitachi"].settings["meetings"]
    (regular,) = meetings["series"]
    assert regular["cases_per_meeting"] == 5
    assert {a["participants"] for a in meetings["adhoc"]} == {"internal_and_external", "internal_only"}


def test_identity_provider_names_an_environment_variable_never_a_secret():
    for preset in presets_by_slug().values():
        idp = preset.settings["identity_provider"]
        assert idp["client_secret_ref"].startswith("TSUNAGU_OIDC_")
        assert "openid" in idp["scopes"]


def test_iso_durations_parse():
    assert parse_duration("P1M").months == 1
    assert parse_duration("P30D").days == 30
    assert parse_duration("P2W").days == 14
    assert (parse_duration("PT1H30M").hours, parse_duration("PT1H30M").minutes) == (1, 30)
    for bad in ("P", "PT", "1M", "P1.5M", "P1MT"):
        with pytest.raises(ValueError):
            parse_duration(bad)


# ---------------------------------------------------------------------------------------------------------
# Broken files: (file, edit) → (key path, reason)

BROKEN = [
    # schema
    ("iwamizawa", "population = 83_237", 'population = "many"', "population", "expected an integer, got string"),
    ("iwamizawa", 'status = "active"', 'status = "active"\nmayor = "x"', "mayor", "unknown key"),
    ("iwamizawa", 'kind = "case_review"', 'kind = "case_review"\ncolour = "red"', "meetings.series[0].colour",
     "unknown key"),
    ("iwamizawa", "[identity_provider.claims]", "[identity_provider.claims]\ngroups = 'g'",
     "identity_provider.claims.groups", "unknown key"),
    ("iwamizawa", 'status = "active"\n', "", "status", "missing required key"),
    ("iwamizawa", 'status = "active"', 'status = "closed"', "status", "is not one of: active, suspended"),
    ("iwamizawa", 'prefecture_code = "01"', "prefecture_code = 1", "prefecture_code", "expected a string"),
    ("iwamizawa", 'prefecture_code = "01"', 'prefecture_code = "48"', "prefecture_code", "JIS X 0401"),
    ("iwamizawa", 'name_kana = "イワミザワシ"', 'name_kana = "いわみざわし"', "name_kana", "katakana"),
    ("iwamizawa", 'slug = "iwamizawa"', 'slug = "Iwamizawa"', "slug", "must be 2–63 of a-z"),
    ("iwamizawa", 'start = "13:30"', 'start = "9:30"', "meetings.series[0].start", "HH:MM"),
    ("iwamizawa", 'start = "13:30"', "start = 13:30:00", "meetings.series[0].start", "got time"),
    ("iwamizawa", 'holiday_policy = "next_business_day"', 'holiday_policy = "never"',
     "meetings.series[0].holiday_policy", "skip, next_business_day, previous_business_day"),
    ("iwamizawa", 'kind = "case_review"', 'kind = "chat"', "meetings.series[0].kind", "is not one of"),
    ("iwamizawa", 'client_secret_ref = "TSUNAGU_OIDC_IWAMIZAWA_CLIENT_SECRET"', 'client_secret_ref = "hunter2!"',
     "identity_provider.client_secret_ref", "NAME of the tenant's environment variable"),
    # a secret reference outside the tenant's namespace: a platform secret, another tenant's secret
    ("iwamizawa", 'client_secret_ref = "TSUNAGU_OIDC_IWAMIZAWA_CLIENT_SECRET"', 'client_secret_ref = "TSUNAGU_DATABASE_URL"',
     "identity_provider.client_secret_ref", "must be TSUNAGU_OIDC_IWAMIZAWA_CLIENT_SECRET"),
    ("iwamizawa", 'client_secret_ref = "TSUNAGU_OIDC_IWAMIZAWA_CLIENT_SECRET"', 'client_secret_ref = "TSUNAGU_SECRET_KEY"',
     "identity_provider.client_secret_ref", "not 'TSUNAGU_SECRET_KEY'"),
    ("iwamizawa", 'client_secret_ref = "TSUNAGU_OIDC_IWAMIZAWA_CLIENT_SECRET"',
     'client_secret_ref = "TSUNAGU_OIDC_YOKOHAMA_CLIENT_SECRET"',
     "identity_provider.client_secret_ref", "must be TSUNAGU_OIDC_IWAMIZAWA_CLIENT_SECRET"),
    ("iwamizawa", "after_the_fact_report_warn_ratio = 0.3", "after_the_fact_report_warn_ratio = 1.5",
     "workflow.after_the_fact_report_warn_ratio", "maximum of 1"),
    ("iwamizawa", 'core_roles = ["保護課", "福祉課", "相談支援員"', 'core_roles = ["保護課", "保護課", "相談支援員"',
     "meetings.series[1].core_roles", "same entry twice"),
    # semantics
    ("iwamizawa", "FREQ=MONTHLY;BYDAY=1WE,2WE,4WE", "FREQ=SOMETIMES", "meetings.series[0].rrule",
     "invalid recurrence rule: invalid 'FREQ': SOMETIMES"),
    ("iwamizawa", "FREQ=MONTHLY;BYDAY=3WE", "RRULE:FREQ=MONTHLY;BYDAY=3WE", "meetings.series[1].rrule",
     "must start with FREQ="),
    ("iwamizawa", "FREQ=MONTHLY;BYDAY=3WE", "FREQ=MONTHLY;BYDAY=9WE", "meetings.series[1].rrule",
     "invalid recurrence rule"),
    ("iwamizawa", "FREQ=MONTHLY;BYDAY=3WE", "FREQ=MONTHLY;BYDAY=3WE;COUNT=3", "meetings.series[1].rrule",
     "COUNT and UNTIL are not allowed"),
    ("iwamizawa", "FREQ=MONTHLY;BYDAY=3WE", "FREQ=HOURLY", "meetings.series[1].rrule", "too frequent"),
    ("iwamizawa", "FREQ=MONTHLY;BYDAY=3WE", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "meetings.series[1].rrule",
     "never produces a date"),
    ("iwamizawa", 'slug = "iwamizawa"', 'slug = "iwamizawa-shi"', "slug", "must match the file name"),
    ("iwamizawa", 'code = "fukushi"', 'code = "hogo"', "org_units[2].code", "duplicate code 'hogo'"),
    ("iwamizawa", 'parent = "kenko-fukushi"', 'parent = "somu"', "org_units[1].parent", "'somu' is not the code"),
    ("iwamizawa", 'kind = "department"\n', 'kind = "department"\nparent = "hogo"\n', "org_units[0].parent",
     "cycle: kenko-fukushi → hogo → kenko-fukushi"),
    ("iwamizawa", 'issuer = "https://idp.iwamizawa.example/realms/tsunagu"', 'issuer = "idp.iwamizawa"',
     "identity_provider.issuer", "is not a URL"),
    ("iwamizawa", 'issuer = "https://', 'issuer = "http://', "identity_provider.issuer", "must use https://"),
    ("iwamizawa", 'scopes = ["openid", ', "scopes = [", "identity_provider.scopes", "must include 'openid'"),
    ("iwamizawa", 'meeting_process = "meeting_scheduled"', 'meeting_process = "meeting_adhoc"',
     "workflow.meeting_process", "must be 'meeting_scheduled' for meetings.style = 'scheduled'"),
    ("iwamizawa", 'monitoring_interval = "P1M"', 'monitoring_interval = "monthly"', "workflow.monitoring_interval",
     "not an ISO 8601 duration"),
    ("iwamizawa", 'monitoring_interval = "P1M"', 'monitoring_interval = "PT12H"', "workflow.monitoring_interval",
     "whole days"),
    ("iwamizawa", 'duration = "PT90M"', 'duration = "90 minutes"', "meetings.series[0].duration",
     "not an ISO 8601 duration"),
    ("iwamizawa", 'duration = "PT90M"', 'duration = "P1D"', "meetings.series[0].duration", "within a day"),
    ("iwamizawa", "cases_per_meeting = 5", "cases_per_meeting = 7", "meetings.series[0].cases_per_meeting",
     "7 cases × 15 minutes do not fit in PT90M (90 minutes)"),
    ("iwamizawa", "minutes_per_case = 15\n", "", "meetings.series[0].minutes_per_case", "required for case_review"),
    ("iwamizawa", 'key = "network"', 'key = "case-review"', "meetings.series[1].key", "duplicate key"),
    ("yokohama", 'per_org_unit = "ward"', 'per_org_unit = "section"', "meetings.series[0].per_org_unit",
     "no org unit of kind 'section'"),
    ("demo", 'style = "hybrid"', 'style = "scheduled"', "meetings", "no [[meetings.adhoc]]"),
    ("yokohama", 'style = "hybrid"', 'style = "adhoc"', "workflow.meeting_process", "must be 'meeting_adhoc'"),
    # the national monthly report (issue #19)
    ("yokohama", "seya = 112_886", "seya = 112_886\nnowhere = 5", "reports.population.nowhere",
     "'nowhere' is not the code of an org unit"),
    ("yokohama", "tsurumi = 296_000", 'tsurumi = "many"', "reports.population.tsurumi", "expected an integer"),
    ("iwamizawa", "fiscal_year = 2017, new_consultations = 24", "fiscal_year = 2017, new_consultations = -1",
     "reports.reference_values[0].new_consultations", "minimum of 0"),
    ("iwamizawa", "work_support_targets = 7 },\n]",
     "work_support_targets = 7 },\n  { fiscal_year = 2017, new_consultations = 30, plans = 12, work_support_targets = 7 },\n]",
     "reports.reference_values[1].fiscal_year", "fiscal year 2017 is already given"),
    ("kunitachi", "share_with_operators = true", "share_with_operators = true\nshare = 1", "reports.share",
     "unknown key"),
]  # fmt: skip


@pytest.mark.parametrize(("slug", "old", "new", "key_path", "reason"), BROKEN, ids=[b[3] for b in BROKEN])
def test_broken_preset_names_file_key_and_reason(tmp_path, slug, old, new, key_path, reason):
    path = write_preset(tmp_path, slug, old, new)
    with pytest.raises(PresetError) as caught:
        load_preset(path)
    issues = caught.value.issues
    assert all(issue.file.endswith(f"{slug}.toml") for issue in issues)
    matching = [i for i in issues if i.key_path == key_path]
    assert matching, f"no issue at {key_path}: {[str(i) for i in issues]}"
    if reason is not None:
        assert any(reason in i.reason for i in matching), [str(i) for i in matching]


def test_adhoc_style_rejects_a_scheduled_case_review(tmp_path):
    path = write_preset(tmp_path, "yokohama", 'style = "hybrid"', 'style = "adhoc"')
    text = path.read_text(encoding="utf-8").replace('kind = "theme"', 'kind = "case_review"')
    path.write_text(text.replace('"meeting_hybrid"', '"meeting_adhoc"'), encoding="utf-8")
    with pytest.raises(PresetError) as caught:
        load_preset(path)
    assert "meetings.series[0].kind: style 'adhoc' has no scheduled case_review series" in [
        str(i).split(": ", 1)[1] for i in caught.value.issues
    ]


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = write_preset(tmp_path, "iwamizawa", "population = 83_237", "population = = 83_237")
    line = preset_text("iwamizawa").splitlines().index("population = 83_237") + 1
    with pytest.raises(PresetError) as caught:
        load_preset(path)
    (issue,) = caught.value.issues
    assert issue.line == line
    assert str(issue).startswith(f"{issue.file}:{line}: invalid TOML: Invalid value (column 14)")


def test_issues_print_relative_to_the_working_directory(tmp_path, monkeypatch):
    write_preset(tmp_path / "tenants", "iwamizawa", "FREQ=MONTHLY;BYDAY=1WE,2WE,4WE", "FREQ=SOMETIMES")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PresetError) as caught:
        load_presets(Path("tenants"))
    assert str(caught.value) == (
        "tenants/iwamizawa.toml: meetings.series[0].rrule: invalid recurrence rule: invalid 'FREQ': SOMETIMES"
    )


def test_every_broken_file_in_a_directory_is_reported(tmp_path):
    write_preset(tmp_path, "demo")
    write_preset(tmp_path, "iwamizawa", "population = 83_237", 'population = "many"')
    write_preset(tmp_path, "kunitachi", 'status = "active"', 'status = "active"\nmayor = "x"')
    with pytest.raises(PresetError) as caught:
        load_presets(tmp_path)
    assert [(Path(i.file).name, i.key_path) for i in caught.value.issues] == [
        ("iwamizawa.toml", "population"),
        ("kunitachi.toml", "mayor"),
    ]


def test_issues_come_in_document_order(tmp_path):
    path = write_preset(tmp_path, "iwamizawa", "population = 83_237", 'population = "many"')
    text = path.read_text(encoding="utf-8").replace('name_en = "Iwamizawa"', "name_en = 3")
    path.write_text(
        text.replace("after_the_fact_report_warn_ratio = 0.3", "after_the_fact_report_warn_ratio = 2")
    )
    with pytest.raises(PresetError) as caught:
        load_preset(path)
    assert [i.key_path for i in caught.value.issues] == [
        "name_en",
        "population",
        "workflow.after_the_fact_report_warn_ratio",
    ]


def test_missing_or_empty_directory_is_an_error(tmp_path):
    with pytest.raises(PresetError, match="no tenant presets"):
        load_presets(tmp_path)
    with pytest.raises(PresetError, match="no such directory"):
        load_presets(tmp_path / "nope")


def test_issue_without_key_path_prints_file_only():
    assert str(PresetIssue("tenants/x.toml", "", "cannot read file")) == "tenants/x.toml: cannot read file"
