"""Tenant presets: ``tenants/<slug>.toml`` — the schema, loading and validation.

A preset describes one municipality (自治体): its registry entry, its org units (区・課・委託先), the identity
provider block, the meeting configuration (開催パターン, DESIGN 1.3/1.4) and workflow settings. Validation has
two stages: a JSON Schema (Draft 2020-12, ``additionalProperties: false`` everywhere, so a misspelt key fails
instead of being silently ignored), then semantic checks the schema cannot express (recurrence rules, ISO 8601
durations, org-unit references, consistency between sections). Semantic checks run once a file matches the
schema, so they can rely on the types.

Every problem is reported as ``file: key.path[0].leaf: reason`` so the person editing the file knows where to
look; all files are checked and every problem is listed, not only the first.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrule, rrulestr
from jsonschema import Draft202012Validator, ValidationError

from .models import OrgUnitKind, TenantStatus

MEETING_STYLES = ("scheduled", "adhoc", "hybrid")  # 定例 / 随時 / 併用
MEETING_KINDS = ("case_review", "network", "theme", "support_meeting")
HOLIDAY_POLICIES = ("skip", "next_business_day", "previous_business_day")
ADHOC_PARTICIPANTS = ("internal_and_external", "internal_only")
#: The meeting subprocess the standard process calls, per meeting style (DESIGN 2.4).
STYLE_PROCESS = {"scheduled": "meeting_scheduled", "adhoc": "meeting_adhoc", "hybrid": "meeting_hybrid"}
#: Kinds whose meetings discuss individual cases, so capacity (cases × minutes) must be configured.
CASE_KINDS = ("case_review", "support_meeting")
SETTINGS_SECTIONS = ("meetings", "identity_provider", "workflow")
SLUG_RE = re.compile(r"^[a-z0-9-]{2,63}$")


def _table(required: str, **properties: Any) -> dict[str, Any]:
    """A TOML table: closed (unknown keys fail), ``required`` is a space-separated list of keys."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required.split(),
        "properties": properties,
    }


def _array(items: dict[str, Any], **constraints: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **constraints}


def _pattern(pattern: str, description: str, **constraints: Any) -> dict[str, Any]:
    # ``description`` words the error: "'x' must be <description>".
    return {"type": "string", "pattern": pattern, "description": description, **constraints}


_TEXT = {"type": "string", "minLength": 1, "maxLength": 200}
_LONG_TEXT = {"type": "string", "maxLength": 1000}
_KANA = _pattern(r"^[ァ-ヶー・　 ]+$", "written in katakana (全角カタカナ)", maxLength=200)
_CODE = _pattern(r"^[a-z0-9][a-z0-9-]{0,63}$", "lower-case letters, digits and '-' (at most 64 characters)")
_KEY = _pattern(r"^[a-z0-9][a-z0-9_-]{0,62}$", "lower-case letters, digits, '-' and '_'")
_DOMAIN = _pattern(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", "a lower-case domain name"
)
_ROLES = _array(_TEXT, uniqueItems=True)
_UNIT_KIND = {"enum": [k.value for k in OrgUnitKind]}
_MEETING_COMMON: dict[str, Any] = {
    "key": _KEY,
    "name": _TEXT,
    "kind": {"enum": list(MEETING_KINDS)},
    "minutes_per_case": {"type": "integer", "minimum": 1, "maximum": 240},
    "core_roles": {**_ROLES, "minItems": 1},
    "guest_roles": _ROLES,
    "person_attends": {"type": "boolean"},  # 本人同席
    "venue": _TEXT,
    "per_org_unit": _UNIT_KIND,  # held separately in each org unit of this kind (e.g. each ward)
    "description": _LONG_TEXT,
}

PRESET_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Tsunagu tenant preset",
    **_table(
        "slug name name_kana name_en prefecture_code population status org_units identity_provider meetings workflow",
        slug=_pattern(SLUG_RE.pattern, "2–63 of a-z, 0-9 and '-'"),
        name=_TEXT,
        name_kana=_KANA,
        name_en={"type": "string", "maxLength": 200},
        prefecture_code=_pattern(
            r"^(0[1-9]|[1-3][0-9]|4[0-7])$", 'a two-digit JIS X 0401 prefecture code between "01" and "47"'
        ),
        population={"type": "integer", "minimum": 0},
        status={"enum": [s.value for s in TenantStatus]},
        org_units=_array(
            _table("code name kind", code=_CODE, name=_TEXT, name_kana=_KANA, kind=_UNIT_KIND, parent=_CODE)
        ),
        identity_provider=_table(
            "issuer client_id client_secret_ref scopes claims allowed_email_domains",
            issuer={"type": "string", "maxLength": 500},
            client_id=_TEXT,
            client_secret_ref=_pattern(
                r"^[A-Z][A-Z0-9_]{1,127}$",
                "the NAME of an environment variable holding the secret (e.g. TSUNAGU_OIDC_CLIENT_SECRET), "
                "never the secret itself",
            ),
            scopes=_array(_KEY, minItems=1, uniqueItems=True),
            claims=_table("email name", email=_TEXT, name=_TEXT, org_unit=_TEXT, roles=_TEXT),
            allowed_email_domains=_array(_DOMAIN, minItems=1, uniqueItems=True),
            required_acr=_TEXT,
        ),
        meetings=_table(
            "style",
            style={"enum": list(MEETING_STYLES)},
            series=_array(
                _table(
                    "key name kind rrule start duration core_roles holiday_policy venue",
                    **_MEETING_COMMON,
                    rrule={"type": "string", "minLength": 1, "maxLength": 500},
                    start=_pattern(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "a time of day as HH:MM"),
                    duration={"type": "string", "maxLength": 40},
                    cases_per_meeting={"type": "integer", "minimum": 1, "maximum": 50},
                    holiday_policy={"enum": list(HOLIDAY_POLICIES)},
                )
            ),
            adhoc=_array(
                _table(
                    "key name kind minutes_per_case participants core_roles venue",
                    **_MEETING_COMMON,
                    participants={"enum": list(ADHOC_PARTICIPANTS)},
                    use_when=_LONG_TEXT,
                )
            ),
        ),
        workflow=_table(
            "meeting_process monitoring_interval after_the_fact_report_warn_ratio",
            meeting_process={"enum": list(STYLE_PROCESS.values())},
            monitoring_interval={"type": "string", "maxLength": 40},
            after_the_fact_report_warn_ratio={"type": "number", "minimum": 0, "maximum": 1},
        ),
    ),
}

Draft202012Validator.check_schema(PRESET_SCHEMA)
_VALIDATOR = Draft202012Validator(PRESET_SCHEMA)


# ---------------------------------------------------------------------------------------------------------
# Results and errors


@dataclass(frozen=True)
class PresetIssue:
    """One problem: which file, where in it (``meetings.series[0].rrule``), and what is wrong."""

    file: str
    key_path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key_path}: {self.reason}" if self.key_path else f"{where}: {self.reason}"


class PresetError(ValueError):
    """One or more preset files are invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: Iterable[PresetIssue]) -> None:
        self.issues: list[PresetIssue] = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


@dataclass(frozen=True)
class OrgUnitPreset:
    code: str
    name: str
    name_kana: str
    kind: str
    parent: str | None = None


@dataclass(frozen=True)
class TenantPreset:
    """A validated preset. ``org_units`` come parents first; ``settings`` is what ``Tenant.settings`` holds."""

    file: Path
    slug: str
    name: str
    name_kana: str
    name_en: str
    prefecture_code: str
    population: int
    status: str
    org_units: tuple[OrgUnitPreset, ...]
    settings: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------
# Loading


def load_presets(directory: Path) -> list[TenantPreset]:
    """Every ``*.toml`` in ``directory``, validated; raises :class:`PresetError` listing all problems."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PresetError([PresetIssue(display_path(directory), "", "no such directory")])
    files = sorted(p for p in directory.glob("*.toml") if not p.name.startswith("."))
    if not files:
        raise PresetError([PresetIssue(display_path(directory), "", "no tenant presets (*.toml) found")])
    presets: list[TenantPreset] = []
    issues: list[PresetIssue] = []
    for path in files:
        try:
            presets.append(load_preset(path))
        except PresetError as exc:
            issues.extend(exc.issues)
    if issues:
        raise PresetError(issues)
    return presets


def load_preset(path: Path) -> TenantPreset:
    path = Path(path)
    shown = display_path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PresetError([_toml_issue(shown, exc)]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError([PresetIssue(shown, "", f"cannot read file: {exc}")]) from exc
    issues = validate_preset(data, file=shown, expected_slug=path.stem)
    if issues:
        raise PresetError(issues)
    return _build(path, data)


def validate_preset(
    data: Mapping[str, Any], *, file: str, expected_slug: str | None = None
) -> list[PresetIssue]:
    """All problems in one parsed preset: schema first; semantic checks once the schema is satisfied."""
    raw = [_schema_issues(file, error) for error in _VALIDATOR.iter_errors(data)]
    schema_issues = [issue for group in raw for issue in group]
    if schema_issues:
        return sorted(schema_issues, key=lambda i: _document_order(data, i.key_path))
    return _semantic_issues(data, file, expected_slug)


def display_path(path: Path) -> str:
    """``tenants/x.toml`` when under the working directory, the full path otherwise."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _toml_issue(file: str, exc: tomllib.TOMLDecodeError) -> PresetIssue:
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)$", message)
    if match is None:
        return PresetIssue(file, "", f"invalid TOML: {message}")
    reason = message[: match.start()].strip()
    return PresetIssue(file, "", f"invalid TOML: {reason} (column {match[2]})", line=int(match[1]))


def _build(path: Path, data: Mapping[str, Any]) -> TenantPreset:
    units = [OrgUnitPreset(**{"name_kana": "", **unit}) for unit in data["org_units"]]
    registry = ("slug", "name", "name_kana", "name_en", "prefecture_code", "population", "status")
    return TenantPreset(
        file=path,
        org_units=tuple(_parents_first(units)),
        settings={section: data[section] for section in SETTINGS_SECTIONS},
        **{key: data[key] for key in registry},
    )


def _parents_first(units: list[OrgUnitPreset]) -> list[OrgUnitPreset]:
    placed: set[str] = set()
    ordered: list[OrgUnitPreset] = []
    pending = list(units)
    while pending:  # validation guarantees every parent exists and there is no cycle
        waiting = []
        for unit in pending:
            if unit.parent is None or unit.parent in placed:
                ordered.append(unit)
                placed.add(unit.code)
            else:
                waiting.append(unit)
        pending = waiting
    return ordered


# ---------------------------------------------------------------------------------------------------------
# Schema messages


def format_key_path(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else '"' + part.replace('"', '\\"') + '"'
            text += f".{name}" if text else name
    return text


def _type_name(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "table"}
    return names.get(type(value), type(value).__name__)


def _schema_issues(file: str, error: ValidationError) -> list[PresetIssue]:
    path = list(error.absolute_path)
    value = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    match error.validator:
        case "additionalProperties":
            allowed = sorted(schema.get("properties", {}))
            extras = [k for k in value if k not in allowed]
            hint = f"unknown key (allowed here: {', '.join(allowed)})"
            return [PresetIssue(file, format_key_path([*path, k]), hint) for k in extras]
        case "required":
            missing = [k for k in error.validator_value if k not in value]
            return [PresetIssue(file, format_key_path([*path, k]), "missing required key") for k in missing]
        case "type":
            reason = f"expected {_expected(error.validator_value)}, got {_type_name(value)} {value!r}"
        case "enum":
            reason = f"{value!r} is not one of: {', '.join(map(str, error.validator_value))}"
        case "pattern" if "description" in schema:
            reason = f"{value!r} must be {schema['description']}"
        case "minLength" if error.validator_value == 1:
            reason = "must not be empty"
        case "uniqueItems":
            reason = "lists the same entry twice"
        case _:
            reason = error.message
    return [PresetIssue(file, format_key_path(path), reason)]


def _expected(types: str | list[str]) -> str:
    names = {"object": "a table", "array": "an array", "integer": "an integer", "number": "a number"}
    items = [types] if isinstance(types, str) else types
    return " or ".join(names.get(t, f"a {t}") for t in items)


def _document_order(data: Any, key_path: str) -> tuple[int, ...]:
    """Sort key placing issues in the order the keys appear in the file."""
    order: list[int] = []
    node = data
    for token in re.findall(r'\[(\d+)\]|"((?:[^"\\]|\\.)*)"|([A-Za-z0-9_-]+)', key_path):
        index, quoted, bare = token
        if index:
            order.append(int(index))
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
        else:
            key = quoted or bare
            keys = list(node) if isinstance(node, dict) else []
            order.append(keys.index(key) if key in keys else len(keys))
            node = node.get(key) if isinstance(node, dict) else None
    return tuple(order)


# ---------------------------------------------------------------------------------------------------------
# Semantic checks

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


def _semantic_issues(data: Mapping[str, Any], file: str, expected_slug: str | None) -> list[PresetIssue]:
    issues: list[PresetIssue] = []

    def add(key_path: str, reason: str) -> None:
        issues.append(PresetIssue(file, key_path, reason))

    if expected_slug is not None and data["slug"] != expected_slug:
        add("slug", f"{data['slug']!r} must match the file name ({expected_slug}.toml)")

    _check_org_units(data["org_units"], add)
    _check_identity_provider(data["identity_provider"], add)
    _check_meetings(data["meetings"], {u["kind"] for u in data["org_units"]}, add)
    _check_workflow(data["workflow"], data["meetings"]["style"], add)
    return issues


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


def _check_identity_provider(idp: dict[str, Any], add: Any) -> None:
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
