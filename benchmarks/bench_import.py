"""Importing interactions from CSV, beside the database driver's bulk insert of the same rows, same run.

    .venv/bin/python benchmarks/bench_import.py [--rows 1000000] [--scratch DIR]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/bench_import.py \
        [--database bcrm_bench_import]

Scratch databases only: SQLite in ``--scratch`` (default ``/tmp/bcrm_bench_import/``, recreated), PostgreSQL
database ``--database`` (default ``bcrm_bench_import``) on the server DATABASE_URL points at — dropped and
recreated by this script, so never name a database that holds anything.

1. migrate, create a lead and ``--orgs`` organisations with external ids;
2. write a CSV of ``--rows`` interactions (organisation external id, kind, time, minutes, summary, outcome);
3. baseline (the fair floor): read the same CSV with the csv module, map external ids to ids, and insert the
   same rows the import writes (owner included) with the driver's bulk insert alone (sqlite3 ``executemany`` /
   psycopg ``COPY``), raw SQL, in batches of the importer's size, in one transaction, committed (deferred foreign
   keys are checked then, as for the import), into the real interactions table itself — its indexes, foreign
   keys, check constraints, WAL-logged, not TEMP — then emptied, untimed (TRUNCATE on PostgreSQL), so the
   import starts from the same empty table;
4. for information only: the same into a bare copy of the table (columns and NOT NULL only: no index, key or
   check), logged, dropped afterwards;
5. the import: ``bcrm import interactions FILE`` in all-or-nothing mode (parse, validate, resolve,
   natural-key lookup, write, one audit entry per batch for the rows it creates — their values as arrays —,
   row reports), committed.

Printed: rows/s of each and the import's ratio to the fair floor (and to the bare table), the process's peak
memory (ru_maxrss) after each phase, and the load average at start and end.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bcrm.settings")

SCRATCH = Path("/tmp/bcrm_bench_import")
PG_NAME = "bcrm_bench_import"
KINDS = ["meeting", "call", "email", "visit", "event", "report_sent", "senior_meeting"]
SUMMARIES = [
    "Term sheet walk-through with the investment committee",
    "Quarterly portfolio review; DSCR forecast and covenant headroom",
    "季度投后管理会议，讨论提款计划与还款安排",
    "Site visit to the solar farm; construction 62% complete",
    "Call about the refinancing of the senior tranche",
    "发送项目进展报告并确认下一次高层会晤时间",
]


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare_database(pg_name: str = PG_NAME, scratch: Path = SCRATCH) -> str:
    """Point Django at a fresh scratch database; returns a label."""
    if not pg_name.replace("_", "").isalnum():
        raise SystemExit(f"--database: letters, digits and _ only, not {pg_name!r}")
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg
        from psycopg import sql

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(pg_name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(pg_name)))
        base = url.rsplit("/", 1)[0]
        os.environ["DATABASE_URL"] = f"{base}/{pg_name}"
        os.environ["BCRM_DATA_DIR"] = str(scratch / "pg")
        shutil.rmtree(scratch / "pg", ignore_errors=True)
        return f"PostgreSQL database {pg_name}"
    os.environ.pop("DATABASE_URL", None)
    shutil.rmtree(scratch / "sqlite", ignore_errors=True)
    os.environ["BCRM_DATA_DIR"] = str(scratch / "sqlite")
    return f"SQLite file {scratch / 'sqlite' / 'bcrm.sqlite3'}"


def write_csv(path: Path, rows: int, orgs: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["organization_external_id", "kind", "occurred_at", "minutes_spent", "summary", "outcome"])
        for i in range(rows):
            # Distinct moments, so the natural key (organisation, kind, time, summary) never repeats.
            minute = i
            stamp = f"2024-{1 + minute // 40000 % 12:02d}-{1 + minute // 1440 % 28:02d} " \
                    f"{minute // 60 % 24:02d}:{minute % 60:02d}:{i // 525600 % 60:02d}"
            writer.writerow([f"ORG-{rng.randrange(orgs):06d}", rng.choice(KINDS), stamp, rng.choice((15, 30, 45, 60, 90)),
                             f"{rng.choice(SUMMARIES)} #{i}", "" if i % 3 else "Follow-up agreed"])


def baseline(path: Path, batch: int, owner_id: int, *, bare: bool = False) -> tuple[int, float]:
    """The same rows through the driver's bulk insert alone, committed, then removed (untimed). ``bare``: into a
    copy of the table with no index, key or check (for information)."""
    import datetime as dt
    import zoneinfo

    from django.conf import settings
    from django.db import connection, transaction

    from bcrm.engagement.models import Interaction
    from bcrm.parties.models import Organization

    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    orgs = dict(Organization.objects.values_list("external_id", "id"))
    real = connection.ops.quote_name(Interaction._meta.db_table)
    table = connection.ops.quote_name("bench_bare_interaction") if bare else real
    if bare:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            if connection.vendor == "postgresql":
                cursor.execute(f"CREATE TABLE {table} (LIKE {real} INCLUDING IDENTITY)")
            else:
                cursor.execute(f"CREATE TABLE {table} AS SELECT * FROM {real} WHERE 0")
    columns = ["created_at", "updated_at", "version", "organization_id", "kind", "occurred_at", "minutes_spent",
               "summary", "outcome", "owner_id", "summary_code", "summary_params"]
    cols = ", ".join(columns)
    postgres = connection.vendor == "postgresql"
    now = dt.datetime.now(dt.UTC)
    now_value = now if postgres else now.replace(tzinfo=None).isoformat(sep=" ")
    n = 0
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor, open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        while True:
            chunk = []
            for row in reader:
                moment = dt.datetime.fromisoformat(row[2]).replace(tzinfo=zone)
                when = moment if postgres else moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
                chunk.append((now_value, now_value, 1, orgs[row[0]], row[1], when, int(row[3]), row[4], row[5],
                              owner_id, "", "{}"))
                if len(chunk) == batch:
                    break
            if not chunk:
                break
            if postgres:
                with cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    for values in chunk:
                        copy.write_row(values)
            else:
                cursor.executemany(f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['%s'] * len(columns))})",
                                   chunk)
            n += len(chunk)
    # Committed like the import (deferred foreign keys are checked at commit), then removed, untimed.
    elapsed = time.perf_counter() - started
    _empty(table, drop=bare)
    return n, elapsed


def _empty(table: str, *, drop: bool) -> None:
    """Remove the baseline's rows (TRUNCATE on PostgreSQL: the import then starts from a table as fresh as the
    baseline's, with no dead rows or index entries to step over)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if drop:
            cursor.execute(f"DROP TABLE {table}")
        elif connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {table} CASCADE")
        else:
            cursor.execute(f"DELETE FROM {table}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--orgs", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=0, help="rows per batch (default: the importer's setting)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the import (slower)")
    parser.add_argument("--database", default=PG_NAME,
                        help="PostgreSQL scratch database (dropped and recreated!) on DATABASE_URL's server")
    parser.add_argument("--scratch", type=Path, default=SCRATCH, help="scratch folder (recreated)")
    args = parser.parse_args()

    label = prepare_database(args.database, args.scratch)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bcrm.accounts.services import user_create
    from bcrm.dataio.choices import JobSource
    from bcrm.dataio.importer import batch_rows
    from bcrm.dataio.services import import_job_create_from_path, import_job_run
    from bcrm.engagement.models import Interaction
    from bcrm.parties.models import Organization

    call_command("migrate", verbosity=0)
    if args.batch:
        from django.conf import settings

        settings.BCRM_IMPORT_BATCH_ROWS = args.batch
    lead = user_create(actor=None, username="bench.lead", password="bench-password-2026", roles=["lead"], validate=False)
    Organization.objects.bulk_create([
        Organization(legal_name=f"Bench Client {i}", kind="fund", country="CN", external_id=f"ORG-{i:06d}",
                     search_text=f"bench client {i}") for i in range(args.orgs)
    ], batch_size=2000)
    args.scratch.mkdir(parents=True, exist_ok=True)
    path = args.scratch / f"interactions-{args.rows}.csv"
    if not path.exists():
        write_csv(path, args.rows, args.orgs)
    size = path.stat().st_size
    print(f"# bcrm import benchmark — {label}")
    print(f"# {args.rows:,} interactions, {size / 2**20:,.0f} MiB CSV, {args.orgs:,} organisations, "
          f"batches of {batch_rows():,} rows")
    print(f"{'phase':40} {'rows':>10} {'seconds':>9} {'rows/s':>10} {'peak RSS MiB':>13}")
    print(f"{'setup':40} {'':>10} {'':>9} {'':>10} {peak_mib():>13,.0f}")

    n, seconds = baseline(path, batch_rows(), lead.pk, bare=True)
    bare_rate = n / seconds
    print(f"{'(bare table: csv + driver bulk insert)':40} {n:>10,} {seconds:>9.1f} {bare_rate:>10,.0f} "
          f"{peak_mib():>13,.0f}")
    n, seconds = baseline(path, batch_rows(), lead.pk)
    assert n == args.rows and not Interaction.objects.exists()
    base_rate = n / seconds
    print(f"{'baseline: csv + driver bulk insert':40} {n:>10,} {seconds:>9.1f} {base_rate:>10,.0f} {peak_mib():>13,.0f}")

    started = time.perf_counter()
    job = import_job_create_from_path(actor=lead, entity="interactions", path=path, mode="commit", source=JobSource.CLI)
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        job = import_job_run(job)
        profiler.disable()
        if os.environ.get("BENCH_PROFILE_FILE"):
            profiler.dump_stats(os.environ["BENCH_PROFILE_FILE"])
        pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(45)
    else:
        job = import_job_run(job)
    seconds = time.perf_counter() - started
    assert job.status == "done", job.message
    assert job.created == args.rows == Interaction.objects.count(), (job.created, job.rejected)
    rate = job.rows / seconds
    print(f"{'bcrm import (validated, audited)':40} {job.rows:>10,} {seconds:>9.1f} {rate:>10,.0f} {peak_mib():>13,.0f}")
    print(f"ratio import / baseline: {rate / base_rate:.2f}   (aim: at least 0.50; peak memory under 300 MiB)")
    print(f"ratio import / bare table (information): {rate / bare_rate:.2f}")
    from bcrm.audit.models import AuditEntry

    print(f"audit entries written (one per batch): {AuditEntry.objects.filter(action='import.create').count():,}; "
          f"database: {connection.vendor}")
    from bcrm.audit import trail

    started = time.perf_counter()
    result = trail.verify()  # seals what the import's commit left to the worker, then walks the whole chain
    print(f"audit chain after the import: sealed {result.sealed_now:,} more, checked {result.checked:,}, "
          f"{'verifies' if result.ok else 'BROKEN'} ({time.perf_counter() - started:.1f} s, not in the import's time)")
    assert result.ok, result.as_dict()


if __name__ == "__main__":
    from benchmarks.loadavg import run_with_load_average

    run_with_load_average(main)
