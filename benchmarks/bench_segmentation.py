"""Segmentation engine at scale: full and incremental runs of each dimension, beside a same-run baseline.

For each dimension, in a fresh child process (so peak memory is the run's own):

- **full run**: every client's features recomputed from the tables → scores → evidence → split → hysteresis →
  stability → explanations → write (one assignment per client, then the current labels), i.e.
  ``services.run_segmentation(full=True)``;
- **incremental run, 1 % changed**: the daily run. First yesterday's run: a real run, not timed, which
  brings the feature store up to date (its time is printed as "store build" when it had to build the
  store) and leaves the assignments the daily run builds on; then
  the interactions, commitment amounts (+10 %) and credit ratings (one notch) of 1 % of the clients are edited
  with raw UPDATEs (the triggers mark those clients),
  older change stamps are aged by a day (as if the last run was yesterday), and the incremental run is timed.
  By default both runs are as of today; with ``--next-day`` yesterday's run is as of yesterday, as in production,
  where the date moving a day changes every client's time-based features;
- **dry run**: the full computation without the write, features recomputed (no file cache); **incremental
  dry run**: a preview from the feature store (reads it, recomputes what changed, writes nothing);
- **baseline**: the full run's own aggregate queries replayed raw (captured while the run computed its
  features, then re-executed with ``cursor.execute`` + ``fetchall``), plus a bulk write of the same number
  of rows of the same shape with the driver alone (``executemany`` on SQLite, ``COPY`` on PostgreSQL) into
  a table of the **same shape as the real assignments table**: a logged table with its indexes and
  constraints (PostgreSQL: ``CREATE TABLE … (LIKE segmentation_assignment INCLUDING ALL)``; SQLite: the
  table's own CREATE statements under another name), created before the clock starts.

On PostgreSQL each timed step starts after a ``CHECKPOINT`` (:func:`settle`), so none pays for the writes of
the step before.

``ratio`` = full run / baseline; ``incr/full`` = incremental run / full run (same process tree, same minute).
Aims (issue 19): a full run within 2x of the baseline and under 60 s per dimension at 1M; the daily
incremental run proportional to what changed.

    BCRM_DATA_DIR=var/bench100k .venv/bin/python benchmarks/bench_segmentation.py
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bcrm_bench .venv/bin/python benchmarks/bench_segmentation.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bcrm.settings")
#: ``--next-day``: yesterday's run is as of yesterday and the daily run as of today, as in production, where
#: the date moves every client's time-based features (months since, years of relationship, the CLV's age T).
NEXT_DAY = os.environ.get("BENCH_NEXT_DAY") == "1"


def settle(connection) -> None:
    """Flush what the steps before wrote (a full run's million rows, yesterday's store build) before the clock
    starts: on PostgreSQL a checkpoint their WAL triggers would otherwise land inside whichever step is timed
    next (seen: the same daily run at 20.8 s and at 59.9 s, its untouched write stages 5–15x slower)."""
    from django.db import DatabaseError

    if connection.vendor != "postgresql":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")  # a superuser's or pg_checkpoint's right; without it, timed as it comes
    except DatabaseError:
        pass


def child(dimension: str, mode: str) -> dict:
    import django

    django.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    if mode != "prepare":
        settle(connection)

    from bcrm.segmentation import services
    from bcrm.segmentation.models import Assignment

    if mode in ("dry", "dry_incremental"):
        # "dry": features recomputed from the tables (no file cache); "dry_incremental": the criterion
        # editor's preview as a user gets it — from the feature store (its copy in the data folder, left by
        # the last run that wrote the store, when the file cache is on as by default), without the
        # resampled stability the editor does not show.
        from django.conf import settings

        if mode == "dry":
            settings.BCRM_FEATURE_CACHE_SECONDS = 0
        clock = time.perf_counter()
        report = services.run_segmentation(actor=None, dimension=dimension, dry_run=True,
                                           full=mode == "dry", with_stability=mode == "dry")
        seconds = time.perf_counter() - clock
        return {"seconds": seconds, "n": report.outcome.population.size, "timings": report.outcome.timings,
                "counts": report.outcome.counts, "recomputed": report.outcome.recomputed,
                "arrays_mib": arrays_mib(report.outcome)}
    if mode == "full":
        clock = time.perf_counter()
        report = services.run_segmentation(actor=None, dimension=dimension, full=True)
        seconds = time.perf_counter() - clock
        return {"seconds": seconds, "n": report.outcome.population.size, "timings": report.outcome.timings,
                "counts": report.outcome.counts, "run_id": report.run.pk, "arrays_mib": arrays_mib(report.outcome),
                "written": report.run.written}
    if mode == "prepare":  # yesterday's run (brings the store up to date, builds it the first time), then
        # change 1 % of clients. A real run, not a bare store update: the daily run builds on its assignments.
        yesterday = None
        if NEXT_DAY:  # as of yesterday, so the daily run is a day later: the lifetime-value model kept today is
            # dropped (it was fitted after yesterday), as if the runs so far had been up to yesterday's
            from bcrm.segmentation.models import ClvFit

            yesterday = services.engine.today() - dt.timedelta(days=1)
            ClvFit.objects.filter(as_of__gt=yesterday).delete()
        clock = time.perf_counter()
        built = services.run_segmentation(actor=None, dimension=dimension, as_of=yesterday).outcome
        build_seconds = time.perf_counter() - clock
        with connection.cursor() as cursor:
            cursor.execute("UPDATE segmentation_clientchange SET changed_at = %s",
                           [timezone.now() - dt.timedelta(days=1)])
            share = int(time.time()) % 100  # 1 % of the clients: their interactions, commitments and rating
            cursor.execute("UPDATE engagement_interaction SET minutes_spent = minutes_spent + 1 "
                           "WHERE organization_id %% 100 = %s", [share])
            changed = cursor.rowcount
            cursor.execute("UPDATE financing_participation SET amount = amount * 1.1 "
                           "WHERE organization_id %% 100 = %s", [share])
            cursor.execute("UPDATE parties_organization SET rating_score = CASE WHEN rating_score > 1 "
                           "THEN rating_score - 1 ELSE 2 END WHERE id %% 100 = %s AND rating_score IS NOT NULL",
                           [share])
        return {"seconds": build_seconds, "built": built.mode == "full", "interactions_changed": changed}
    if mode == "incremental":
        clock = time.perf_counter()
        report = services.run_segmentation(actor=None, dimension=dimension)
        seconds = time.perf_counter() - clock
        return {"seconds": seconds, "n": report.outcome.population.size, "timings": report.outcome.timings,
                "counts": report.outcome.counts, "run_id": report.run.pk, "recomputed": report.run.recomputed,
                "mode": report.run.mode, "written": report.run.written, "base_run": report.run.base_run_id}
    # baseline: capture the aggregate SQL of this dimension's features, replay it raw, then bulk-write
    from bcrm.segmentation.classify import feature_names_for
    from bcrm.segmentation.features import compute_features, load_population

    captured: list[tuple[str, tuple]] = []

    def capture(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("SELECT"):
            captured.append((sql, params))
        return execute(sql, params, many, context)

    criterion = services.criterion_active(dimension)
    pop = load_population(services.engine.today())
    with connection.execute_wrapper(capture):
        compute_features(feature_names_for(criterion), pop)
    clock = time.perf_counter()
    rows_read = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM parties_organization ORDER BY id")
        rows_read += len(cursor.fetchall())
        for sql, params in captured:
            cursor.execute(sql, params)
            rows_read += len(cursor.fetchall())
    read_seconds = time.perf_counter() - clock
    n = pop.size
    table = Assignment._meta.db_table
    scratch = "bench_assignment_scratch"
    sample = json.dumps({"c": [["committed_amount", 123456.0, 0.1234], ["fee_income", 1234.0, 0.05]]})
    fingerprint = bytes(52)  # the explanation's numbers, float32 × 13 (services.changes)
    cols = ["run_id", "organization_id", "label", "engine_label", "previous_label", "score",
            "completeness", "stability", "overridden", "held_by_hysteresis", "explanation", "fingerprint"]
    with connection.cursor() as cursor:
        create_same_shape(cursor, table, scratch)
    # one transaction, as the real run writes (SQLite in autocommit would sync every row)
    with transaction.atomic(), connection.cursor() as cursor:
        clock = time.perf_counter()
        batch = 20_000
        for start in range(0, n, batch):
            rows = [(0, int(pop.ids[i]), "general", "general", "general", 0.5, 1.0, 0.9, False, False, sample,
                     fingerprint)
                    for i in range(start, min(n, start + batch))]
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {scratch} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(f"INSERT INTO {scratch} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * 12)})",
                                   rows)
    write_seconds = time.perf_counter() - clock  # the commit included
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {scratch}")
    return {"seconds": read_seconds + write_seconds, "read": read_seconds, "write": write_seconds, "n": n,
            "queries": len(captured) + 1, "rows_read": rows_read}


def arrays_mib(outcome) -> float:
    """The run's own arrays: every feature column (values and missing mask) and the per-client results
    (scores, labels, contributions…) — what memory holds at the least, to set beside the peak."""
    import numpy as np

    total = sum(fv.values.nbytes + fv.missing.nbytes for fv in outcome.matrix.columns.values())
    for value in vars(outcome).values():
        if isinstance(value, np.ndarray):
            total += value.nbytes
        elif isinstance(value, dict):
            total += sum(v.nbytes for v in value.values() if isinstance(v, np.ndarray))
    return total / 2**20


def create_same_shape(cursor, table: str, scratch: str) -> None:
    """An empty table shaped like ``table``: same columns, indexes and constraints, logged (not TEMP)."""
    from django.db import connection

    cursor.execute(f"DROP TABLE IF EXISTS {scratch}")
    if connection.vendor == "postgresql":
        cursor.execute(f"CREATE TABLE {scratch} (LIKE {table} INCLUDING ALL)")
        return
    # the table and its indexes (its triggers fire on deletes and moves only, which the baseline does not do)
    cursor.execute("SELECT type, sql FROM sqlite_master WHERE tbl_name = %s AND sql IS NOT NULL "
                   "AND type IN ('table', 'index') ORDER BY type DESC", [table])
    for kind, sql in cursor.fetchall():  # "table" first, then its indexes
        sql = sql.replace(f'"{table}"', f'"{scratch}"')
        if kind == "index":
            sql = re.sub(r'INDEX "([^"]+)"', lambda m: f'INDEX "{scratch}_{m.group(1)}"', sql, count=1)
        cursor.execute(sql)


def run_child(dimension: str, mode: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", dimension, mode], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise SystemExit(f"{dimension} {mode} failed:\n{out.stderr[-3000:]}")
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]  # logging may share stdout
    if not lines:
        raise SystemExit(f"{dimension} {mode} printed no result:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2, metavar=("DIMENSION", "MODE"))
    parser.add_argument("--dimension", action="append", choices=["value", "risk", "relationship"])
    parser.add_argument("--no-dry", action="store_true", help="skip the two dry runs (shown as -)")
    parser.add_argument("--next-day", action="store_true",
                        help="yesterday's run as of yesterday, the daily run as of today (default: both as of today)")
    args = parser.parse_args()
    if args.next_day:
        os.environ["BENCH_NEXT_DAY"] = "1"  # the children read it
    if args.child:
        result = child(*args.child)
        result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result, default=float))
        return
    import django

    django.setup()
    from django.db import connection

    print(f"database: {connection.vendor}  ({connection.settings_dict['NAME']}); daily run "
          + ("a day after yesterday's (--next-day)" if args.next_day else "as of the same date as yesterday's"))
    print(f"{'dimension':<13}{'clients':>10}{'baseline s':>12}{'full s':>9}{'ratio':>7}{'incr s':>8}"
          f"{'incr/full':>10}{'recomputed':>11}{'dry s':>8}{'dry incr s':>11}{'peak MiB':>10}")
    for dimension in args.dimension or ["value", "risk", "relationship"]:
        base = run_child(dimension, "baseline")
        full = run_child(dimension, "full")
        skipped = {"seconds": float("nan"), "peak_mib": float("nan")}
        dry = skipped if args.no_dry else run_child(dimension, "dry")
        prep = run_child(dimension, "prepare")
        inc = run_child(dimension, "incremental")
        dry_inc = skipped if args.no_dry else run_child(dimension, "dry_incremental")
        print(f"{dimension:<13}{full['n']:>10,}{base['seconds']:>12.1f}{full['seconds']:>9.1f}"
              f"{full['seconds'] / base['seconds']:>7.2f}{inc['seconds']:>8.1f}{inc['seconds'] / full['seconds']:>10.2f}"
              f"{inc['recomputed']:>11,}{dry['seconds']:>8.1f}{dry_inc['seconds']:>11.1f}{full['peak_mib']:>10.0f}")
        print(f"{'':<13}baseline: {base['queries']} queries read {base['rows_read']:,} rows in {base['read']:.1f} s, "
              f"bulk write {base['n']:,} rows into a table shaped like the assignments in {base['write']:.1f} s")
        print(f"{'':<13}full run stages: " + " ".join(f"{k} {v:.1f}" for k, v in full["timings"].items()))
        print(f"{'':<13}assignments written: full {full['written']:,}, incremental {inc['written']:,} "
              f"(built on run {inc['base_run']})")
        print(f"{'':<13}incremental run ({inc['mode']}, {prep['interactions_changed']:,} interactions edited; "
              f"yesterday's run, not timed, {prep['seconds']:.1f} s, "
              f"store {'built' if prep['built'] else 'brought up to date'}): "
              + " ".join(f"{k} {v:.1f}" for k, v in inc["timings"].items()))
        if not args.no_dry:
            print(f"{'':<13}dry run stages: " + " ".join(f"{k} {v:.1f}" for k, v in dry["timings"].items()))
            print(f"{'':<13}preview (dry incremental) stages: "
                  + " ".join(f"{k} {v:.1f}" for k, v in dry_inc["timings"].items()))
        print(f"{'':<13}peak MiB: full {full['peak_mib']:.0f} (its arrays {full['arrays_mib']:.0f}), incremental "
              f"{inc['peak_mib']:.0f}, dry {dry.get('peak_mib', float('nan')):.0f}, "
              f"preview {dry_inc.get('peak_mib', float('nan')):.0f}; "
              f"counts {full['counts']}")

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.loadavg import run_with_load_average

    run_with_load_average(main)
