"""Bulk writing and reading for the batch writers (bcrm.core.batch) and the importer: rows straight into a table, safe beside other writers.

``bulk_create`` spends most of its time compiling SQL value by value (see bcrm.demo.loader). The
importer validates every row itself first (bcrm.dataio.checks), then writes plain tuples: ``COPY`` on
PostgreSQL, ``executemany`` on SQLite. Unlike the demo loader — which owns an empty database — an
import runs beside other users, so primary keys are *reserved* properly before rows are written:
on PostgreSQL from the table's identity sequence (``nextval`` for n ids at once, the same numbers
any other session would skip), on SQLite past both the highest id and ``sqlite_sequence`` (ids of
deleted rows are never reused) while the import's transaction holds SQLite's single write lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import operator
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from django.db import connection, models
from django.db.models import Max


class RowInserter:
    """Insert dicts (attname → value) into ``model``'s table; missing columns take the field default."""

    def __init__(self, model: type[models.Model], *, with_pk: bool = True):
        self.model = model
        self.vendor = connection.vendor
        self.with_pk = with_pk
        pk = model._meta.pk
        fields = [f for f in model._meta.concrete_fields if with_pk or f is not pk]
        self.fields = fields
        self.attnames = [f.attname for f in fields]
        self.pk = pk.attname
        self.sequence: int | None = None  # PostgreSQL: the oid of the primary key's sequence, once looked up
        self.pool: list[int] = []  # PostgreSQL: ids reserved and not yet taken (take_id), last first
        self.auto_now = [f.attname for f in fields
                         if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
        self.defaults: dict[str, Any] = {}
        self.callable_defaults: dict[str, Callable[[], Any]] = {}
        for f in fields:
            if f.attname == self.pk or f.attname in self.auto_now:
                continue
            if f.has_default():
                if callable(f.default):
                    self.callable_defaults[f.attname] = f.default
                else:
                    self.defaults[f.attname] = f.get_default()
            elif f.null:
                self.defaults[f.attname] = None
            elif f.empty_strings_allowed:
                self.defaults[f.attname] = ""
        self.converters: list[tuple[int, Callable[[Any], Any]]] = []
        for i, f in enumerate(fields):
            if isinstance(f, models.JSONField):
                self.converters.append((i, _json))
            elif self.vendor == "postgresql":
                # Times as ISO text with their offset (what the server reads them as anyway): the driver's own
                # conversion of an aware datetime cost 1.2 µs each, three quarters of writing an interaction.
                if isinstance(f, models.DateTimeField):
                    self.converters.append((i, pg_datetime_converter()))
                elif isinstance(f, models.DateField):
                    self.converters.append((i, _iso_date))
            else:
                if isinstance(f, models.DateTimeField):
                    self.converters.append((i, datetime_converter()))
                elif isinstance(f, models.DateField):
                    self.converters.append((i, _iso_date))
        self.getter = operator.itemgetter(*self.attnames)
        quote = connection.ops.quote_name
        self.table_name = model._meta.db_table
        self.table = quote(self.table_name)
        self.columns = ", ".join(quote(f.column) for f in fields)
        self.insert_sql = f"INSERT INTO {self.table} ({self.columns}) VALUES ({', '.join(['%s'] * len(fields))})"

    def defaults_for(self, now: dt.datetime) -> dict[str, Any]:
        """A full row of defaults, as a new model instance would have them."""
        row = dict(self.defaults)
        for name, default in self.callable_defaults.items():
            row[name] = default()
        for name in self.auto_now:
            row[name] = now
        return row

    def reserve(self, n: int) -> list[int]:
        """``n`` fresh primary keys nobody else will be given."""
        if n <= 0:
            return []
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                if self.sequence is None:
                    cursor.execute("SELECT pg_get_serial_sequence(%s, %s)::regclass::oid",
                                   [self.table, self.model._meta.pk.column])
                    self.sequence = int(cursor.fetchone()[0])
                # The sequence by its number, a constant: named by pg_get_serial_sequence() in the query, it was
                # looked up again for every id (5 ms for 2,000 ids instead of 1).
                cursor.execute(f"SELECT nextval({self.sequence}::regclass) FROM generate_series(1, %s)", [n])
                return [row[0] for row in cursor.fetchall()]
            top = self.model._default_manager.aggregate(top=Max("pk"))["top"] or 0
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [self.table_name])
            found = cursor.fetchone()
            start = max(top, found[0] if found else 0) + 1
        return list(range(start, start + n))

    ID_POOL = 32  # PostgreSQL: ids reserved at a time by ``take_id``

    def take_id(self) -> int:
        """One fresh primary key. On PostgreSQL from a pool reserved ``ID_POOL`` at a time (a query per 32, not
        per id; an id not used is skipped, as a rolled-back insert's is); on SQLite the next one past the table's
        (the import's transaction holds the write lock)."""
        if self.vendor != "postgresql":
            return self.reserve(1)[0]
        if not self.pool:
            self.pool = self.reserve(self.ID_POOL)[::-1]
        return self.pool.pop()

    def to_db(self, attname: str, value: Any) -> Any:
        """One value as ``insert`` would send it."""
        index = self.attnames.index(attname)
        for i, convert in self.converters:
            if i == index:
                return convert(value)
        return value

    def insert(self, rows: list[dict[str, Any]], *, meanwhile: Callable[[], Any] | None = None) -> None:
        """Write complete rows (``defaults_for`` merged with the values, pk included when ``with_pk``).
        ``meanwhile``: see ``insert_prepared``."""
        getter = self.getter
        tuples = [list(getter(row)) for row in rows]
        converters = self.converters
        for values in tuples:
            for index, convert in converters:
                values[index] = convert(values[index])
        self.insert_prepared(tuples, meanwhile=meanwhile)

    def insert_prepared(self, tuples: list[list[Any]], *, meanwhile: Callable[[], Any] | None = None) -> None:
        """Write rows already in column order and already in the database's form (see ``to_db``).

        ``meanwhile``: work that does not touch the database, done while the database stores the rows. On
        PostgreSQL most of a ``COPY``'s time comes after its last row — the key and foreign-key checks run as the
        statement ends (the import makes them immediate) — and the client only waits for it: there the ``COPY``
        is sent from a helper thread, and ``meanwhile`` runs once all the rows are sent, while the server works.
        The thread holds the driver's connection lock, so a query made by mistake would wait its turn, not
        interleave. An error of either is raised here, after both have ended (the database's as Django's)."""
        if not tuples:
            if meanwhile is not None:
                meanwhile()
            return
        with connection.cursor() as cursor:
            if self.vendor != "postgresql":
                cursor.executemany(self.insert_sql, tuples)
                if meanwhile is not None:
                    meanwhile()
                return
            sql = f"COPY {self.table} ({self.columns}) FROM STDIN"
            # The driver's own cursor: wrap its errors into Django's (IntegrityError…) like any query.
            with connection.wrap_database_errors:
                if meanwhile is None:
                    _copy_rows(cursor.cursor, sql, tuples)
                else:
                    _copy_rows_meanwhile(cursor.cursor, sql, tuples, meanwhile)


def _copy_rows(raw: Any, sql: str, tuples: list[list[Any]], sent: threading.Event | None = None) -> None:
    with raw.copy(sql) as copy:
        write = copy.write_row
        for values in tuples:
            write(values)
        if sent is not None:
            sent.set()  # all rows handed to the driver: the end and the server's checks follow


def _copy_rows_meanwhile(raw: Any, sql: str, tuples: list[list[Any]], meanwhile: Callable[[], Any]) -> None:
    failure: list[BaseException] = []
    sent = threading.Event()

    def work() -> None:
        try:
            _copy_rows(raw, sql, tuples, sent)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            failure.append(exc)
        finally:
            sent.set()

    worker = threading.Thread(target=work, name="bcrm-copy", daemon=True)
    worker.start()
    sent.wait()  # the rows first, at full speed (the two would otherwise share the interpreter's lock)
    try:
        meanwhile()
    finally:
        worker.join()
    if failure:
        raise failure[0]


def _remembering(convert: Callable[[dt.datetime], Any]) -> Callable[[Any], Any]:
    """``convert`` for aware datetimes (None and naive ones pass as they are), the last result remembered: the
    rows of a batch share their ``now``."""
    last: list[Any] = [None, None]

    def remembered(value: Any) -> Any:
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            return value
        if value is last[0]:
            return last[1]
        result = convert(value)
        last[0], last[1] = value, result
        return result

    return remembered


def datetime_converter() -> Callable[[dt.datetime | None], str | None]:
    """What Django's SQLite backend stores for an aware datetime (``adapt_datetimefield_value``): naive
    text in the connection's zone."""
    zone = connection.timezone
    as_text = _remembering(lambda value: str(value.astimezone(zone).replace(tzinfo=None)))

    def convert(value: dt.datetime | None) -> str | None:
        return None if value is None else str(as_text(value))

    return convert


def pg_datetime_converter() -> Callable[[Any], Any]:
    """An aware datetime as PostgreSQL's ``COPY`` reads it: ISO text with its UTC offset (``2026-03-05 14:30:00+08:00``),
    the same instant whatever the session's zone. A naive one (none is made with USE_TZ) is left to the driver."""
    return _remembering(lambda value: value.isoformat(sep=" "))


def _same(value: Any) -> Any:
    return value


# One encoder: json.dumps with options makes a new one per call (most of its time for a small value).
_JSON = json.JSONEncoder(ensure_ascii=False, default=str).encode


def _json(value: Any) -> Any:
    if value is None:
        return None
    if not value and value.__class__ in _EMPTY_JSON:  # the usual {} of a message's parameters
        return _EMPTY_JSON[value.__class__]
    return _JSON(value)


_EMPTY_JSON = {dict: "{}", list: "[]"}


def _iso_date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


@contextlib.contextmanager
def long_lived_frozen() -> Iterator[None]:
    """Bulk work that makes millions of short-lived objects: the objects alive when it starts (the modules, the
    app's caches) are set aside from the cyclic garbage collector until it ends. Otherwise every full collection
    walks them all again — measured at 12 % of an import's time at 100,000 rows (issue 19). Rows still die by
    reference counting as before; garbage in cycles made meanwhile is collected as usual."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class PkSet:
    """Primary keys seen so far in one import, as a bitmap: a million ids cost 125 kB, not 60 MB."""

    def __init__(self) -> None:
        self.bits = bytearray()

    def add(self, pk: int) -> None:
        index, bit = divmod(pk, 8)
        if index >= len(self.bits):
            self.bits.extend(bytes(index - len(self.bits) + 1 + len(self.bits) // 2))
        self.bits[index] |= 1 << bit

    def __contains__(self, pk: object) -> bool:
        if not isinstance(pk, int):
            return False
        index, bit = divmod(pk, 8)
        return index < len(self.bits) and bool(self.bits[index] & (1 << bit))


def fetch_by_tuples(model: type[models.Model], key_fields: list[str], keys: Iterable[tuple], columns: list[str]) -> list[tuple]:
    """Rows of ``model`` whose ``key_fields`` equal one of ``keys``: one query, joined against a VALUES
    list so each key is an index probe (``a IN (…) AND b IN (…)`` would probe every combination).
    Returns tuples of ``columns`` (attnames)."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return []
    meta = model._meta
    quote = connection.ops.quote_name
    key_cols = [cast(models.Field, meta.get_field(f)) for f in key_fields]
    out_cols = [cast(models.Field, meta.get_field(c)) for c in columns]
    postgres = connection.vendor == "postgresql"
    names = [f"k{i}" for i in range(len(key_cols))]
    table = quote(meta.db_table)
    on = " AND ".join(f"t.{quote(f.column)} = v.{n}" for f, n in zip(key_cols, names, strict=True))
    select = ", ".join(f"t.{quote(f.column)}" for f in out_cols)
    params: list[Any] = []
    if postgres:
        # One array per key column: a short statement whatever the batch size.
        arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in key_cols)
        params = [_pg_array(list(column)) for column in zip(*keys, strict=True)]
        # LATERAL with OFFSET 0 (which keeps the planner from flattening it into a join): one index probe
        # per key. As a plain join the planner, misled by a table growing inside the import's own
        # transaction, sort-merges the whole table on every batch.
        sql = (f"SELECT {select} FROM unnest({arrays}) AS v({', '.join(names)}) "
               f"CROSS JOIN LATERAL (SELECT * FROM {table} t WHERE {on} OFFSET 0) AS t")
    else:
        preps = [datetime_converter() if isinstance(f, models.DateTimeField) else _same for f in key_cols]
        for key in keys:
            for prep, value in zip(preps, key, strict=True):
                params.append(prep(value))
        placeholder = "(" + ", ".join(["%s"] * len(key_cols)) + ")"
        sql = (f"WITH v({', '.join(names)}) AS (VALUES {', '.join([placeholder] * len(keys))}) "
               f"SELECT {select} FROM {table} t JOIN v ON {on}")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    converters = [_from_db(f) for f in out_cols]
    return [tuple(conv(v) for conv, v in zip(converters, row, strict=True)) for row in rows]


def _pg_array(values: list[Any]) -> Any:
    """A list of ints, strings or times as one PostgreSQL array literal (``{1,2}``, ``{"a","b\\"c"}``): the driver
    dumps a list element by element in Python, which was a fifth of an import's natural-key look-up. Other
    element types are left to the driver."""
    kinds = set(map(type, values))
    if kinds == {int}:
        return "{" + ",".join(map(int.__repr__, values)) + "}"
    if kinds == {dt.datetime} and all(value.tzinfo is not None for value in values):
        # Each with its own offset: the same instants, whatever the session's zone.
        return '{"' + '","'.join(map(dt.datetime.isoformat, values)) + '"}'
    parts = []
    for value in values:
        kind = value.__class__
        if kind is int:
            parts.append(int.__repr__(value))
        elif kind is str:
            parts.append('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif kind is dt.datetime and value.tzinfo is not None:
            parts.append('"' + value.astimezone(dt.UTC).isoformat() + '"')  # any zone's offset, as UTC
        elif value is None:
            parts.append("NULL")
        else:
            return values
    return "{" + ",".join(parts) + "}"


def _from_db(field: models.Field) -> Callable[[Any], Any]:
    column = field.get_col(field.model._meta.db_table)
    convs = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
    if not convs:
        return lambda v: v

    def convert(value: Any) -> Any:
        for c in convs:
            value = c(value, column, connection)
        return value

    return convert
