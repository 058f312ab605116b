"""The automation engine at scale: a first run, a second run, and a same-run baseline.

- **first run**: ``engine.run_automation`` on a data set whose automation state was reset (no tiers, no
  playbook tasks, no deliveries): every client's tier is written, every due step becomes a task, the
  progress reports of the previous month are queued;
- **baseline**: the SELECT statements that first run executed, replayed raw (``cursor.execute`` +
  ``fetchall``), plus a bulk insert, with the driver alone, of exactly the rows the run wrote (its tasks,
  client tiers and report deliveries) into index-free scratch tables (``executemany`` on SQLite, ``COPY``
  on PostgreSQL);
- **second run**: the same again, which must create nothing (the daily case).

``ratio`` = run / baseline. Aims (issue 6): the first run within 2x of its baseline and under 60 s; the
second run creates nothing and takes under 30 s.

    BCRM_DATA_DIR=var/bench1m .venv/bin/python benchmarks/bench_automation.py
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bcrm_bench1m BCRM_DATA_DIR=var/bench1m-pg \\
        .venv/bin/python benchmarks/bench_automation.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bcrm.settings")
CHUNK = 50_000


def _reset() -> dict:
    """Forget the automation's own output so the first run starts from the labels alone."""
    from django.db import connection, transaction

    from bcrm.engagement.models import ServiceRequest, Task
    from bcrm.playbooks.models import AutomationRun, AutomationSchedule, ClientTier

    clock = time.perf_counter()
    with transaction.atomic():
        Task.objects.filter(source="playbook").delete()
        ClientTier.objects.all().delete()
        AutomationRun.objects.all().delete()
        AutomationSchedule.objects.all().delete()
        ServiceRequest.objects.exclude(escalated_at=None).update(escalated_at=None)
        try:
            from bcrm.progress.models import ReportDelivery

            ReportDelivery.objects.all().delete()
        except ImportError:
            pass
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"seconds": time.perf_counter() - clock}


def _scratch_insert(table_model, where_sql: str, params: list) -> tuple[int, float]:
    """Read the rows the run wrote (untimed), insert them again into an index-free scratch copy of the
    table with the driver alone (timed)."""
    from django.db import connection

    table = connection.ops.quote_name(table_model._meta.db_table)
    cols = [f.column for f in table_model._meta.concrete_fields if not f.primary_key or not f.auto_created]
    quoted = ", ".join(connection.ops.quote_name(c) for c in cols)
    scratch = "bench_scratch"
    timed = 0.0
    n = 0
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {scratch}")
        if connection.vendor == "postgresql":
            cursor.execute(f"CREATE TEMP TABLE {scratch} AS SELECT {quoted} FROM {table} WITH NO DATA")
        else:
            cursor.execute(f"CREATE TEMP TABLE {scratch} AS SELECT {quoted} FROM {table} WHERE 0")
        with connection.chunked_cursor() as reader:
            reader.execute(f"SELECT {quoted} FROM {table} {where_sql}", params)
            while rows := reader.fetchmany(CHUNK):
                clock = time.perf_counter()
                if connection.vendor == "postgresql":
                    with cursor.cursor.copy(f"COPY {scratch} ({quoted}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    cursor.executemany(f"INSERT INTO {scratch} ({quoted}) VALUES ({', '.join(['%s'] * len(cols))})",
                                       rows)
                timed += time.perf_counter() - clock
                n += len(rows)
        cursor.execute(f"DROP TABLE {scratch}")
    return n, timed


def child(mode: str) -> dict:
    import django

    django.setup()
    from django.db import connection

    from bcrm.engagement.models import Task
    from bcrm.playbooks.automation import run_automation
    from bcrm.playbooks.models import ClientTier

    if mode == "reset":
        return _reset()
    if mode == "second":
        clock = time.perf_counter()
        report = run_automation(actor=None, trigger="bench")
        return {"seconds": time.perf_counter() - clock, "counts": report.counts, "timings": report.timings,
                "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}

    # first run, then its baseline in the same process
    max_task = Task.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    captured: list[tuple[str, tuple]] = []

    def capture(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("SELECT") and "FOR UPDATE" not in sql.upper():
            captured.append((sql, params))
        return execute(sql, params, many, context)

    clock = time.perf_counter()
    with connection.execute_wrapper(capture):
        report = run_automation(actor=None, trigger="bench")
    run_seconds = time.perf_counter() - clock
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    clock = time.perf_counter()
    rows_read = 0
    with connection.cursor() as cursor:
        for sql, params in captured:
            cursor.execute(sql, params)
            rows_read += len(cursor.fetchall())
    query_seconds = time.perf_counter() - clock
    tasks, task_seconds = _scratch_insert(Task, "WHERE id > %s", [max_task])
    tiers, tier_seconds = _scratch_insert(ClientTier, "", [])
    deliveries, delivery_seconds = 0, 0.0
    try:
        from bcrm.progress.models import ReportDelivery

        deliveries, delivery_seconds = _scratch_insert(ReportDelivery, "", [])
    except ImportError:
        pass
    return {"seconds": run_seconds, "counts": report.counts, "timings": report.timings, "peak_mib": peak,
            "baseline": {"queries": len(captured), "rows_read": rows_read, "query_s": query_seconds,
                         "tasks": tasks, "task_insert_s": task_seconds, "tiers": tiers,
                         "tier_insert_s": tier_seconds, "deliveries": deliveries,
                         "delivery_insert_s": delivery_seconds,
                         "total_s": query_seconds + task_seconds + tier_seconds + delivery_seconds}}


def spawn(mode: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode], capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"child {mode} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--no-reset", action="store_true", help="keep the automation state already there")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child), default=str))
        return
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bcrm.parties.models import Organization

    call_command("migrate", interactive=False, verbosity=0)
    n = Organization.objects.count()
    print(f"{connection.vendor}: {n:,} organisations")
    if not args.no_reset:
        print(f"reset automation state: {spawn('reset')['seconds']:.1f} s")
    first = spawn("first")
    second = spawn("second")
    base = first["baseline"]
    c = first["counts"]
    print(f"first run: {sum(c.get('created', {}).values()):,} tasks created "
          f"({json.dumps(c.get('created', {}))}), {c.get('tiers_changed', 0):,} tiers written, "
          f"{c.get('deliveries_queued', 0):,} report deliveries queued, overflow {c.get('overflow', 0):,}")
    print(f"baseline: {base['queries']} SELECTs replayed ({base['rows_read']:,} rows) {base['query_s']:.1f} s; "
          f"insert {base['tasks']:,} tasks {base['task_insert_s']:.1f} s, {base['tiers']:,} tiers "
          f"{base['tier_insert_s']:.1f} s, {base['deliveries']:,} deliveries {base['delivery_insert_s']:.1f} s")
    print()
    print(f"{'run':<12}{'baseline s':>11}{'run s':>8}{'ratio':>7}{'peak MiB':>10}  created  stages (s)")
    stages = " ".join(f"{k} {v / 1000:.1f}" for k, v in first["timings"].items())
    print(f"{'first':<12}{base['total_s']:>11.1f}{first['seconds']:>8.1f}{first['seconds'] / base['total_s']:>7.2f}"
          f"{first['peak_mib']:>10.0f}  {sum(c.get('created', {}).values()):>7,}  {stages}")
    c2 = second["counts"]
    stages = " ".join(f"{k} {v / 1000:.1f}" for k, v in second["timings"].items())
    print(f"{'second':<12}{base['query_s']:>11.1f}{second['seconds']:>8.1f}"
          f"{second['seconds'] / max(base['query_s'], 1e-9):>7.2f}{second['peak_mib']:>10.0f}  "
          f"{sum(c2.get('created', {}).values()):>7,}  {stages}")
    print("\n(second run's baseline: the first run's SELECTs alone, since it writes nothing)")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.loadavg import run_with_load_average

    run_with_load_average(main)
