"""REST endpoints for financing plans: list, create, revise (a new version), move the status, compare two
versions, the proposal (HTML/PDF) and its e-mail; plan templates applied in bulk. Thin: parse, call
selectors/services, serialise."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from django.http import HttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from bcrm.core.errors import InvalidInput, NotFound
from bcrm.core.schemas import ERRORS
from bcrm.financing.selectors import project_get_for_user
from bcrm.parties.models import Organization
from bcrm.plans import selectors, services
from bcrm.plans.models import PlanStatus
from bcrm.plans.render import pdf_filename, plan_document, plan_pdf

router = Router(tags=["financing plans"])

StatusName = Literal["draft", "internal_review", "proposed", "negotiating", "accepted", "declined", "withdrawn"]


class TermsIn(Schema):
    instrument: Literal["senior_debt", "mezzanine", "equity", "guarantee", "bond"] | None = None
    amount: Decimal | None = Field(None, description="in `currency`; not negative")
    currency: str | None = Field(None, description="ISO 4217 code")
    tenor_months: int | None = None
    grace_months: int | None = None
    repayment: Literal["amortising", "sculpted", "balloon", "bullet"] | None = None
    reference_rate: str | None = None
    margin_bps: Decimal | None = None
    upfront_fee_pct: Decimal | None = Field(None, description="percent of the amount, 0–100")
    commitment_fee_pct: Decimal | None = None
    arrangement_fee: Decimal | None = Field(None, description="an amount in `currency`")
    security: str | None = None
    covenants: str | None = None
    conditions: str | None = None
    rationale: str | None = None


class PlanIn(Schema):
    organization: int
    project: int
    tranche: str = ""
    reason: str = ""
    approver: int | None = Field(None, description="user id of who reviews the plan (besides leads)")
    terms: TermsIn


class ReviseIn(Schema):
    terms: TermsIn
    reason: str
    version: int | None = Field(None, description="the plan's `version` you read (409 when stale)")


class TransitionIn(Schema):
    to: StatusName
    note: str = ""
    version: int | None = None


class PlanFilters(Schema):
    client: int | None = None
    project: int | None = None
    status: StatusName | None = None


class ProposalSendIn(Schema):
    contacts: list[int] | None = Field(None, description="contact ids of the client; default its primary contact")


class TemplateIn(Schema):
    project: int
    name: str
    tranche: str = ""
    terms: TermsIn


class ApplyIn(Schema):
    organizations: list[int] | None = Field(None, description="default: every standard-tier client of the project")


def _terms(terms: TermsIn) -> dict[str, Any]:
    return {k: v for k, v in terms.dict().items() if v is not None}


def _version_dict(version) -> dict[str, Any]:
    return {"number": version.number, "reason": version.reason, "created_at": version.created_at.isoformat(),
            "created_by": version.created_by.get_username() if version.created_by else None,
            "terms": {k: (str(v) if isinstance(v, Decimal) else v) for k, v in version.terms().items()}}


def _visible_organization(user, pk: int) -> Organization:
    from bcrm.accounts.permissions import can_view_organization

    organization = Organization.objects.filter(pk=pk).first()
    if organization is None or not can_view_organization(user, organization):
        raise NotFound()
    return organization


@router.get("/plans", response={200: list[dict[str, Any]], **ERRORS}, summary="Financing plans you may see")
def list_plans(request, filters: Query[PlanFilters]):
    data = {"organization": filters.client, "project": filters.project, "status": filters.status}
    return [selectors.plan_as_dict(p) for p in selectors.plan_list(actor=request.auth, filters=data)[:500]]


@router.post("/plans", response={201: dict[str, Any], **ERRORS}, summary="Create a plan (draft, version 1)")
def create_plan(request, payload: PlanIn):
    organization = _visible_organization(request.auth, payload.organization)
    project = project_get_for_user(user=request.auth, pk=payload.project)
    approver = None
    if payload.approver is not None:
        from django.contrib.auth import get_user_model

        approver = get_user_model().objects.filter(pk=payload.approver, is_active=True).first()
        if approver is None:
            raise InvalidInput(fields={"approver": ["No active user with this id."]})
    plan = services.plan_create(actor=request.auth, organization=organization, project=project,
                                tranche=payload.tranche, reason=payload.reason, terms=_terms(payload.terms),
                                approver=approver)
    return Status(201, selectors.plan_as_dict(plan))


@router.get("/plans/{pk}", response={200: dict[str, Any], **ERRORS}, summary="A plan with its versions and history")
def get_plan(request, pk: int):
    plan = selectors.plan_get_for_user(user=request.auth, pk=pk)
    return {**selectors.plan_as_dict(plan),
            "versions": [_version_dict(v) for v in selectors.plan_versions(plan)],
            "history": [{"from": c.from_status, "to": c.to_status, "at": c.changed_at.isoformat(), "note": c.note}
                        for c in plan.status_changes.all()]}


@router.post("/plans/{pk}/versions", response={201: dict[str, Any], **ERRORS},
             summary="Change terms: a new version with why")
def revise_plan(request, pk: int, payload: ReviseIn):
    plan = selectors.plan_get_for_user(user=request.auth, pk=pk)
    version = services.plan_revise(actor=request.auth, plan=plan, terms=_terms(payload.terms), reason=payload.reason,
                                   expected_version=payload.version)
    return Status(201, _version_dict(version))


@router.post("/plans/{pk}/transition", response={200: dict[str, Any], **ERRORS},
             summary="Move the status (draft → internal_review → proposed → negotiating → accepted/declined/withdrawn)")
def transition_plan(request, pk: int, payload: TransitionIn):
    plan = selectors.plan_get_for_user(user=request.auth, pk=pk)
    plan = services.plan_transition(actor=request.auth, plan=plan, to=str(PlanStatus(payload.to).value),
                                    note=payload.note, expected_version=payload.version)
    return selectors.plan_as_dict(plan)


@router.get("/plans/{pk}/compare", response={200: dict[str, Any], **ERRORS},
            summary="Two versions side by side: what changed from a to b")
def compare_plan(request, pk: int, a: int, b: int):
    plan = selectors.plan_get_for_user(user=request.auth, pk=pk)
    left, right, changes = selectors.plan_compare(plan, a, b)
    return {"a": _version_dict(left), "b": _version_dict(right),
            "changes": [{"field": c.field, "a": _plain(c.before), "b": _plain(c.after)} for c in changes]}


def _plain(value):
    return str(value) if isinstance(value, Decimal) else value


@router.get("/plans/{pk}/proposal", response={200: None, **ERRORS},
            summary="The proposal document of the current version, as HTML or PDF")
def plan_proposal(request, pk: int, language: Literal["en", "zh-hans"] = "en",
                  format: Literal["html", "pdf"] = "pdf"):
    plan = selectors.plan_get_for_user(user=request.auth, pk=pk)
    if format == "html":
        return HttpResponse(plan_document(plan, language), content_type="text/html; charset=utf-8")
    response = HttpResponse(plan_pdf(plan, language), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{pdf_filename(plan)}"'
    return response


@router.post("/plans/{pk}/send", response={200: dict[str, Any], **ERRORS},
             summary="E-mail the proposal (cover e-mail with the PDF) to the client's contact")
def send_plan(request, pk: int, payload: ProposalSendIn):
    plan = selectors.plan_get_for_user(user=request.auth, pk=pk)
    contacts = None
    if payload.contacts is not None:
        contacts = list(plan.organization.contacts.filter(pk__in=payload.contacts))
    return services.plan_send_proposal(actor=request.auth, plan=plan, contacts=contacts).as_dict()


@router.post("/plan-templates", response={201: dict[str, Any], **ERRORS},
             summary="Standard terms for a project (and tranche)")
def create_template(request, payload: TemplateIn):
    project = project_get_for_user(user=request.auth, pk=payload.project)
    template = services.plan_template_create(actor=request.auth, project=project, name=payload.name,
                                             tranche=payload.tranche, terms=_terms(payload.terms))
    return Status(201, {"id": template.pk, "name": template.name, "project_id": template.project_id,
                        "tranche": template.tranche})


@router.post("/plan-templates/{pk}/apply", response={200: dict[str, Any], **ERRORS},
             summary="Draft plans with the template's terms for the project's standard-tier clients")
def apply_template(request, pk: int, payload: ApplyIn):
    template = selectors.plan_template_get(actor=request.auth, pk=pk)
    organizations = None
    if payload.organizations is not None:
        organizations = [_visible_organization(request.auth, i) for i in payload.organizations]
    return services.plan_template_apply(actor=request.auth, template=template, organizations=organizations).as_dict()
