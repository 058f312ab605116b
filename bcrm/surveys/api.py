"""REST endpoints for survey invitations and results. The answer itself is the public HTML form."""

from __future__ import annotations

import datetime as dt

from ninja import Query, Router, Schema, Status
from pydantic import Field

from bcrm.core.errors import InvalidInput, NotFound
from bcrm.core.schemas import ERRORS, PageIn, PageOut, page_response
from bcrm.financing.selectors import project_get_for_user
from bcrm.parties.selectors import contact_get_for_user, organization_get_for_user
from bcrm.surveys import selectors, services
from bcrm.surveys.models import InvitationStatus

router = Router(tags=["surveys"])


class InvitationOut(Schema):
    id: int
    contact_id: int
    contact_name: str
    email: str
    organization_id: int
    project_id: int | None
    language: str
    status: str
    sent_at: dt.datetime | None
    send_error: str
    expires_at: dt.datetime
    used_at: dt.datetime | None
    response_id: int | None
    nps: int | None
    csat: int | None
    created_at: dt.datetime

    @staticmethod
    def resolve_contact_name(obj) -> str:
        return obj.contact.full_name

    @staticmethod
    def resolve_email(obj) -> str:
        return obj.contact.email

    @staticmethod
    def resolve_nps(obj) -> int | None:
        return obj.response.nps if obj.response_id and obj.response else None

    @staticmethod
    def resolve_csat(obj) -> int | None:
        return obj.response.csat if obj.response_id and obj.response else None


class InviteIn(Schema):
    contacts: list[int] = Field([], description="contact ids")
    organization: int | None = Field(None, description="every contact of this organisation")
    project: int | None = Field(
        None, description="the survey is about this project; without contacts or organization, every contact "
                          "of the organisations taking part in it is invited",
    )
    expires_in_days: int = Field(services.DEFAULT_EXPIRY_DAYS, ge=services.MIN_EXPIRY_DAYS,
                                 le=services.MAX_EXPIRY_DAYS)
    dry_run: bool = Field(False, description="say who would be invited and who skipped; write and send nothing")


class InvitedOut(Schema):
    invitation_id: int | None = Field(None, description="null in a dry run")
    contact_id: int
    contact_name: str
    email: str
    organization_id: int
    language: str
    expires_at: dt.datetime
    sent: bool
    error: str = ""


class SkippedOut(Schema):
    contact_id: int
    contact_name: str
    organization_id: int
    reason_code: str = Field(..., description="no_email | open_invitation")
    reason: str


class InviteOut(Schema):
    dry_run: bool
    invited: list[InvitedOut]
    skipped: list[SkippedOut]


class InvitationFilters(Schema):
    status: InvitationStatus | None = None
    organization: int | None = None
    project: int | None = None
    contact: int | None = None


class SummaryFilters(Schema):
    organization: int | None = None
    project: int | None = None


class SummaryOut(Schema):
    invitations: int
    sent: int
    answered: int
    open: int
    pending: int
    expired: int
    response_rate: float | None = Field(None, description="% of sent invitations answered")
    responses: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None = Field(None, description="% promoters (9–10) − % detractors (0–6), −100…100")
    csat_count: int
    csat_average: float | None


def _field_lookup(field: str, getter, pk: int):
    try:
        return getter(pk)
    except NotFound:
        raise InvalidInput(fields={field: [f"No such {field} (id {pk}), or you may not see it."]}) from None


@router.post("/surveys/invitations", response={200: InviteOut, 201: InviteOut, **ERRORS},
             summary="Invite contacts to the satisfaction survey (and e-mail them)")
def create_invitations(request, payload: InviteIn):
    user = request.auth
    contacts = [_field_lookup("contacts", lambda pk: contact_get_for_user(user=user, pk=pk), pk)
                for pk in payload.contacts]
    organization = project = None
    if payload.organization is not None:
        organization = _field_lookup("organization", lambda pk: organization_get_for_user(user=user, pk=pk),
                                     payload.organization)
    if payload.project is not None:
        project = _field_lookup("project", lambda pk: project_get_for_user(user=user, pk=pk), payload.project)
    if not contacts and organization is None and project is None:
        raise InvalidInput(fields={"contacts": ["Name contacts, an organization or a project."]})
    recipients = selectors.survey_recipients(
        actor=user, organizations=[organization] if organization else [], contacts=contacts, project=project,
    )
    result = services.survey_invite_and_send(actor=user, contacts=recipients, project=project,
                                             expires_in_days=payload.expires_in_days, dry_run=payload.dry_run)
    invited = []
    for inv in result.invitations:
        outcome = result.outcome_of(inv)
        invited.append({
            "invitation_id": inv.pk, "contact_id": inv.contact_id, "contact_name": inv.contact.full_name,
            "email": inv.contact.email, "organization_id": inv.organization_id, "language": inv.language,
            "expires_at": inv.expires_at, "sent": bool(outcome and outcome.sent),
            "error": outcome.error if outcome else "",
        })
    skipped = [{
        "contact_id": s.contact.pk, "contact_name": s.contact.full_name, "organization_id": s.contact.organization_id,
        "reason_code": s.code, "reason": s.reason,
    } for s in result.skipped]
    body = {"dry_run": payload.dry_run, "invited": invited, "skipped": skipped}
    return Status(200 if payload.dry_run else 201, body)


@router.get("/surveys/invitations", response={200: PageOut[InvitationOut], **ERRORS},
            summary="List survey invitations")
def list_invitations(request, filters: Query[InvitationFilters], page: Query[PageIn]):
    data = filters.dict(exclude_none=True)
    if "status" in data:
        data["status"] = str(InvitationStatus(data["status"]).value)
    return page_response(selectors.invitation_list(actor=request.auth, filters=data), page)


@router.get("/surveys/summary", response={200: SummaryOut, **ERRORS},
            summary="Survey results: responses, NPS, average CSAT")
def survey_summary(request, filters: Query[SummaryFilters]):
    user = request.auth
    organization = project = None
    if filters.organization is not None:
        organization = organization_get_for_user(user=user, pk=filters.organization)
    if filters.project is not None:
        project = project_get_for_user(user=user, pk=filters.project)
    return selectors.survey_summary(actor=user, organization=organization, project=project)
