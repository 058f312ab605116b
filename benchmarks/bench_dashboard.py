"""The monitoring dashboard, the KPI API and the KPI snapshot on the scale data set, each beside a baseline
measured in the same run.

    BCRM_DATA_DIR=var/bench1m .venv/bin/python benchmarks/bench_dashboard.py
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bcrm_bench1m .venv/bin/python benchmarks/bench_dashboard.py

Figures:

* **snapshot** — ``compute_snapshot`` of one month (every KPI by tier and dimension label, for all teams and each
  team, stored), against its **bare statements**: every statement the computation ran — the aggregate SELECTs and
  the writes that replace the month's rows (DELETE, INSERT) — replayed raw in one transaction (rolled back), so the
  floor pays the same reads and writes on the same table shape. One computation warms the caches first; then
  computation and replay alternate and the best of each is taken. ``ratio`` = computation / replay. Aim: within 2x.
* **pages** — server time (Django's test client in process: routing, middleware, session, queries, templates)
  of the dashboard (by tier, by value, for one team, with the trend, pipeline and migrations) and of
  ``GET /api/v1/kpis``, p50 and p95 over ``--repeat`` requests after warm-up, beside the **bare query of the
  stored snapshot** (the one SELECT of the period's rows for the breakdown and team, run raw) and all the
  page's SELECTs replayed raw. Aim: p95 under 300 ms.
* **effect estimate** — the regression discontinuity at the value line on NPS, once (it reads the history).
* **management report** — the month's PDF (one language), built from the stored snapshot, once.

``--build N`` loads ``bcrm demo --clients N`` when the database holds no organisations.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bcrm.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bcrm.accounts.models import ApiToken, Team  # noqa: E402
from bcrm.accounts.services import token_create  # noqa: E402
from bcrm.monitoring import report as management  # noqa: E402
from bcrm.monitoring import services  # noqa: E402
from bcrm.monitoring.models import KpiSnapshot  # noqa: E402
from bcrm.parties.models import Organization  # noqa: E402
from bcrm.progress.periods import previous_period  # noqa: E402
from benchmarks.bench_pages import bench_user, percentile, timed  # noqa: E402


def is_select(sql: str) -> bool:
    return sql.lstrip().upper().startswith(("SELECT", "WITH"))


def is_statement(sql: str) -> bool:
    """A statement a raw replay repeats: reads and writes (savepoints and transaction control are the
    replay's own transaction)."""
    return sql.lstrip().upper().startswith(("SELECT", "WITH", "INSERT", "UPDATE", "DELETE"))


def replay(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
            if cursor.description is not None:
                cursor.fetchall()


def replay_in_transaction(statements: list[str]) -> None:
    """The statements raw in one transaction, rolled back so the database keeps what the computation stored
    (the replay would otherwise add a second run record): the floor of a computation that writes."""
    from django.db import transaction

    with transaction.atomic():
        replay(statements)
        transaction.set_rollback(True)


def bench_snapshot(period: str, runs: int) -> None:
    print(f"\n## snapshot of {period}: computation beside its bare statements replayed raw "
          f"(1 warm-up, then {runs}x each alternating, best)")
    with CaptureQueriesContext(connection) as captured:
        run = services.compute_snapshot(actor=None, period=period)  # warm-up: caches, and the statements
    statements = [q["sql"] for q in captured.captured_queries if is_statement(q["sql"])]
    selects = sum(1 for sql in statements if is_select(sql))
    computed, replayed, timings = [], [], run.timings
    for _ in range(runs):
        start = time.perf_counter()
        replay_in_transaction(statements)
        replayed.append(time.perf_counter() - start)
        start = time.perf_counter()
        run = services.compute_snapshot(actor=None, period=period)
        computed.append(time.perf_counter() - start)
        timings = run.timings
    best, bare = min(computed), min(replayed)
    print(f"{'figure':34} {'run s':>8} {'bare s':>8} {'ratio':>6}  selects  writes  rows")
    print(f"{'snapshot ' + period:34} {best:8.2f} {bare:8.2f} {best / bare:6.2f}  {selects:7}  "
          f"{len(statements) - selects:6}  {run.rows}")
    stages = " ".join(f"{k} {v / 1000:.2f}" for k, v in timings.items() if isinstance(v, (int, float))
                      and k != "queries")
    print(f"  stages (s): {stages}")


def page_row(label: str, client: Client, url: str, bare_sql: tuple[str, list], repeat: int) -> None:
    # a request resets the connection's query log when it starts: start the capture from an empty log
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    executed = [q["sql"] for q in captured.captured_queries]
    statements = [sql for sql in executed if is_select(sql)]
    page = timed(lambda: client.get(url), repeat)
    sql, params = bare_sql

    def bare():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.fetchall()

    bare_ms = timed(bare, repeat)
    all_sql = timed(lambda: replay(statements), repeat)
    p50, p95, b50 = statistics.median(page), percentile(page, 0.95), statistics.median(bare_ms)
    print(f"{label:34} {p50:8.1f} {p95:8.1f} {b50:9.2f} {statistics.median(all_sql):12.2f} "
          f"{p95 / b50 if b50 else float('nan'):8.1f}  {len(executed)}")


def stored_query(period: str, breakdown: str, team: int | None) -> tuple[str, list]:
    scope = {"team__isnull": True} if team is None else {"team_id": team}
    qs = KpiSnapshot.objects.filter(period=period, breakdown=breakdown, **scope).values("segment", "computed_at",
                                                                                          "figures")
    return qs.query.sql_with_params()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=40, help="requests per page figure")
    parser.add_argument("--snapshot-runs", type=int, default=2, help="computations of the snapshot (best taken)")
    parser.add_argument("--period", help="YYYY-MM; default the previous calendar month")
    parser.add_argument("--build", type=int, default=0, help="load this many clients if the database is empty")
    parser.add_argument("--skip-snapshot", action="store_true", help="pages only (the snapshot must exist)")
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]

    call_command("migrate", verbosity=0)
    if args.build and not Organization.objects.exists():
        call_command("demo", clients=args.build, no_serve=True)
    period = args.period or previous_period(timezone.localdate())
    total = Organization.objects.count()
    print(f"# bcrm monitoring benchmark — {connection.vendor}, {total:,} organisations, period {period}")

    if not args.skip_snapshot:
        bench_snapshot(period, args.snapshot_runs)
    elif not KpiSnapshot.objects.filter(period=period).exists():
        services.compute_snapshot(actor=None, period=period)

    user = bench_user()
    client = Client()
    client.force_login(user)
    _, token = token_create(user=user, name="bench")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    team = Team.objects.order_by("pk").values_list("pk", flat=True).first()
    print(f"\n## pages: server time (ms) over {args.repeat} requests, beside the bare query of the stored snapshot")
    print(f"{'page':34} {'p50':>8} {'p95':>8} {'bare p50':>9} {'all-sql p50':>12} {'p95/bare':>8}  queries")
    page_row("dashboard, by tier", client, f"/dashboard/?period={period}", stored_query(period, "tier", None),
             args.repeat)
    page_row("dashboard, by value", client, f"/dashboard/?period={period}&breakdown=value&figure=nps",
             stored_query(period, "value", None), args.repeat)
    if team is not None:
        page_row("dashboard, one team", client, f"/dashboard/?period={period}&team={team}",
                 stored_query(period, "tier", team), args.repeat)
    page_row("API /kpis, by tier", api, f"/api/v1/kpis?period={period}&breakdown=tier",
             stored_query(period, "tier", None), args.repeat)
    page_row("API /kpis, by risk", api, f"/api/v1/kpis?period={period}&breakdown=risk",
             stored_query(period, "risk", None), args.repeat)
    ApiToken.objects.filter(name="bench").delete()

    start = time.perf_counter()
    effect = services.effect_estimate(actor=user, dimension="value", outcome="nps")
    estimate = effect["estimate"] or {}
    print(f"\n## effect estimate (value line, NPS; reads the history, not stored): {time.perf_counter() - start:.2f} s, "
          f"verdict {estimate.get('verdict')}, {estimate.get('n_used')} clients used")

    start = time.perf_counter()
    built = management.build(user, period, "zh-hans")
    pdf = management.render_pdf(built)
    print(f"\n## management report {period} (zh-hans): {len(pdf) / 1024:.0f} KiB PDF in "
          f"{time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    from benchmarks.loadavg import run_with_load_average

    run_with_load_average(main)
