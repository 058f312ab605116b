"""Segmentation engine at scale: a real run and a dry run of each dimension, beside a same-run baseline.

For each dimension, in a fresh child process (so peak memory is the run's own):

- **real run**: features → scores → evidence → split → hysteresis → stability → explanations → write
  (one assignment per client, then the current labels), i.e. ``services.run_segmentation``;
- **dry run**: the same without the write, features recomputed;
- **warm dry run**: a preview right after the real run, reusing the features it cached;
- **baseline**: the run's own aggregate queries replayed raw (captured while the run computed its
  features, then re-executed with ``cursor.execute`` + ``fetchall``), plus a bulk insert of the same
  number of rows of the same shape into an index-free scratch table with the driver alone
  (``executemany`` on SQLite, ``COPY`` on PostgreSQL).

``ratio`` = real run / baseline. Aims (issue 4): within 2x of the baseline, under 60 s per dimension,
under 2 GiB peak memory; a dry run under 15 s (the criterion editor's preview is the warm case).

    BCRM_DATA_DIR=var/bench1m .venv/bin/python benchmarks/bench_segmentation.py
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bcrm_bench1m .venv/bin/python benchmarks/bench_segmentation.py
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


def child(dimension: str, mode: str) -> dict:
    import django

    django.setup()
    from django.db import connection

    from bcrm.segmentation import services
    from bcrm.segmentation.models import Assignment

    if mode in ("dry", "dry_warm"):
        # "dry": features recomputed (no cache); "dry_warm": a preview right after a real run, which
        # reuses the features that run left in the cache (BCRM_FEATURE_CACHE_SECONDS).
        from django.conf import settings

        if mode == "dry":
            settings.BCRM_FEATURE_CACHE_SECONDS = 0
        clock = time.perf_counter()
        report = services.run_segmentation(actor=None, dimension=dimension, dry_run=True)
        seconds = time.perf_counter() - clock
        return {"seconds": seconds, "n": report.outcome.population.size, "timings": report.outcome.timings,
                "counts": report.outcome.counts}
    if mode == "real":
        clock = time.perf_counter()
        report = services.run_segmentation(actor=None, dimension=dimension)
        seconds = time.perf_counter() - clock
        return {"seconds": seconds, "n": report.outcome.population.size, "timings": report.outcome.timings,
                "counts": report.outcome.counts, "run_id": report.run.pk}
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
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {scratch}")
        cursor.execute(f"CREATE TABLE {scratch} AS SELECT * FROM {table} WHERE 1 = 0")
        cols = ["run_id", "organization_id", "label", "engine_label", "previous_label", "score", "margin",
                "completeness", "stability", "overridden", "held_by_hysteresis", "explanation"]
        clock = time.perf_counter()
        batch = 20_000
        for start in range(0, n, batch):
            rows = [(0, int(pop.ids[i]), "general", "general", "general", 0.5, 0.1, 1.0, 0.9, False, False, sample)
                    for i in range(start, min(n, start + batch))]
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {scratch} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(f"INSERT INTO {scratch} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * 12)})",
                                   rows)
        if connection.vendor != "postgresql":
            connection.commit() if not connection.get_autocommit() else None
        write_seconds = time.perf_counter() - clock
        cursor.execute(f"DROP TABLE {scratch}")
    return {"seconds": read_seconds + write_seconds, "read": read_seconds, "write": write_seconds, "n": n,
            "queries": len(captured) + 1, "rows_read": rows_read}


def run_child(dimension: str, mode: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", dimension, mode], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise SystemExit(f"{dimension} {mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2, metavar=("DIMENSION", "MODE"))
    parser.add_argument("--dimension", action="append", choices=["value", "risk", "relationship"])
    args = parser.parse_args()
    if args.child:
        result = child(*args.child)
        result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result, default=float))
        return
    import django

    django.setup()
    from django.db import connection

    print(f"database: {connection.vendor}  ({connection.settings_dict['NAME']})")
    print(f"{'dimension':<13}{'clients':>10}{'baseline s':>12}{'real s':>9}{'ratio':>7}{'dry s':>8}"
          f"{'warm dry s':>11}{'peak MiB':>10}  stages (real run, s)")
    for dimension in args.dimension or ["value", "risk", "relationship"]:
        base = run_child(dimension, "baseline")
        dry = run_child(dimension, "dry")
        real = run_child(dimension, "real")
        warm = run_child(dimension, "dry_warm")
        stages = " ".join(f"{k} {v:.1f}" for k, v in real["timings"].items())
        print(f"{dimension:<13}{real['n']:>10,}{base['seconds']:>12.1f}{real['seconds']:>9.1f}"
              f"{real['seconds'] / base['seconds']:>7.2f}{dry['seconds']:>8.1f}{warm['seconds']:>11.1f}"
              f"{real['peak_mib']:>10.0f}  {stages}")
        print(f"{'':<13}baseline: {base['queries']} queries read {base['rows_read']:,} rows in {base['read']:.1f} s, "
              f"bulk insert {base['n']:,} rows in {base['write']:.1f} s; dry-run peak {dry['peak_mib']:.0f} MiB; "
              f"counts {real['counts']}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.loadavg import run_with_load_average

    run_with_load_average(main)
