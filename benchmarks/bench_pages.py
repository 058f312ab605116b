"""Server time of the client list, a name search, a filtered list, the 360° page and the API list,
each beside the bare SQL for the same rows, measured in the same run.

    BCRM_DATA_DIR=var/bench1m .venv/bin/python benchmarks/bench_pages.py --build 1000000
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bcrm_bench1m .venv/bin/python benchmarks/bench_pages.py --build 1000000

``--build N`` migrates and loads the scale data set (``bcrm demo --clients N``) when the database holds
no organisations. Figures: p50 and p95 in milliseconds over ``--repeat`` requests after warm-up.
Two baselines per page, both raw SQL through the driver's cursor (no ORM, no model instances): the page's
main data query alone (``bare``: the selector's SQL for the same 50 rows, or for the 360° page the
statements of the client, its contacts, participations and timeline, captured once and replayed), and every
SELECT the page ran, replayed (``all sql``). ``ratio`` is page p50 / bare p50.
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
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bcrm.accounts.models import ApiToken  # noqa: E402
from bcrm.accounts.services import token_create, user_create  # noqa: E402
from bcrm.engagement.selectors import organization_timeline  # noqa: E402
from bcrm.parties.models import Organization  # noqa: E402
from bcrm.parties.selectors import organization_list  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def timed(fn, repeat: int) -> list[float]:
    for _ in range(3):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def raw(sql: str, params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        cursor.fetchall()


def captured_statements(fn) -> list[tuple[str, object]]:
    """The (sql, params) pairs ``fn`` sends to the database, exactly as the driver receives them."""
    statements: list[tuple[str, object]] = []

    def wrapper(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        fn()
    return statements


def replay(statements: list[tuple[str, object]]) -> None:
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
            if cursor.description is not None:  # a SELECT (not the search probe's SET / RESET)
                cursor.fetchall()


def bench_user():
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username="bench.lead").first()
    if user is None:
        user = user_create(actor=None, username="bench.lead", password="bench-password-2026", roles=["lead"],
                           validate=False)
    return user


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--build", type=int, default=0, help="load this many clients if the database is empty")
    parser.add_argument("--common", default="pacific,capital",
                        help="comma-separated search terms with many hits (more than the hit limit at 1M)")
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]

    call_command("migrate", verbosity=0)
    if args.build and not Organization.objects.exists():
        call_command("demo", clients=args.build, no_serve=True)
    if connection.vendor == "postgresql":
        # Fresh statistics, as autovacuum would have them on a live database: right after
        # the bulk load PostgreSQL still believed the task table had no open tasks and picked a plan that read
        # all 220,000 of them for one client's next task.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    total = Organization.objects.count()
    vendor = connection.vendor
    print(f"# bcrm page benchmark — {vendor}, {total:,} organisations, {args.repeat} requests per figure")

    user = bench_user()
    client = Client()
    client.force_login(user)
    _, token = token_create(user=user, name="bench")

    # Pick a well-connected client for the 360° page and a real name fragment for the search.
    from django.db.models import Count

    target = (
        Organization.objects.filter(pk__in=list(Organization.objects.order_by("id").values_list("id", flat=True)[:2000]))
        .annotate(n=Count("participations")).order_by("-n", "id").first()
    )
    fragment = (target.local_name or target.legal_name)[:2].lower() if target else "capital"
    search_fragment = (target.legal_name.split()[0] if target else "capital").lower()
    first = Organization.objects.order_by("id").values("kind", "country").first() or {}

    cases = [
        ("list, first page", "/clients/", {}),
        (f"name search {search_fragment!r}", f"/clients/?q={search_fragment}", {"q": search_fragment}),
        (f"local-name search {fragment!r}", f"/clients/?q={fragment}", {"q": fragment}),
        ("filtered (kind+country)", f"/clients/?kind={first.get('kind')}&country={first.get('country')}",
         {"kind": first.get("kind"), "country": first.get("country")}),
        *((f"common search {term!r}", f"/clients/?q={term}", {"q": term})
          for term in (t.strip().lower() for t in args.common.split(",")) if term),
    ]
    print(f"{'page':34} {'p50':>8} {'p95':>8} {'bare p50':>9} {'all-sql p50':>12} {'ratio':>6}  queries")
    for label, url, filters in cases:
        # bare: the statements the selector sends for the page's 50 rows (a search's hit probe, then the page
        # query — or a common term's bounded walk and the page), captured once and replayed raw
        statements = captured_statements(lambda filters=filters: page_rows(user, filters))
        bare = timed(lambda statements=statements: replay(statements), args.repeat)
        report(label, client, url, bare, args.repeat, note=hits_note(user, filters))

    if target is not None:
        def orm_360():
            organization = Organization.objects.select_related("team", "relationship_manager").get(pk=target.pk)
            list(organization.contacts.all())
            list(organization.participations.select_related("project"))
            organization_timeline(actor=user, organization=organization, limit=50)

        # The ORM's statements captured once, then replayed raw: the floor is the database's work alone.
        statements = captured_statements(orm_360)
        bare = timed(lambda: replay(statements), args.repeat)
        report("360° page", client, f"/clients/{target.pk}/", bare, args.repeat)

    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    queryset = organization_list(actor=user, filters={})
    sql, params = queryset[:50].query.sql_with_params()
    bare = timed(lambda: raw(sql, params), args.repeat)
    report("API list, first page", api, "/api/v1/organizations?page_size=50", bare, args.repeat)
    ApiToken.objects.filter(name="bench").delete()


def page_rows(user, filters: dict) -> None:
    from bcrm.parties.filters import TooManyMatches

    try:
        list(organization_list(actor=user, filters=filters).select_related("labels", "service_tier")[:50])
    except TooManyMatches:
        pass


def hits_note(user, filters: dict) -> str:
    """How many clients a search matches (up to 100,001) and what the page showed: rows, or "too many"."""
    if not filters.get("q"):
        return ""
    from django.db.models.functions import Lower

    from bcrm.parties.filters import TooManyMatches, search_filter

    hits = Organization.objects.alias(legal_name_lower=Lower("legal_name"), local_name_lower=Lower("local_name")).filter(
        search_filter(filters["q"])).order_by().values("pk")[:100_001].count()
    try:
        shown = len(organization_list(actor=user, filters=filters)[:50])
    except TooManyMatches:
        return f"{hits:,} hits: too many to list in order (message)"
    return f"{hits:,} hits, {shown} shown"


def report(label: str, client: Client, url: str, bare: list[float], repeat: int, note: str = "") -> None:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    statements = [q["sql"] for q in captured.captured_queries]
    page = timed(lambda: client.get(url), repeat)

    def replay():
        with connection.cursor() as cursor:
            for statement in statements:
                if statement.lstrip().upper().startswith(("SELECT", "WITH")):
                    cursor.execute(statement)
                    cursor.fetchall()

    all_sql = timed(replay, repeat)
    p50, p95, b50 = statistics.median(page), percentile(page, 0.95), statistics.median(bare)
    print(f"{label:34} {p50:8.1f} {p95:8.1f} {b50:9.2f} {statistics.median(all_sql):12.2f} "
          f"{p50 / b50 if b50 else float('nan'):6.1f}  {len(statements)}{'  ' + note if note else ''}")


if __name__ == "__main__":
    from benchmarks.loadavg import run_with_load_average

    run_with_load_average(main)
