"""Request and response models of the cases API (``web.api.operation``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from ..core import limits
from ..web.api import register_component
from .referral import REFERRAL_SCHEMA

_REFERRAL = register_component("Referral", REFERRAL_SCHEMA)  # validated by ``referral.parse_referral``
MessageName = Literal["meeting_decided", "consent_withdrawn", "referral_received"]  # advance.MESSAGE_NAMES


class PersonIn(BaseModel):
    name: str = Field(min_length=1, max_length=limits.PERSON_NAME_MAX, description="氏名, one line")
    name_kana: str = Field(min_length=1, max_length=limits.PERSON_KANA_MAX, description="ふりがな (katakana)")
    birth_date: str | None = Field(
        None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD, from 1900 to today"
    )


class NewCase(BaseModel):
    """相談受付: the person, the org unit (code) and, for a referral from another agency (つなぎ), the referral."""

    model_config = ConfigDict(extra="ignore")
    person: PersonIn
    org_unit: str | None = Field(None, max_length=limits.ORG_UNIT_CODE_MAX, description="org unit code")
    referral: Annotated[dict[str, Any] | None, WithJsonSchema({"anyOf": [_REFERRAL, {"type": "null"}]})] = (
        None
    )


class CaseCreated(BaseModel):
    id: str
    process_instance_id: str
    stage: str


class PersonOut(BaseModel):
    name: str
    name_kana: str
    birth_date: str | None


class AnonymisedPerson(BaseModel):
    """匿名化した要約: shown instead of the person to a viewer without a legal basis for the case file."""

    anonymised: Literal[True]
    age_band: str | None
    ward: str
    topics: list[str]


class Incident(BaseModel):
    id: str
    element: str
    command: str
    message: str
    created_at: str


class CaseEventOut(BaseModel):
    """A history entry; for a viewer without a basis for the case file only the process step (no actor, no
    details)."""

    kind: str
    element: str | None
    title: str
    actor_id: str | None = None
    task_id: str | None
    at: str
    details: dict[str, Any] | None = None


class ResponsibleIn(BaseModel):
    """担当相談支援員の変更: the new responsible consultant and why."""

    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(max_length=40, description="an active user holding consultant in the case's unit")
    reason: str = Field("", max_length=1000)


class ResponsibleOut(BaseModel):
    id: str
    number: str | None
    responsible_id: str | None


class TaskSummary(BaseModel):
    id: str
    name: str
    title: str
    case_id: str | None
    lane: str
    role: str
    assignee: str | None
    due_at: str | None
    form: str
    state: str
    person_name: str | None


class CaseOut(BaseModel):
    id: str
    number: str | None = Field(None, description="事例番号, e.g. R8-00012")
    responsible_id: str | None = Field(None, description="the responsible consultant (担当相談支援員)")
    in_meeting: bool = False
    stage: str
    status: str
    outcome: str
    org_unit_id: str | None = None
    process_instance_id: str | None
    process_version: int | None
    person: PersonOut | AnonymisedPerson
    incidents: list[Incident]
    history: list[CaseEventOut]
    information: dict[str, Any] = Field(
        description="what the caller may see and why (sharing.decide): visibility, basis, summary, progress "
        "records, 支援会議 records for its members, consents"
    )
    open_tasks: list[TaskSummary] = Field(default_factory=list, description="the case's ready tasks")


class CaseListItem(BaseModel):
    id: str
    number: str | None = Field(description="事例番号 (fiscal year in 和暦 + sequence), e.g. R8-00012")
    responsible_id: str | None = Field(description="the responsible consultant (担当相談支援員)")
    in_meeting: bool = Field(description="the case sits in its 支援調整会議")
    status: str
    outcome: str
    stage: str
    org_unit_id: str | None
    person: PersonOut | AnonymisedPerson
    created_at: str
    next_due_at: str | None = Field(description="the earliest due date of the case's ready tasks")


class CaseQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_unit: str | None = Field(None, max_length=limits.ORG_UNIT_CODE_MAX, description="org unit code")
    state: Literal["open", "closed"] | None = None
    stage: str | None = Field(None, max_length=200, description="the process stage, e.g. アセスメント")
    kana: str | None = Field(None, max_length=limits.PERSON_KANA_MAX, description="ふりがな, prefix")
    number: str | None = Field(None, max_length=40, description="事例番号, e.g. R8-00012 (R8-12 works too)")
    q: str | None = Field(
        None, max_length=limits.PERSON_KANA_MAX, description="person's name or kana, partial"
    )
    responsible: str | None = Field(
        None, max_length=40, description="the responsible consultant's user id, or `me`"
    )
    in_meeting: bool = Field(False, description="only cases sitting in their 支援調整会議 (waiting for it)")
    overdue: bool = Field(False, description="only cases with a ready task past its due date")
    due_before: str | None = Field(
        None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="cases with a ready task due on or before this day"
    )
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=200, description="`Next-Cursor` of the previous page")


class MessageIn(BaseModel):
    name: MessageName
    payload: dict[str, Any] = Field(default_factory=dict)


class MessageResult(BaseModel):
    id: str
    stage: str
    status: str


class TimelineEntryOut(BaseModel):
    at: str
    kind: str
    title: str
    element: str | None
    actor: str = Field(description="who did it (display name), empty for the system")
    details: dict[str, Any]


class ConsentOut(BaseModel):
    """同意: what the consent step recorded, and whether the person withdrew it."""

    consent: dict[str, Any]
    withdrawn: bool


class ProgressRecordIn(BaseModel):
    """支援経過記録: date, method, staff, content, and where it came from."""

    model_config = ConfigDict(extra="forbid")
    record_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")
    method: Literal["visit", "phone", "accompany", "other"]
    staff_name: str = Field(min_length=1, max_length=100)
    content: str = Field(min_length=1, max_length=4000)
    category: Literal["general", "sensitive", "tax", "household"] = "general"
    source: Literal["person", "consultant", "agency", "tax_department", "support_meeting"] = "consultant"
    meeting_key: str = Field("", max_length=64, description="the 支援会議 the record came from")


class ProgressRecordOut(BaseModel):
    """A progress record as the caller may see it: method, staff and content only when ``visibility`` is
    ``full``."""

    model_config = ConfigDict(extra="allow")
    id: str
    record_date: str
    category: str
    source: str
    visibility: Literal["full", "anonymised", "hidden"]
    basis: str
    method: str | None = None
    staff_name: str | None = None
    content: str | None = None


class PromotionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


class PromotionOut(BaseModel):
    id: str
    promoted_at: str | None


class ConsentIn(BaseModel):
    """同意 (checked field by field by ``sharing.record_consent``)."""

    model_config = ConfigDict(extra="allow")


class ConsentRecordOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str


class ConsentWithdrawalIn(BaseModel):
    """``{"full": true}`` or ``{"categories" | "org_units" | "roles": [...]}``."""

    model_config = ConfigDict(extra="allow")


class ConsentWithdrawalOut(BaseModel):
    withdrawal: str
    consent: dict[str, Any]
    status: str
