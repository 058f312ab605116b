"""The import pipeline: a file's rows, in batches, parsed, checked, resolved and written in bulk.

This module is the pipeline every entity shares; bcrm.dataio.references resolves references and
bcrm.dataio.adapters holds, per entity, how its rows are found (natural keys) and described. The
importer knows no entity rule: those live with the entity's services.

Per batch (``BCRM_IMPORT_BATCH_ROWS``, default 2,000 rows):

1. parse each column of the batch with its parser (bcrm.dataio.parsers), a repeating cell once (``ParseMemo``);
2. resolve references with one query per referenced entity for the whole batch (not per row),
   restricted to the organisations the actor may see;
3. find the rows that already exist — by bcrm id, external id or the entity's natural key — with one
   query, locked for update;
4. per row: the change it would make (created / updated / unchanged), the model's field checks and
   check constraints (bcrm.dataio.checks), and the entity's own write rules — permissions, fields only
   some roles may set, defaults, ``clean()`` — applied by the entity's batch form (``OrganizationBatch``
   in bcrm.parties.services and its siblings: the same functions the single services call);
5. write, by the same batch form: new rows as plain tuples (bcrm.core.bulk), updates with ``bulk_update``,
   side rows (tags, contacts present, commitment-ladder steps, the client search text) and the audit
   entries — one per batch for the records it created (organisations, interactions: their values as arrays,
   named by id ranges), one per created contact, project or participation, one per updated record — all
   inside a savepoint. If the database still refuses the batch (a
   constraint the checks did not foresee, a concurrent writer), the batch is retried row by row, so
   only the offending rows are rejected, with the constraint's message.

New rows' field checks and single-field check constraints run a column at a time, once per distinct value
(bcrm.dataio.checks.distinct_values). On PostgreSQL most of a batch's write is the server's: after the last row
of the ``COPY`` it checks every row's foreign keys (made immediate for the import). The ``COPY`` is sent from a
helper thread and, while the server works, the import does what needs no database: it makes the batch's audit
entry, reports the previous batch's rows and reads and parses the next batch (``Importer.ahead``; see
``bcrm.core.bulk.RowInserter.insert_prepared``).

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

import dataclasses
import datetime as dt
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, models, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from bcrm.accounts.permissions import SystemOperator as SystemOperator  # re-exported for the dataio doors
from bcrm.accounts.permissions import restrict_organizations, sees_all_organizations
from bcrm.core.batch import BatchRow, EntityBatch, reject_validation
from bcrm.core.batch import actor_label as actor_label  # re-exported for the dataio doors
from bcrm.core.bulk import PkSet
from bcrm.core.services import plain_value
from bcrm.dataio.checks import (
    constraint_tests,
    database_error_message,
    distinct_values,
    field_checker,
)
from bcrm.dataio.choices import Outcome
from bcrm.dataio.parsers import ParseError, unneutralise
from bcrm.dataio.references import ReferenceResolver
from bcrm.dataio.specs import FIELD, REF, Column, EntitySpec
from bcrm.parties.models import Organization
from bcrm.parties.services import OrganizationAccess

logger = logging.getLogger(__name__)


REQUIRED = gettext_noop("This field is required.")


def batch_rows() -> int:
    return int(settings.BCRM_IMPORT_BATCH_ROWS)


class Row(BatchRow):
    """One file row on its way through the pipeline: a batch row with the file's cells and parsed values."""

    __slots__ = ("raw", "values")

    def __init__(self, number: int, raw: list[Any]):
        super().__init__(number)
        self.raw = raw
        self.values: dict[str, Any] = {}    # column name → parsed value (None: blank)


@dataclasses.dataclass
class Context:
    actor: Any
    job: Any
    spec: EntitySpec
    columns: list[tuple[int, Column]]
    present: set[str]
    now: dt.datetime


def is_blank(cell: Any) -> bool:
    return cell is None or (type(cell) is str and (not cell or cell.isspace()))


def is_blank_row(cells: list[Any]) -> bool:
    """Every cell blank. A CSV row is all text: joined, one strip answers."""
    try:
        return not "".join(cells).strip()
    except TypeError:  # a spreadsheet's numbers, dates or empty cells
        return all(is_blank(c) for c in cells)


def current_value(obj: models.Model, attname: str) -> Any:
    value = getattr(obj, attname)
    code = getattr(value, "code", None)
    if code is not None and not isinstance(value, str | int):
        return code or ""
    return value


class Importer(ReferenceResolver):
    """What every entity shares; subclasses add how rows are found (natural keys) and described, and name
    the entity's batch form (``batch_class``), which applies its write rules and writes."""

    model: type[models.Model]
    batch_class: type[EntityBatch]
    key_column = "bcrm_id"

    def __init__(self, ctx: Context, *, report: Callable[[Row], None]):
        self.ctx = ctx
        self.spec = ctx.spec
        self.actor = ctx.actor
        self.report = report
        self.meta = self.model._meta
        self.org_info: dict[int, dict[str, Any]] = {}
        self.orgs = OrganizationAccess(self.actor, self.org_info)
        self.batch = self.make_batch()
        self.inserter = self.batch.inserter
        self.cleans = type(self.batch).clean is not EntityBatch.clean  # the model has a clean() to run
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
        self.width = max((index + 1 for index, _column in ctx.columns), default=0)  # cells a row must have
        self.memos = [ParseMemo(column) for _index, column in ctx.columns]
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
        # Rows described for the report: every rejected row, and the first ``label_limit`` others (the ones the
        # report keeps; None: all of them).
        self.label_limit: int | None = None
        self.reported = 0
        self.staged = False                     # all batches staged before any is written (see stage())
        self.staged_keys: set[bytes] = set()    # digests of the natural keys of the records staged batches create
        # Work for the next batch without the database (reading and parsing it), set by the caller: done while the
        # database stores this batch (run_ahead).
        self.ahead: Callable[[], None] | None = None
        self.unreported: list[Row] = []  # rows of written batches not yet counted and reported (flush_reports)
        self.defer_reports = False

    def make_batch(self) -> EntityBatch:
        """The entity's batch form, sharing the importer's organisation cache."""
        return self.batch_class(self.actor, now=self.ctx.now)

    # -- the batch -------------------------------------------------------------------------------

    def process(self, rows: list[Row], *, parsed: bool = False) -> None:
        """One batch, read and written at once (inside the import's transaction). ``parsed``: step 1 is done."""
        self.stage(rows, parsed=parsed)
        self.commit(rows)

    def run_ahead(self) -> None:
        """The work ``ahead`` holds (reading and parsing the next batch), once, and the reports of the batch
        before: done while the database stores this batch (see ``_write``), or by the caller after the batch when
        it gave the database nothing to store."""
        if self.unreported and self.defer_reports:
            self.flush_reports()
        ahead, self.ahead = self.ahead, None
        if ahead is not None:
            ahead()

    def stage(self, rows: list[Row], *, parsed: bool = False) -> None:
        """Steps 1–4 of a batch: everything but the write. With ``staged`` set, the batches are all staged
        before any is written (the write transaction then only writes): the records this file creates are
        remembered by their natural key, and those it changes by their primary key, across batches."""
        self.rows += len(rows)
        if not parsed:
            self.parse(rows)
        live = [r for r in rows if not r.errors]
        self.resolve(live)
        live = [r for r in live if not r.errors]
        self.find_existing(live)
        live = [r for r in live if not r.errors]
        self.mark_duplicates(live)
        self.prepare_all([r for r in live if not r.errors])
        if self.staged:
            for row in live:
                if not row.errors and row.obj is not None:
                    self.touched.add(row.obj.pk)

    def commit(self, rows: list[Row]) -> None:
        """Step 5 of a staged batch: write it, count and report its rows."""
        live = [r for r in rows if not r.errors and r.outcome in (Outcome.CREATED, Outcome.UPDATED)]
        if self.staged:
            self.recheck(live)
            live = [r for r in live if not r.errors]
        self.write(live)
        for row in rows:
            if row.errors:
                row.outcome = Outcome.REJECTED
            elif row.pk is not None:
                self.touched.add(row.pk)
        self.unreported.extend(rows)
        if not self.defer_reports:
            self.flush_reports()

    def flush_reports(self) -> None:
        """Count, describe and report the rows of the batches written so far. With ``defer_reports`` a batch's
        rows are reported while the database stores the next batch (``run_ahead``); the caller flushes the last."""
        rows, self.unreported = self.unreported, []
        for row in rows:
            self.counts[row.outcome] += 1
            if row.outcome != Outcome.REJECTED:
                self.reported += 1
            if not row.label and (row.outcome == Outcome.REJECTED or self.label_limit is None
                                  or self.reported <= self.label_limit):
                row.label = self.describe(row)
            self.report(row)

    # -- 1. parse --------------------------------------------------------------------------------

    def parse(self, rows: list[Row]) -> None:
        """Column by column: each column's cells of the batch through its parser. A column whose cells repeat
        (kinds, organisations, owners, currencies) is parsed once per distinct cell (``ParseMemo``)."""
        columns = self.ctx.columns
        if not rows:
            return
        width = self.width
        raws = [raw if len(raw) >= width else raw + [None] * (width - len(raw)) for raw in (r.raw for r in rows)]
        parsed: list[list[Any]] = []
        for (index, column), memo in zip(columns, self.memos, strict=True):
            cells = [raw[index] for raw in raws]
            column_values = memo.parse_all(cells)
            for i in memo.failed:
                row, failure = rows[i], column_values[i]
                column_values[i] = None
                if failure is REQUIRED_BLANK:
                    row.reject(column.name, _(REQUIRED), {"template": REQUIRED, "params": {}})
                else:
                    row.reject(column.name, failure.message, failure.text)
            parsed.append(column_values)
        names = [column.name for _index, column in columns]
        for row, row_values in zip(rows, zip(*parsed, strict=True), strict=True):
            row.values = dict(zip(names, row_values, strict=True))
        if not self.money:
            return
        for row in rows:
            values = row.values
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

    # -- 2. references ---------------------------------------------------------------------------


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
            if self.staged and _key_digest(key) in self.staged_keys:
                row.reject(self.duplicate_column(row),
                           _("An earlier row of this file already imported this record; it appears twice."))
            elif key in seen_key:
                row.reject(self.duplicate_column(row), _("Row %(row)s of this file is the same record.")
                           % {"row": seen_key[key]})
            else:
                seen_key[key] = row.number
        if self.staged:
            self.staged_keys.update(_key_digest(key) for key in seen_key)

    def recheck(self, rows: list[Row]) -> None:
        """A staged update was computed from the record as it was read; one changed by someone else since (its
        version moved) is rejected rather than overwritten."""
        if "version" not in self.fields_by_name:
            return
        read = {r.obj.pk: r.obj.version for r in rows if r.obj is not None}
        if not read:
            return
        now = dict(self.model._default_manager.filter(pk__in=list(read)).values_list("pk", "version"))
        for row in rows:
            if row.obj is not None and now.get(row.obj.pk) != read[row.obj.pk]:
                row.reject("", _("This record was changed by someone else while the file was being read; "
                                 "import the file again."))

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

    def prepare_all(self, rows: list[Row]) -> None:
        """Step 4 for a batch: new rows have their field checks done a column at a time (``check_fields``), then
        their constraints and ``clean()`` row by row; updates go through ``prepare`` one by one."""
        creates: list[tuple[Row, dict[str, Any], dict[str, Any]]] = []
        required = self.required_attnames
        for row in rows:
            if row.obj is not None:
                self.prepare(row)
                continue
            data = self.assigned(row, True)
            full = self.inserter.defaults_for(self.ctx.now)
            full.update(data)
            self.on_create(row, full)
            if row.errors or not self.batch.apply_create(row, full):
                continue
            creates.append((row, full, {**{a: full.get(a) for a in required}, **data} if required else data))
        self.check_fields(creates)
        passed = [(row, full) for row, full, _data in creates if not row.errors]
        self.check_rules_many(passed)
        for row, full in passed:
            if not row.errors:
                row.data = full
                row.outcome = Outcome.CREATED

    def check_fields(self, items: list[tuple[Row, dict[str, Any], dict[str, Any]]]) -> None:
        """The field checks of ``check`` for many rows, a field at a time: each distinct value of a column is
        checked once (``distinct_values``), and only the rows holding a refused value are visited. A row's
        messages come in the order ``check`` gives them."""
        attnames = list(dict.fromkeys(a for _row, _full, data in items for a in data))
        checkers = self.checkers
        for attname in attnames:
            checker = checkers.get(attname)
            if checker is None:
                continue
            column = self.column_of.get(attname, self.name_of.get(attname, attname))
            holders = [(row, data[attname]) for row, _full, data in items if attname in data]
            distinct = distinct_values([value for _row, value in holders])
            if distinct is None:  # values that must be checked one by one
                for row, value in holders:
                    for message in checker(value):
                        row.reject(column, message)
                continue
            refused = {value: messages for value in distinct if (messages := checker(value))}
            if not refused:
                continue
            for row, value in holders:
                for message in refused.get(value, ()):
                    row.reject(column, message)

    def check_rules_many(self, items: list[tuple[Row, dict[str, Any]]]) -> None:
        """The model's check constraints, then its ``clean()`` on the rows they pass, for rows whose fields passed:
        a constraint that reads one field is evaluated once per distinct value of it, the others row by row. A
        row's messages come in the constraints' order."""
        for test, message, reads in constraint_tests(self.model):
            distinct = distinct_values([full.get(reads[0]) for _row, full in items]) if len(reads) == 1 else None
            if distinct is None:
                for row, full in items:
                    if test(full) is False:
                        row.reject("", message)
                continue
            attname = reads[0]
            refused = {value for value in distinct if test({attname: value}) is False}
            for row, full in items:
                if refused and full.get(attname) in refused:
                    row.reject("", message)
        if self.cleans:
            for row, full in items:
                if not row.errors:
                    self.clean(row, full)

    def prepare(self, row: Row) -> None:
        """Step 4 for one row: what it would create (see ``prepare_all``) or change."""
        if row.obj is None:
            self.prepare_all([row])
            return
        data = self.assigned(row, False)
        obj = row.obj
        row.pk = obj.pk
        changed = {k: v for k, v in data.items() if current_value(obj, k) != v}
        m2m_changed = self.m2m_changes(row)
        if row.errors:
            return
        if not changed and not m2m_changed:
            row.outcome = Outcome.UNCHANGED
            return
        row.changes = dict(m2m_changed)  # what the rules see of the many-to-many changes
        self.on_update(row, changed)
        if row.errors or not self.batch.apply_update(row, changed):
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
        """One row's field checks (of ``data``'s fields), then, when they pass, its constraints and ``clean()``."""
        self.check_fields([(row, full, data)])
        if not row.errors:
            self.check_rules_many([(row, full)])

    def clean(self, row: Row, full: dict[str, Any]) -> None:
        """Model.clean() for models that define one, by the entity's batch form."""
        try:
            self.batch.clean(full)
        except ValidationError as exc:
            reject_validation(row, exc)

    def m2m_changes(self, row: Row) -> dict[str, list[Any]]:
        """What the batch form says changes (``row.m2m``: what the file wants)."""
        return self.batch.m2m_changes(row)

    def on_create(self, row: Row, full: dict[str, Any]) -> None:
        pass

    def on_update(self, row: Row, changed: dict[str, Any]) -> None:
        pass

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
        made: list[Any] = []
        entry_id = self.batch.audit_with_id.take_id() if creates and self.batch.batch_audit else None

        def meanwhile() -> None:  # while the database stores the rows and checks their keys: no queries here
            if entry_id is not None:
                made.append(self.batch.batch_audit_entry(creates, entry_id=entry_id,  # type: ignore[arg-type]
                                                         **self.batch_audit_terms(creates)))
            self.run_ahead()

        self.batch.write(creates, updates, meanwhile=meanwhile)  # type: ignore[arg-type]
        self.write_audit(creates, updates, entry=made[0] if made else None)

    def batch_audit_terms(self, creates: list[Row]) -> dict[str, Any]:
        """The batch entry's action, description (the file and its rows) and the import's job, name and digest."""
        job = self.ctx.job
        first, last = creates[0].number, creates[-1].number
        return {"action": "import.create",
                "object_repr": f"{job.file_name} #{first}–{last}" if last != first else f"{job.file_name} #{first}",
                "extra": {"import_job": job.pk, "file_name": job.file_name, "file_sha256": job.file_sha256}}

    def write_audit(self, creates: list[Row], updates: list[Row], *, entry: Any = None) -> None:
        """The created rows in ONE entry for the batch where the entity allows it (``EntityBatch.batch_audit``:
        action ``import.create``, the new ids as ranges, each record's values as an array, the import's job, file
        name, digest and row numbers; see ``EntityBatch.write_batch_audit``), else one entry per created object;
        one entry per updated object with its fields' [before, after] (action ``import.update``). Written in bulk
        by the batch form (``entry``: the batch's entry, made already)."""
        job = self.ctx.job
        if creates and self.batch.batch_audit:
            self.batch.write_batch_audit(creates, entry=entry,  # type: ignore[arg-type]
                                         **self.batch_audit_terms(creates))
            creates = []
        for row in creates:
            row.label = row.label or self.describe(row)
        for row in updates:
            row.label = row.label or self.describe(row)
        self.batch.write_audit(creates, updates, action_prefix="import.",  # type: ignore[arg-type]
                               extra={"import_job": [None, job.pk]})

    def describe(self, row: Row) -> str:
        if row.obj is not None:
            return str(row.obj)
        return ""


REQUIRED_BLANK = object()  # a required column's blank cell, among a column's parsed values
MEMO_TYPES = frozenset({str, int, bool, Decimal, dt.date, dt.datetime, tuple, type(None)})  # values safe to share


class ParseMemo:
    """One column's parser over a batch's cells, remembering what each distinct text cell gave — its value, or the
    ParseError it raised — as long as the column repeats itself: once ``MEMO_CELLS`` distinct cells have been
    seen (a column of summaries or times), the column is parsed cell by cell without looking anything up. Parsers
    are pure functions of the cell (bcrm.dataio.parsers), and only immutable values are shared between rows."""

    MEMO_CELLS = 4096

    def __init__(self, column: Column):
        self.parse = column.parse
        self.required = column.required
        self.memo: dict[str, Any] | None = {}
        self.failed: list[int] = []  # positions, in the last batch, of the blank required cells and the refused ones

    def parse_all(self, cells: list[Any]) -> list[Any]:
        """The parsed values of ``cells`` (None: blank); at each position in ``failed``, REQUIRED_BLANK or the
        ParseError."""
        parse, required, memo = self.parse, self.required, self.memo
        failed: list[int] = []
        out: list[Any] = []
        append = out.append
        for i, cell in enumerate(cells):
            kind = cell.__class__
            if kind is str:
                if memo is not None:
                    found = memo.get(cell, memo)
                    if found is not memo:
                        if found is REQUIRED_BLANK or found.__class__ is ParseError:
                            failed.append(i)
                        append(found)
                        continue
                if not cell or cell.isspace():
                    value: Any = REQUIRED_BLANK if required else None
                else:
                    try:
                        value = parse(unneutralise(cell))  # type: ignore[misc]
                    except ParseError as exc:
                        value = exc.with_traceback(None)  # kept in the memo: not the batch's frames with it
                if memo is not None:
                    if value.__class__ in MEMO_TYPES or value is REQUIRED_BLANK or value.__class__ is ParseError:
                        memo[cell] = value
                    if len(memo) >= self.MEMO_CELLS:
                        self.memo = memo = None
            elif cell is None:
                value = REQUIRED_BLANK if required else None
            else:
                try:
                    value = parse(cell)  # type: ignore[misc]
                except ParseError as exc:
                    value = exc
            if value is REQUIRED_BLANK or value.__class__ is ParseError:
                failed.append(i)
            append(value)
        self.failed = failed
        return out


def _key_digest(key: Any) -> bytes:
    """16 bytes standing for a natural key (which may hold a 5,000-character summary): memory stays bounded."""
    return hashlib.blake2b(repr(key).encode(), digest_size=16).digest()


def _quantize(value: Decimal, places: int | None) -> Decimal:
    """1000.5 → 1000.50 for a 2-place field; more places than the field has are left for its check to refuse."""
    exponent = value.as_tuple().exponent
    if places is None or not isinstance(exponent, int) or -exponent > places:
        return value
    try:
        return value.quantize(Decimal(1).scaleb(-places))
    except ArithmeticError:
        return value


