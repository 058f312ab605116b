"""`bcrm demo`: from an empty data folder to a browsable portfolio in one command."""

from __future__ import annotations

import sys
import time

from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from tqdm import tqdm

from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError
from bcrm.demo.generator import generate_portfolio
from bcrm.demo.users import demo_users
from bcrm.parties.models import Organization


class Command(BaseCommand):
    help = ("Migrate the database, create the demo logins, load the fictional demo portfolio "
            "(unless the database already holds organisations) and serve the app.")

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=300,
                            help="number of client organisations (default 300; from 50,000 on the lean scale data set)")
        parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same portfolio")
        parser.add_argument("--no-serve", action="store_true", help="load only; do not start the web server")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, clients: int, seed: int, no_serve: bool, port: int, **options):
        if clients < 1:
            raise CommandError("--clients must be at least 1.")
        verbosity = options.get("verbosity", 1)
        self.stdout.write("Migrating the database…")
        call_command("migrate", interactive=False, verbosity=max(0, verbosity - 1))

        staff = demo_users()
        self.stdout.write("\nDemo logins (fictional data; change or remove these users before real use):")
        width = max(len(u) for u, _r, _p in staff.logins) + 2
        self.stdout.write(f"  {'username':<{width}}{'role':<22}password")
        for username, role, password in staff.logins:
            self.stdout.write(f"  {username:<{width}}{role:<22}{password}")
        self.stdout.write("")

        existing = Organization.objects.count()
        if existing:
            self.stdout.write(f"The database already holds {existing:,} organisations; not loading the demo portfolio.")
        else:
            self._load(clients, seed)
        self._classify()

        url = f"http://127.0.0.1:{port}/"
        if no_serve:
            self.stdout.write(f"\nReady. Start the server with `bcrm serve --port {port}` and open {url}")
            return
        if "serve" not in get_commands():
            raise CommandError(f"The `serve` command is not available in this installation; the data is loaded. "
                               f"Serve the app another way and open {url}")
        self.stdout.write(f"\nOpen {url} and log in with one of the users above.")
        call_command("serve", port=port, with_worker=True)

    def _classify(self) -> None:
        """Run the segmentation once, so the demo opens with labels, explanations and a first run."""
        from bcrm.segmentation.choices import Dimension, label_display
        from bcrm.segmentation.models import Run
        from bcrm.segmentation.services import run_segmentation

        if Run.objects.exists():
            return
        self.stdout.write("Classifying the portfolio (value, risk, relationship)…")
        for dimension in Dimension.values:
            report = run_segmentation(actor=None, dimension=dimension)
            counts = report.outcome.counts
            parts = ", ".join(f"{label_display(dimension, code)} {counts[code]:,}" for code in counts
                              if code not in ("total", "overridden"))
            self.stdout.write(f"  {Dimension(dimension).label:<14}{parts}  ({report.duration_ms:,} ms)")

    def _load(self, clients: int, seed: int) -> None:
        self.stdout.write(f"Loading the demo portfolio: {clients:,} clients, seed {seed}…")
        started = time.perf_counter()
        with tqdm(total=clients, unit="client", unit_scale=True, file=sys.stderr, dynamic_ncols=True) as bar:
            def progress(done: int, total: int) -> None:
                bar.update(done - bar.n)

            try:
                counts = generate_portfolio(clients=clients, seed=seed, progress=progress)
            except ServiceError as exc:
                raise command_error(exc)
        # Fresh planner statistics: without them SQLite picks poor indexes on a freshly bulk-loaded book.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        elapsed = time.perf_counter() - started
        total = sum(counts.values())
        for label, count in counts.items():
            self.stdout.write(f"  {label:<42}{count:>12,}")
        self.stdout.write(f"  {'rows':<42}{total:>12,}  in {elapsed:.1f} s ({total / max(elapsed, 1e-9):,.0f} rows/s)")
