"""The batch form of a write path: many rows checked with an entity's own rules and written in bulk SQL.

Each entity's service module (bcrm.parties.services, bcrm.financing.services, bcrm.engagement.services)
subclasses :class:`EntityBatch` with the rules its single create/update applies — permissions, the
fields only some roles may set, defaults taken from the actor, derived columns, side rows (tags,
ladder steps, search text) — so the single service, the batch service and the importer share one
function per rule. This module holds only what every entity shares: rows, primary keys reserved
before the write, ``bulk_update`` of changed rows, and one audit entry per created or updated object,
inserted in bulk.

Rows are :class:`BatchRow` objects: ``data`` the attname → value of a new row (complete) or the changed
attnames of an existing one (``obj``); a rule that refuses a row raises a :class:`ServiceError`, and
:func:`reject_error` records it on the row with its field, message and code.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.audit import chain
from bcrm.audit.models import AuditDigest, AuditEntry
from bcrm.audit.services import id_ranges
from bcrm.audit.trail import seal_after_commit
from bcrm.core.bulk import RowInserter
from bcrm.core.errors import InvalidInput, ServiceError
from bcrm.core.services import plain_value

CREATED, UPDATED = "created", "updated"


def actor_label(actor) -> str:
    return actor.get_username() if getattr(actor, "is_authenticated", False) else "system"


class BatchRow:
    """One row of a batch (a slots class: an import makes a million of them)."""

    __slots__ = ("number", "errors", "data", "obj", "outcome", "changes", "pk", "label", "m2m", "extra", "texts",
                 "codes")

    def __init__(self, number: int = 0, data: dict[str, Any] | None = None, obj: Any = None):
        self.number = number
        self.errors: list[tuple[str, str]] = []
        self.data: dict[str, Any] = data if data is not None else {}  # attname → value written
        self.obj: Any = obj                 # the existing record, if any
        self.outcome = ""
        self.changes: dict[str, list[Any]] = {}
        self.pk: int | None = None
        self.label = ""
        self.m2m: dict[str, list[Any]] = {}
        self.extra: dict[str, Any] = {}
        self.texts: dict[int, dict[str, Any]] | None = None  # error index → its code and parameters
        self.codes: dict[int, str] | None = None  # error index → the service error's code

    def reject(self, column: str, message: Any, text: dict[str, Any] | None = None, code: str | None = None) -> None:
        """``text``: the message as a code and parameters (bcrm.core.texts), to show in each reader's language;
        ``code``: the error family's code (``permission_denied``, ``invalid``…), as the API answers it."""
        if text is not None:
            if self.texts is None:
                self.texts = {}
            self.texts[len(self.errors)] = text
        if code is not None:
            if self.codes is None:
                self.codes = {}
            self.codes[len(self.errors)] = code
        self.errors.append((column, str(message)))


def reject_error(row: BatchRow, exc: ServiceError, column: str = "", column_for: Any = None) -> None:
    """Record a refused rule on ``row``: one error per field message (``column_for`` maps a field name to the
    caller's column), or the message on ``column`` when the error names no field."""
    if exc.fields:
        for name, messages in exc.fields.items():
            where = "" if name == "__all__" else (column_for(name) if column_for else name)
            for message in messages:
                row.reject(where, message, code=exc.code)
    else:
        row.reject(column, exc.message, code=exc.code)


def reject_validation(row: BatchRow, exc: DjangoValidationError, column_for: Any = None) -> None:
    reject_error(row, InvalidInput.from_django(exc), column_for=column_for)


class EntityBatch:
    """One entity's rules for a row, and the bulk write of many rows. Subclasses set ``model`` and fill in
    the hooks; the single services call the same rule methods (or the functions they wrap)."""

    model: type[models.Model]
    audit_skip = frozenset({"search_text", "version", "created_at", "updated_at"})
    #: an import may audit the rows it creates one entry per batch (:meth:`write_batch_audit`). Off where an
    #: entry must stay about one object: contacts (a person's entries are found, exported and erased by their
    #: id), projects and participations (the entries on a walled project are hidden by object id).
    batch_audit = True

    def __init__(self, actor, *, now: dt.datetime | None = None):
        self.actor = actor
        self.now = now or timezone.now()
        self.meta = self.model._meta
        self.inserter = RowInserter(self.model)
        self.audit = RowInserter(AuditEntry, with_pk=False)
        self.audit_with_id = RowInserter(AuditEntry)  # an import's batch entries: their id reserved first
        self.audit_digests = RowInserter(AuditDigest)
        self.content_type_id = ContentType.objects.get_for_model(self.model).pk
        self.fields_by_name = {f.name: f for f in self.meta.concrete_fields}
        self.name_of = {f.attname: f.name for f in self.meta.concrete_fields}
        skip = self.audit_skip | {self.inserter.pk}
        self.audit_fields = [(f.name, f.attname) for f in self.meta.concrete_fields if f.name not in skip]

    # -- the rules of one row (subclasses): refuse by raising a ServiceError ----------------------

    def check_create(self, row: BatchRow, full: dict[str, Any]) -> None:
        """A new row: ``full`` is every column (defaults merged); set derived or defaulted values in it."""

    def check_update(self, row: BatchRow, changed: dict[str, Any]) -> None:
        """An existing row ``row.obj``: ``changed`` the columns that change (may be amended)."""

    def clean(self, full: dict[str, Any]) -> None:
        """``Model.clean()`` for models that define one (raises Django's ValidationError)."""

    def m2m_changes(self, row: BatchRow) -> dict[str, list[Any]]:
        """The many-to-many changes of an update (``row.m2m`` holds what is wanted): name → [before, after]."""
        return {}

    def apply_create(self, row: BatchRow, full: dict[str, Any]) -> bool:
        """``check_create`` with a refusal recorded on the row; False when refused."""
        try:
            self.check_create(row, full)
        except ServiceError as exc:
            reject_error(row, exc)
            return False
        return not row.errors

    def apply_update(self, row: BatchRow, changed: dict[str, Any]) -> bool:
        try:
            self.check_update(row, changed)
        except ServiceError as exc:
            reject_error(row, exc)
            return False
        return not row.errors

    # -- the bulk write ------------------------------------------------------------------------------

    def write(self, creates: list[BatchRow], updates: list[BatchRow], *,
              meanwhile: Callable[[], Any] | None = None) -> None:
        """Insert ``creates`` (``data`` complete) and apply ``updates`` (``data`` the changed columns) in bulk,
        then the side rows (``after_write``). Audit entries are written by :meth:`write_audit`. ``meanwhile``:
        work without the database, done while it stores the new rows (their ``pk`` set by then; see
        :meth:`bcrm.core.bulk.RowInserter.insert_prepared`)."""
        pk_name = self.inserter.pk
        for row, pk in zip(creates, self.inserter.reserve(len(creates)), strict=True):
            row.data[pk_name] = pk
            row.pk = pk
        self.before_insert(creates)
        self.inserter.insert([r.data for r in creates], meanwhile=meanwhile)
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
                    obj.updated_at = self.now
            extra = [f for f in ("version", "updated_at") if f in self.fields_by_name]
            self.model._default_manager.bulk_update([r.obj for r in updates], sorted(fields) + extra)
        self.after_write(creates, updates)

    def before_insert(self, creates: list[BatchRow]) -> None:
        """Derived columns of new rows."""

    def after_write(self, creates: list[BatchRow], updates: list[BatchRow]) -> None:
        """Derived columns of updated rows and side rows of both."""

    def describe(self, row: BatchRow) -> str:
        return str(row.obj) if row.obj is not None else ""

    def write_audit(self, creates: list[BatchRow], updates: list[BatchRow], *, action_prefix: str = "",
                    extra: dict[str, Any] | None = None) -> None:
        """One entry per created or updated object, as ``audit_record`` writes them (action ``create`` /
        ``update``, or ``import.create`` / ``import.update`` with ``action_prefix="import."``; the fields'
        [before, after] plus ``extra``), inserted in bulk."""
        actor = self.actor
        audit = self.audit
        template: list[Any] = [None] * len(audit.attnames)
        slot = {name: i for i, name in enumerate(audit.attnames)}
        template[slot["at"]] = audit.to_db("at", self.now)
        template[slot["actor_id"]] = getattr(actor, "pk", None)
        template[slot["actor_label"]] = actor_label(actor)
        template[slot["content_type_id"]] = self.content_type_id
        action, object_id, object_repr, changes_at = (slot["action"], slot["object_id"], slot["object_repr"],
                                                      slot["changes"])
        create_action, update_action = f"{action_prefix}create", f"{action_prefix}update"
        fields = self.audit_fields
        simple = (str, int, bool)
        dumps = AUDIT_JSON
        # A new row's changes are written as JSON text directly — each field's '"name": [null, ' made once, each
        # value by its type — the same text json.dumps gives for the mapping (``created_changes_text``).
        prefixes = audit_prefixes(fields)
        names = {name for name, _attname in fields}
        extra_text = dumps(extra)[1:-1] if extra else ""
        plain_extra = not (extra and names.intersection(extra))
        taken = names.union(extra or ())  # a side change named like one of these goes the mapping's way
        entries = []
        for row in creates:
            data = row.data
            if plain_extra and not (row.changes and taken.intersection(row.changes)):
                tail = extra_text
                if row.changes:
                    tail = dumps(row.changes)[1:-1] + (", " + tail if tail else "")
                text = created_changes_text(data, prefixes, tail)
            else:  # a side value replaces a field's: the mapping decides which one stays
                changes = {name: [None, value if type(value) in simple else plain_value(value)]
                           for name, attname in fields if (value := data.get(attname)) is not None and value != ""}
                if row.changes:
                    changes.update(row.changes)
                if extra:
                    changes.update(extra)
                text = dumps(changes)
            row.label = row.label or self.describe(row)
            entry = list(template)
            entry[action], entry[object_id], entry[object_repr] = create_action, str(row.pk), row.label[:255]
            entry[changes_at] = text
            entries.append(entry)
        for row in updates:
            changes = dict(row.changes)
            if extra:
                changes.update(extra)
            row.label = row.label or self.describe(row)
            entry = list(template)
            entry[action], entry[object_id], entry[object_repr] = update_action, str(row.pk), row.label[:255]
            entry[changes_at] = dumps(changes)
            entries.append(entry)
        audit.insert_prepared(entries)
        seal_after_commit()  # chained once the import's transaction commits

    def write_batch_audit(self, creates: list[BatchRow], *, action: str, object_repr: str,
                          extra: dict[str, Any] | None = None, entry: BatchEntry | None = None) -> None:
        """ONE entry for all of ``creates`` (an import's batch), as :meth:`batch_audit_entry` makes it (``entry``:
        made already), with its content digest when it could be made as the entry was written (AuditDigest:
        the sealer then does not read the entry back)."""
        if not creates:
            return
        if entry is None:
            entry = self.batch_audit_entry(creates, action=action, object_repr=object_repr, extra=extra,
                                           entry_id=self.audit_with_id.take_id())
        self.audit_with_id.insert_prepared([entry.row])
        if entry.digest is not None:
            self.audit_digests.insert_prepared([[entry.entry_id, entry.digest]])
        seal_after_commit()

    def batch_audit_entry(self, creates: list[BatchRow], *, action: str, object_repr: str, entry_id: int,
                          extra: dict[str, Any] | None = None) -> BatchEntry:
        """ONE entry for all of ``creates`` (an import's batch), as the audit table's row with the id ``entry_id``
        (reserved: ``self.audit_with_id.take_id()``): no ``object_id``, the
        new ids as closed ``ranges`` (with ``first_id`` / ``last_id``: what the object filters match, see
        :func:`bcrm.audit.selectors.ranged_entry_ids`), and the created values compactly — ``columns`` names each
        position once (``id``, the file's ``row``, the audited fields, then any side values such as an
        interaction's contacts) and ``rows`` holds one array per record — plus ``extra`` (the import's job, file
        name and digest). :func:`bcrm.audit.services.batch_record` reads one record back in the form a one-record
        entry has. Needs no database (it may be made while the batch is stored); its content digest is made too
        when every value is plain JSON (text, whole numbers, booleans, nulls; see ``chain.written_digest``)."""
        fields = self.audit_fields
        names = [name for name, _attname in fields]
        side = sorted({key for row in creates for key in row.changes} - set(names) - {"id", "row"})
        # Column by column: each audited field's values for the batch, converted where they are not plain.
        columns: list[list[Any]] = [[row.pk for row in creates], [row.number for row in creates]]
        datas = [row.data for row in creates]
        for attname, convert in self.audit_converters:
            values = [data.get(attname) for data in datas]
            # A column whose values are all plain already (the usual case for text and numbers) stays as it is.
            if convert is not None and not (convert is _plain_simple and set(map(type, values)) <= _PLAIN_TYPES):
                values = [value if value is None else convert(value) for value in values]
            columns.append(values)
        for key in side:
            # As the one-record entry held it: JSON as is (a list of contact ids stays a list).
            columns.append([_side_value(row.changes[key][1]) if key in row.changes else None for row in creates])
        rows = [list(values) for values in zip(*columns, strict=True)]
        ranges = id_ranges(row.pk for row in creates)  # type: ignore[misc]
        changes = {**(extra or {}), "created": len(creates), "first_id": ranges[0][0], "last_id": ranges[-1][1],
                   "ranges": ranges, "columns": ["id", "row", *names, *side], "rows": rows}
        audit = self.audit_with_id
        entry: list[Any] = [None] * len(audit.attnames)
        slot = {name: i for i, name in enumerate(audit.attnames)}
        written = {"id": entry_id, "at": self.now, "actor_id": getattr(self.actor, "pk", None),
                   "actor_label": actor_label(self.actor), "action": action, "content_type_id": self.content_type_id,
                   "object_id": "", "object_repr": object_repr[:255], "changes": changes}
        for name, value in written.items():
            entry[slot[name]] = value
        entry[slot["at"]] = audit.to_db("at", self.now)
        entry[slot["changes"]] = AUDIT_JSON(changes)
        plain = all(_plain_json(column) for column in columns) and _plain_json(list((extra or {}).values()))
        return BatchEntry(entry_id, entry, chain.written_digest(written) if plain else None)

    @cached_property
    def audit_converters(self) -> list[tuple[str, Any]]:
        """Per audited field: its attname and how a value becomes JSON-plain (None: it already is), as
        :func:`bcrm.core.services.plain_value` makes it."""
        out: list[tuple[str, Any]] = []
        for _name, attname in self.audit_fields:
            f = self.meta.get_field(_name)
            if isinstance(f, models.DateTimeField | models.DateField):
                out.append((attname, _isoformat))
            elif isinstance(f, models.DecimalField):
                out.append((attname, str))
            else:
                out.append((attname, _plain_simple))
        return out

    # -- the batch service: all or nothing -----------------------------------------------------------

    def create_many(self, rows: list[dict[str, Any]], m2m: list[dict[str, list[Any]]] | None = None) -> list[int]:
        """Create one record per ``rows`` item (attname → value, as ``Model(**row)`` takes it) with the entity's
        rules and the model's ``full_clean()``, in bulk. All or nothing: when any row is refused, nothing is
        written and :class:`BatchRefused` lists every bad row (row number from 1, field, message, code).
        ``m2m``: per row, the many-to-many values the entity's batch writes (``row.m2m``)."""
        batch: list[BatchRow] = []
        for number, values in enumerate(rows, start=1):
            row = BatchRow(number)
            if m2m:
                row.m2m = dict(m2m[number - 1])
            full = self.inserter.defaults_for(self.now)
            full.update(values)
            if self.apply_create(row, full):
                instance = self.model(**{k: v for k, v in full.items() if k in self.name_of})
                try:
                    instance.full_clean(exclude=[self.meta.pk.name])
                except DjangoValidationError as exc:
                    reject_validation(row, exc)
                else:
                    full.update({a: _db_value(getattr(instance, a)) for a in self.name_of if a in full})
            row.data = full
            row.outcome = CREATED
            batch.append(row)
        bad = [r for r in batch if r.errors]
        if bad:
            raise BatchRefused(bad)
        with transaction.atomic():
            self.write(batch, [])
            self.write_audit(batch, [])
        return [r.pk for r in batch]  # type: ignore[misc]


# One encoder: json.dumps with options builds a new one per call (a fifth of its time).
AUDIT_JSON = json.JSONEncoder(ensure_ascii=False, default=str).encode
_TEXT = json.encoder.encode_basestring  # a JSON string, non-ASCII kept (ensure_ascii=False), in C


def _json_value(value: Any) -> str:
    """``AUDIT_JSON(plain_value(value))`` for one field value, without the encoder's machinery for the usual types."""
    kind = value.__class__
    if kind is str:
        return _TEXT(value)
    if kind is int:
        return int.__repr__(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is dt.datetime or kind is dt.date or kind is Decimal:
        return '"' + (str(value) if kind is Decimal else value.isoformat()) + '"'
    return AUDIT_JSON(plain_value(value))


def _side_value(value: Any) -> Any:
    return value if isinstance(value, list | dict) else plain_value(value)


def _isoformat(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else plain_value(value)


_PLAIN_TYPES = frozenset({str, int, bool, type(None)})


def _plain_json(values: list[Any]) -> bool:
    """Every value text, a whole number, a boolean, a null, or a list of those: JSON that reads back the same."""
    kinds = set(map(type, values))
    if kinds <= _PLAIN_TYPES:
        return True
    if not kinds <= _PLAIN_TYPES | {list}:
        return False
    return all(set(map(type, value)) <= _PLAIN_TYPES for value in values if type(value) is list)


@dataclass
class BatchEntry:
    """An import batch's audit entry, made: its reserved id, its row for the audit table, and its content digest
    (None when it must be read back to be sealed)."""

    entry_id: int
    row: list[Any]
    digest: str | None


def _plain_simple(value: Any) -> Any:
    """A value that is plain already when it is a str, int or bool (the usual case), else ``plain_value``'s."""
    kind = value.__class__
    return value if kind is str or kind is int or kind is bool else plain_value(value)


def audit_prefixes(fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Per audited field (name, attname): the start of its entry in a created row's changes, and its attname."""
    return [(_TEXT(name) + ": [null, ", attname) for name, attname in fields]


def created_changes_text(data: dict[str, Any], prefixes: list[tuple[str, str]], tail: str = "") -> str:
    """The changes of a created row as JSON text — ``{name: [None, plain_value(value)]}`` for each set field, then
    ``tail`` (more members, already JSON) — the same text ``AUDIT_JSON`` gives for that mapping."""
    parts = [prefix + _json_value(value) + "]" for prefix, attname in prefixes
             if (value := data.get(attname)) is not None and value != ""]
    if tail:
        parts.append(tail)
    return "{" + ", ".join(parts) + "}"


def _db_value(value: Any) -> Any:
    """A cleaned instance's value as the bulk insert takes it (a django-countries Country is its code)."""
    code = getattr(value, "code", None)
    return value if code is None or isinstance(value, str | int) else code


class BatchRefused(InvalidInput):
    """A batch service refused: nothing was written. ``rows`` lists each bad row's number, field, message and code."""

    def __init__(self, rows: list[BatchRow]):
        self.rows: list[dict[str, Any]] = [{"row": r.number, "field": field, "message": message,
                      "code": (r.codes or {}).get(i, InvalidInput.code)}
                     for r in rows for i, (field, message) in enumerate(r.errors)]
        fields: dict[str, list[str]] = {}
        for e in self.rows:
            fields.setdefault(f"{e['row']}.{e['field'] or '__all__'}", []).append(str(e["message"]))
        super().__init__(_("%(n)s rows were refused, so nothing was saved.") % {"n": len(rows)}, fields=fields)
