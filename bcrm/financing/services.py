"""Use cases on projects, participations and exchange rates."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from bcrm.accounts.permissions import can_write, require, require_delete, require_organization_write
from bcrm.audit.services import audit_record
from bcrm.core.fields import only_fields
from bcrm.core.services import create_instance, delete_instance, update_instance, validate_and_save
from bcrm.financing.models import ExchangeRate, Participation, ParticipationStatusChange, Project

PROJECT_FIELDS = frozenset({
    "name", "local_name", "external_id", "sector", "country", "stage", "currency", "total_cost",
    "financing_target", "expected_close", "sponsor", "description",
})
PARTICIPATION_FIELDS = frozenset({
    "project", "organization", "role", "tranche", "amount", "currency", "status", "probability", "fee_income", "notes",
})


@transaction.atomic
def project_create(*, actor, data: dict[str, Any]) -> Project:
    require(can_write(actor))
    data = only_fields(data, PROJECT_FIELDS)
    if data.get("external_id") == "":
        data["external_id"] = None
    return create_instance(actor=actor, instance=Project(**data))


@transaction.atomic
def project_update(*, actor, project: Project, data: dict[str, Any], expected_version: int | None) -> Project:
    require(can_write(actor))
    data = only_fields(data, PROJECT_FIELDS)
    if data.get("external_id") == "":
        data["external_id"] = None
    return update_instance(actor=actor, instance=project, data=data, expected_version=expected_version)


@transaction.atomic
def project_delete(*, actor, project: Project) -> None:
    require_delete(actor)
    delete_instance(actor=actor, instance=project)


def _record_status(participation: Participation, from_status: str, actor, at) -> None:
    ParticipationStatusChange.objects.create(
        participation=participation, from_status=from_status, to_status=participation.status, changed_at=at,
        changed_by=actor if getattr(actor, "pk", None) else None,
    )


@transaction.atomic
def participation_create(*, actor, data: dict[str, Any]) -> Participation:
    data = only_fields(data, PARTICIPATION_FIELDS)
    organization = data.get("organization")
    if organization is not None:
        require_organization_write(actor, organization)
    else:
        require(can_write(actor))
    now = timezone.now()
    participation = create_instance(actor=actor, instance=Participation(status_changed_at=now, **data))
    _record_status(participation, "", actor, now)
    return participation


@transaction.atomic
def participation_update(
    *, actor, participation: Participation, data: dict[str, Any], expected_version: int | None
) -> Participation:
    require_organization_write(actor, participation.organization)
    data = only_fields(data, PARTICIPATION_FIELDS)
    if "organization" in data and data["organization"] != participation.organization:
        require_organization_write(actor, data["organization"])
    previous_status = participation.status
    now = timezone.now()
    if data.get("status", previous_status) != previous_status:
        data["status_changed_at"] = now
    updated = update_instance(actor=actor, instance=participation, data=data, expected_version=expected_version)
    if updated.status != previous_status:
        _record_status(updated, previous_status, actor, now)
    return updated


@transaction.atomic
def participation_delete(*, actor, participation: Participation) -> None:
    require_delete(actor)
    delete_instance(actor=actor, instance=participation)


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
