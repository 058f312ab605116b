"""Per entity, what the importer needs beyond the shared pipeline (bcrm.dataio.importer): how a row finds
the record it updates (bcrm id, external id or natural key), the file's many-to-many columns as ids or
names, and a row's label. Every write rule is the entity's own batch form, from its services.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import can_view_organization
from bcrm.core.batch import EntityBatch
from bcrm.core.bulk import fetch_by_tuples
from bcrm.dataio.choices import Entity
from bcrm.dataio.importer import Context, Importer, Row
from bcrm.engagement.models import Interaction
from bcrm.engagement.services import InteractionBatch
from bcrm.financing.models import Participation, Project
from bcrm.financing.services import ParticipationBatch, ProjectBatch
from bcrm.financing.walls import restrict_projects
from bcrm.parties.models import Contact, Organization
from bcrm.parties.services import ContactBatch, OrganizationBatch, tag_names

# ------------------------------------------------------------------------------------- organisations

class OrganizationImporter(Importer):
    model = Organization
    batch_class = OrganizationBatch

    def find_existing(self, rows: list[Row]) -> None:
        ids = {r.values["bcrm_id"] for r in rows if r.values.get("bcrm_id") is not None}
        externals = {r.values["external_id"] for r in rows if r.values.get("external_id")}
        if not ids and not externals:
            return
        queryset = self.locked().filter(Q(pk__in=ids) | Q(external_id__in=externals))
        if "tags" in self.ctx.present:
            queryset = queryset.prefetch_related("tags")
        by_pk, by_external = {}, {}
        for obj in queryset:
            by_pk[obj.pk] = obj
            if obj.external_id:
                by_external[obj.external_id] = obj
        for row in rows:
            pk, external = row.values.get("bcrm_id"), row.values.get("external_id")
            if pk is not None:
                obj = by_pk.get(pk)
                if obj is None or not can_view_organization(self.actor, obj):
                    row.reject("bcrm_id", _("No organisation with bcrm ID %(id)s, or you may not see it.") % {"id": pk})
                    continue
                other = by_external.get(external) if external else None
                if other is not None and other.pk != obj.pk:
                    row.reject("external_id", _("External id “%(value)s” already belongs to %(org)s.")
                               % {"value": external, "org": other})
                    continue
                row.obj = obj
            elif external:
                row.obj = by_external.get(external)

    def new_key(self, row: Row) -> Any:
        return row.values.get("external_id") or None

    def m2m_changes(self, row: Row) -> dict[str, list[Any]]:
        if "tags" not in row.values:
            return {}
        row.m2m["tags"] = tag_names(row.values["tags"])
        return super().m2m_changes(row)

    def on_create(self, row: Row, full: dict[str, Any]) -> None:
        if "tags" in row.values:
            row.m2m["tags"] = tag_names(row.values["tags"])

    def on_update(self, row: Row, changed: dict[str, Any]) -> None:
        """A record found by its external id that the actor may not see: refused without saying what it is (nor
        naming it: see ``describe``), as the rules refuse the rest."""
        if not can_view_organization(self.actor, row.obj):
            row.reject("external_id", _("This external id cannot be used here; choose another, or ask a team lead."))

    def describe(self, row: Row) -> str:
        if row.obj is not None and can_view_organization(self.actor, row.obj):
            return str(row.obj)
        legal, local = row.values.get("legal_name") or "", row.values.get("local_name") or ""
        return f"{legal} ({local})" if local else legal


# ------------------------------------------------------------------------------------------ contacts

class ContactImporter(Importer):
    model = Contact
    batch_class = ContactBatch

    def make_batch(self) -> EntityBatch:
        return ContactBatch(self.actor, now=self.ctx.now, orgs=self.orgs)

    def find_existing(self, rows: list[Row]) -> None:
        self.find_by_bcrm_id(rows)
        pending = [r for r in rows if r.obj is None and not r.errors and r.values.get("email")
                   and r.values.get("bcrm_id") is None]
        org_ids = {r.data.get("organization_id") for r in pending} - {None}
        if not org_ids:
            return
        by_key: dict[tuple[int, str], list[Contact]] = defaultdict(list)
        for contact in self.locked().filter(organization_id__in=org_ids).exclude(email=""):
            by_key[(contact.organization_id, contact.email.lower())].append(contact)
        for row in pending:
            matches = by_key.get((row.data["organization_id"], row.values["email"].lower()), [])
            if len(matches) > 1:
                row.reject("email", _("Several contacts of this organisation have this e-mail; give the bcrm ID."))
            elif matches:
                row.obj = matches[0]

    def new_key(self, row: Row) -> Any:
        email = row.values.get("email")
        return (row.data.get("organization_id"), email.lower()) if email else None

    def describe(self, row: Row) -> str:
        if row.obj is not None:
            return str(row.obj)
        name, local = row.values.get("full_name") or "", row.values.get("local_name") or ""
        return f"{name} ({local})" if local else name


# ------------------------------------------------------------------------------------------ projects

class ProjectImporter(Importer):
    model = Project
    batch_class = ProjectBatch

    def find_existing(self, rows: list[Row]) -> None:
        ids = {r.values["bcrm_id"] for r in rows if r.values.get("bcrm_id") is not None}
        externals = {r.values["external_id"] for r in rows if r.values.get("external_id")}
        if not ids and not externals:
            return
        by_pk, by_external = {}, {}
        for obj in restrict_projects(self.actor, self.locked(), "pk").filter(Q(pk__in=ids) | Q(external_id__in=externals)):
            by_pk[obj.pk] = obj
            if obj.external_id:
                by_external[obj.external_id] = obj
        for row in rows:
            pk, external = row.values.get("bcrm_id"), row.values.get("external_id")
            if pk is not None:
                obj = by_pk.get(pk)
                if obj is None:
                    row.reject("bcrm_id", _("No project with bcrm ID %(id)s.") % {"id": pk})
                    continue
                other = by_external.get(external) if external else None
                if other is not None and other.pk != obj.pk:
                    row.reject("external_id", _("External id “%(value)s” already belongs to %(project)s.")
                               % {"value": external, "project": other})
                    continue
                row.obj = obj
            elif external:
                row.obj = by_external.get(external)

    def new_key(self, row: Row) -> Any:
        return row.values.get("external_id") or None


    def describe(self, row: Row) -> str:
        if row.obj is not None:
            return str(row.obj)
        return row.values.get("name") or ""


# ------------------------------------------------------------------------------------ participations

class ParticipationImporter(Importer):
    model = Participation
    batch_class = ParticipationBatch

    def make_batch(self) -> EntityBatch:
        return ParticipationBatch(self.actor, now=self.ctx.now, orgs=self.orgs)

    def locked(self) -> models.QuerySet:
        return restrict_projects(self.actor, Participation.objects.select_related("organization", "project")
                                 .select_for_update(of=("self",)))

    def natural(self, row: Row) -> tuple | None:
        project, org = row.data.get("project_id"), row.data.get("organization_id")
        role = row.values.get("role")
        if project is None or org is None or role is None:
            return None
        return (project, org, role, row.values.get("tranche") or "")

    def find_existing(self, rows: list[Row]) -> None:
        self.find_by_bcrm_id(rows)
        pending = {r: key for r in rows if r.obj is None and not r.errors and (key := self.natural(r))}
        if not pending:
            return
        found = fetch_by_tuples(Participation, ["project", "organization", "role", "tranche"], pending.values(),
                                ["id", "project", "organization", "role", "tranche"])
        by_key = {tuple(row[1:]): row[0] for row in found}
        pks = {by_key[k] for k in pending.values() if k in by_key}
        objs = self.locked().in_bulk(pks) if pks else {}
        for row, key in pending.items():
            pk = by_key.get(key)
            if pk is not None and pk in objs:
                row.obj = objs[pk]

    def new_key(self, row: Row) -> Any:
        return self.natural(row)

    def duplicate_column(self, row: Row) -> str:
        return "bcrm_id" if row.values.get("bcrm_id") is not None else "role"


    def describe(self, row: Row) -> str:
        if row.obj is not None:
            return str(row.obj)
        org = self.org_info.get(row.data.get("organization_id") or 0, {}).get("legal_name", "")
        return f"{org} – {row.values.get('project') or row.values.get('project_external_id') or ''} ({row.values.get('role') or ''})"


# -------------------------------------------------------------------------------------- interactions

class InteractionImporter(Importer):
    model = Interaction
    batch_class = InteractionBatch

    def __init__(self, ctx: Context, **kwargs):
        super().__init__(ctx, **kwargs)
        self.contacts_by_org: dict[int, dict[str, list[int]]] = {}

    def make_batch(self) -> EntityBatch:
        # As interaction_create: a row without an owner is the author's, unless the file has an owner column.
        return InteractionBatch(self.actor, now=self.ctx.now, orgs=self.orgs,
                                default_owner="owner" not in self.ctx.present)

    def locked(self) -> models.QuerySet:
        queryset = restrict_projects(self.actor, Interaction.objects.select_related("organization")
                                     .select_for_update(of=("self",)))
        return queryset.prefetch_related("contacts") if "contacts" in self.ctx.present else queryset

    def natural(self, row: Row) -> tuple | None:
        org, kind = row.data.get("organization_id"), row.values.get("kind")
        occurred, summary = row.values.get("occurred_at"), row.values.get("summary")
        if org is None or kind is None or occurred is None or summary is None:
            return None
        return (org, occurred, kind, summary)

    def find_existing(self, rows: list[Row]) -> None:
        self.find_by_bcrm_id(rows)
        pending = {r: key for r in rows if r.obj is None and not r.errors and r.values.get("bcrm_id") is None
                   and (key := self.natural(r))}
        if not pending:
            return
        found = fetch_by_tuples(Interaction, ["organization", "occurred_at"], [k[:2] for k in pending.values()],
                                ["id", "organization", "occurred_at", "kind", "summary"])
        by_key: dict[tuple, int] = {}
        for pk, org, occurred, kind, summary in found:
            by_key.setdefault((org, occurred, kind, summary), pk)
        pks = {by_key[k] for k in pending.values() if k in by_key}
        if not pks:
            return
        objs = self.locked().in_bulk(pks)
        for row, key in pending.items():
            pk = by_key.get(key)
            if pk is not None and pk in objs:
                row.obj = objs[pk]

    def new_key(self, row: Row) -> Any:
        return self.natural(row)

    def duplicate_column(self, row: Row) -> str:
        return "bcrm_id" if row.values.get("bcrm_id") is not None else "summary"


    def on_create(self, row: Row, full: dict[str, Any]) -> None:
        if "contacts" in row.values and full.get("organization_id") is not None:
            self.resolve_contacts(row, full["organization_id"])

    def m2m_changes(self, row: Row) -> dict[str, list[Any]]:
        if "contacts" not in row.values:
            return {}
        org_id = row.data.get("organization_id", row.obj.organization_id)
        self.resolve_contacts(row, org_id)
        if row.errors:
            return {}
        current = sorted(c.pk for c in row.obj.contacts.all())
        wanted = sorted(row.m2m["contacts"])
        return {} if current == wanted else {"contacts": [current, wanted]}

    def resolve_contacts(self, row: Row, org_id: int) -> None:
        names = [n.strip() for n in _split(row.values.get("contacts"))]
        if org_id not in self.contacts_by_org:
            index: dict[str, list[int]] = defaultdict(list)
            for pk, full_name, local_name, email in Contact.objects.filter(organization_id=org_id).values_list(
                    "id", "full_name", "local_name", "email"):
                for key in {full_name.lower(), (local_name or "").lower(), (email or "").lower()} - {""}:
                    index[key].append(pk)
            self.contacts_by_org[org_id] = index
        index = self.contacts_by_org[org_id]
        ids = []
        for name in names:
            matches = set(index.get(name.lower(), []))
            if len(matches) == 1:
                ids.append(matches.pop())
            elif matches:
                row.reject("contacts", _("Several contacts of this organisation are called “%(name)s”; use the e-mail.")
                           % {"name": name})
            else:
                row.reject("contacts", _("“%(name)s” is not a contact of this organisation.") % {"name": name})
        row.m2m["contacts"] = sorted(set(ids))
        if row.obj is None and ids:
            row.changes["contacts"] = [None, row.m2m["contacts"]]


    def describe(self, row: Row) -> str:
        if row.obj is not None:
            return str(row.obj)
        org = self.org_info.get(row.data.get("organization_id") or 0, {}).get("legal_name", "")
        occurred = row.values.get("occurred_at")
        when = occurred.date().isoformat() if occurred else ""
        return f"{row.values.get('kind') or ''} {when} – {org}"


def _split(text: str | None) -> list[str]:
    return [t for t in re.split(r"[;；、|\n]", text or "") if t.strip()]


IMPORTERS: dict[str, type[Importer]] = {
    Entity.ORGANIZATIONS: OrganizationImporter,
    Entity.CONTACTS: ContactImporter,
    Entity.PROJECTS: ProjectImporter,
    Entity.PARTICIPATIONS: ParticipationImporter,
    Entity.INTERACTIONS: InteractionImporter,
}


def importer_for(ctx: Context, **kwargs) -> Importer:
    return IMPORTERS[ctx.spec.entity](ctx, **kwargs)


