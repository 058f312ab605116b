"""REST endpoints for project progress: the report (JSON, HTML, PDF), sending it, the delivery log,
milestones and team updates. Thin: parse, call selectors/services, serialise."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from bcrm.core.errors import InvalidInput
from bcrm.core.schemas import ERRORS, PageIn, PageOut, page_response
from bcrm.parties.choices import Language
from bcrm.progress import selectors, services
from bcrm.progress.models import DeliveryStatus
from bcrm.progress.render import pdf_filename, render_html, render_pdf

router = Router(tags=["progress reports"])


class ReportQuery(Schema):
    period: str | None = Field(None, description="YYYY-MM; default the previous calendar month")
    language: Language = Language.EN
    format: Literal["json", "html", "pdf"] = "json"


class SendIn(Schema):
    period: str = Field(..., description="YYYY-MM")


class SendSummaryOut(Schema):
    claimed: int
    sent: int
    retrying: int
    failed: int
    cancelled: int
    errors: list[str]


class QueueOut(Schema):
    period: str
    created: int
    already_queued: int
    skipped_no_consent: int
    skipped_no_email: int
    sent: SendSummaryOut | None


class DeliveryFilters(Schema):
    project: int | None = None
    status: DeliveryStatus | None = None
    period: str | None = None


class DeliveryOut(Schema):
    id: int
    project_id: int
    period: str
    organization_id: int
    contact_id: int | None
    email: str
    language: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: str
    queued_at: dt.datetime
    sent_at: dt.datetime | None
    run_id: int | None
    interaction_id: int | None


class MilestoneOut(Schema):
    id: int
    project_id: int
    name: str
    local_name: str
    due_on: dt.date
    completed_on: dt.date | None
    position: int
    version: int


class MilestoneIn(Schema):
    name: str
    local_name: str = ""
    due_on: dt.date
    completed_on: dt.date | None = None
    position: int | None = Field(None, ge=0)


class MilestonePatch(Schema):
    version: int | None = Field(None, description="the version you read; a stale one gets 409")
    name: str | None = None
    local_name: str | None = None
    due_on: dt.date | None = None
    completed_on: dt.date | None = None
    position: int | None = Field(None, ge=0)


class UpdateOut(Schema):
    id: int
    project_id: int
    author_id: int | None
    written_at: dt.datetime
    body: str
    language: str
    version: int


class UpdateIn(Schema):
    body: str
    language: Language = Language.EN
    written_at: dt.datetime | None = None


def _period(value: str | None) -> str:
    if not value:
        from django.utils import timezone

        from bcrm.progress.periods import previous_period

        return previous_period(timezone.localdate())
    selectors.clean_period(value)
    return value


@router.get("/projects/{pk}/progress-report", response={200: dict[str, Any], **ERRORS},
            summary="A project's progress report for a month: JSON, HTML or PDF")
def get_report(request, pk: int, query: Query[ReportQuery]):
    project = selectors.project_get_for_user(user=request.auth, pk=pk)
    language = str(Language(query.language).value)
    report = selectors.progress_report(project, _period(query.period), language)
    if query.format == "html":
        return HttpResponse(render_html(report, language), content_type="text/html; charset=utf-8")
    if query.format == "pdf":
        response = HttpResponse(render_pdf(report, language), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{pdf_filename(report)}"'
        return response
    return report.as_dict()


@router.post("/projects/{pk}/progress-report/send", response={200: QueueOut, **ERRORS},
             summary="E-mail the month's report to every consenting contact of the project's participants")
def send_report(request, pk: int, payload: SendIn):
    project = selectors.project_get_for_user(user=request.auth, pk=pk)
    return services.report_send(actor=request.auth, project=project, period=payload.period).as_dict()


@router.get("/report-deliveries", response={200: PageOut[DeliveryOut], **ERRORS},
            summary="The report delivery log")
def list_deliveries(request, filters: Query[DeliveryFilters], page: Query[PageIn]):
    data = filters.dict(exclude_none=True)
    if "status" in data:
        data["status"] = str(DeliveryStatus(data["status"]).value)
    return page_response(selectors.deliveries(request.auth, data), page)


@router.get("/projects/{pk}/milestones", response={200: list[MilestoneOut], **ERRORS}, summary="A project's milestones")
def list_milestones(request, pk: int):
    project = selectors.project_get_for_user(user=request.auth, pk=pk)
    return list(selectors.milestone_list(user=request.auth, project=project))


@router.post("/projects/{pk}/milestones", response={201: MilestoneOut, **ERRORS}, summary="Add a milestone")
def create_milestone(request, pk: int, payload: MilestoneIn):
    project = selectors.project_get_for_user(user=request.auth, pk=pk)
    return Status(201, services.milestone_create(actor=request.auth, project=project,
                                                 data=payload.dict(exclude_unset=True)))


@router.patch("/milestones/{pk}", response={200: MilestoneOut, **ERRORS}, summary="Change a milestone")
def update_milestone(request, pk: int, payload: MilestonePatch):
    milestone = selectors.milestone_get_for_user(user=request.auth, pk=pk)
    data = payload.dict(exclude_unset=True)
    version = data.pop("version", None)
    for key in ("name", "due_on", "position"):
        if key in data and data[key] is None:
            raise InvalidInput(fields={key: ["This field cannot be null."]})
    return services.milestone_update(actor=request.auth, milestone=milestone, data=data, expected_version=version)


@router.delete("/milestones/{pk}", response={204: None, **ERRORS}, summary="Delete a milestone")
def delete_milestone(request, pk: int):
    milestone = selectors.milestone_get_for_user(user=request.auth, pk=pk)
    services.milestone_delete(actor=request.auth, milestone=milestone)
    return Status(204, None)


@router.get("/projects/{pk}/updates", response={200: PageOut[UpdateOut], **ERRORS}, summary="A project's team updates")
def list_updates(request, pk: int, page: Query[PageIn]):
    project = selectors.project_get_for_user(user=request.auth, pk=pk)
    return page_response(selectors.update_list(user=request.auth, project=project), page)


@router.post("/projects/{pk}/updates", response={201: UpdateOut, **ERRORS}, summary="Write a team update")
def create_update(request, pk: int, payload: UpdateIn):
    project = selectors.project_get_for_user(user=request.auth, pk=pk)
    data = payload.dict(exclude_unset=True)
    if "language" in data:
        data["language"] = str(Language(data["language"]).value)
    return Status(201, services.update_create(actor=request.auth, project=project, data=data))
