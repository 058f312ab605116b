"""Sealing and checking the audit trail's hash chain at scale, beside reading the same rows (issue 20).

    BCRM_DATA_DIR=var/bench-audit .venv/bin/python benchmarks/bench_audit.py [--entries 1000000]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bcrm_bench_audit .venv/bin/python benchmarks/bench_audit.py

Migrates the database it is given, empties its audit tables (TRUNCATE: the append-only triggers refuse row
deletes), writes ``--entries`` audit entries shaped like an update's (bulk insert, unsealed), then times:

- **seal**: :func:`bcrm.audit.trail.seal_pending` putting every entry into the chain;
- **verify**: :func:`bcrm.audit.trail.verify` walking the whole chain (nothing left to seal);
- **baseline**: reading the same entries' columns raw in chunks of the same size (cursor + fetchall), the
  database work alone; ``ratio`` = verify / baseline. Aim: a million entries checked in under 10 s.

Prints the load average at start and end: the machine is shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bcrm.settings")

import django

django.setup()

from django.contrib.contenttypes.models import ContentType  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bcrm.audit import trail  # noqa: E402
from bcrm.audit.models import AuditCheck, AuditCheckpoint, AuditEntry, AuditRedaction, AuditSeal  # noqa: E402
from bcrm.parties.models import Organization  # noqa: E402


def empty_audit_tables() -> None:
    tables = [m._meta.db_table for m in (AuditSeal, AuditCheckpoint, AuditCheck, AuditRedaction, AuditEntry)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")


def write_entries(n: int) -> None:
    ct = ContentType.objects.get_for_model(Organization)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    batch = []
    for i in range(n):
        batch.append(AuditEntry(actor_label=f"rm.{i % 40}", action="update", content_type=ct, object_id=str(i % 250_000),
                                object_repr=f"Client {i % 250_000} (客户)",
                                changes={"notes": [f"call {i}", f"call {i + 1}"], "version": [i, i + 1]}))
        if len(batch) == 20_000:
            AuditEntry.objects.bulk_create(batch)
            batch = []
    AuditEntry.objects.bulk_create(batch)
    # Spread the times over a year (auto_now_add set them all to now).
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
            cursor.execute("UPDATE audit_auditentry SET at = %s + (id * interval '30 seconds')", [start])
            cursor.execute("SET session_replication_role = origin")


def read_baseline() -> int:
    columns = "id, at, actor_id, actor_label, action, content_type_id, object_id, object_repr, changes"
    last, rows = 0, 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(f"SELECT {columns} FROM audit_auditentry WHERE id > %s ORDER BY id LIMIT %s",
                           [last, trail.CHUNK])
            chunk = cursor.fetchall()
            if not chunk:
                return rows
            rows += len(chunk)
            last = chunk[-1][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    call_command("migrate", verbosity=0)
    empty_audit_tables()
    clock = time.perf_counter()
    write_entries(args.entries)
    print(f"{connection.vendor}: wrote {args.entries:,} entries in {time.perf_counter() - clock:.1f} s")

    clock = time.perf_counter()
    sealed = trail.seal_pending()
    seal_s = time.perf_counter() - clock
    clock = time.perf_counter()
    result = trail.verify(seal=False)
    verify_s = time.perf_counter() - clock
    clock = time.perf_counter()
    read = read_baseline()
    base_s = time.perf_counter() - clock
    assert sealed == args.entries and result.ok and result.checked == args.entries and read == args.entries
    print(f"seal      {seal_s:8.2f} s   {args.entries / seal_s:10,.0f} entries/s")
    print(f"verify    {verify_s:8.2f} s   {args.entries / verify_s:10,.0f} entries/s"
          f"   ({verify_s * 1e6 / args.entries:.0f} s per million)")
    print(f"baseline  {base_s:8.2f} s   (reading the same rows raw)   ratio verify/baseline {verify_s / base_s:.1f}x")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
