"""Rows straight into a table, for the million-client data set.

``bulk_create`` spends most of its time compiling SQL value by value: measured on the scale data set,
Django's insert compiler took about half of the load time and SQLite itself 5%, which made a million
clients a 25-minute job. Here each row is a tuple in column order, written with ``executemany`` on
SQLite and ``COPY`` on PostgreSQL; the loader hands out primary keys itself so related rows can
point at their parents without reading ids back.

That is only safe for a bulk load into tables nobody else is writing at the same time, which is
what the demo loader does; PostgreSQL sequences are moved past the new ids at the end.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Callable
from typing import Any

from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Max


class TableLoader:
    """Buffers rows for one model's table until ``take()`` hands them to ``write()``.

    ``add()`` takes field values by attribute name (``organization_id``, not ``organization``); fields
    left out get the model field's default, as a model instance would, and the auto timestamps get
    ``now``. A column that has neither fails at ``add()`` time, not deep inside the database.
    """

    def __init__(self, model: type[models.Model], *, now: dt.datetime):
        self.model = model
        self.vendor = connection.vendor
        fields = list(model._meta.concrete_fields)
        self.attnames = [f.attname for f in fields]
        self.pk = model._meta.pk.attname
        self.defaults: dict[str, Any] = {}
        for field in fields:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                self.defaults[field.attname] = now
            elif field.attname != self.pk and (field.has_default() or field.null or field.empty_strings_allowed):
                self.defaults[field.attname] = field.get_default()
        self.converters: list[tuple[int, Callable[[Any], Any]]] = []
        for i, field in enumerate(fields):
            if isinstance(field, models.JSONField):
                self.converters.append((i, _json_text))  # JSON text: SQLite keeps it so, COPY parses it to jsonb
        if self.vendor != "postgresql":
            to_db = self._sqlite_datetime(connection.timezone or dt.UTC, now)
            for i, field in enumerate(fields):
                if isinstance(field, models.DateTimeField):
                    self.converters.append((i, to_db))
                elif isinstance(field, models.DateField):
                    self.converters.append((i, _iso_date))
        quote = connection.ops.quote_name
        self.table = quote(model._meta.db_table)
        self.columns = ", ".join(quote(f.column) for f in fields)
        self.insert_sql = f"INSERT INTO {self.table} ({self.columns}) VALUES ({', '.join(['%s'] * len(fields))})"
        self.next_id = (model._default_manager.aggregate(top=Max("pk"))["top"] or 0) + 1
        self.rows: list[list[Any]] = []
        self.count = 0

    @staticmethod
    def _sqlite_datetime(db_timezone: dt.tzinfo, now: dt.datetime) -> Callable[[Any], Any]:
        """What Django's SQLite backend stores for an aware datetime: naive, in the connection's zone.
        Every row carries ``now`` twice (created, updated), so that one is converted once."""
        now_text = str(now.astimezone(db_timezone).replace(tzinfo=None))

        def convert(value: dt.datetime | None) -> str | None:
            if value is None:
                return None
            if value is now:
                return now_text
            return str(value.astimezone(db_timezone).replace(tzinfo=None))

        return convert

    def add(self, values: dict[str, Any]) -> int:
        pk = self.next_id
        self.next_id += 1
        row = {**self.defaults, **values, self.pk: pk}
        try:
            self.rows.append([row[name] for name in self.attnames])
        except KeyError as exc:
            raise ValueError(f"{self.model._meta.label}: no value for {exc.args[0]!r}") from None
        return pk

    def take(self) -> list[list[Any]]:
        """Hand over the buffered rows, ready for ``write`` (possibly on another thread), and start anew."""
        rows, self.rows = self.rows, []
        self.count += len(rows)
        for row in rows:
            for index, convert in self.converters:
                row[index] = convert(row[index])
        return rows

    def write(self, rows: list[list[Any]]) -> None:
        """Insert what ``take`` handed over, through the calling thread's database connection."""
        if not rows:
            return
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {self.table} ({self.columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(self.insert_sql, rows)


Batch = list[tuple[TableLoader, list[list[Any]]]]


class BatchWriter:
    """Writes each batch in its own transaction; on PostgreSQL on a second thread and connection.

    Generating rows is Python work and PostgreSQL's share (index upkeep, the trigram index above
    all) runs in the server process, so streaming batch k while batch k+1 is generated overlaps the
    two. SQLite works inside this process and its driver takes the GIL for every row, so a writer
    thread there made loading slower (measured: 31.6 s against 23.7 s for 60,000 clients) and
    batches are written in line. A second connection only sees committed parents (users, teams,
    tags), so inside an open transaction (a test, a caller's atomic block) batches are written in
    line as well. At most one batch waits for the writer, which bounds memory.
    """

    def __init__(self) -> None:
        self.threaded = not connection.in_atomic_block and connection.vendor == "postgresql"
        self.error: BaseException | None = None
        self.queue: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self.thread: threading.Thread | None = None
        if self.threaded:
            self.thread = threading.Thread(target=self._run, name="demo-writer", daemon=True)
            self.thread.start()

    def submit(self, batch: Batch) -> None:
        if not self.threaded:
            self._write(batch)
            return
        while True:
            if self.error is not None:
                raise self.error
            try:
                self.queue.put(batch, timeout=0.5)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Wait for the last batch; re-raise what went wrong on the writer thread, if anything."""
        if self.thread is not None:
            while self.thread.is_alive():
                try:
                    self.queue.put(None, timeout=0.5)
                    break
                except queue.Full:
                    continue
            self.thread.join()
        if self.error is not None:
            raise self.error

    @staticmethod
    def _write(batch: Batch) -> None:
        with transaction.atomic():
            for table, rows in batch:
                table.write(rows)

    def _run(self) -> None:
        try:
            while (batch := self.queue.get()) is not None:
                self._write(batch)
        except BaseException as exc:  # handed to the loading thread, which raises it
            self.error = exc
        finally:
            connection.close()


class SearchIndexPause:
    """On SQLite, suspend the insert triggers that feed FTS5 indexes over ``model``'s table during a bulk
    load, then recreate them from their own stored SQL and rebuild each index once.

    Kept in step row by row, the client-search index cost about 40% of a scale load (60,000
    clients: 35.8 s against 25.3 s without it; a million went from under ten minutes to fifteen);
    one rebuild at the end costs 2.5 s for those 60,000. The triggers and indexes are found in
    ``sqlite_master`` (external-content FTS5 tables over the table, and the AFTER INSERT triggers that
    write to them), so whoever owns them can rename or extend them without touching the loader.
    They are restored whatever happens in the load, short of the process being killed outright, and
    a load killed that way leaves a half-loaded database that has to be discarded anyway.
    """

    def __init__(self, model: type[models.Model]):
        self.table = model._meta.db_table
        self.indexes: list[str] = []
        self.triggers: list[tuple[str, str]] = []

    def __enter__(self) -> SearchIndexPause:
        if connection.vendor != "sqlite":
            return self
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND lower(sql) LIKE '%%using fts5%%' "
                "AND (sql LIKE %s OR sql LIKE %s)",
                [f"%content='{self.table}'%", f'%content="{self.table}"%'],
            )
            self.indexes = [name for (name,) in cursor.fetchall()]
            if not self.indexes:
                return self
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s "
                "AND upper(sql) LIKE '%%AFTER INSERT%%'", [self.table],
            )
            self.triggers = [(name, sql) for name, sql in cursor.fetchall()
                             if any(index in sql for index in self.indexes)]
            with transaction.atomic():
                for name, _sql in self.triggers:
                    cursor.execute(f"DROP TRIGGER {connection.ops.quote_name(name)}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self.indexes:
            return
        with transaction.atomic(), connection.cursor() as cursor:
            for _name, sql in self.triggers:
                cursor.execute(sql)
            for index in self.indexes:
                quoted = connection.ops.quote_name(index)
                cursor.execute(f"INSERT INTO {quoted}({quoted}) VALUES ('rebuild')")


def reset_sequences(model_list: list[type[models.Model]]) -> None:
    """Move PostgreSQL id sequences past the ids the loader assigned (SQLite tracks them itself)."""
    statements = connection.ops.sequence_reset_sql(no_style(), model_list)
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def _json_text(value: Any) -> str | None:
    import json

    return None if value is None else json.dumps(value)


def _iso_date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()
