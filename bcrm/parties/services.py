"""Use cases on organisations and contacts: the only code that writes them.

Each rule is written once and used by every door: the single services below (UI, API, CLI), their batch
form (:class:`OrganizationBatch`, :class:`ContactBatch`: many rows, bulk SQL) and through it the importer.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

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
from bcrm.core.batch import BatchRow, EntityBatch
from bcrm.core.errors import InvalidInput, NotFound, PermissionDenied, ServiceError
from bcrm.core.fields import only_fields
from bcrm.core.services import create_instance, delete_instance, update_instance
from bcrm.parties.models import Contact, Organization, SavedView, Tag
from bcrm.parties.pickers import relationship_managers

ORGANIZATION_FIELDS = frozenset({
    "legal_name", "local_name", "kind", "country", "sector", "website", "rating_agency", "rating_grade",
    "kyc_status", "kyc_expires_on", "sanctions_flag", "relationship_since", "team", "relationship_manager",
    "external_id", "notes",
})
CONTACT_FIELDS = frozenset({
    "full_name", "local_name", "title", "seniority", "email", "phone", "language", "report_consent",
    "consent_given_at", "is_primary",
})
TAG_SEPARATORS = re.compile(r"[;,，；、|\n]")


# --- the rules -----------------------------------------------------------------------------------------

def search_text_of(parts: Iterable[str | None]) -> str:
    """The client-search column: the non-empty parts, lower-cased."""
    return " ".join(p for p in parts if p).lower()


def organization_search_text(organization: Organization, contacts: list[Contact] | None = None) -> str:
    contacts = list(organization.contacts.all()) if contacts is None else contacts
    parts = [organization.legal_name, organization.local_name]
    for contact in contacts:
        parts += [contact.full_name, contact.local_name, contact.email]
    return search_text_of(parts)


def organization_search_refresh(organization: Organization) -> None:
    Organization.objects.filter(pk=organization.pk).update(search_text=organization_search_text(organization))


def organization_search_refresh_many(org_ids: Iterable[int | None]) -> None:
    """Recompute the client-search column of these organisations: three queries for the whole batch.
    (On SQLite the FTS5 triggers follow the column; on PostgreSQL the trigram index does.)"""
    org_ids = [o for o in dict.fromkeys(org_ids) if o]
    if not org_ids:
        return
    orgs = list(Organization.objects.filter(pk__in=org_ids).only("id", "legal_name", "local_name", "search_text"))
    contacts: dict[int, list[Contact]] = defaultdict(list)
    for contact in Contact.objects.filter(organization_id__in=org_ids).only(
            "organization_id", "full_name", "local_name", "email").order_by("id"):
        contacts[contact.organization_id].append(contact)
    changed = []
    for org in orgs:
        text = organization_search_text(org, contacts.get(org.pk, []))
        if text != org.search_text:
            org.search_text = text
            changed.append(org)
    if changed:
        Organization.objects.bulk_update(changed, ["search_text"])


def tag_names(value: str | Iterable[str] | None) -> list[str]:
    """Tag names as stored: a text is split at commas, semicolons, 、, | and line breaks (either width); each
    name stripped; distinct and sorted."""
    if not value:
        return []
    parts = TAG_SEPARATORS.split(value) if isinstance(value, str) else value
    return sorted({n.strip() for n in parts if n and n.strip()})


def _tags(names: list[str] | None) -> list[Tag] | None:
    if names is None:
        return None
    return [Tag.objects.get_or_create(name=name)[0] for name in tag_names(names)]


def organization_tags_set_many(wanted: dict[int, list[str]]) -> None:
    """Set the tags of many organisations (organisation id → tag names, as :func:`tag_names` returns them)."""
    if not wanted:
        return
    names = {n for tags in wanted.values() for n in tags}
    existing = dict(Tag.objects.filter(name__in=names).values_list("name", "id"))
    missing = [Tag(name=n) for n in sorted(names - set(existing))]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = dict(Tag.objects.filter(name__in=names).values_list("name", "id"))
    through = Organization.tags.through
    through.objects.filter(organization_id__in=list(wanted)).delete()
    through.objects.bulk_create([through(organization_id=pk, tag_id=existing[n]) for pk, tags in wanted.items()
                                 for n in tags])


def check_organization_create(actor) -> None:
    require(can_write(actor), _("You may not create organisations."))


def check_organization_edit(actor, organization, fields: Iterable[str], tags_changed: bool) -> None:
    """Who may change an organisation: its editors; compliance only the KYC and sanctions fields."""
    if can_edit_organization(actor, organization):
        return
    compliance_only = set(fields) <= set(Organization.COMPLIANCE_FIELDS) and not tags_changed
    require(compliance_only and has_any(actor, {Role.COMPLIANCE}),
            _("You may not change %(org)s.") % {"org": organization})


def check_compliance_fields(actor, data: dict[str, Any], current: Organization | None) -> None:
    """Only compliance, a lead or an administrator set KYC and sanctions fields; an unchanged value is dropped."""
    if can_see_compliance(actor):
        return
    for field in Organization.COMPLIANCE_FIELDS:
        if field not in data:
            continue
        now = getattr(current, field) if current else Organization._meta.get_field(field).get_default()  # type: ignore[union-attr]
        if data[field] != now:
            raise PermissionDenied(_("Only compliance, a team lead or an administrator may change KYC and sanctions fields."))
        data.pop(field)


_check_compliance_fields = check_compliance_fields


def check_team(actor, data: dict[str, Any], current: Organization | None) -> None:
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


_check_team = check_team


def new_client_manager(actor) -> int | None:
    """The relationship manager a new client gets when none is given: a relationship manager's new client
    stays within their reach (their own); others leave it empty."""
    if has_any(actor, {Role.RELATIONSHIP_MANAGER}) and not has_any(actor, {Role.ADMIN, Role.LEAD}):
        return actor.pk
    return None


@transaction.atomic
def organization_create(*, actor, data: dict[str, Any], tags: list[str] | None = None) -> Organization:
    check_organization_create(actor)
    data = only_fields(data, ORGANIZATION_FIELDS)
    check_compliance_fields(actor, data, None)
    check_team(actor, data, None)
    organization = Organization(**data)
    if organization.relationship_manager_id is None:
        organization.relationship_manager_id = new_client_manager(actor)
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
    check_organization_edit(actor, organization, data, tags is not None)
    # Compare with the stored row: the caller's object may already carry the new values (a bound ModelForm).
    stored = Organization.objects.get(pk=organization.pk)
    check_compliance_fields(actor, data, stored)
    check_team(actor, data, stored)
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


# --- the batch form: many rows, the same rules, bulk SQL --------------------------------------------------

class _OrgRef:
    """The two attributes the permission rules read from an organisation, from a values() dict."""

    def __init__(self, info: dict[str, Any]):
        self.team_id = info["team_id"]
        self.relationship_manager_id = info["relationship_manager_id"]


class OrganizationAccess:
    """The organisations a batch writes under, each read once, and the single services' permission rule on
    them (``require_organization_write``: :func:`can_edit_organization`). ``info`` may be shared with the
    caller's own cache (organisation id → its values() row)."""

    FIELDS = ("id", "external_id", "legal_name", "local_name", "team_id", "relationship_manager_id")

    def __init__(self, actor, info: dict[int, dict[str, Any]] | None = None):
        self.actor = actor
        self.info = info if info is not None else {}
        self.writable: dict[int, bool] = {}  # the rule's answer per organisation, for this batch's actor

    def get(self, org_id: int) -> dict[str, Any] | None:
        info = self.info.get(org_id)
        if info is None:
            info = cast(dict[str, Any] | None, Organization.objects.filter(pk=org_id).values(*self.FIELDS).first())
            if info is not None:
                self.info[org_id] = info
        return info

    def require_write(self, org_id: int | None, field: str = "organization") -> None:
        if org_id is None or self.writable.get(org_id):
            return
        info = self.get(org_id)
        if info is None:
            raise NotFound(fields={field: [_("No such organisation.")]})
        allowed = self.writable[org_id] = can_edit_organization(self.actor, _OrgRef(info))
        if not allowed:
            raise PermissionDenied(fields={field: [_("You may not change records of %(org)s.") % {"org": info["legal_name"]}]})


class OrganizationBatch(EntityBatch):
    """Organisations in bulk with :func:`organization_create` / :func:`organization_update`'s rules. A row's
    wanted tags are in ``row.m2m["tags"]`` (names, as :func:`tag_names` returns them)."""

    model = Organization

    def check_create(self, row: BatchRow, full: dict[str, Any]) -> None:
        actor = self.actor
        check_organization_create(actor)
        if not _compliance_ok(row, actor, full, None):
            return
        check_team(actor, {"team": full.get("team_id")}, None)
        if full.get("relationship_manager_id") is None:
            full["relationship_manager_id"] = new_client_manager(actor)
        if full.get("external_id") == "":
            full["external_id"] = None
        if row.m2m.get("tags"):
            row.changes["tags"] = [None, row.m2m["tags"]]

    def check_update(self, row: BatchRow, changed: dict[str, Any]) -> None:
        obj = row.obj
        check_organization_edit(self.actor, obj, changed, "tags" in row.changes)
        if not _compliance_ok(row, self.actor, changed, obj):
            return
        if "team_id" in changed:
            check_team(self.actor, {"team": changed["team_id"]}, obj)

    def m2m_changes(self, row: BatchRow) -> dict[str, list[Any]]:
        if "tags" not in row.m2m:
            return {}
        current = sorted(t.name for t in row.obj.tags.all())
        return {} if current == row.m2m["tags"] else {"tags": [current, row.m2m["tags"]]}

    def clean(self, full: dict[str, Any]) -> None:
        Organization(**{k: v for k, v in full.items() if k in self.name_of}).clean()

    def before_insert(self, creates: list[BatchRow]) -> None:
        score = Organization.score_of
        for row in creates:
            data = row.data
            data["rating_score"] = score(data.get("rating_agency"), data.get("rating_grade"))
            if data.get("external_id") == "":
                data["external_id"] = None
            data["search_text"] = search_text_of((data["legal_name"], data.get("local_name")))

    def after_write(self, creates: list[BatchRow], updates: list[BatchRow]) -> None:
        rescore = [r.obj for r in updates if {"rating_agency", "rating_grade"} & set(r.data)]
        for obj in rescore:
            obj.rating_score = Organization.score_of(obj.rating_agency, obj.rating_grade)
        if rescore:
            Organization.objects.bulk_update(rescore, ["rating_score"])
        organization_search_refresh_many([r.obj.pk for r in updates if {"legal_name", "local_name"} & set(r.data)])
        organization_tags_set_many({cast(int, r.pk): r.m2m["tags"] for r in creates + updates if "tags" in r.m2m})


def _compliance_ok(row: BatchRow, actor, data: dict[str, Any], current: Organization | None) -> bool:
    """:func:`check_compliance_fields` field by field, so a refusal names its field."""
    for name in Organization.COMPLIANCE_FIELDS:
        if name in data:
            try:
                check_compliance_fields(actor, {name: data[name]}, current)
            except PermissionDenied as exc:
                row.reject(name, exc.message, code=exc.code)
                return False
    return True


class ContactBatch(EntityBatch):
    """Contacts in bulk with :func:`contact_create` / :func:`contact_update`'s rules (the organisation's write
    permission, one primary contact per organisation, the organisation's search text)."""
    batch_audit = False  # see EntityBatch.batch_audit

    model = Contact

    def __init__(self, actor, *, now=None, orgs: OrganizationAccess | None = None):
        super().__init__(actor, now=now)
        self.orgs = orgs or OrganizationAccess(actor)
        self.primaries: dict[int, set[int]] = {}

    def check_create(self, row: BatchRow, full: dict[str, Any]) -> None:
        self.orgs.require_write(full.get("organization_id"))
        self.primary_check(row, full)

    def check_update(self, row: BatchRow, changed: dict[str, Any]) -> None:
        obj = row.obj
        self.orgs.require_write(obj.organization_id)
        if "organization_id" in changed:
            self.orgs.require_write(changed["organization_id"])
        if changed.get("is_primary"):
            self.primary_check(row, {"organization_id": changed.get("organization_id", obj.organization_id),
                                     "is_primary": True})

    def primary_check(self, row: BatchRow, full: dict[str, Any]) -> None:
        """One primary contact per organisation (the model's conditional unique constraint), within the batch too."""
        if not full.get("is_primary"):
            return
        org_id = full["organization_id"]
        taken = self.primaries.get(org_id)
        if taken is None:
            taken = set(Contact.objects.filter(organization_id=org_id, is_primary=True).values_list("id", flat=True))
            self.primaries[org_id] = taken
        mine = row.obj.pk if row.obj is not None else None
        if taken - {mine}:
            raise InvalidInput(fields={"is_primary": [_("This organisation already has a primary contact.")]})
        taken.add(mine if mine is not None else -row.number)

    def after_write(self, creates: list[BatchRow], updates: list[BatchRow]) -> None:
        orgs = {r.data["organization_id"] for r in creates}
        for row in updates:
            if {"full_name", "local_name", "email", "organization_id"} & set(row.data):
                orgs.add(row.obj.organization_id)
                orgs.add(row.changes.get("organization", [None])[0])
        organization_search_refresh_many(orgs)
        # The primary-contact cache holds row numbers for new primaries; replace them with real ids.
        for row in creates:
            if row.data.get("is_primary"):
                taken = self.primaries.get(row.data["organization_id"], set())
                taken.discard(-row.number)
                taken.add(cast(int, row.pk))


def organization_create_many(*, actor, rows: list[dict[str, Any]]) -> list[int]:
    """Create many organisations at once (attname → value per row; ``tags`` a list of names), all or nothing:
    :class:`~bcrm.core.batch.BatchRefused` lists every bad row. The rules of :func:`organization_create`."""
    return _create_many(OrganizationBatch(actor), rows, m2m=("tags",))


def contact_create_many(*, actor, rows: list[dict[str, Any]]) -> list[int]:
    """Create many contacts at once (``organization_id`` in each row), all or nothing, with :func:`contact_create`'s rules."""
    return _create_many(ContactBatch(actor), rows)


def _create_many(batch: EntityBatch, rows: list[dict[str, Any]], m2m: tuple[str, ...] = ()) -> list[int]:
    wanted = []
    for values in rows:
        values = dict(values)
        extra = {name: tag_names(values.pop(name) or []) for name in m2m if name in values}
        wanted.append((values, extra))
    with transaction.atomic():
        return batch.create_many([v for v, _e in wanted], m2m=[e for _v, e in wanted])


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
        check_team(actor, {"team": team}, None)
        return {"team": team}, None
    if action == "assign_relationship_manager":
        manager = relationship_managers().filter(pk=getattr(value, "pk", value)).first() if value not in (None, "") else None
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
