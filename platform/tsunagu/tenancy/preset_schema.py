"""The JSON Schema of a tenant preset (``tenants/<slug>.toml``) and the wording of its errors.

The schema is Draft 2020-12 with ``additionalProperties: false`` everywhere, so a misspelt key fails instead
of being silently ignored. A schema error is reworded into a :class:`PresetIssue` that names the key path
(``meetings.series[0].rrule``) and says what is wrong in words the person editing the file can act on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from .models import OrgUnitKind, TenantStatus

__all__ = [
    "ADHOC_PARTICIPANTS",
    "CASE_KINDS",
    "HOLIDAY_POLICIES",
    "MEETING_KINDS",
    "MEETING_STYLES",
    "PARTNER_KINDS",
    "PRESET_SCHEMA",
    "SLUG_RE",
    "STYLE_PROCESS",
    "VALIDATOR",
    "PresetIssue",
    "document_order",
    "format_key_path",
    "schema_issues",
]

MEETING_STYLES = ("scheduled", "adhoc", "hybrid")  # 定例 / 随時 / 併用
MEETING_KINDS = ("case_review", "network", "theme", "support_meeting")
HOLIDAY_POLICIES = ("skip", "next_business_day", "previous_business_day")
ADHOC_PARTICIPANTS = ("internal_and_external", "internal_only")
#: The meeting subprocess the standard process calls, per meeting style (DESIGN 2.4).
STYLE_PROCESS = {"scheduled": "meeting_scheduled", "adhoc": "meeting_adhoc", "hybrid": "meeting_hybrid"}
#: Kinds whose meetings discuss individual cases, so capacity (cases × minutes) must be configured.
CASE_KINDS = ("case_review", "support_meeting")
#: 関係機関の種別 (issue #20): the agencies 社会福祉法106条の2 names, and a municipal department (庁内の部署).
PARTNER_KINDS = (
    "chiiki_houkatsu",  # 地域包括支援センター
    "kosodate_kyoten",  # 地域子育て支援拠点
    "boshi_hokatsu",  # 母子健康包括支援センター（こども家庭センター）
    "shogai_soudan",  # 障害者相談支援事業所
    "riyousha_shien",  # 利用者支援事業
    "department",  # 庁内の部署（税務、国保、水道、住宅、保育）
    "other",  # その他の関係機関
)
SLUG_RE = re.compile(r"^[a-z0-9-]{2,63}$")
#: Role keys (``identity.models.Role``, one layer up; a test keeps the two lists equal).
ROLE_KEYS = (
    "tenant_admin",
    "consultant",
    "municipal_staff",
    "meeting_secretariat",
    "provider",
    "external_participant",
    "auditor",
)


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
_DATE = _pattern(
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$", "a date as YYYY-MM-DD (a quoted string)"
)
_HHMM = _pattern(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "a time of day as HH:MM")
_RRULE = {"type": "string", "minLength": 1, "maxLength": 500}
_MEETING_COMMON: dict[str, Any] = {
    "key": _KEY,
    "name": _TEXT,
    "kind": {"enum": list(MEETING_KINDS)},
    "minutes_per_case": {"type": "integer", "minimum": 1, "maximum": 240},
    "core_roles": {**_ROLES, "minItems": 1},
    "guest_roles": _ROLES,
    "person_attends": {"type": "boolean"},  # 本人同席
    "core_members": _ROLES,  # by name, e.g. "福祉部7課の係長"
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
            _table(
                "code name kind",
                code=_CODE,
                name=_TEXT,
                name_kana=_KANA,
                kind=_UNIT_KIND,
                parent=_CODE,
                oversees=_array(_CODE, uniqueItems=True, maxItems=100),
            )
        ),
        identity_provider=_table(
            "issuer client_id client_secret_ref scopes claims allowed_email_domains",
            issuer={"type": "string", "maxLength": 500},
            client_id=_TEXT,
            client_secret_ref=_pattern(
                r"^[A-Z][A-Z0-9_]{1,127}$",
                "the NAME of the tenant's environment variable holding the secret "
                "(TSUNAGU_OIDC_<SLUG>_CLIENT_SECRET), never the secret itself",
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
                    rrule=_RRULE,
                    start=_HHMM,
                    duration={"type": "string", "maxLength": 40},
                    cases_per_meeting={"type": "integer", "minimum": 1, "maximum": 50},
                    holiday_policy={"enum": list(HOLIDAY_POLICIES)},
                    first_date=_DATE,  # the series' first meeting day (DTSTART); default: the sync date
                    evaluation_in_meeting={"type": "boolean"},  # ③ plan-end evaluations go on its agenda
                    horizon_days={"type": "integer", "minimum": 7, "maximum": 400},
                    # per org unit (each Yokohama ward): its own frequency, first date and start time
                    by_org_unit=_array(
                        _table("org_unit", org_unit=_CODE, rrule=_RRULE, first_date=_DATE, start=_HHMM)
                    ),
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
        # Optional: partner organisations that connect people in (issue #20, ``referrals``).
        partners=_array(
            _table(
                "key name kind org_unit",
                key=_KEY,
                name=_TEXT,
                kind={"enum": list(PARTNER_KINDS)},
                org_unit=_CODE,  # the unit its referrals go to
                contact_name={"type": "string", "maxLength": 100},
                contact_phone=_pattern(r"^[0-9+()\- ]{0,20}$", "a phone number"),
                contact_email={"type": "string", "maxLength": 254},
                agreement_on=_DATE,  # the data-sharing agreement's date
                members=_array({"type": "string", "minLength": 3, "maxLength": 320}, uniqueItems=True),
            ),
            maxItems=500,
        ),
        # Optional: notification e-mail and the daily reminders (issue #13); every key has a default.
        notifications=_table(
            "",
            digest_time=_pattern(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "a time of day as HH:MM (Japan time)"),
            escalate_after_days={"type": "integer", "minimum": 1, "maximum": 365},
            escalate_to_role={"enum": list(ROLE_KEYS)},
            year_end_closure={"type": "boolean"},  # 年末年始 12/29–1/3 are not business days
            from_name={"type": "string", "minLength": 1, "maxLength": 100},
            reply_to=_pattern(
                r"^[^@\s<>\"]+@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", "an e-mail address"
            ),
            default_language={"enum": ["ja", "en"]},
        ),
        # Optional: the national monthly report (issue #19) — reference values (目安値, per 100,000 population
        # per month) by fiscal year, the population of each org unit the report has a row for, and whether
        # the platform's operators may see this tenant's figures.
        reports=_table(
            "",
            reference_values=_array(
                _table(
                    "fiscal_year new_consultations plans work_support_targets",
                    fiscal_year={"type": "integer", "minimum": 2015, "maximum": 2100},
                    new_consultations={"type": "number", "minimum": 0, "maximum": 10000},
                    plans={"type": "number", "minimum": 0, "maximum": 10000},
                    work_support_targets={"type": "number", "minimum": 0, "maximum": 10000},
                ),
                maxItems=100,
            ),
            population={
                "type": "object",
                "propertyNames": _CODE,
                "additionalProperties": {"type": "integer", "minimum": 1},
            },
            share_with_operators={"type": "boolean"},
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
VALIDATOR = Draft202012Validator(PRESET_SCHEMA)


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


def schema_issues(file: str, error: ValidationError) -> list[PresetIssue]:
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


def document_order(data: Any, key_path: str) -> tuple[int, ...]:
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
