"""Raw SQL in bulk for the automation (and the demo's service history): quoted names, one-shot reads, the
ORM's datetime format, and many-row updates and upserts (COPY on PostgreSQL, executemany on SQLite)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import connection


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def _table(model) -> str:
    return _qn(model._meta.db_table)


def _rows(sql: str, params: Iterable[Any] = ()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def _db_datetime(value: dt.datetime | None):
    """A datetime as the ORM would store it: raw SQL must not hand SQLite an aware datetime (its adapter
    keeps the offset, and text with an offset does not compare with the ORM's naive UTC text)."""
    return None if value is None else connection.ops.adapt_datetimefield_value(value)


def _bulk_set(cursor, table: str, cols: list[str], rows: list[tuple]) -> None:
    """Set ``cols`` of many rows by id (rows are (id, *values)): executemany on SQLite; on PostgreSQL a COPY
    into a scratch table and one UPDATE … FROM."""
    if connection.vendor == "postgresql":
        quoted = ", ".join(_qn(c) for c in ["id", *cols])
        cursor.execute("DROP TABLE IF EXISTS bcrm_bulk_set")
        cursor.execute(f"CREATE TEMP TABLE bcrm_bulk_set ON COMMIT DROP AS SELECT {quoted} FROM {table} WITH NO DATA")
        with cursor.cursor.copy(f"COPY bcrm_bulk_set ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        sets = ", ".join(f"{_qn(c)} = s.{_qn(c)}" for c in cols)
        cursor.execute(f"UPDATE {table} SET {sets} FROM bcrm_bulk_set s WHERE {table}.id = s.id")
        return
    sets = ", ".join(f"{_qn(c)} = %s" for c in cols)
    cursor.executemany(f"UPDATE {table} SET {sets} WHERE id = %s", [(*row[1:], row[0]) for row in rows])


def _upsert(cursor, table: str, cols: list[str], rows: list[tuple], *, conflict: str) -> int:
    """Insert ``rows`` with an ON CONFLICT clause: COPY into a scratch table then one INSERT … SELECT on
    PostgreSQL, executemany on SQLite."""
    quoted = ", ".join(_qn(c) for c in cols)
    if connection.vendor == "postgresql":
        cursor.execute("DROP TABLE IF EXISTS bcrm_upsert")
        cursor.execute(f"CREATE TEMP TABLE bcrm_upsert ON COMMIT DROP AS SELECT {quoted} FROM {table} WITH NO DATA")
        with cursor.cursor.copy(f"COPY bcrm_upsert ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(f"INSERT INTO {table} ({quoted}) SELECT {quoted} FROM bcrm_upsert WHERE true {conflict}")
        return max(cursor.rowcount, 0)
    before = connection.connection.total_changes
    cursor.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({', '.join(['%s'] * len(cols))}) {conflict}", rows)
    return connection.connection.total_changes - before
