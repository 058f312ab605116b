"""Use cases on organisations and contacts: the only code that writes them."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.permissions import (
    can_edit_organization,
    can_see_compliance,
    can_write,
    has_any,
    require,
    require_delete,
    require_organization_write,
    user_team_ids,
)
from bcrm.core.errors import InvalidInput, PermissionDenied
from bcrm.core.fields import only_fields
from bcrm.core.services import create_instance, delete_instance, update_instance
from bcrm.parties.models import Contact, Organization, Tag

ORGANIZATION_FIELDS = frozenset({
    "legal_name", "local_name", "kind", "country", "sector", "website", "rating_agency", "rating_grade",
    "kyc_status", "kyc_expires_on", "sanctions_flag", "relationship_since", "team", "relationship_manager",
    "external_id", "notes",
})
CONTACT_FIELDS = frozenset({
    "full_name", "local_name", "title", "seniority", "email", "phone", "language", "report_consent",
    "consent_given_at", "is_primary",
})


def organization_search_text(organization: Organization, contacts: list[Contact] | None = None) -> str:
    contacts = list(organization.contacts.all()) if contacts is None else contacts
    parts = [organization.legal_name, organization.local_name]
    for contact in contacts:
        parts += [contact.full_name, contact.local_name, contact.email]
    return " ".join(p for p in parts if p).lower()


def organization_search_refresh(organization: Organization) -> None:
    Organization.objects.filter(pk=organization.pk).update(search_text=organization_search_text(organization))


def _tags(names: list[str] | None) -> list[Tag] | None:
    if names is None:
        return None
    cleaned = sorted({n.strip() for n in names if n and n.strip()})
    return [Tag.objects.get_or_create(name=name)[0] for name in cleaned]


def _check_compliance_fields(actor, data: dict[str, Any], current: Organization | None) -> None:
    if can_see_compliance(actor):
        return
    for field in Organization.COMPLIANCE_FIELDS:
        if field not in data:
            continue
        now = getattr(current, field) if current else Organization._meta.get_field(field).get_default()  # type: ignore[union-attr]
        if data[field] != now:
            raise PermissionDenied(_("Only compliance, a team lead or an administrator may change KYC and sanctions fields."))
        data.pop(field)


@transaction.atomic
def _check_team(actor, data: dict[str, Any], current: Organization | None) -> None:
    """A relationship manager (not a lead or administrator) places clients only in his own teams."""
    if "team" not in data or not has_any(actor, {Role.RELATIONSHIP_MANAGER}) or has_any(actor, {Role.ADMIN, Role.LEAD}):
        return
    team = data["team"]
    team_id = getattr(team, "pk", team)
    if current is not None and team_id == current.team_id:
        return
    if team_id is not None and int(team_id) not in user_team_ids(actor):
        raise InvalidInput(fields={"team": [_("You can only put clients in a team you belong to.")]})


def organization_create(*, actor, data: dict[str, Any], tags: list[str] | None = None) -> Organization:
    require(can_write(actor))
    data = only_fields(data, ORGANIZATION_FIELDS)
    _check_compliance_fields(actor, data, None)
    _check_team(actor, data, None)
    organization = Organization(**data)
    if has_any(actor, {Role.RELATIONSHIP_MANAGER}) and not has_any(actor, {Role.ADMIN, Role.LEAD}):
        # A relationship manager's new client must stay within their reach.
        if organization.relationship_manager_id is None:
            organization.relationship_manager = actor
    m2m = {"tags": _tags(tags)} if tags is not None else None
    create_instance(actor=actor, instance=organization, m2m=m2m)
    organization_search_refresh(organization)
    return organization


@transaction.atomic
def organization_update(
    *, actor, organization: Organization, data: dict[str, Any], expected_version: int | None,
    tags: list[str] | None = None,
) -> Organization:
    data = only_fields(data, ORGANIZATION_FIELDS)
    compliance_only = set(data) <= set(Organization.COMPLIANCE_FIELDS) and tags is None
    if not can_edit_organization(actor, organization):
        require(compliance_only and has_any(actor, {Role.COMPLIANCE}))
    # Compare with the stored row: the caller's object may already carry the new values (a bound ModelForm).
    stored = Organization.objects.get(pk=organization.pk)
    _check_compliance_fields(actor, data, stored)
    _check_team(actor, data, stored)
    m2m = {"tags": _tags(tags)} if tags is not None else None
    updated = update_instance(actor=actor, instance=organization, data=data, expected_version=expected_version, m2m=m2m)
    organization_search_refresh(updated)
    return updated


@transaction.atomic
def organization_delete(*, actor, organization: Organization) -> None:
    require_delete(actor)
    delete_instance(actor=actor, instance=organization)


@transaction.atomic
def contact_create(*, actor, organization: Organization, data: dict[str, Any]) -> Contact:
    require_organization_write(actor, organization)
    data = only_fields(data, CONTACT_FIELDS)
    contact = create_instance(actor=actor, instance=Contact(organization=organization, **data))
    organization_search_refresh(organization)
    return contact


@transaction.atomic
def contact_update(*, actor, contact: Contact, data: dict[str, Any], expected_version: int | None) -> Contact:
    require_organization_write(actor, contact.organization)
    data = only_fields(data, CONTACT_FIELDS)
    contact = update_instance(actor=actor, instance=contact, data=data, expected_version=expected_version)
    organization_search_refresh(contact.organization)
    return contact


@transaction.atomic
def contact_delete(*, actor, contact: Contact) -> None:
    require_delete(actor)
    organization = contact.organization
    delete_instance(actor=actor, instance=contact)
    organization_search_refresh(organization)
