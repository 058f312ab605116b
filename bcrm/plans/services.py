"""The rules of financing plans: who may write them, versions, the status machine, templates applied in bulk,
the proposal document and its cover e-mail. Every door (web, API, CLI) calls these."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from bcrm.accounts.permissions import EDIT_ALL, can_edit_organization, can_write, has_any, require
from bcrm.audit.services import audit_record
from bcrm.core import delivery as mailer
from bcrm.core import events
from bcrm.core.errors import InvalidInput
from bcrm.core.services import plain_value, validate_and_save
from bcrm.core.texts import text
from bcrm.engagement.choices import InteractionKind
from bcrm.engagement.services import interaction_create
from bcrm.parties.classes import Tier
from bcrm.parties.models import Contact, Organization
from bcrm.plans.models import (
    EDITABLE_STATUSES,
    TRANSITIONS,
    FinancingPlan,
    PlanStatus,
    PlanStatusChange,
    PlanTemplate,
    PlanVersion,
    ProposalDelivery,
)
from bcrm.plans.terms import TERM_FIELDS

PROPOSAL_SUBJECT = gettext_noop("Financing proposal: %(project)s")
#: the interactions the plan's life writes, stored as codes (bcrm.core.texts) and read in each reader's language
PLAN_REVIEWED = gettext_noop("Financing plan %(plan)s v%(version)s for %(project)s reviewed: %(status)s.")
PLAN_REVIEWED_NOTE = gettext_noop("Financing plan %(plan)s v%(version)s for %(project)s reviewed: %(status)s. "
                                  "%(note)s")
PROPOSAL_SENT = gettext_noop("Financing proposal (plan %(plan)s v%(version)s) e-mailed to %(email)s.")
DECIMAL_TERMS = ("amount", "margin_bps", "upfront_fee_pct", "commitment_fee_pct", "arrangement_fee")


def clean_terms(data: dict[str, Any], *, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The terms of ``data`` (over ``base``, for a revision), with Decimal money and a clear error for text
    that is not a number. Range checks (negative amounts, unknown currency) are the model's."""
    terms = dict(base or {})
    errors: dict[str, list[str]] = {}
    for name, value in data.items():
        if name not in TERM_FIELDS:
            continue
        if name in DECIMAL_TERMS and value not in (None, ""):
            try:
                value = Decimal(str(value))
            except InvalidOperation:
                errors[name] = [_("Enter a number.")]
                continue
            if not value.is_finite():
                errors[name] = [_("Enter a number.")]
                continue
        elif name in DECIMAL_TERMS:
            value = None
        terms[name] = value
    if errors:
        raise InvalidInput(fields=errors)
    return terms


def may_review(user, plan: FinancingPlan) -> bool:
    """Moving a plan out of internal review is the approver's (or a lead's, an administrator's) call."""
    return has_any(user, EDIT_ALL) or (plan.approver_id is not None and plan.approver_id == getattr(user, "pk", None))


def require_plan_write(user, organization: Organization) -> None:
    require(can_edit_organization(user, organization),
            _("You may change the financing plans only of clients you may edit."))


def _new_version(plan: FinancingPlan, number: int, terms: dict[str, Any], *, actor, reason: str,
                 now: dt.datetime) -> PlanVersion:
    version = PlanVersion(plan=plan, number=number, reason=reason, created_by=_user(actor), created_at=now, **terms)
    validate_and_save(version, exclude=["plan"])
    return version


def _user(actor):
    return actor if getattr(actor, "pk", None) and getattr(actor, "is_authenticated", False) else None


@transaction.atomic
def plan_create(*, actor, organization: Organization, project, terms: dict[str, Any], tranche: str = "",
                reason: str = "", approver=None, template: PlanTemplate | None = None,
                now: dt.datetime | None = None) -> FinancingPlan:
    """A new plan in draft with its first version."""
    require_plan_write(actor, organization)
    now = now or timezone.now()
    clean = clean_terms(terms)
    plan = FinancingPlan(organization=organization, project=project, tranche=tranche or "",
                         relationship_manager=organization.relationship_manager or _user(actor),
                         approver=approver, template=template)
    # validate the terms before anything is written: a bad plan leaves no row behind
    probe = PlanVersion(number=1, created_at=now, **clean)
    from django.core.exceptions import ValidationError as DjangoValidationError
    try:
        probe.full_clean(exclude=["plan"])
    except DjangoValidationError as exc:
        raise InvalidInput.from_django(exc) from exc
    validate_and_save(plan)
    version = _new_version(plan, 1, clean, actor=actor, reason=reason or _("First version"), now=now)
    PlanStatusChange.objects.create(plan=plan, from_status="", to_status=PlanStatus.DRAFT, changed_at=now,
                                    changed_by=_user(actor))
    audit_record(actor=actor, action="create", instance=plan, changes={
        "organization": [None, organization.pk], "project": [None, project.pk], "tranche": [None, plan.tranche],
        **{k: [None, plain_value(v)] for k, v in version.terms().items() if v not in (None, "")}})
    return plan


@transaction.atomic
def plan_revise(*, actor, plan: FinancingPlan, terms: dict[str, Any], reason: str,
                expected_version: int | None = None, now: dt.datetime | None = None) -> PlanVersion:
    """Change terms: a new version (who, when, why). Only while the plan is draft, in review or negotiated."""
    require_plan_write(actor, plan.organization)
    locked = FinancingPlan.objects.select_for_update().get(pk=plan.pk)
    if expected_version is not None and locked.version != expected_version:
        from bcrm.core.errors import Conflict
        raise Conflict()
    if locked.status not in EDITABLE_STATUSES:
        raise InvalidInput(_("The terms of a %(status)s plan cannot change.") % {"status": locked.get_status_display()},
                           code="plan_not_editable")
    if not (reason or "").strip():
        raise InvalidInput(fields={"reason": [_("Say why the terms change.")]})
    current = locked.current
    clean = clean_terms(terms, base=current.terms())
    if clean == current.terms():
        raise InvalidInput(_("Nothing changed: the terms are those of the current version."), code="no_change")
    version = _new_version(locked, locked.current_number + 1, clean, actor=actor, reason=reason.strip(),
                           now=now or timezone.now())
    before = {k: plain_value(v) for k, v in current.terms().items()}
    after = {k: plain_value(v) for k, v in version.terms().items()}
    locked.current_number = version.number
    locked.version += 1
    locked.save(update_fields=["current_number", "version", "updated_at"])
    audit_record(actor=actor, action="update", instance=locked, changes={
        "current_number": [version.number - 1, version.number],
        **{k: [before[k], after[k]] for k in TERM_FIELDS if before[k] != after[k]}})
    plan.refresh_from_db()
    return version


@transaction.atomic
def plan_transition(*, actor, plan: FinancingPlan, to: str, note: str = "", expected_version: int | None = None,
                    now: dt.datetime | None = None) -> FinancingPlan:
    """Move the plan along draft → internal review → proposed → negotiating → accepted / declined / withdrawn.
    A move out of internal review is a review: logged on the client's timeline as a financing-plan review
    (which fulfils the dedicated tier's playbook step)."""
    require_plan_write(actor, plan.organization)
    if to not in PlanStatus.values:
        raise InvalidInput(fields={"to": [_("Unknown status %(status)r.") % {"status": to}]})
    locked = FinancingPlan.objects.select_for_update().get(pk=plan.pk)
    if expected_version is not None and locked.version != expected_version:
        from bcrm.core.errors import Conflict
        raise Conflict()
    if to not in TRANSITIONS[locked.status]:
        raise InvalidInput(_("A plan cannot move from %(from)s to %(to)s.") % {
            "from": locked.get_status_display(), "to": PlanStatus(to).label}, code="bad_transition")
    reviewed = locked.status == PlanStatus.INTERNAL_REVIEW and to != PlanStatus.WITHDRAWN
    if reviewed:
        require(may_review(actor, locked), _("Only the approver, a lead or an administrator reviews a plan."))
    now = now or timezone.now()
    before = locked.status
    locked.status = to
    locked.version += 1
    locked.save(update_fields=["status", "version", "updated_at"])
    PlanStatusChange.objects.create(plan=locked, from_status=before, to_status=to, changed_at=now,
                                    changed_by=_user(actor), note=note or "")
    audit_record(actor=actor, action="update", instance=locked, changes={"status": [before, to]})
    events.emit("plan.status_changed", {"plan": locked.pk, "organization": locked.organization_id,
                                        "project": locked.project_id, "from": before, "to": to})
    if reviewed:
        with translation.override("en"):
            status = str(PlanStatus(to).label)  # the label's message id, rendered again for each reader
        params = {"plan": locked.pk, "version": locked.current_number, "project": str(locked.project),
                  "status": {"template": status}}
        summary = (text(PLAN_REVIEWED_NOTE, **params, note=note) if note else text(PLAN_REVIEWED, **params))
        interaction_create(actor=actor, organization=locked.organization, data={
            "project": locked.project, "kind": InteractionKind.PLAN_REVIEW, "occurred_at": now,
            "minutes_spent": 30}, summary=summary)
    plan.refresh_from_db()
    return locked


# Templates -----------------------------------------------------------------------------------------------


def plan_template_create(*, actor, project, name: str, terms: dict[str, Any], tranche: str = "") -> PlanTemplate:
    require(can_write(actor))
    template = PlanTemplate(project=project, name=name, tranche=tranche or "", **clean_terms(terms))
    validate_and_save(template)
    audit_record(actor=actor, action="create", instance=template, changes={"name": [None, name]})
    return template


@dataclass
class TemplateApplied:
    created: list[FinancingPlan] = field(default_factory=list)
    skipped: list[tuple[Organization, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"created": [{"plan": p.pk, "organization": p.organization_id} for p in self.created],
                "skipped": [{"organization": o.pk, "reason": r} for o, r in self.skipped]}


def standard_tier_clients(project, tranche: str = ""):
    """The standard-tier clients taking part in the project (and tranche), who get standard terms."""
    from bcrm.financing.models import Participation

    rows = Participation.objects.filter(project=project)
    if tranche:
        rows = rows.filter(tranche=tranche)
    ids = rows.values("organization_id")
    return (Organization.objects.filter(pk__in=ids, service_tier__tier=Tier.STANDARD)
            .select_related("relationship_manager").order_by("legal_name", "id"))


@transaction.atomic
def plan_template_apply(*, actor, template: PlanTemplate, organizations=None,
                        now: dt.datetime | None = None) -> TemplateApplied:
    """A draft plan with the template's terms for every standard-tier client of its project (or those named)
    that has no open plan for the same project and tranche yet, and that ``actor`` may edit."""
    result = TemplateApplied()
    targets = list(organizations) if organizations is not None else list(
        standard_tier_clients(template.project, template.tranche))
    have = set(FinancingPlan.objects.filter(project=template.project, tranche=template.tranche)
               .exclude(status__in=(PlanStatus.DECLINED, PlanStatus.WITHDRAWN))
               .values_list("organization_id", flat=True))
    for organization in targets:
        if organization.pk in have:
            result.skipped.append((organization, "has_plan"))
        elif not can_edit_organization(actor, organization):
            result.skipped.append((organization, "not_permitted"))
        else:
            result.created.append(plan_create(
                actor=actor, organization=organization, project=template.project, tranche=template.tranche,
                terms=template.terms(), template=template, now=now,
                reason=_("Standard terms of template %(name)s") % {"name": template.name}))
    return result


# Proposal e-mail ------------------------------------------------------------------------------------------


class ProposalMail(mailer.DeliveryKind):
    """The cover e-mail of a proposal with the plan's PDF, in the contact's language."""

    name = "plan_proposal"
    model = ProposalDelivery
    policy = mailer.RetryPolicy(max_attempts=3)
    related = ("plan", "plan__organization", "plan__project", "contact")

    def describe(self, row: ProposalDelivery) -> str:
        return row.key

    def build(self, row: ProposalDelivery, batch: mailer.Batch, *, unsubscribe_url: str | None) -> EmailMultiAlternatives:
        from bcrm.plans.render import pdf_filename, plan_document, plan_pdf

        plan = row.plan
        version = plan.versions.get(number=row.version_number)
        pdf = batch.cached(("plan", plan.pk, row.version_number, row.language),
                           lambda: plan_pdf(plan, row.language, version=version))
        context = {"plan": plan, "version": version, "contact": row.contact,
                   "document": plan_document(plan, row.language, version=version)}
        return mailer.compose(
            to=[row.email], language=row.language,
            subject={"template": PROPOSAL_SUBJECT, "params": {"project": str(plan.project)}},
            body="plans/email/proposal.txt", context=context,
            attachments=[(pdf_filename(plan, version), pdf, "application/pdf")],
            headers={"X-Bcrm-Delivery": row.key})

    def on_sent(self, row: ProposalDelivery, batch: mailer.Batch) -> dict[str, Any] | None:
        from bcrm.accounts.permissions import SystemOperator

        interaction_create(actor=SystemOperator(), organization=row.plan.organization, data={
            "project": row.plan.project, "kind": InteractionKind.EMAIL, "occurred_at": batch.now, "owner": None,
            "minutes_spent": 0}, contacts=[row.contact],
            summary=text(PROPOSAL_SENT, plan=row.plan_id, version=row.version_number, email=row.email))
        return None


PROPOSAL_MAIL = ProposalMail()


def plan_send_proposal(*, actor, plan: FinancingPlan, contacts: list[Contact] | None = None,
                       now: dt.datetime | None = None) -> mailer.SendSummary:
    """Queue the current version's proposal to the client's contacts with an e-mail (or those named) and send
    it through the one delivery loop. Only a proposed or negotiated plan goes out; once per version and contact."""
    require_plan_write(actor, plan.organization)
    if plan.status not in (PlanStatus.PROPOSED, PlanStatus.NEGOTIATING):
        raise InvalidInput(_("Only a proposed plan, or one under negotiation, is sent to the client."),
                           code="plan_not_proposed")
    now = now or timezone.now()
    if contacts is None:
        contacts = list(plan.organization.contacts.exclude(email="").order_by("-is_primary", "id")[:1])
    contacts = [c for c in contacts if c.organization_id == plan.organization_id and c.email]
    if not contacts:
        raise InvalidInput(_("The client has no contact with an e-mail address."), code="no_recipient")
    ids = []
    for contact in contacts:
        row, _created = ProposalDelivery.objects.get_or_create(
            key=f"plan:{plan.pk}:v{plan.current_number}:c{contact.pk}",
            defaults={"plan": plan, "version_number": plan.current_number, "contact": contact,
                      "email": contact.email, "language": contact.language, "queued_at": now,
                      "next_attempt_at": now, "queued_by": _user(actor)})
        ids.append(row.pk)
    return mailer.send(PROPOSAL_MAIL, now=now, where=Q(pk__in=ids))
