"""The automation engine at scale: a first run beside a fair floor, then daily runs beside their own SELECTs.

- **first run**: ``engine.run_automation`` on a data set whose automation state was reset (no tiers, no
  playbook tasks, no deliveries, no due dates): every client's tier is written, every due step becomes a task,
  the progress reports of the previous month are queued, every client's next due date is recorded;
- **its baseline**, in the same process: the SELECT statements that first run executed, replayed raw
  (``cursor.execute`` + ``fetchall``), plus the rows the run wrote (tasks, client tiers, report deliveries,
  due dates) written again with the driver alone into **tables of the same shape** as the real ones (same
  columns, indexes, unique and check constraints, the same foreign keys — deferred as Django makes them —,
  WAL-logged/ordinary tables, not TEMP), by the cheapest path (``COPY`` on PostgreSQL, ``executemany`` on
  SQLite), COMMIT included (the foreign-key checks are paid there);
- **daily runs** as of the next day: with no writes since the first run (the incremental run: the clients
  due by date or changed), after a change to 1 % of the clients (an interaction logged for each), and a full
  re-run (``full=True``) for comparison. Each beside **its own SELECTs replayed** in the same process (captured
  from a dry run of the same run just before, so the replay reads the same data the run reads).

``ratio`` = run / baseline. Aims (issue 19): the first run within 2x of its baseline; the daily run under 30 s
at 1M clients.

    BCRM_DATA_DIR=var/bench1m .venv/bin/python benchmarks/bench_automation.py
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bcrm_bench1m BCRM_DATA_DIR=var/bench1m-pg \\
        .venv/bin/python benchmarks/bench_automation.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bcrm.settings")
CHUNK = 50_000
SCOPE = "bcrm_automation_scope"


def _reset() -> dict:
    """Forget the automation's own output so the first run starts from the labels alone."""
    from django.db import connection, transaction

    from bcrm.engagement.models import ServiceRequest, Task
    from bcrm.playbooks.models import AutomationRun, AutomationSchedule, ClientDue, ClientTier

    clock = time.perf_counter()
    with transaction.atomic():
        Task.objects.filter(source="playbook").delete()
        ClientTier.objects.all().delete()
        ClientDue.objects.all().delete()
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


def _shaped_copy(model) -> tuple[str, str, list[str]]:
    """A table of the same shape as ``model``'s (columns, indexes, unique and check constraints, foreign keys as
    the real table declares them, an ordinary logged table): its name, the real one's, and the columns written."""
    from django.db import connection

    qn = connection.ops.quote_name
    real = model._meta.db_table
    scratch = f"bench_{real}"[:60]
    cols = [f.column for f in model._meta.concrete_fields if not (f.primary_key and f.auto_created)]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {qn(scratch)}")
        if connection.vendor == "postgresql":
            cursor.execute(f"CREATE TABLE {qn(scratch)} (LIKE {qn(real)} INCLUDING ALL)")
            cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                           "WHERE conrelid = %s::regclass AND contype = 'f'", [real])
            for name, definition in cursor.fetchall():
                cursor.execute(f"ALTER TABLE {qn(scratch)} ADD CONSTRAINT {qn('b_' + name[:55])} {definition}")
        else:
            cursor.execute("SELECT sql FROM sqlite_master WHERE tbl_name = %s AND sql IS NOT NULL "
                           "ORDER BY type = 'index'", [real])
            for (ddl,) in cursor.fetchall():
                ddl = ddl.replace(f'"{real}"', f'"{scratch}"', 1)
                if ddl.upper().startswith(("CREATE INDEX", "CREATE UNIQUE INDEX")):
                    head, rest = ddl.split(" ON ", 1)
                    words = head.split(" ")
                    words[-1] = f'"b_{words[-1].strip(chr(34))}"'
                    ddl = " ".join(words) + " ON " + rest.replace(f'"{real}"', f'"{scratch}"', 1)
                cursor.execute(ddl)
    return scratch, real, cols


def _rewrite(models_where: list[tuple]) -> tuple[dict[str, int], float]:
    """Read the rows the run wrote (untimed), write them again into tables of the same shape with the driver
    alone and commit (timed); the scratch tables are dropped afterwards."""
    from django.db import connection, transaction

    qn = connection.ops.quote_name
    shaped = [(model, *_shaped_copy(model), where, params) for model, where, params in models_where]
    rows_of: dict[str, list[tuple]] = {}
    for _model, _scratch, real, cols, where, params in shaped:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(qn(c) for c in cols)} FROM {qn(real)} {where}", params)
            rows_of[real] = cursor.fetchall()
    clock = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for _model, scratch, real, cols, _where, _params in shaped:
            quoted = ", ".join(qn(c) for c in cols)
            rows = rows_of[real]
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {qn(scratch)} ({quoted}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(f"INSERT INTO {qn(scratch)} ({quoted}) VALUES ({', '.join(['%s'] * len(cols))})",
                                   rows)
    seconds = time.perf_counter() - clock  # COMMIT included: the deferred foreign-key checks are paid there
    with connection.cursor() as cursor:
        for _model, scratch, *_rest in shaped:
            cursor.execute(f"DROP TABLE {qn(scratch)}")
    return {real: len(rows) for real, rows in rows_of.items()}, seconds


def _capture():
    captured: list[tuple[str, tuple]] = []

    def capture(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("SELECT") and "FOR UPDATE" not in sql.upper():
            captured.append((sql, params))
        return execute(sql, params, many, context)

    return captured, capture


def _replay(captured: list[tuple[str, tuple]]) -> tuple[int, float]:
    """The captured SELECTs, raw. An incremental run's queries join its temporary table of examined clients:
    it is made again (untimed) from the first query's result, the clients the run examined."""
    from django.db import connection, transaction

    rows_read = 0
    timed = 0.0
    with transaction.atomic(), connection.cursor() as cursor:
        scope_made = False
        examined: list[int] = []
        for sql, params in captured:
            if SCOPE in sql and not scope_made:
                cursor.execute(f"DROP TABLE IF EXISTS {SCOPE}")
                cursor.execute(f"CREATE TEMP TABLE {SCOPE} (id bigint PRIMARY KEY)")
                cursor.executemany(f"INSERT INTO {SCOPE} (id) VALUES (%s)", [(i,) for i in examined])
                scope_made = True
            clock = time.perf_counter()
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            timed += time.perf_counter() - clock
            rows_read += len(rows)
            if "playbooks_clientdue" in sql and not scope_made:
                examined = [r[0] for r in rows]
        if scope_made:
            cursor.execute(f"DROP TABLE {SCOPE}")
    return rows_read, timed


def child(mode: str, as_of: str | None) -> dict:
    import django

    django.setup()
    from django.db import connection

    from bcrm.engagement.models import Interaction, Task
    from bcrm.playbooks.automation import run_automation
    from bcrm.playbooks.models import ClientDue, ClientTier

    if mode == "reset":
        return _reset()
    when = dt.datetime.fromisoformat(as_of) if as_of else None
    if mode in ("daily", "full", "changed"):
        if mode == "changed":  # 1 % of the clients get an interaction (bulk, as an import would)
            from bcrm.parties.models import Organization

            ids = list(Organization.objects.order_by("id").values_list("id", flat=True)[::100])
            Interaction.objects.bulk_create([Interaction(organization_id=i, kind="call", occurred_at=when,
                                                         summary="bench") for i in ids], batch_size=5000)
        captured, capture = _capture()
        with connection.execute_wrapper(capture):
            run_automation(actor=None, as_of=when, dry_run=True, full=mode == "full")
        rows_read, query_seconds = _replay(captured)
        clock = time.perf_counter()
        report = run_automation(actor=None, as_of=when, trigger="bench", full=mode == "full")
        return {"seconds": time.perf_counter() - clock, "counts": report.counts, "timings": report.timings,
                "mode": report.mode, "examined": report.examined,
                "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "baseline": {"queries": len(captured), "rows_read": rows_read, "query_s": query_seconds,
                             "total_s": query_seconds}}

    # first run, then its baseline in the same process
    max_task = Task.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    captured, capture = _capture()
    clock = time.perf_counter()
    with connection.execute_wrapper(capture):
        report = run_automation(actor=None, as_of=when, trigger="bench")
    run_seconds = time.perf_counter() - clock
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    rows_read, query_seconds = _replay(captured)
    written = [(Task, "WHERE id > %s", [max_task]), (ClientTier, "", []), (ClientDue, "", [])]
    try:
        from bcrm.progress.models import ReportDelivery

        written.append((ReportDelivery, "", []))
    except ImportError:
        pass
    rows, write_seconds = _rewrite(written)
    return {"seconds": run_seconds, "counts": report.counts, "timings": report.timings, "peak_mib": peak,
            "mode": report.mode, "examined": report.examined,
            "baseline": {"queries": len(captured), "rows_read": rows_read, "query_s": query_seconds,
                         "rows_written": rows, "write_s": write_seconds, "total_s": query_seconds + write_seconds}}


def spawn(mode: str, as_of: str | None = None) -> dict:
    command = [sys.executable, __file__, "--child", mode] + (["--as-of", as_of] if as_of else [])
    # The data set was loaded minutes ago: without this, the daily runs would count the whole load as written
    # since the previous run (the hour of slack, settings.BCRM_AUTOMATION_SLACK_SECONDS).
    env = {**os.environ, "BCRM_AUTOMATION_SLACK_SECONDS": "0"}
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"child {mode} failed")
    # the child's result is its JSON line (the load-average wrapper prints around it)
    return json.loads(next(line for line in reversed(out.stdout.splitlines()) if line.startswith("{")))


def _line(name: str, result: dict) -> str:
    base = result["baseline"]["total_s"]
    c = result["counts"]
    stages = " ".join(f"{k} {v / 1000:.1f}" for k, v in result["timings"].items())
    return (f"{name:<19}{result['mode']:<13}{result['examined']:>10,}{base:>11.1f}{result['seconds']:>8.1f}"
            f"{result['seconds'] / max(base, 1e-9):>7.2f}{result['peak_mib']:>10.0f}  "
            f"{sum(c.get('created', {}).values()):>9,}  {stages}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    parser.add_argument("--no-reset", action="store_true", help="keep the automation state already there")
    parser.add_argument("--daily-only", action="store_true",
                        help="only the daily runs, after the first run of an earlier invocation")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.as_of), default=str))
        return
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from bcrm.parties.models import Organization

    call_command("migrate", interactive=False, verbosity=0)
    n = Organization.objects.count()
    print(f"{connection.vendor}: {n:,} organisations")
    if not args.no_reset and not args.daily_only:
        print(f"reset automation state: {spawn('reset')['seconds']:.1f} s")
    today = timezone.now()
    if args.daily_only:
        from bcrm.playbooks.models import AutomationRun

        today = max(AutomationRun.objects.order_by("-as_of").values_list("as_of", flat=True).first() or today, today)
        daily = spawn("daily", (today + dt.timedelta(days=1)).isoformat())
        changed = spawn("changed", (today + dt.timedelta(days=2)).isoformat())
        full = spawn("full", (today + dt.timedelta(days=2, hours=1)).isoformat())
        _daily_table(daily, changed, full)
        return
    first = spawn("first", today.isoformat())
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    daily = spawn("daily", tomorrow)
    changed = spawn("changed", (today + dt.timedelta(days=2)).isoformat())
    full = spawn("full", (today + dt.timedelta(days=2, hours=1)).isoformat())
    base = first["baseline"]
    c = first["counts"]
    print(f"first run: {sum(c.get('created', {}).values()):,} tasks created "
          f"({json.dumps(c.get('created', {}))}), {c.get('tiers_changed', 0):,} tiers written, "
          f"{c.get('deliveries_queued', 0):,} report deliveries queued, {c.get('due_rows_written', 0):,} due dates, "
          f"overflow {c.get('overflow', 0):,}")
    print(f"baseline: {base['queries']} SELECTs replayed ({base['rows_read']:,} rows) {base['query_s']:.1f} s; "
          f"the same rows written into tables of the same shape ({json.dumps(base['rows_written'])}) and committed "
          f"{base['write_s']:.1f} s")
    print()
    _daily_table(daily, changed, full, first)


def _daily_table(daily: dict, changed: dict, full: dict, first: dict | None = None) -> None:
    print(f"{'run':<19}{'mode':<13}{'examined':>10}{'baseline s':>11}{'run s':>8}{'ratio':>7}{'peak MiB':>10}  "
          f"{'created':>9}  stages (s)")
    if first is not None:
        print(_line("first", first))
    print(_line("daily, no writes", daily))
    print(_line("daily, 1% changed", changed))
    print(_line("full re-run", full))
    print("\n(the daily runs' baselines: their own SELECTs, replayed raw; they write next to nothing)")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.loadavg import run_with_load_average

    run_with_load_average(main)
