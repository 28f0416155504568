"""Semantic checks on a tenant preset: what the JSON Schema cannot express.

Recurrence rules (RFC 5545 RRULE), ISO 8601 durations, the org-unit tree (unique codes, parents that exist,
no cycles), the identity provider's issuer, and consistency between sections (meeting style against its
series and ad-hoc meetings, the workflow's meeting process against the style). They run only once a file
matches the schema, so they can rely on the types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrule, rrulestr

from ..config import oidc_client_secret_ref
from .preset_schema import CASE_KINDS, STYLE_PROCESS, PresetIssue

__all__ = ["duration_minutes", "parse_duration", "parse_recurrence", "semantic_issues"]

_DURATION_RE = re.compile(
    r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$"
)
_PROBE_START = datetime(2024, 1, 1)  # naive wall-clock anchor for expanding rules
_PROBE_END = datetime(2032, 1, 1)  # eight years: every leap-year/weekday pattern
_RULE_FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")


def parse_duration(text: str) -> relativedelta:
    """An ISO 8601 duration (``P1M``, ``P30D``, ``PT1H30M``) as a ``relativedelta``; ``ValueError`` if invalid."""
    match = _DURATION_RE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 duration (e.g. P1M, P30D, PT90M)")
    years, months, weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return relativedelta(
        years=years, months=months, days=days + 7 * weeks, hours=hours, minutes=minutes, seconds=seconds
    )


def parse_recurrence(text: str, dtstart: datetime) -> rrule:
    """An RFC 5545 RRULE value (``FREQ=MONTHLY;BYDAY=3WE``) anchored at ``dtstart``; ``ValueError`` if invalid.

    Only a single rule is accepted — no ``RRULE:`` prefix, no ``DTSTART``, no ``COUNT``/``UNTIL`` (a series
    ends by leaving the preset) — and it must recur at most daily and actually occur.
    """
    if not text.startswith("FREQ="):
        raise ValueError("must start with FREQ= (a single RRULE value, without 'RRULE:' or DTSTART)")
    if any(c in text for c in "\r\n:"):
        raise ValueError("must be a single RRULE value on one line")
    parts = {p.split("=", 1)[0] for p in text.split(";")}
    if parts & {"COUNT", "UNTIL"}:
        raise ValueError("COUNT and UNTIL are not allowed: a series ends by removing it from the preset")
    freq = text.split(";", 1)[0].removeprefix("FREQ=")
    if freq in ("HOURLY", "MINUTELY", "SECONDLY"):
        raise ValueError(f"FREQ={freq} is too frequent for meetings; use one of {', '.join(_RULE_FREQS)}")
    try:
        rule = rrulestr(text, dtstart=dtstart)
        probe = rrulestr(f"{text};UNTIL={_PROBE_END:%Y%m%dT%H%M%S}", dtstart=_PROBE_START)
        occurs = probe.after(_PROBE_START, inc=True) is not None
    except (ValueError, IndexError, TypeError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from exc
    if not occurs or not isinstance(rule, rrule):
        raise ValueError("the rule never produces a date")
    return rule


def duration_minutes(delta: relativedelta) -> float:
    return delta.hours * 60 + delta.minutes + delta.seconds / 60


def semantic_issues(data: Mapping[str, Any], file: str, expected_slug: str | None) -> list[PresetIssue]:
    issues: list[PresetIssue] = []

    def add(key_path: str, reason: str) -> None:
        issues.append(PresetIssue(file, key_path, reason))

    if expected_slug is not None and data["slug"] != expected_slug:
        add("slug", f"{data['slug']!r} must match the file name ({expected_slug}.toml)")

    _check_org_units(data["org_units"], add)
    codes = {u["code"] for u in data["org_units"]}
    for i, partner in enumerate(data.get("partners") or []):  # issue #20: the unit its referrals go to
        if partner["org_unit"] not in codes:
            add(
                f"partners[{i}].org_unit",
                f"{partner['org_unit']!r} is not the code of an org unit in this file",
            )
    _check_identity_provider(data["slug"], data["identity_provider"], add)
    _check_meetings(data["meetings"], {u["kind"] for u in data["org_units"]}, add)
    _check_series_units(data["meetings"], {u["code"]: u["kind"] for u in data["org_units"]}, add)
    _check_workflow(data["workflow"], data["meetings"]["style"], add)
    _check_reports(data.get("reports") or {}, {u["code"] for u in data["org_units"]}, add)
    return issues


def _check_reports(reports: Mapping[str, Any], codes: set[str], add: Any) -> None:
    """Each fiscal year once; populations only for org units of this file."""
    seen: dict[int, int] = {}
    for i, entry in enumerate(reports.get("reference_values") or []):
        year = entry["fiscal_year"]
        if year in seen:
            add(
                f"reports.reference_values[{i}].fiscal_year",
                f"fiscal year {year} is already given (reports.reference_values[{seen[year]}])",
            )
        seen.setdefault(year, i)
    for code in reports.get("population") or {}:
        if code not in codes:
            add(f"reports.population.{code}", f"{code!r} is not the code of an org unit in this file")


def _check_org_units(units: list[dict[str, Any]], add: Any) -> None:
    first_at: dict[str, int] = {}
    for i, unit in enumerate(units):
        if unit["code"] in first_at:
            add(
                f"org_units[{i}].code",
                f"duplicate code {unit['code']!r} (already org_units[{first_at[unit['code']]}])",
            )
        else:
            first_at[unit["code"]] = i
    parents = {u["code"]: u.get("parent") for u in units}
    for i, unit in enumerate(units):
        parent = unit.get("parent")
        if parent is None:
            continue
        if parent not in parents:
            add(f"org_units[{i}].parent", f"{parent!r} is not the code of an org unit in this file")
            continue
        chain = [unit["code"]]
        node: str | None = parent
        while node is not None and node in parents and node not in chain:
            chain.append(node)
            node = parents[node]
        if node == unit["code"]:
            add(f"org_units[{i}].parent", "parents form a cycle: " + " → ".join([*chain, unit["code"]]))
    for i, unit in enumerate(units):
        for j, code in enumerate(unit.get("oversees") or []):
            if code == unit["code"]:
                add(f"org_units[{i}].oversees[{j}]", "a unit cannot oversee itself")
            elif code not in parents:
                add(f"org_units[{i}].oversees[{j}]", f"{code!r} is not the code of an org unit in this file")


def _check_identity_provider(slug: str, idp: dict[str, Any], add: Any) -> None:
    expected = oidc_client_secret_ref(slug)
    if idp["client_secret_ref"] != expected:
        # The tenant's own namespace only: any other name could hand the tenant's provider a platform secret
        # (the database URL, the signing key) or another tenant's client secret at sign-in.
        add(
            "identity_provider.client_secret_ref",
            f"must be {expected} (this tenant's own variable, or the file TSUNAGU_SECRETS_DIR/{slug}/"
            f"oidc_client_secret), not {idp['client_secret_ref']!r} / この自治体の変数名 {expected} にしてください",
        )
    issuer = urlsplit(idp["issuer"])
    local = issuer.hostname in ("localhost", "127.0.0.1", "::1")
    if not issuer.netloc or issuer.scheme not in ("https", "http") or issuer.query or issuer.fragment:
        add("identity_provider.issuer", f"{idp['issuer']!r} is not a URL (expected https://host/...)")
    elif issuer.scheme == "http" and not local:
        add("identity_provider.issuer", "must use https:// (http:// is accepted for localhost only)")
    if "openid" not in idp["scopes"]:
        add("identity_provider.scopes", "must include 'openid'")


def _check_meetings(meetings: dict[str, Any], unit_kinds: set[str], add: Any) -> None:
    style = meetings["style"]
    series = meetings.get("series", [])
    adhoc = meetings.get("adhoc", [])
    seen: dict[str, str] = {}
    for section, entries in (("series", series), ("adhoc", adhoc)):
        for i, entry in enumerate(entries):
            where = f"meetings.{section}[{i}]"
            if entry["key"] in seen:
                add(f"{where}.key", f"duplicate key {entry['key']!r} (already {seen[entry['key']]})")
            seen.setdefault(entry["key"], where)
            kind_of_unit = entry.get("per_org_unit")
            if kind_of_unit is not None and kind_of_unit not in unit_kinds:
                add(f"{where}.per_org_unit", f"no org unit of kind {kind_of_unit!r} is defined")
    for i, entry in enumerate(series):
        _check_series(entry, f"meetings.series[{i}]", add)

    if style == "scheduled" and (not series or adhoc):
        add("meetings", "style 'scheduled' needs at least one [[meetings.series]] and no [[meetings.adhoc]]")
    elif style == "adhoc":
        if not adhoc:
            add("meetings", "style 'adhoc' needs at least one [[meetings.adhoc]]")
        for i, entry in enumerate(series):
            if entry["kind"] == "case_review":
                add(f"meetings.series[{i}].kind", "style 'adhoc' has no scheduled case_review series")
    elif style == "hybrid" and (not series or not adhoc):
        add("meetings", "style 'hybrid' needs both [[meetings.series]] and [[meetings.adhoc]]")


def _check_series_units(meetings: dict[str, Any], units: dict[str, str], add: Any) -> None:
    """``by_org_unit`` entries: a known unit of the series' ``per_org_unit`` kind, once each, valid dates."""
    for i, entry in enumerate(meetings.get("series", [])):
        seen: set[str] = set()
        for j, override in enumerate(entry.get("by_org_unit", [])):
            where = f"meetings.series[{i}].by_org_unit[{j}]"
            code = override["org_unit"]
            if code not in units:
                add(f"{where}.org_unit", f"no org unit with code {code!r}")
            elif entry.get("per_org_unit") and units[code] != entry["per_org_unit"]:
                add(f"{where}.org_unit", f"{code!r} is not a {entry['per_org_unit']} (per_org_unit)")
            if code in seen:
                add(f"{where}.org_unit", f"{code!r} is listed twice")
            seen.add(code)
            if "first_date" in override:
                try:
                    date.fromisoformat(override["first_date"])
                except ValueError as exc:
                    add(f"{where}.first_date", str(exc))
            if "rrule" in override:
                try:
                    parse_recurrence(override["rrule"], datetime(2024, 1, 1, 9, 0))
                except ValueError as exc:
                    add(f"{where}.rrule", f"invalid recurrence rule: {exc}")
        if "first_date" in entry:
            try:
                date.fromisoformat(entry["first_date"])
            except ValueError as exc:
                add(f"meetings.series[{i}].first_date", str(exc))


def _check_series(entry: dict[str, Any], where: str, add: Any) -> None:
    hour, minute = (int(x) for x in entry["start"].split(":"))
    try:
        parse_recurrence(entry["rrule"], datetime(2024, 1, 1, hour, minute))
    except ValueError as exc:
        add(f"{where}.rrule", f"invalid recurrence rule: {exc}")
    minutes: float | None = None
    try:
        length = parse_duration(entry["duration"])
    except ValueError as exc:
        add(f"{where}.duration", str(exc))
    else:
        minutes = duration_minutes(length)
        if length.years or length.months or length.days or not 0 < minutes <= 24 * 60:
            add(f"{where}.duration", "must be hours and minutes within a day (e.g. PT90M, PT1H30M)")
            minutes = None
    if entry["kind"] in CASE_KINDS:
        for key in ("cases_per_meeting", "minutes_per_case"):
            if key not in entry:
                add(f"{where}.{key}", f"required for {entry['kind']} meetings")
        cases, per_case = entry.get("cases_per_meeting"), entry.get("minutes_per_case")
        if minutes is not None and cases and per_case and cases * per_case > minutes:
            add(
                f"{where}.cases_per_meeting",
                f"{cases} cases × {per_case} minutes do not fit in {entry['duration']} ({minutes:g} minutes)",
            )


def _check_workflow(workflow: dict[str, Any], style: str, add: Any) -> None:
    expected = STYLE_PROCESS[style]
    if workflow["meeting_process"] != expected:
        add("workflow.meeting_process", f"must be {expected!r} for meetings.style = {style!r}")
    try:
        interval = parse_duration(workflow["monitoring_interval"])
    except ValueError as exc:
        add("workflow.monitoring_interval", str(exc))
    else:
        if interval.hours or interval.minutes or interval.seconds or interval == relativedelta():
            add("workflow.monitoring_interval", "must be whole days, weeks, months or years (e.g. P1M, P30D)")
