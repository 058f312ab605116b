"""Duplicate detection at scale: a full scan of organisations and of contacts, beside the bare read of the
same columns in the same run, plus the first page of the duplicates list and a merge preview.

    BCRM_DATA_DIR=var/bench1m .venv/bin/python benchmarks/bench_dedupe.py --build 1000000
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bcrm_bench1m .venv/bin/python benchmarks/bench_dedupe.py

``--build N`` migrates and loads the scale data set (``bcrm demo --clients N``) when the database holds no
organisations. ``--variants K`` first adds K look-alike organisations (suffix, case, width and script
variants of existing names, marked ``BENCH-DUP-`` in their external id) so the scan has real duplicates
to find; they are added once.

Figures: seconds per scan and per phase; ``read`` is the bare SQL fetch of the columns the scan reads
(the floor any scan in Python has to pay); ``ratio`` = scan / read. Peak memory is the process's
maximum resident set size.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bcrm.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from bcrm.dedupe import selectors, services  # noqa: E402
from bcrm.parties.models import Contact, Organization  # noqa: E402

READS = {
    "organizations": [
        f"SELECT id, legal_name, local_name, website, external_id FROM {Organization._meta.db_table}",
        f"SELECT organization_id, email FROM {Contact._meta.db_table} WHERE email <> ''",
    ],
    "contacts": [f"SELECT id, organization_id, full_name, local_name, email, phone FROM {Contact._meta.db_table}"],
}


def bare_read(entity: str) -> float:
    start = time.perf_counter()
    with connection.cursor() as cursor:
        for sql in READS[entity]:
            cursor.execute(sql)
            while cursor.fetchmany(10_000):
                pass
    return time.perf_counter() - start


def add_variants(count: int) -> int:
    if Organization.objects.filter(external_id__startswith="BENCH-DUP-").exists():
        return 0
    wide = {c: chr(ord(c) + 0xFEE0) for c in map(chr, range(0x21, 0x7F))}
    made = []
    for i, org in enumerate(Organization.objects.order_by("?")[:count].iterator()):
        style = i % 4
        if style == 0:
            legal = org.legal_name.upper() + " LIMITED"
        elif style == 1:
            legal = "".join(wide.get(c, c) for c in org.legal_name)
        elif style == 2:
            legal = org.local_name or org.legal_name + " Co., Ltd."
        else:
            legal = f"{org.legal_name} Holdings Group"
        made.append(Organization(legal_name=legal[:255], local_name="", kind=org.kind, country=org.country,
                                 website=org.website, external_id=f"BENCH-DUP-{i:07d}"))
    with transaction.atomic():
        Organization.objects.bulk_create(made, batch_size=2000)
    return len(made)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=int, default=0, help="load this many clients if the database is empty")
    parser.add_argument("--variants", type=int, default=0, help="add this many look-alike organisations first")
    args = parser.parse_args()

    if args.build and not Organization.objects.exists():
        call_command("demo", clients=args.build, no_serve=True)
    call_command("migrate", interactive=False, verbosity=0)
    if args.variants:
        print(f"added {add_variants(args.variants):,} look-alike organisations")

    print(f"database: {connection.vendor}, {Organization.objects.count():,} organisations, "
          f"{Contact.objects.count():,} contacts")
    print(f"{'entity':<15}{'records':>11}{'scan s':>9}{'read s':>9}{'ratio':>7}{'pairs':>11}{'groups':>10}"
          f"{'skipped':>9}")
    for entity in ("organizations", "contacts"):
        read = bare_read(entity)
        phases: list[str] = []
        start = time.perf_counter()

        def progress(message: str, start: float = start, phases: list[str] = phases) -> None:
            phases.append(f"{time.perf_counter() - start:6.1f}s {message}")

        scan = services.duplicate_scan(entity=entity, progress=progress)
        seconds = time.perf_counter() - start
        print(f"{entity:<15}{scan.records:>11,}{seconds:>9.1f}{read:>9.1f}{seconds / read:>7.1f}{scan.pairs:>11,}"
              f"{scan.groups:>10,}{scan.skipped_blocks:>9,}")
        for line in phases:
            print(f"    {line}")

    lead = None
    start = time.perf_counter()
    page, views = selectors.find_duplicates(actor=lead, entity="organizations", page_size=20)
    list_ms = (time.perf_counter() - start) * 1000
    print(f"duplicates list, first page of 20 groups (of {page.count:,}{'+' if page.count_is_capped else ''}): "
          f"{list_ms:.0f} ms")
    if views:
        group = views[0]
        start = time.perf_counter()
        with transaction.atomic():
            plan = services.organization_merge(actor=None, survivor=group.ids[0], others=group.ids[1:], preview=True)
        print(f"merge preview of a {len(group.ids)}-record group ({len(plan.moves)} relations): "
              f"{(time.perf_counter() - start) * 1000:.0f} ms")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    from benchmarks.loadavg import run_with_load_average

    run_with_load_average(main)
