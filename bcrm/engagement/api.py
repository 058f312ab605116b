"""REST endpoints for interactions, service requests and tasks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from ninja import Query, Router, Schema, Status
from pydantic import AwareDatetime, Field

from bcrm.core.errors import InvalidInput
from bcrm.core.schemas import ERRORS, Id, PageIn, PageOut, page_response, resolve, resolve_model
from bcrm.engagement import selectors, services
from bcrm.engagement.choices import InteractionKind, Priority, TaskStatus
from bcrm.financing.selectors import project_get_for_user
from bcrm.parties.models import Contact
from bcrm.parties.selectors import organization_get_for_user

router = Router(tags=["engagement"])


class InteractionOut(Schema):
    id: int
    organization_id: int
    project_id: int | None
    kind: str
    occurred_at: dt.datetime
    owner_id: int | None
    contact_ids: list[int]
    minutes_spent: int
    summary: str
    outcome: str
    version: int

    @staticmethod
    def resolve_contact_ids(obj) -> list[int]:
        return [c.pk for c in obj.contacts.all()]

    @staticmethod
    def resolve_summary(obj) -> str:
        """A summary the system wrote, in the request's language (Accept-Language / the session's)."""
        return obj.display_summary


class InteractionIn(Schema):
    organization: int
    kind: InteractionKind
    occurred_at: AwareDatetime | None = Field(None, description="with a time zone offset; default now")
    project: int | None = None
    contacts: list[int] = []
    minutes_spent: int = Field(30, ge=0, le=10080)
    summary: str = Field(..., min_length=1)
    outcome: str = ""


class InteractionPatch(Schema):
    version: int
    kind: InteractionKind | None = None
    occurred_at: AwareDatetime | None = None
    project: int | None = None
    contacts: list[int] | None = None
    minutes_spent: int | None = Field(None, ge=0, le=10080)
    summary: str | None = Field(None, min_length=1)
    outcome: str | None = None


class ServiceRequestOut(Schema):
    id: int
    organization_id: int
    contact_id: int | None
    subject: str
    description: str
    priority: str
    opened_at: dt.datetime
    first_response_at: dt.datetime | None
    resolved_at: dt.datetime | None
    owner_id: int | None
    response_due_at: dt.datetime | None
    resolution_due_at: dt.datetime | None
    escalated_at: dt.datetime | None
    version: int


class ServiceRequestIn(Schema):
    organization: int
    contact: int | None = None
    subject: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    priority: Priority = Priority.NORMAL
    opened_at: AwareDatetime | None = None
    first_response_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    owner: int | None = None


class ServiceRequestPatch(Schema):
    version: int
    contact: int | None = None
    subject: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    priority: Priority | None = None
    first_response_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    owner: int | None = None


class TaskOut(Schema):
    id: int
    title: str
    title_code: str = Field("", description="a generated title's code (its English message id); empty if typed")
    title_params: dict[str, Any] = Field(default_factory=dict)
    description: str
    organization_id: int | None
    assignee_id: int | None
    due_at: dt.datetime
    status: str
    completed_at: dt.datetime | None
    source: str
    source_key: str | None
    version: int

    @staticmethod
    def resolve_title(obj) -> str:
        """A generated title in the request's language (Accept-Language / the session's)."""
        return obj.display_title


class TaskIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    organization: int | None = None
    assignee: int | None = None
    due_at: AwareDatetime
    status: TaskStatus = TaskStatus.OPEN


class TaskPatch(Schema):
    version: int
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    assignee: int | None = None
    due_at: AwareDatetime | None = None
    status: TaskStatus | None = None


class OrganizationFilter(Schema):
    organization: Id | None = None


class RequestFilter(OrganizationFilter):
    open: bool | None = None


class TaskFilter(OrganizationFilter):
    status: TaskStatus | None = None
    assignee: Id | None = None
    sort: str | None = Field(None, description="due, title, client, owner or status; a leading - reverses")


def _clean(request, payload: Schema, *, partial: bool) -> dict:
    data = payload.dict(exclude_unset=partial)
    data.pop("version", None)
    for key in ("description", "outcome"):
        if key in data and data[key] is None:
            data[key] = ""
    if not partial:
        data = {k: v for k, v in data.items() if not (v is None and k in {"occurred_at", "opened_at"})}
    resolve_model(data, "owner", get_user_model())
    resolve_model(data, "assignee", get_user_model())
    resolve(data, "project", lambda pk: project_get_for_user(user=request.auth, pk=pk))
    return data


def _organization(request, data: dict):
    resolve(data, "organization", lambda pk: organization_get_for_user(user=request.auth, pk=pk))
    return data.pop("organization")


def _contacts(ids: list[int] | None):
    if ids is None:
        return None
    found = list(Contact.objects.filter(pk__in=ids))
    missing = sorted(set(ids) - {c.pk for c in found})
    if missing:
        raise InvalidInput(fields={"contacts": [f"No such contact: {', '.join(map(str, missing))}."]})
    return found


@router.get("/interactions", response=PageOut[InteractionOut], summary="List interactions")
def list_interactions(request, filters: Query[OrganizationFilter], page: Query[PageIn]):
    return page_response(selectors.interaction_list(actor=request.auth, filters=filters.dict(exclude_none=True)), page)


@router.post("/interactions", response={201: InteractionOut, **ERRORS}, summary="Record an interaction")
def create_interaction(request, payload: InteractionIn):
    data = _clean(request, payload, partial=False)
    organization = _organization(request, data)
    contacts = _contacts(data.pop("contacts", []))
    return Status(201, services.interaction_create(actor=request.auth, organization=organization, data=data, contacts=contacts))


@router.get("/interactions/{int:pk}", response={200: InteractionOut, **ERRORS}, summary="Read an interaction")
def get_interaction(request, pk: int):
    return selectors.interaction_get_for_user(user=request.auth, pk=pk)


@router.patch("/interactions/{int:pk}", response={200: InteractionOut, **ERRORS}, summary="Update an interaction")
def update_interaction(request, pk: int, payload: InteractionPatch):
    interaction = selectors.interaction_get_for_user(user=request.auth, pk=pk)
    data = _clean(request, payload, partial=True)
    contacts = _contacts(data.pop("contacts", None))
    return services.interaction_update(
        actor=request.auth, interaction=interaction, data=data, expected_version=payload.version, contacts=contacts
    )


@router.delete("/interactions/{int:pk}", response={204: None, **ERRORS}, summary="Delete an interaction")
def delete_interaction(request, pk: int):
    services.interaction_delete(actor=request.auth, interaction=selectors.interaction_get_for_user(user=request.auth, pk=pk))
    return Status(204, None)


@router.get("/service-requests", response=PageOut[ServiceRequestOut], summary="List service requests")
def list_service_requests(request, filters: Query[RequestFilter], page: Query[PageIn]):
    return page_response(selectors.service_request_list(actor=request.auth, filters=filters.dict(exclude_none=True)), page)


@router.post("/service-requests", response={201: ServiceRequestOut, **ERRORS}, summary="Open a service request")
def create_service_request(request, payload: ServiceRequestIn):
    data = _clean(request, payload, partial=False)
    organization = _organization(request, data)
    resolve_model(data, "contact", Contact)
    return Status(201, services.service_request_create(actor=request.auth, organization=organization, data=data))


@router.get("/service-requests/{int:pk}", response={200: ServiceRequestOut, **ERRORS}, summary="Read a service request")
def get_service_request(request, pk: int):
    return selectors.service_request_get_for_user(user=request.auth, pk=pk)


@router.patch("/service-requests/{int:pk}", response={200: ServiceRequestOut, **ERRORS}, summary="Update a service request")
def update_service_request(request, pk: int, payload: ServiceRequestPatch):
    obj = selectors.service_request_get_for_user(user=request.auth, pk=pk)
    data = _clean(request, payload, partial=True)
    resolve_model(data, "contact", Contact)
    return services.service_request_update(actor=request.auth, service_request=obj, data=data, expected_version=payload.version)


@router.delete("/service-requests/{int:pk}", response={204: None, **ERRORS}, summary="Delete a service request")
def delete_service_request(request, pk: int):
    services.service_request_delete(
        actor=request.auth, service_request=selectors.service_request_get_for_user(user=request.auth, pk=pk)
    )
    return Status(204, None)


@router.get("/tasks", response=PageOut[TaskOut], summary="List tasks")
def list_tasks(request, filters: Query[TaskFilter], page: Query[PageIn]):
    return page_response(selectors.task_list(actor=request.auth, filters=filters.dict(exclude_none=True)), page)


@router.post("/tasks", response={201: TaskOut, **ERRORS}, summary="Create a task")
def create_task(request, payload: TaskIn):
    data = _clean(request, payload, partial=False)
    resolve(data, "organization", lambda pk: organization_get_for_user(user=request.auth, pk=pk))
    return Status(201, services.task_create(actor=request.auth, data=data))


@router.get("/tasks/{int:pk}", response={200: TaskOut, **ERRORS}, summary="Read a task")
def get_task(request, pk: int):
    return selectors.task_get_for_user(user=request.auth, pk=pk)


@router.patch("/tasks/{int:pk}", response={200: TaskOut, **ERRORS}, summary="Update a task")
def update_task(request, pk: int, payload: TaskPatch):
    task = selectors.task_get_for_user(user=request.auth, pk=pk)
    return services.task_update(actor=request.auth, task=task, data=_clean(request, payload, partial=True), expected_version=payload.version)


@router.delete("/tasks/{int:pk}", response={204: None, **ERRORS}, summary="Delete a task")
def delete_task(request, pk: int):
    services.task_delete(actor=request.auth, task=selectors.task_get_for_user(user=request.auth, pk=pk))
    return Status(204, None)
