"""The import engine: a file's rows, in batches, parsed, checked, resolved and written in bulk.

Per batch (``BCRM_IMPORT_BATCH_ROWS``, default 2,000 rows):

1. parse each cell with its column's parser (bcrm.dataio.parsers);
2. resolve references with one query per referenced entity for the whole batch (not per row),
   restricted to the organisations the actor may see;
3. find the rows that already exist — by bcrm id, external id or the entity's natural key — with one
   query, locked for update;
4. per row: the change it would make (created / updated / unchanged), the model's field checks and
   check constraints (bcrm.dataio.checks), ``clean()`` where the model has one, and the same permission
   rules the services apply (bcrm.accounts.permissions);
5. write: new rows as plain tuples (bcrm.dataio.bulk), updates with ``bulk_update``, side rows
   (tags, contacts present, commitment-ladder steps, the client search text) and one audit entry per
   created or updated object, all inside a savepoint. If the database still refuses the batch (a
   constraint the checks did not foresee, a concurrent writer), the batch is retried row by row, so
   only the offending rows are rejected, with the constraint's message.

Duplicates inside one file: a row whose record an earlier row already created or updated is rejected
("an earlier row …"); the primary keys touched so far are kept in a bitmap, so this costs no memory
per row. Counts are kept in memory, row outcomes go to a spool file (every rejected row, and the first
``BCRM_IMPORT_REPORT_ROWS`` others), rejected rows to the error file: memory stays bounded whatever
the file's size.

Natural keys when a row has no bcrm id:
  organisations, projects   external id (else the row creates a new record)
  contacts                  organisation + e-mail (case-insensitive; else create)
  participations            project + organisation + role + tranche (the model's unique constraint)
  interactions              organisation + kind + time + summary: the same meeting at the same moment
                            with the same summary is the same record, so importing a sheet twice does
                            not record every meeting twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import DatabaseError, models, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from bcrm.accounts.choices import Role
from bcrm.accounts.models import Team
from bcrm.accounts.permissions import SystemOperator as SystemOperator  # re-exported for the dataio doors
from bcrm.accounts.permissions import (
    can_edit_organization,
    can_see_compliance,
    can_view_organization,
    can_write,
    has_any,
    restrict_organizations,
    sees_all_organizations,
)
from bcrm.audit.models import AuditEntry
from bcrm.core.services import plain_value
from bcrm.dataio.bulk import PkSet, RowInserter, fetch_by_tuples
from bcrm.dataio.checks import constraint_errors, database_error_message, field_checker
from bcrm.dataio.choices import Entity, Outcome
from bcrm.dataio.parsers import ParseError, unneutralise
from bcrm.dataio.specs import FIELD, REF, Column, EntitySpec
from bcrm.engagement.models import Interaction
from bcrm.financing.models import Participation, ParticipationStatusChange, Project
from bcrm.parties.models import Contact, Organization, Tag
from bcrm.parties.services import organization_search_text

logger = logging.getLogger(__name__)


REF_CACHE = 50_000
REQUIRED = gettext_noop("This field is required.")


def batch_rows() -> int:
    return int(settings.BCRM_IMPORT_BATCH_ROWS)


def actor_label(actor) -> str:
    return actor.get_username() if getattr(actor, "is_authenticated", False) else "system"


class Row:
    """One file row on its way through the engine (a slots class: a million of them are made)."""

    __slots__ = ("number", "raw", "values", "errors", "data", "obj", "outcome", "changes", "pk", "label", "m2m", "extra",
                 "texts")

    def __init__(self, number: int, raw: list[Any]):
        self.number = number
        self.raw = raw
        self.values: dict[str, Any] = {}    # column name → parsed value (None: blank)
        self.errors: list[tuple[str, str]] = []
        self.data: dict[str, Any] = {}      # attname → value written
        self.obj: Any = None                # the existing record, if any
        self.outcome = ""
        self.changes: dict[str, list[Any]] = {}
        self.pk: int | None = None
        self.label = ""
        self.m2m: dict[str, list[Any]] = {}
        self.extra: dict[str, Any] = {}
        self.texts: dict[int, dict[str, Any]] | None = None  # error index → its code and parameters

    def reject(self, column: str, message: Any, text: dict[str, Any] | None = None) -> None:
        """``text``: the message as a code and parameters (bcrm.core.texts), to show in each reader's language."""
        if text is not None:
            if self.texts is None:
                self.texts = {}
            self.texts[len(self.errors)] = text
        self.errors.append((column, str(message)))


@dataclass
class Context:
    actor: Any
    job: Any
    spec: EntitySpec
    columns: list[tuple[int, Column]]
    present: set[str]
    now: dt.datetime


def is_blank(cell: Any) -> bool:
    return cell is None or (type(cell) is str and (not cell or cell.isspace()))


def current_value(obj: models.Model, attname: str) -> Any:
    value = getattr(obj, attname)
    code = getattr(value, "code", None)
    if code is not None and not isinstance(value, str | int):
        return code or ""
    return value


class Importer:
    """What every entity shares; subclasses add how rows are found, permissions and side rows."""

    model: type[models.Model]
    key_column = "bcrm_id"

    def __init__(self, ctx: Context, *, report: Callable[[Row], None]):
        self.ctx = ctx
        self.spec = ctx.spec
        self.actor = ctx.actor
        self.report = report
        self.meta = self.model._meta
        self.inserter = RowInserter(self.model)
        self.audit = RowInserter(AuditEntry, with_pk=False)
        self.content_type_id = ContentType.objects.get_for_model(self.model).pk
        self.touched = PkSet()
        self.fields_by_name = {f.name: f for f in self.meta.concrete_fields}
        self.name_of = {f.attname: f.name for f in self.meta.concrete_fields}
        self.checkers: dict[str, Callable[[Any], list[str]]] = {}
        self.column_of: dict[str, str] = {}  # attname → column name, for messages
        for _index, column in ctx.columns:
            if column.kind != FIELD:
                continue
            model_field = self.fields_by_name[column.target]
            self.column_of[model_field.attname] = column.name
            if not model_field.is_relation:
                self.checkers[model_field.attname] = field_checker(model_field)
        # Fields a new row must pass even when the file does not set them (no default, not blank).
        for f in self.meta.concrete_fields:
            if (f.primary_key or f.is_relation or f.null or f.blank or f.has_default()
                    or getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)):
                continue
            self.checkers.setdefault(f.attname, field_checker(f))
        self.required_attnames = [a for a in self.checkers if a not in self.column_of]
        self.money = [c for _i, c in ctx.columns if c.currency_column]
        skip = {"search_text", "version", "created_at", "updated_at", self.inserter.pk}
        self.audit_fields = [(f.name, f.attname) for f in self.meta.concrete_fields if f.name not in skip]
        # Column name → the model field it sets, for every plain field column of the spec.
        self.value_fields = {c.name: self.fields_by_name[c.target] for c in self.spec.columns if c.kind == FIELD}
        self.decimal_places = {n: f.decimal_places for n, f in self.value_fields.items()
                               if isinstance(f, models.DecimalField)}
        self.ref_groups: dict[str, list[Column]] = defaultdict(list)
        for _index, column in ctx.columns:
            if column.kind == REF:
                self.ref_groups[column.target].append(column)
        self.counts = dict.fromkeys(Outcome.values, 0)
        self.rows = 0
        self.ref_cache: dict[str, dict[tuple[str, Any], int | str]] = {}
        self._users: dict[str, int] | None = None
        self._teams: dict[str, int] | None = None
        self.org_info: dict[int, dict[str, Any]] = {}

    # -- the batch -------------------------------------------------------------------------------

    def process(self, rows: list[Row]) -> None:
        self.rows += len(rows)
        self.parse(rows)
        live = [r for r in rows if not r.errors]
        self.resolve(live)
        live = [r for r in live if not r.errors]
        self.find_existing(live)
        live = [r for r in live if not r.errors]
        self.mark_duplicates(live)
        for row in live:
            if not row.errors:
                self.prepare(row)
        self.write([r for r in live if not r.errors and r.outcome in (Outcome.CREATED, Outcome.UPDATED)])
        for row in rows:
            if row.errors:
                row.outcome = Outcome.REJECTED
            elif row.pk is not None:
                self.touched.add(row.pk)
            self.counts[row.outcome] += 1
            if not row.label:
                row.label = self.describe(row)
            self.report(row)

    # -- 1. parse --------------------------------------------------------------------------------

    def parse(self, rows: list[Row]) -> None:
        columns = self.ctx.columns
        for row in rows:
            raw = row.raw
            n = len(raw)
            values: dict[str, Any] = {}
            for index, column in columns:
                cell = raw[index] if index < n else None
                if is_blank(cell):
                    values[column.name] = None
                    if column.required:
                        row.reject(column.name, _(REQUIRED), {"template": REQUIRED, "params": {}})
                    continue
                if type(cell) is str:
                    cell = unneutralise(cell)
                try:
                    values[column.name] = column.parse(cell)  # type: ignore[misc]
                except ParseError as exc:
                    row.reject(column.name, exc.message, exc.text)
            for column in self.money:
                value = values.get(column.name)
                if isinstance(value, tuple):
                    amount, currency = value
                    values[column.name] = amount
                    if currency:
                        other = values.get(column.currency_column)  # type: ignore[arg-type]
                        if other is None:
                            values[column.currency_column] = currency  # type: ignore[index]
                        elif other != currency:
                            row.reject(column.name, _("The amount is in %(cell)s but the currency column says %(column)s.")
                                       % {"cell": currency, "column": other})
            row.values = values

    # -- 2. references ---------------------------------------------------------------------------

    def resolve(self, rows: list[Row]) -> None:
        """References, strongest column first; each distinct value is looked up once per import (the
        answers are cached, up to ``REF_CACHE`` of them) and the misses of a batch in one query."""
        for target, columns in self.ref_groups.items():
            model_field = self.fields_by_name[target]
            ref = columns[0].ref
            ordered = [c for part in ("bcrm_id", "external_id", "name") for c in columns if c.ref_part == part]
            wanted: list[tuple[Row, str, Any]] = []
            for row in rows:
                choice = None
                values = row.values
                for column in ordered:
                    value = values.get(column.name)
                    if value is not None:
                        choice = (column.name, value)
                        break
                if choice is None:
                    if target in self.spec.required_refs:
                        row.reject(target, _("This field is required."))
                    elif any(c.name in row.values for c in columns):
                        row.data[model_field.attname] = None
                    continue
                wanted.append((row, choice[0], choice[1]))
            if not wanted:
                continue
            resolver = {"organization": self.resolve_organizations, "project": self.resolve_projects,
                        "team": self.resolve_teams, "user": self.resolve_users}[ref]  # type: ignore[index]
            cache = self.ref_cache.setdefault(str(ref), {})
            parts = {c.name: c.ref_part for c in columns}
            keys = [(parts[name], value) for _row, name, value in wanted]
            missing = list(dict.fromkeys(k for k in keys if k not in cache))
            if missing:
                if len(cache) + len(missing) > REF_CACHE:
                    cache.clear()
                    self.org_info.clear()
                cache.update(zip(missing, resolver(missing), strict=True))
            for (row, name, _value), key in zip(wanted, keys, strict=True):
                result = cache[key]
                if isinstance(result, int):
                    row.data[model_field.attname] = result
                else:
                    row.reject(name, result)

    def resolve_organizations(self, wanted: list[tuple[str, Any]]) -> list[int | str]:
        ids = {v for part, v in wanted if part == "bcrm_id"}
        texts = {str(v) for part, v in wanted if part != "bcrm_id"}
        names = {str(v).lower() for part, v in wanted if part == "name"}
        query = Q(pk__in=[])
        if ids:
            query |= Q(pk__in=ids)
        if texts:
            query |= Q(external_id__in=texts)
        if names:
            query |= Q(legal_lower__in=names) | Q(local_lower__in=names)
        queryset = restrict_organizations(
            self.actor,
            Organization.objects.alias(legal_lower=Lower("legal_name"), local_lower=Lower("local_name")).filter(query),
        ).values("id", "external_id", "legal_name", "local_name", "team_id", "relationship_manager_id")
        by_id, by_external = {}, {}
        by_legal: dict[str, list[int]] = defaultdict(list)
        by_local: dict[str, list[int]] = defaultdict(list)
        for org in queryset:
            self.org_info[org["id"]] = org
            by_id[org["id"]] = org["id"]
            if org["external_id"]:
                by_external[org["external_id"]] = org["id"]
            by_legal[org["legal_name"].lower()].append(org["id"])
            if org["local_name"]:
                by_local[org["local_name"].lower()].append(org["id"])
        results: list[int | str] = []
        for part, value in wanted:
            if part == "bcrm_id":
                results.append(by_id.get(value) or _("No organisation with bcrm ID %(id)s, or you may not see it.")
                               % {"id": value})
                continue
            text = str(value)
            if text in by_external:
                results.append(by_external[text])
                continue
            if part == "external_id":
                results.append(_("No organisation with external id “%(value)s”, or you may not see it.") % {"value": text})
                continue
            for index in (by_legal, by_local):
                matches = index.get(text.lower(), [])
                if len(matches) == 1:
                    results.append(matches[0])
                    break
                if len(matches) > 1:
                    results.append(_("%(n)s organisations are named “%(value)s”; give the external id or bcrm ID instead.")
                                   % {"n": len(matches), "value": text})
                    break
            else:
                results.append(_("No organisation “%(value)s” (by external id, legal or local name), or you may not see it.")
                               % {"value": text})
        return results

    def resolve_projects(self, wanted: list[tuple[str, Any]]) -> list[int | str]:
        ids = {v for part, v in wanted if part == "bcrm_id"}
        texts = {str(v) for part, v in wanted if part != "bcrm_id"}
        rows = Project.objects.filter(
            Q(pk__in=ids) | Q(external_id__in=texts) | Q(name__in=texts) | Q(local_name__in=texts)
        ).values_list("id", "external_id", "name", "local_name")
        by_id, by_external = {}, {}
        by_name: dict[str, list[int]] = defaultdict(list)
        by_local: dict[str, list[int]] = defaultdict(list)
        for pk, external_id, name, local_name in rows:
            by_id[pk] = pk
            if external_id:
                by_external[external_id] = pk
            by_name[name].append(pk)
            if local_name:
                by_local[local_name].append(pk)
        results: list[int | str] = []
        for part, value in wanted:
            if part == "bcrm_id":
                results.append(by_id.get(value) or _("No project with bcrm ID %(id)s.") % {"id": value})
                continue
            text = str(value)
            if text in by_external:
                results.append(by_external[text])
                continue
            if part == "external_id":
                results.append(_("No project with external id “%(value)s”.") % {"value": text})
                continue
            for index in (by_name, by_local):
                matches = index.get(text, [])
                if len(matches) == 1:
                    results.append(matches[0])
                    break
                if len(matches) > 1:
                    results.append(_("%(n)s projects are named “%(value)s”; give the external id or bcrm ID instead.")
                                   % {"n": len(matches), "value": text})
                    break
            else:
                results.append(_("No project “%(value)s” (by external id or name).") % {"value": text})
        return results

    def resolve_teams(self, wanted: list[tuple[str, Any]]) -> list[int | str]:
        if self._teams is None:
            self._teams = {}
            for pk, name, local in Team.objects.values_list("id", "name", "name_local"):
                self._teams[name.lower()] = pk
                if local:
                    self._teams.setdefault(local.lower(), pk)
        return [self._teams.get(str(v).lower()) or _("No team “%(value)s”.") % {"value": v} for _p, v in wanted]

    def resolve_users(self, wanted: list[tuple[str, Any]]) -> list[int | str]:
        """By username, e-mail or unique full name (“Wang Wei” or “王伟”); users are few, so all are read once."""
        if self._users is None:
            users: dict[str, int] = {}
            names: dict[str, list[int]] = defaultdict(list)
            for pk, username, email, first, last in get_user_model().objects.filter(is_active=True).values_list(
                    "id", "username", "email", "first_name", "last_name"):
                users[username.lower()] = pk
                if email:
                    names[email.lower()].append(pk)
                if first or last:
                    names[f"{first} {last}".strip().lower()].append(pk)
                    names[f"{last}{first}".lower()].append(pk)
                    names[f"{last} {first}".strip().lower()].append(pk)
            for key, pks in names.items():
                if len(set(pks)) == 1:
                    users.setdefault(key, pks[0])
            self._users = users
        return [self._users.get(str(v).lower()) or _("No user “%(value)s”.") % {"value": v} for _p, v in wanted]

    # -- 3. existing rows ------------------------------------------------------------------------

    def find_existing(self, rows: list[Row]) -> None:
        """Set ``row.obj`` for rows that update a record; subclasses add their natural keys."""
        self.find_by_bcrm_id(rows)

    def find_by_bcrm_id(self, rows: list[Row]) -> None:
        ids = {r.values["bcrm_id"] for r in rows if r.values.get("bcrm_id") is not None}
        if not ids:
            return
        found = self.locked().in_bulk(ids)
        visible = self.visible(list(found.values()))
        for row in rows:
            pk = row.values.get("bcrm_id")
            if pk is None:
                continue
            obj = found.get(pk)
            if obj is None or obj.pk not in visible:
                row.reject("bcrm_id", _("No %(what)s with bcrm ID %(id)s, or you may not see it.")
                           % {"what": self.meta.verbose_name, "id": pk})
            else:
                row.obj = obj

    def locked(self) -> models.QuerySet:
        return self.model._default_manager.select_for_update()

    def visible(self, objs: list[Any]) -> set[int]:
        """The primary keys among ``objs`` the actor may see (one query for the batch)."""
        if not objs or sees_all_organizations(self.actor) or not hasattr(objs[0], "organization_id"):
            return {o.pk for o in objs}
        org_ids = {o.organization_id for o in objs}
        seen = set(restrict_organizations(self.actor, Organization.objects.filter(pk__in=org_ids))
                   .values_list("pk", flat=True))
        return {o.pk for o in objs if o.organization_id in seen}

    def new_key(self, row: Row) -> Any:
        """The key two new rows of the same record share (None: no natural key)."""
        return None

    def mark_duplicates(self, rows: list[Row]) -> None:
        seen_pk: dict[int, int] = {}
        seen_key: dict[Any, int] = {}
        for row in rows:
            if row.obj is not None:
                pk = row.obj.pk
                if pk in self.touched:
                    row.reject(self.duplicate_column(row),
                               _("An earlier row of this file already imported this record; it appears twice."))
                elif pk in seen_pk:
                    row.reject(self.duplicate_column(row), _("Row %(row)s of this file is the same record.")
                               % {"row": seen_pk[pk]})
                else:
                    seen_pk[pk] = row.number
                continue
            key = self.new_key(row)
            if key is None:
                continue
            if key in seen_key:
                row.reject(self.duplicate_column(row), _("Row %(row)s of this file is the same record.")
                           % {"row": seen_key[key]})
            else:
                seen_key[key] = row.number

    def duplicate_column(self, row: Row) -> str:
        if row.values.get("bcrm_id") is not None:
            return "bcrm_id"
        if row.values.get("external_id") is not None:
            return "external_id"
        return ""

    # -- 4. what a row changes -------------------------------------------------------------------

    def assigned(self, row: Row, creating: bool) -> dict[str, Any]:
        data = dict(row.data)  # references resolved above
        fields, places = self.value_fields, self.decimal_places
        for name, value in row.values.items():
            model_field = fields.get(name)
            if model_field is None:
                continue
            if value is None:
                if model_field.null:
                    value = None
                elif model_field.empty_strings_allowed and model_field.blank:
                    value = ""
                elif model_field.has_default():
                    if not creating:
                        continue
                    value = model_field.get_default()
                elif model_field.empty_strings_allowed:
                    value = ""  # refused by the field check: "This field cannot be blank."
            elif name in places and isinstance(value, Decimal):
                value = _quantize(value, places[name])
            data[model_field.attname] = value
        return data

    def prepare(self, row: Row) -> None:
        creating = row.obj is None
        data = self.assigned(row, creating)
        if creating:
            full = self.inserter.defaults_for(self.ctx.now)
            full.update(data)
            self.on_create(row, full)
            if row.errors:
                return
            self.check(row, full, {**{a: full.get(a) for a in self.required_attnames}, **data})
            if row.errors:
                return
            row.data = full
            row.outcome = Outcome.CREATED
            return
        obj = row.obj
        row.pk = obj.pk
        changed = {k: v for k, v in data.items() if current_value(obj, k) != v}
        m2m_changed = self.m2m_changes(row)
        if row.errors:
            return
        if not changed and not m2m_changed:
            row.outcome = Outcome.UNCHANGED
            return
        self.on_update(row, changed)
        if row.errors:
            return
        merged = {f.attname: current_value(obj, f.attname) for f in self.meta.concrete_fields}
        merged.update(changed)
        self.check(row, merged, changed)
        if row.errors:
            return
        row.changes = {self.name_of[k]: [plain_value(current_value(obj, k)), plain_value(v)] for k, v in changed.items()}
        row.changes.update(m2m_changed)
        row.data = changed
        row.outcome = Outcome.UPDATED

    def check(self, row: Row, full: dict[str, Any], data: dict[str, Any]) -> None:
        for attname, value in data.items():
            checker = self.checkers.get(attname)
            if checker is not None:
                for message in checker(value):
                    row.reject(self.column_of.get(attname, self.name_of.get(attname, attname)), message)
        if row.errors:
            return
        for message in constraint_errors(self.model, full):
            row.reject("", message)
        if not row.errors:
            self.clean(row, full)

    def clean(self, row: Row, full: dict[str, Any]) -> None:
        """Model.clean() for models that define one."""

    def m2m_changes(self, row: Row) -> dict[str, list[Any]]:
        return {}

    def on_create(self, row: Row, full: dict[str, Any]) -> None:
        pass

    def on_update(self, row: Row, changed: dict[str, Any]) -> None:
        pass

    def require_org_write(self, row: Row, org_id: int | None, column: str = "organization") -> bool:
        if org_id is None:
            return True
        info: dict[str, Any] | None = self.org_info.get(org_id)
        if info is None:
            info = cast(dict[str, Any] | None, Organization.objects.filter(pk=org_id).values(
                "id", "external_id", "legal_name", "local_name", "team_id", "relationship_manager_id").first())
            if info is None:
                row.reject(column, _("No such organisation."))
                return False
            self.org_info[org_id] = info
        if not can_edit_organization(self.actor, _OrgRef(info)):
            row.reject(column, _("You may not change records of %(org)s.") % {"org": info["legal_name"]})
            return False
        return True

    # -- 5. write --------------------------------------------------------------------------------

    def write(self, rows: list[Row]) -> None:
        if not rows:
            return
        try:
            with transaction.atomic():
                self._write(rows)
        except DatabaseError as exc:
            if len(rows) == 1:
                row = rows[0]
                row.reject("", database_error_message(self.model, exc))
                row.pk = row.obj.pk if row.obj is not None else None
                return
            for row in rows:
                if row.outcome == Outcome.CREATED:
                    row.pk = None
                self.write([row])

    def _write(self, rows: list[Row]) -> None:
        creates = [r for r in rows if r.outcome == Outcome.CREATED]
        updates = [r for r in rows if r.outcome == Outcome.UPDATED]
        pk_name = self.inserter.pk
        for row, pk in zip(creates, self.inserter.reserve(len(creates)), strict=True):
            row.data[pk_name] = pk
            row.pk = pk
        self.before_insert(creates)
        self.inserter.insert([r.data for r in creates])
        if updates:
            fields: set[str] = set()
            for row in updates:
                obj = row.obj
                for attname, value in row.data.items():
                    setattr(obj, attname, value)
                    fields.add(self.name_of[attname])
                if hasattr(obj, "version"):
                    obj.version += 1
                if hasattr(obj, "updated_at"):
                    obj.updated_at = self.ctx.now
            extra = [f for f in ("version", "updated_at") if f in self.fields_by_name]
            self.model._default_manager.bulk_update([r.obj for r in updates], sorted(fields) + extra)
        self.after_write(creates, updates)
        self.write_audit(creates, updates)

    def before_insert(self, creates: list[Row]) -> None:
        pass

    def after_write(self, creates: list[Row], updates: list[Row]) -> None:
        pass

    def write_audit(self, creates: list[Row], updates: list[Row]) -> None:
        """One entry per created or updated object, as ``audit_record`` writes them (action ``import.create``
        or ``import.update``, the fields' [before, after] and the import's id), inserted in bulk."""
        actor = self.actor
        audit = self.audit
        template: list[Any] = [None] * len(audit.attnames)
        slot = {name: i for i, name in enumerate(audit.attnames)}
        template[slot["at"]] = audit.to_db("at", self.ctx.now)
        template[slot["actor_id"]] = getattr(actor, "pk", None)
        template[slot["actor_label"]] = actor_label(actor)
        template[slot["content_type_id"]] = self.content_type_id
        action, object_id, object_repr, changes_at = (slot["action"], slot["object_id"], slot["object_repr"],
                                                      slot["changes"])
        job = [None, self.ctx.job.pk]
        fields = self.audit_fields
        simple = (str, int, bool)
        dumps = json.dumps
        entries = []
        for row in creates:
            data = row.data
            changes = {name: [None, value if type(value) in simple else plain_value(value)]
                       for name, attname in fields if (value := data.get(attname)) is not None and value != ""}
            if row.changes:
                changes.update(row.changes)
            changes["import_job"] = job
            row.label = row.label or self.describe(row)
            entry = list(template)
            entry[action], entry[object_id], entry[object_repr] = "import.create", str(row.pk), row.label[:255]
            entry[changes_at] = dumps(changes, ensure_ascii=False, default=str)
            entries.append(entry)
        for row in updates:
            changes = dict(row.changes)
            changes["import_job"] = job
            row.label = row.label or self.describe(row)
            entry = list(template)
            entry[action], entry[object_id], entry[object_repr] = "import.update", str(row.pk), row.label[:255]
            entry[changes_at] = dumps(changes, ensure_ascii=False, default=str)
            entries.append(entry)
        audit.insert_prepared(entries)

    def describe(self, row: Row) -> str:
        if row.obj is not None:
            return str(row.obj)
        return ""


def _quantize(value: Decimal, places: int | None) -> Decimal:
    """1000.5 → 1000.50 for a 2-place field; more places than the field has are left for its check to refuse."""
    exponent = value.as_tuple().exponent
    if places is None or not isinstance(exponent, int) or -exponent > places:
        return value
    try:
        return value.quantize(Decimal(1).scaleb(-places))
    except ArithmeticError:
        return value


class _OrgRef:
    """The two attributes the permission rules read from an organisation, from a values() dict."""

    def __init__(self, info: dict[str, Any]):
        self.team_id = info["team_id"]
        self.relationship_manager_id = info["relationship_manager_id"]


# ------------------------------------------------------------------------------------- organisations

class OrganizationImporter(Importer):
    model = Organization

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
        wanted = tag_names(row.values["tags"])
        row.m2m["tags"] = wanted
        current = sorted(t.name for t in row.obj.tags.all())
        return {} if current == wanted else {"tags": [current, wanted]}

    def on_create(self, row: Row, full: dict[str, Any]) -> None:
        actor = self.actor
        if not can_write(actor):
            row.reject("", _("You may not create organisations."))
            return
        if not can_see_compliance(actor):
            for name in Organization.COMPLIANCE_FIELDS:
                default = self.fields_by_name[name].get_default()
                if name in row.values and full.get(name) != default:
                    row.reject(name, _("Only compliance, a team lead or an administrator may change KYC and sanctions fields."))
                    return
        if has_any(actor, {Role.RELATIONSHIP_MANAGER}) and not has_any(actor, {Role.ADMIN, Role.LEAD}):
            # A relationship manager's new client must stay within their reach (as organization_create).
            if full.get("relationship_manager_id") is None:
                full["relationship_manager_id"] = actor.pk
        if "tags" in row.values:
            row.m2m["tags"] = tag_names(row.values["tags"])
            if row.m2m["tags"]:
                row.changes["tags"] = [None, row.m2m["tags"]]

    def on_update(self, row: Row, changed: dict[str, Any]) -> None:
        actor, obj = self.actor, row.obj
        compliance_changed = set(changed) & set(Organization.COMPLIANCE_FIELDS)
        if not can_edit_organization(actor, obj):
            compliance_only = set(changed) <= set(Organization.COMPLIANCE_FIELDS) and "tags" not in row.changes
            if not (compliance_only and has_any(actor, {Role.COMPLIANCE})):
                if can_view_organization(actor, obj):
                    row.reject("", _("You may not change %(org)s.") % {"org": obj})
                else:
                    row.reject("external_id", _("This external id belongs to an organisation you may not see or change."))
                return
        if compliance_changed and not can_see_compliance(actor):
            row.reject(sorted(compliance_changed)[0],
                       _("Only compliance, a team lead or an administrator may change KYC and sanctions fields."))

    def clean(self, row: Row, full: dict[str, Any]) -> None:
        instance = Organization(**{k: v for k, v in full.items() if k in self.name_of})
        try:
            instance.clean()
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                for message in messages:
                    row.reject(name if name != "__all__" else "", message)

    def before_insert(self, creates: list[Row]) -> None:
        for row in creates:
            data = row.data
            data["rating_score"] = _rating_score(data.get("rating_agency"), data.get("rating_grade"))
            if data.get("external_id") == "":
                data["external_id"] = None
            data["search_text"] = " ".join(p for p in (data["legal_name"], data.get("local_name")) if p).lower()

    def after_write(self, creates: list[Row], updates: list[Row]) -> None:
        rescore = [r.obj for r in updates if {"rating_agency", "rating_grade"} & set(r.data)]
        for obj in rescore:
            obj.rating_score = _rating_score(obj.rating_agency, obj.rating_grade)
        if rescore:
            Organization.objects.bulk_update(rescore, ["rating_score"])
        renamed = [r.obj.pk for r in updates if {"legal_name", "local_name"} & set(r.data)]
        refresh_search_text(renamed)
        tagged = [r for r in creates + updates if "tags" in r.m2m]
        if tagged:
            set_tags(tagged)

    def describe(self, row: Row) -> str:
        if row.obj is not None:
            return str(row.obj)
        legal, local = row.values.get("legal_name") or "", row.values.get("local_name") or ""
        return f"{legal} ({local})" if local else legal


def _rating_score(agency, grade):
    from bcrm.parties.ratings import rating_score

    return rating_score(agency or "", grade or "")


def tag_names(text: str | None) -> list[str]:
    if not text:
        return []
    import re

    return sorted({t.strip() for t in re.split(r"[;,，；、|\n]", text) if t.strip()})


def set_tags(rows: list[Row]) -> None:
    names = {n for r in rows for n in r.m2m["tags"]}
    existing = dict(Tag.objects.filter(name__in=names).values_list("name", "id"))
    missing = [Tag(name=n) for n in sorted(names - set(existing))]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = dict(Tag.objects.filter(name__in=names).values_list("name", "id"))
    through = Organization.tags.through
    org_ids = [r.pk for r in rows]
    through.objects.filter(organization_id__in=org_ids).delete()
    through.objects.bulk_create([through(organization_id=r.pk, tag_id=existing[n]) for r in rows for n in r.m2m["tags"]])


def refresh_search_text(org_ids: list[int]) -> None:
    """Recompute the client-search column of these organisations: three queries for the whole batch.
    (On SQLite the FTS5 triggers follow the column; on PostgreSQL the trigram index does.)"""
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


# ------------------------------------------------------------------------------------------ contacts

class ContactImporter(Importer):
    model = Contact

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

    def on_create(self, row: Row, full: dict[str, Any]) -> None:
        if self.require_org_write(row, full.get("organization_id")):
            self.primary_check(row, full)

    def on_update(self, row: Row, changed: dict[str, Any]) -> None:
        self.org_info.setdefault(row.obj.organization_id, _org_info(row.obj.organization_id))
        if self.require_org_write(row, row.obj.organization_id) and "organization_id" in changed:
            self.require_org_write(row, changed["organization_id"])
        if not row.errors and changed.get("is_primary"):
            self.primary_check(row, {"organization_id": changed.get("organization_id", row.obj.organization_id),
                                     "is_primary": True})

    def primary_check(self, row: Row, full: dict[str, Any]) -> None:
        """One primary contact per organisation (a conditional unique constraint)."""
        if not full.get("is_primary"):
            return
        org_id = full["organization_id"]
        taken = self.primaries.get(org_id)
        if taken is None:
            taken = set(Contact.objects.filter(organization_id=org_id, is_primary=True).values_list("id", flat=True))
            self.primaries[org_id] = taken
        others = taken - {row.obj.pk if row.obj is not None else None}
        if others:
            row.reject("is_primary", _("This organisation already has a primary contact."))
        else:
            taken.add(row.obj.pk if row.obj is not None else -row.number)

    @property
    def primaries(self) -> dict[int, set[int]]:
        if not hasattr(self, "_primaries"):
            self._primaries: dict[int, set[int]] = {}
        return self._primaries

    def after_write(self, creates: list[Row], updates: list[Row]) -> None:
        orgs = {r.data["organization_id"] for r in creates}
        for row in updates:
            if {"full_name", "local_name", "email", "organization_id"} & set(row.data):
                orgs.add(row.obj.organization_id)
                orgs.add(row.changes.get("organization", [None])[0])
        refresh_search_text([o for o in orgs if o])
        # The primary-contact cache holds row numbers for new primaries; replace them with real ids.
        for row in creates:
            if row.data.get("is_primary"):
                taken = self.primaries.get(row.data["organization_id"], set())
                taken.discard(-row.number)
                taken.add(row.pk)  # type: ignore[arg-type]

    def describe(self, row: Row) -> str:
        if row.obj is not None:
            return str(row.obj)
        name, local = row.values.get("full_name") or "", row.values.get("local_name") or ""
        return f"{name} ({local})" if local else name


def _org_info(org_id: int) -> dict[str, Any]:
    found = Organization.objects.filter(pk=org_id).values(
        "id", "external_id", "legal_name", "local_name", "team_id", "relationship_manager_id").first()
    return cast(dict[str, Any], found) if found else {
        "id": org_id, "legal_name": "?", "team_id": None, "relationship_manager_id": None}


# ------------------------------------------------------------------------------------------ projects

class ProjectImporter(Importer):
    model = Project

    def find_existing(self, rows: list[Row]) -> None:
        ids = {r.values["bcrm_id"] for r in rows if r.values.get("bcrm_id") is not None}
        externals = {r.values["external_id"] for r in rows if r.values.get("external_id")}
        if not ids and not externals:
            return
        by_pk, by_external = {}, {}
        for obj in self.locked().filter(Q(pk__in=ids) | Q(external_id__in=externals)):
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

    def on_create(self, row: Row, full: dict[str, Any]) -> None:
        if not can_write(self.actor):
            row.reject("", _("You may not create projects."))
        if full.get("external_id") == "":
            full["external_id"] = None

    def on_update(self, row: Row, changed: dict[str, Any]) -> None:
        if not can_write(self.actor):
            row.reject("", _("You may not change projects."))

    def describe(self, row: Row) -> str:
        if row.obj is not None:
            return str(row.obj)
        return row.values.get("name") or ""


# ------------------------------------------------------------------------------------ participations

class ParticipationImporter(Importer):
    model = Participation

    def locked(self) -> models.QuerySet:
        return Participation.objects.select_related("organization", "project").select_for_update(of=("self",))

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

    def on_create(self, row: Row, full: dict[str, Any]) -> None:
        self.require_org_write(row, full.get("organization_id"))
        full["status_changed_at"] = self.ctx.now

    def on_update(self, row: Row, changed: dict[str, Any]) -> None:
        obj = row.obj
        self.org_info.setdefault(obj.organization_id, _org_info(obj.organization_id))
        if self.require_org_write(row, obj.organization_id) and "organization_id" in changed:
            self.require_org_write(row, changed["organization_id"])
        if "status" in changed:
            changed["status_changed_at"] = self.ctx.now
            row.extra["from_status"] = obj.status

    def after_write(self, creates: list[Row], updates: list[Row]) -> None:
        actor_id = getattr(self.actor, "pk", None)
        steps = [ParticipationStatusChange(participation_id=cast(int, r.pk), from_status="", to_status=r.data["status"],
                                           changed_at=self.ctx.now, changed_by_id=actor_id) for r in creates]
        steps += [ParticipationStatusChange(participation_id=cast(int, r.pk), from_status=r.extra["from_status"],
                                            to_status=r.data["status"], changed_at=self.ctx.now, changed_by_id=actor_id)
                  for r in updates if "from_status" in r.extra]
        if steps:
            ParticipationStatusChange.objects.bulk_create(steps)

    def describe(self, row: Row) -> str:
        if row.obj is not None:
            return str(row.obj)
        org = self.org_info.get(row.data.get("organization_id") or 0, {}).get("legal_name", "")
        return f"{org} – {row.values.get('project') or row.values.get('project_external_id') or ''} ({row.values.get('role') or ''})"


# -------------------------------------------------------------------------------------- interactions

class InteractionImporter(Importer):
    model = Interaction

    def __init__(self, ctx: Context, **kwargs):
        super().__init__(ctx, **kwargs)
        self.contacts_by_org: dict[int, dict[str, list[int]]] = {}

    def locked(self) -> models.QuerySet:
        queryset = Interaction.objects.select_related("organization").select_for_update(of=("self",))
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
        self.require_org_write(row, full.get("organization_id"))
        if "owner" not in self.ctx.present:
            full["owner_id"] = getattr(self.actor, "pk", None)  # as interaction_create: the author by default
        if "contacts" in row.values:
            self.resolve_contacts(row, full["organization_id"])

    def on_update(self, row: Row, changed: dict[str, Any]) -> None:
        obj = row.obj
        self.org_info.setdefault(obj.organization_id, _org_info(obj.organization_id))
        if self.require_org_write(row, obj.organization_id) and "organization_id" in changed:
            self.require_org_write(row, changed["organization_id"])

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

    def after_write(self, creates: list[Row], updates: list[Row]) -> None:
        rows = [r for r in creates + updates if "contacts" in r.m2m]
        if not rows:
            return
        through = Interaction.contacts.through
        through.objects.filter(interaction_id__in=[r.pk for r in updates if "contacts" in r.m2m]).delete()
        through.objects.bulk_create([through(interaction_id=r.pk, contact_id=c) for r in rows for c in r.m2m["contacts"]])

    def describe(self, row: Row) -> str:
        if row.obj is not None:
            return str(row.obj)
        org = self.org_info.get(row.data.get("organization_id") or 0, {}).get("legal_name", "")
        occurred = row.values.get("occurred_at")
        when = occurred.date().isoformat() if occurred else ""
        return f"{row.values.get('kind') or ''} {when} – {org}"


def _split(text: str | None) -> list[str]:
    import re

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

