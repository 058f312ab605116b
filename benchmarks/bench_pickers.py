"""The client list and the task list at a big firm's staff size, beside the same pages at a small firm's, in the
same run: the cost the pickers of managers, colleagues and teams add as the staff grows (issue 19: at a million
clients the demo has 10,000 relationship managers in 1,250 desks, and every client-list page rendered a
``<select>`` of all of them, twice for a lead).

    BCRM_DATA_DIR=var/benchpickers .venv/bin/python benchmarks/bench_pickers.py --managers 10000
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bcrm_pickers .venv/bin/python benchmarks/bench_pickers.py

It migrates the database, writes ``--managers`` relationship managers in desks of 8 (bulk, as the demo's scale
staff) plus 200 clients, and times each page as a lead (``--repeat`` requests after warm-up) with the small
staff (the baseline: 8 managers) and then with the large one. ``ratio`` = large p50 / small p50: 1.0 means
the pages do not grow with the staff. Prints the load average at start and end. To time another checkout's
code on the same database, put it first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

try:
    import bcrm  # noqa: F401  (another checkout on PYTHONPATH is timed as it is)
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bcrm.settings")
os.environ.setdefault("BCRM_2FA_REQUIRED_ROLES", "")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from bcrm.accounts.models import Team, TeamMembership  # noqa: E402
from bcrm.accounts.services import roles_ensure, user_create  # noqa: E402
from bcrm.parties.models import Organization  # noqa: E402

PAGES = {"client list": "/clients/?sort=name", "client search": "/clients/?q=bench", "task list": "/tasks/"}


def staff(count: int, prefix: str) -> None:
    """``count`` relationship managers in desks of 8, written in bulk."""
    User = get_user_model()
    users = User.objects.bulk_create(
        [User(username=f"rm.{prefix}.{n:05d}", first_name="Manager", last_name=f"{prefix}{n:05d}")
         for n in range(count)], batch_size=2000)
    users = list(User.objects.filter(username__startswith=f"rm.{prefix}.").order_by("username"))
    Group.objects.get(name="relationship_manager").user_set.add(*users)
    desks = Team.objects.bulk_create([Team(name=f"{prefix} desk {n:04d}") for n in range((count + 7) // 8)])
    desks = list(Team.objects.filter(name__startswith=f"{prefix} desk ").order_by("name"))
    TeamMembership.objects.bulk_create([TeamMembership(team=desks[i // 8], user=u) for i, u in enumerate(users)],
                                       batch_size=2000)


def timed(client: Client, url: str, repeat: int) -> list[float]:
    for _ in range(3):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.get("Location"))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--managers", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]
    call_command("migrate", verbosity=0)
    roles_ensure()
    User = get_user_model()
    lead = User.objects.filter(username="bench.pickers.lead").first() or user_create(
        actor=None, username="bench.pickers.lead", password="bench-password-2026", roles=["lead"], validate=False)
    if not Organization.objects.filter(legal_name__startswith="Bench client").exists():
        Organization.objects.bulk_create([Organization(legal_name=f"Bench client {n:03d}", kind="fund", country="CN")
                                          for n in range(200)])
    client = Client()
    client.force_login(lead)
    results: dict[str, dict[str, list[float]]] = {}
    for size, prefix in ((8, "small"), (args.managers, "large")):
        if not User.objects.filter(username__startswith=f"rm.{prefix}.").exists():
            staff(size, prefix)
        managers = User.objects.filter(groups__name="relationship_manager").count()
        for name, url in PAGES.items():
            results.setdefault(name, {})[prefix] = timed(client, url, args.repeat)
        print(f"staff: {managers} relationship managers, {Team.objects.count()} teams")
    print(f"{'page':<16}{'8 managers p50':>16}{f'{args.managers:,} p50':>14}{'p95':>9}{'ratio':>8}")
    for name, runs in results.items():
        small, large = statistics.median(runs["small"]), statistics.median(runs["large"])
        p95 = sorted(runs["large"])[int(0.95 * (len(runs["large"]) - 1))]
        print(f"{name:<16}{small:>13.1f} ms{large:>11.1f} ms{p95:>6.1f} ms{large / small:>8.2f}")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
