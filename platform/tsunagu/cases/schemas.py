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


class Incident(BaseModel):
    id: str
    element: str
    command: str
    message: str
    created_at: str


class CaseEventOut(BaseModel):
    kind: str
    element: str | None
    title: str
    actor_id: str | None
    task_id: str | None
    at: str
    details: dict[str, Any] | None


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
    person_name: str


class CaseOut(BaseModel):
    id: str
    stage: str
    status: str
    outcome: str
    org_unit_id: str | None = None
    process_instance_id: str | None
    process_version: int | None
    person: PersonOut
    incidents: list[Incident]
    history: list[CaseEventOut]
    open_tasks: list[TaskSummary] = Field(default_factory=list, description="the case's ready tasks")


class CaseListItem(BaseModel):
    id: str
    status: str
    outcome: str
    stage: str
    org_unit_id: str | None
    person: PersonOut
    created_at: str
    next_due_at: str | None = Field(description="the earliest due date of the case's ready tasks")


class CaseQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_unit: str | None = Field(None, max_length=limits.ORG_UNIT_CODE_MAX, description="org unit code")
    state: Literal["open", "closed"] | None = None
    stage: str | None = Field(None, max_length=200, description="the process stage, e.g. アセスメント")
    kana: str | None = Field(None, max_length=limits.PERSON_KANA_MAX, description="ふりがな, prefix")
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
    """支援経過記録: date, method, staff, content."""

    model_config = ConfigDict(extra="forbid")
    record_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")
    method: Literal["visit", "phone", "accompany", "other"]
    staff_name: str = Field(min_length=1, max_length=100)
    content: str = Field(min_length=1, max_length=4000)


class ProgressRecordOut(BaseModel):
    id: str
    record_date: str
    method: str
    staff_name: str
    content: str
    created_at: str
