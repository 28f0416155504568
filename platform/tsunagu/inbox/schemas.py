"""Request and response models of the inbox API: tasks and saved views (``web.api.operation``)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TaskOut(BaseModel):
    id: str
    name: str = Field(description="the BPMN element id of the step")
    title: str
    case_id: str | None
    lane: str
    role: str
    assignee: str | None = Field(description="user id of the assignee, null while unclaimed")
    due_at: str | None
    form: str
    state: Literal["ready", "completed", "cancelled"]
    person_name: str


class TaskDetail(TaskOut):
    form_schema: dict[str, Any] | None = Field(description="the step's form (form-js JSON)")
    draft: dict[str, Any] | None = Field(description="what was saved with `PUT tasks/{id}/draft`")


class TaskQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: Literal["mine", "role", "all"] = Field(
        "mine",
        description="mine: assigned to me; role: unclaimed for my roles in my units; all: all I may see",
    )
    state: Literal["ready", "completed", "cancelled"] = "ready"
    case_id: uuid.UUID | None = Field(None, description="only this case's tasks")
    view_id: uuid.UUID | None = Field(
        None, description="a saved view's filters (ready tasks); 404 if unknown"
    )
    due: Literal["overdue", "soon", "none"] | None = None
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0, le=1_000_000)


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: dict[str, Any] = Field(default_factory=dict, description="the form's values, by field key")


class DraftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: dict[str, Any] = Field(description="what was typed so far; not validated")


class ReassignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: uuid.UUID = Field(description="user id holding the task's role")


class ViewFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: Literal["mine", "role", "all"] = "mine"
    due: Literal["", "overdue", "soon", "none"] = ""
    step: str = Field("", max_length=200)
    case: str = Field("", max_length=36)
    org_unit: str = Field("", max_length=36)
    q: str = Field("", max_length=100)
    sort: str = Field("due", max_length=20)
    order: Literal["asc", "desc"] = "asc"


class SavedViewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    filters: ViewFilters = Field(default_factory=lambda: ViewFilters.model_validate({}))
    shared: bool = False


class SavedViewOut(BaseModel):
    id: str
    name: str
    owner_id: str
    shared: bool
    filters: dict[str, str]
    updated_at: str
