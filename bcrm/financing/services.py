"""Use cases on projects, participations and exchange rates."""

from __future__ import annotations

from typing import Any, cast

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import can_write, require, require_delete, require_organization_write
from bcrm.audit.services import audit_record
from bcrm.core.batch import BatchRow, EntityBatch
from bcrm.core.fields import only_fields
from bcrm.core.services import create_instance, delete_instance, update_instance, validate_and_save
from bcrm.financing.models import ExchangeRate, Participation, ParticipationStatusChange, Project
from bcrm.financing.walls import require_project_visible
from bcrm.parties.services import OrganizationAccess

PROJECT_FIELDS = frozenset({
    "name", "local_name", "external_id", "sector", "country", "stage", "currency", "total_cost",
    "financing_target", "expected_close", "sponsor", "description",
})
PARTICIPATION_FIELDS = frozenset({
    "project", "organization", "role", "tranche", "amount", "currency", "status", "probability", "fee_income", "notes",
})


# --- the rules (one function each, for the single services and the batch form) -------------------------

def check_project_write(actor, *, creating: bool) -> None:
    require(can_write(actor), _("You may not create projects.") if creating else _("You may not change projects."))


def project_external_id(data: dict[str, Any]) -> None:
    """An empty external id is no external id (it is unique when given)."""
    if data.get("external_id") == "":
        data["external_id"] = None


def status_moved(data: dict[str, Any], previous: str, now) -> bool:
    """A participation's status change is dated; True when ``data`` changes the status."""
    if data.get("status", previous) != previous:
        data["status_changed_at"] = now
        return True
    return False


def status_step(participation_id: int, from_status: str, to_status: str, actor, at) -> ParticipationStatusChange:
    """One step on the commitment ladder, as the history records it."""
    return ParticipationStatusChange(participation_id=participation_id, from_status=from_status, to_status=to_status,
                                     changed_at=at, changed_by_id=getattr(actor, "pk", None))


@transaction.atomic
def project_create(*, actor, data: dict[str, Any]) -> Project:
    check_project_write(actor, creating=True)
    data = only_fields(data, PROJECT_FIELDS)
    project_external_id(data)
    return create_instance(actor=actor, instance=Project(**data))


@transaction.atomic
def project_update(*, actor, project: Project, data: dict[str, Any], expected_version: int | None) -> Project:
    check_project_write(actor, creating=False)
    data = only_fields(data, PROJECT_FIELDS)
    project_external_id(data)
    return update_instance(actor=actor, instance=project, data=data, expected_version=expected_version)


@transaction.atomic
def project_delete(*, actor, project: Project) -> None:
    require_delete(actor)
    delete_instance(actor=actor, instance=project)


def _record_status(participation: Participation, from_status: str, actor, at) -> None:
    status_step(participation.pk, from_status, participation.status, actor, at).save()


@transaction.atomic
def participation_create(*, actor, data: dict[str, Any]) -> Participation:
    data = only_fields(data, PARTICIPATION_FIELDS)
    require_project_visible(actor, data.get("project"))
    organization = data.get("organization")
    if organization is not None:
        require_organization_write(actor, organization)
    else:
        require(can_write(actor))
    now = timezone.now()
    data["status_changed_at"] = now
    participation = create_instance(actor=actor, instance=Participation(**data))
    _record_status(participation, "", actor, now)
    return participation


@transaction.atomic
def participation_update(
    *, actor, participation: Participation, data: dict[str, Any], expected_version: int | None
) -> Participation:
    require_organization_write(actor, participation.organization)
    data = only_fields(data, PARTICIPATION_FIELDS)
    require_project_visible(actor, participation.project_id)
    require_project_visible(actor, data.get("project"))
    if "organization" in data and data["organization"] != participation.organization:
        require_organization_write(actor, data["organization"])
    previous_status = participation.status
    now = timezone.now()
    status_moved(data, previous_status, now)
    updated = update_instance(actor=actor, instance=participation, data=data, expected_version=expected_version)
    if updated.status != previous_status:
        _record_status(updated, previous_status, actor, now)
    return updated


@transaction.atomic
def participation_delete(*, actor, participation: Participation) -> None:
    require_delete(actor)
    delete_instance(actor=actor, instance=participation)


# --- the batch form: many rows, the same rules, bulk SQL --------------------------------------------------

class ProjectBatch(EntityBatch):
    """Projects in bulk with :func:`project_create` / :func:`project_update`'s rules."""
    batch_audit = False  # see EntityBatch.batch_audit

    model = Project

    def check_create(self, row: BatchRow, full: dict[str, Any]) -> None:
        check_project_write(self.actor, creating=True)
        project_external_id(full)

    def check_update(self, row: BatchRow, changed: dict[str, Any]) -> None:
        check_project_write(self.actor, creating=False)
        project_external_id(changed)


class ParticipationBatch(EntityBatch):
    """Participations in bulk with :func:`participation_create` / :func:`participation_update`'s rules: the
    organisation's write permission (old and new), the dated status and its step on the ladder."""
    batch_audit = False  # see EntityBatch.batch_audit

    model = Participation

    def __init__(self, actor, *, now=None, orgs: OrganizationAccess | None = None):
        super().__init__(actor, now=now)
        self.orgs = orgs or OrganizationAccess(actor)

    def check_create(self, row: BatchRow, full: dict[str, Any]) -> None:
        if full.get("organization_id") is None:
            require(can_write(self.actor))
        self.orgs.require_write(full.get("organization_id"))
        full["status_changed_at"] = self.now

    def check_update(self, row: BatchRow, changed: dict[str, Any]) -> None:
        obj = row.obj
        self.orgs.require_write(obj.organization_id)
        if "organization_id" in changed:
            self.orgs.require_write(changed["organization_id"])
        if status_moved(changed, obj.status, self.now):
            row.extra["from_status"] = obj.status

    def after_write(self, creates: list[BatchRow], updates: list[BatchRow]) -> None:
        actor, now = self.actor, self.now
        steps = [status_step(cast(int, r.pk), "", r.data["status"], actor, now) for r in creates]
        steps += [status_step(cast(int, r.pk), r.extra["from_status"], r.data["status"], actor, now)
                  for r in updates if "from_status" in r.extra]
        if steps:
            ParticipationStatusChange.objects.bulk_create(steps)


@transaction.atomic
def exchange_rate_set(*, actor, currency: str, quote: str, as_of, rate) -> ExchangeRate:
    require(can_write(actor))
    existing = ExchangeRate.objects.filter(currency=currency, quote=quote, as_of=as_of).first()
    if existing:
        return _set_rate(actor, existing, rate)
    return create_instance(actor=actor, instance=ExchangeRate(currency=currency, quote=quote, as_of=as_of, rate=rate))


def _set_rate(actor, rate_row: ExchangeRate, rate) -> ExchangeRate:
    before = str(rate_row.rate)
    rate_row.rate = rate
    validate_and_save(rate_row)
    audit_record(actor=actor, action="update", instance=rate_row, changes={"rate": [before, str(rate)]})
    return rate_row
