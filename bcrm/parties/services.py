"""Use cases on organisations and contacts: the only code that writes them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
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
from bcrm.core.errors import InvalidInput, PermissionDenied, ServiceError
from bcrm.core.fields import only_fields
from bcrm.core.services import create_instance, delete_instance, update_instance
from bcrm.parties.models import Contact, Organization, SavedView, Tag

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


def _check_team(actor, data: dict[str, Any], current: Organization | None) -> None:
    """A relationship manager (not a lead or administrator) places clients only in their own teams: on create,
    on update and in bulk (the same rule for every door); an unchanged team is always fine."""
    if "team" not in data or not has_any(actor, {Role.RELATIONSHIP_MANAGER}) or has_any(actor, {Role.ADMIN, Role.LEAD}):
        return
    team = data["team"]
    team_id = getattr(team, "pk", team)
    if current is not None and team_id == current.team_id:
        return
    if team_id is not None and int(team_id) not in user_team_ids(actor):
        raise InvalidInput(fields={"team": [_("You may only assign one of your own teams.")]})


@transaction.atomic
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


# --- bulk edits from the client list -------------------------------------------------------------------

BULK_ACTIONS = ("assign_team", "assign_relationship_manager", "add_tag")
BULK_LIMIT = 500  # rows per request: the list's largest page


@dataclass
class BulkResult:
    """What a bulk edit did: rows changed, rows that already had the value, rows refused with the reason."""

    changed: list[int] = dataclasses.field(default_factory=list)
    unchanged: list[int] = dataclasses.field(default_factory=list)
    refused: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def _bulk_value(actor, action: str, value: Any) -> tuple[dict[str, Any], str | None]:
    """The update one action makes on every row: (fields, tag name); bad input refuses the whole request."""
    from bcrm.accounts.models import Team

    if action == "assign_team":
        team = Team.objects.filter(pk=getattr(value, "pk", value)).first() if value not in (None, "") else None
        if team is None:
            raise InvalidInput(fields={"team": [_("Choose a team.")]})
        _check_team(actor, {"team": team}, None)
        return {"team": team}, None
    if action == "assign_relationship_manager":
        users = get_user_model().objects.filter(groups__name=Role.RELATIONSHIP_MANAGER, is_active=True)
        manager = users.filter(pk=getattr(value, "pk", value)).first() if value not in (None, "") else None
        if manager is None:
            raise InvalidInput(fields={"relationship_manager": [_("Choose a relationship manager.")]})
        return {"relationship_manager": manager}, None
    if action == "add_tag":
        name = str(value or "").strip()
        if not name or len(name) > Tag._meta.get_field("name").max_length:  # type: ignore[operator]
            raise InvalidInput(fields={"tag": [_("Give a tag of 1 to 60 characters.")]})
        return {}, name
    raise InvalidInput(fields={"action": [_("Choose one of: %(actions)s.") % {"actions": ", ".join(BULK_ACTIONS)}]})


def organization_bulk_update(*, actor, ids: list[int] | list[str], action: str, value: Any) -> BulkResult:
    """Assign a team or a relationship manager, or add a tag, to many clients at once, row by row through
    ``organization_update`` (the single edit's service): the same permission checks, optimistic version,
    audit entry and search refresh per row.

    Not all or nothing: each row is its own transaction. A row the actor may not edit (or see), or that
    the model refuses, is reported in ``refused`` with the reason and the others are saved. Input that is
    wrong for every row (an unknown action, a team that is not the actor's) refuses the whole request.
    """
    from bcrm.parties.selectors import organization_base

    require(can_write(actor), _("Only relationship managers, team leads and administrators may edit clients."))
    data, tag = _bulk_value(actor, action, value)
    try:
        wanted = list(dict.fromkeys(int(i) for i in ids))
    except (TypeError, ValueError):
        raise InvalidInput(fields={"ids": [_("Client ids are whole numbers.")]}) from None
    if not wanted:
        raise InvalidInput(fields={"ids": [_("Select at least one client.")]})
    if len(wanted) > BULK_LIMIT:
        raise InvalidInput(fields={"ids": [_("Select at most %(n)s clients at once.") % {"n": BULK_LIMIT}]})
    visible = {o.pk: o for o in organization_base(actor=actor).filter(pk__in=wanted).prefetch_related("tags")}
    result = BulkResult()
    for pk in wanted:
        organization = visible.get(pk)
        if organization is None:
            result.refused.append({"id": pk, "name": "", "code": "not_found", "message": str(_("Not found, or you may not see it."))})
            continue
        tags = None
        if tag is not None:
            names = [t.name for t in organization.tags.all()]
            if tag in names:
                result.unchanged.append(pk)
                continue
            tags = [*names, tag]
        elif all(getattr(organization, f"{k}_id") == v.pk for k, v in data.items()):
            result.unchanged.append(pk)
            continue
        try:
            with transaction.atomic():
                organization_update(actor=actor, organization=organization, data=dict(data),
                                    expected_version=organization.version, tags=tags)
        except ServiceError as exc:
            result.refused.append({"id": pk, "name": organization.legal_name, "code": exc.code, "message": exc.message})
        else:
            result.changed.append(pk)
    return result


# --- saved views -----------------------------------------------------------------------------------------

def saved_view_query(filters: Any) -> str:
    """The normalised query string of a list's filters: known filter names with a value, in form order."""
    from urllib.parse import urlencode

    from bcrm.parties.filters import FILTER_NAMES

    get = filters.get
    pairs = [(name, str(get(name))) for name in FILTER_NAMES if get(name) not in (None, "")]
    return urlencode(pairs)


@transaction.atomic
def saved_view_create(*, actor, page: str, name: str, query: str, shared: bool = False) -> SavedView:
    """Save the filters and sort ``query`` under ``name``; names are unique per owner and page."""
    from urllib.parse import parse_qsl

    from bcrm.parties.filters import OrganizationFilterForm

    require(getattr(actor, "is_authenticated", False))
    name = (name or "").strip()
    if page not in SavedView.Page.values:
        raise InvalidInput(fields={"page": [_("Unknown page.")]})
    if not name:
        raise InvalidInput(fields={"name": [_("Give the view a name.")]})
    if len(name) > SavedView._meta.get_field("name").max_length:  # type: ignore[operator]
        raise InvalidInput(fields={"name": [_("A view name has at most 80 characters.")]})
    filters = dict(parse_qsl(query or "", keep_blank_values=False))
    form = OrganizationFilterForm(filters)
    if not form.is_valid():
        raise InvalidInput(fields={k: [str(m) for m in v] for k, v in form.errors.items()})
    if SavedView.objects.filter(owner=actor, page=page, name=name).exists():
        raise InvalidInput(fields={"name": [_("You already have a view named “%(name)s” on this page.") % {"name": name}]})
    view = SavedView(owner=actor, page=page, name=name, query=saved_view_query(filters), shared=bool(shared))
    try:
        with transaction.atomic():
            view.save()
    except IntegrityError:  # the same name saved at the same moment
        raise InvalidInput(fields={"name": [_("You already have a view named “%(name)s” on this page.") % {"name": name}]}) from None
    return view


@transaction.atomic
def saved_view_delete(*, actor, view: SavedView) -> None:
    """Only the owner (or an administrator) deletes a view, shared or not."""
    require(view.owner_id == actor.pk or has_any(actor, {Role.ADMIN}), _("Only the owner may delete this view."))
    view.delete()
