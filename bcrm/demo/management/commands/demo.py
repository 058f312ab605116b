"""`bcrm demo`: from an empty data folder to a browsable portfolio in one command."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from tqdm import tqdm

from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError
from bcrm.dedupe.models import DuplicateScan
from bcrm.dedupe.services import duplicate_scan
from bcrm.demo.generator import generate_portfolio
from bcrm.demo.users import demo_users
from bcrm.monitoring.demo import demo_service_history, demo_snapshots
from bcrm.monitoring.models import KpiSnapshot
from bcrm.parties.models import Organization
from bcrm.playbooks.automation import run_automation
from bcrm.playbooks.defaults import ensure_defaults
from bcrm.playbooks.models import AutomationRun
from bcrm.progress.demo import demo_progress
from bcrm.progress.models import Milestone
from bcrm.segmentation.choices import Dimension, label_display
from bcrm.segmentation.models import Run
from bcrm.segmentation.services import run_segmentation


def mail_destination() -> str:
    """Where e-mails go, for the demo's closing lines (one configuration for every process: bcrm/settings.py)."""
    from django.conf import settings

    if settings.EMAIL_BACKEND == "bcrm.core.mailbox.EmlFileBackend":
        return (f"E-mails (progress reports, surveys) are written to {settings.EMAIL_FILE_PATH}, one .eml file each; "
                f"set EMAIL_HOST to send them.")
    if settings.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend":
        return f"E-mails are sent through {settings.EMAIL_HOST}:{settings.EMAIL_PORT}."
    return f"E-mails go through {settings.EMAIL_BACKEND}."


#: The earlier classification is this many days old: old enough for the effect estimate (which uses the latest run
#: at least 30 days old) to have outcomes after it, recent enough that few clients near the line changed tier since.
EARLIER_DAYS = 60


class Command(BaseCommand):
    help = ("Migrate the database, create the demo logins, load the fictional demo portfolio "
            "(unless the database already holds organisations) and serve the app.")

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=300,
                            help="number of client organisations (default 300; from 50,000 on the lean scale data set)")
        parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same portfolio")
        parser.add_argument("--no-serve", action="store_true", help="load only; do not start the web server")
        parser.add_argument("--port", type=int, default=8000)

    @contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        """Time one phase of the load: its line ends with the time, and the closing summary lists it."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phases.append((name, time.perf_counter() - started))

    def _timed(self, line: str) -> str:
        return f"{line}  ({self.phases[-1][1]:.1f} s)" if self.phases else line

    def _summary(self) -> None:
        """The whole time and each phase's, so a load at scale says what it cost, not only its rows."""
        total = time.perf_counter() - self.started
        self.stdout.write(f"\nTime: {_duration(total)} in all")
        for name, seconds in self.phases:
            self.stdout.write(f"  {name:<28}{_duration(seconds):>12}  {seconds / max(total, 1e-9):>4.0%}")

    def handle(self, *args, clients: int, seed: int, no_serve: bool, port: int, **options):
        if clients < 1:
            raise CommandError("--clients must be at least 1.")
        self.started = time.perf_counter()
        self.phases: list[tuple[str, float]] = []
        verbosity = options.get("verbosity", 1)
        self.stdout.write("Migrating the database…")
        with self._phase("migrate"):
            call_command("migrate", interactive=False, verbosity=max(0, verbosity - 1))

        with self._phase("demo logins"):
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
        self._playbooks(seed)
        self._monitoring()
        self._duplicates()
        self._summary()

        url = f"http://127.0.0.1:{port}/"
        if no_serve:
            self.stdout.write(mail_destination())
            self.stdout.write(f"\nReady. Start the server with `bcrm serve --port {port}` and open {url}")
            return
        self.stdout.write(mail_destination())
        if "serve" not in get_commands():
            raise CommandError(f"The `serve` command is not available in this installation; the data is loaded. "
                               f"Serve the app another way and open {url}")
        self.stdout.write(f"\nOpen {url} and log in with one of the users above.")
        self._two_factor_optional()
        call_command("serve", port=port, with_worker=True)

    def _two_factor_optional(self) -> None:
        """The demo signs every user in with the password alone: no role must take the second step (unless
        BCRM_2FA_REQUIRED_ROLES is set in the environment). Anyone may still turn it on from the user menu;
        `bcrm serve` on the same database asks it of the default roles (admin, compliance)."""
        import os

        from django.conf import settings

        if "BCRM_2FA_REQUIRED_ROLES" in os.environ:
            return
        os.environ["BCRM_2FA_REQUIRED_ROLES"] = ""  # the background worker it starts reads the same
        settings.BCRM_2FA_REQUIRED_ROLES = []
        self.stdout.write("Two-factor sign-in is optional in the demo (user menu → Two-factor sign-in); "
                          "`bcrm serve` requires it of admin and compliance.")

    def _classify(self) -> None:
        """Run the segmentation twice, as of two months ago and as of today, so the demo opens with labels,
        explanations and two runs whose class migrations the dashboard and the compare page show."""
        import datetime as dt

        from django.utils import timezone

        if Run.objects.exists():
            return
        self.stdout.write("Classifying the portfolio (value, risk, relationship), as of two months ago and today…")
        today = timezone.localdate()
        for dimension in Dimension.values:
            with self._phase(f"classification: {dimension}"):
                run_segmentation(actor=None, dimension=dimension,
                                 as_of=today - dt.timedelta(days=EARLIER_DAYS))
                report = run_segmentation(actor=None, dimension=dimension, as_of=today)
            counts = report.outcome.counts
            parts = ", ".join(f"{label_display(dimension, code)} {counts[code]:,}" for code in counts
                              if code not in ("total", "overridden"))
            moved = sum(n for before, after in report.outcome.migrations().items() if before
                        for label, n in after.items() if label != before)
            self.stdout.write(f"  {Dimension(dimension).label:<14}{parts}; {moved:,} moved in the last two months  "
                              f"({self.phases[-1][1]:.1f} s)")

    def _history(self, seed: int) -> None:
        """The last months' service history: what the team did for each client, logged as the interactions the
        playbook tasks stand for, so the first automation run counts each client's next cycle from it."""
        with self._phase("service history"):
            counts = demo_service_history(seed=seed)
        if counts:
            self.stdout.write(self._timed(
                f"Service history: {counts['tasks']:,} playbook tasks of the last months ({counts['on_time']:,} on "
                f"time, {counts['late']:,} late, {counts['missed']:,} missed), {counts['interactions']:,} "
                f"interactions logged; SLA times on {counts['sla_stamped']:,} requests"))

    def _monitoring(self) -> None:
        """The KPI snapshots of the history's months, so the monitoring dashboard opens with figures and a trend."""
        if not KpiSnapshot.objects.exists():
            with self._phase("KPI snapshots"):
                periods = demo_snapshots()
            self.stdout.write(self._timed(f"KPI snapshots: {', '.join(periods)}"))

    def _duplicates(self) -> None:
        """The duplicate scan, as the worker runs it, so the duplicates page opens with the planted ones."""
        if DuplicateScan.objects.exists():
            return
        with self._phase("duplicate scan"):
            found = [duplicate_scan(entity=entity) for entity in ("organizations", "contacts")]
        self.stdout.write(self._timed("Duplicate scan: " + ", ".join(
            f"{scan.groups:,} groups of possible duplicate {scan.entity}" for scan in
            DuplicateScan.objects.filter(pk__in=[s.pk for s in found]).order_by("pk"))))

    def _playbooks(self, seed: int) -> None:
        """Default playbooks and calendar, project milestones and team updates, and a first automation run,
        so "My day", the team board and the progress reports have something to show."""
        from django.utils import timezone

        with self._phase("playbooks, milestones"):
            ensure_defaults()
            counts = demo_progress(as_of=timezone.localdate(), seed=seed) if not Milestone.objects.exists() else {}
        if counts:
            self.stdout.write(self._timed("Project milestones and updates: "
                                          + ", ".join(f"{k} {v:,}" for k, v in counts.items())))
        self._history(seed)
        if AutomationRun.objects.exists():
            return
        with self._phase("first automation run"):
            report = run_automation(actor=None, trigger="demo")
        c = report.counts
        created = sum(c.get("created", {}).values())
        overflow = c.get("overflow", 0)
        self.stdout.write(self._timed(
            f"Automation: {c.get('tiers', {}).get('dedicated', 0):,} dedicated and "
            f"{c.get('tiers', {}).get('standard', 0):,} standard clients; "
            f"{created:,} tasks, {c.get('assigned', 0):,} within capacity, "
            f"{overflow:,} over it ({overflow / max(created, 1):.1%}, reported to the leads); "
            f"{c.get('deliveries_queued', 0):,} progress reports queued"))
        self._plans_and_closing(seed)

    def _plans_and_closing(self, seed: int) -> None:
        """Financing plans for dedicated clients (their tiers come from the automation run) and closing
        checklists at several stages."""
        from bcrm.closing.demo import demo_checklists
        from bcrm.plans.demo import demo_plans

        with self._phase("plans and checklists"):
            plans = demo_plans(seed=seed)
            checklists = demo_checklists(seed=seed)
        self.stdout.write(self._timed(
            f"Financing plans: {plans.get('plans', 0)} ({plans.get('versions', 0)} versions); "
            f"closing checklists: {checklists.get('checklists', 0)} ({checklists.get('items', 0)} conditions)"))

    def _load(self, clients: int, seed: int) -> None:
        self.stdout.write(f"Loading the demo portfolio: {clients:,} clients, seed {seed}…")
        with self._phase("rows"):
            counts = self._rows(clients, seed)
        elapsed = self.phases[-1][1]
        total = sum(counts.values())
        for label, count in counts.items():
            self.stdout.write(f"  {label:<42}{count:>12,}")
        self.stdout.write(f"  {'rows':<42}{total:>12,}  in {elapsed:.1f} s ({total / max(elapsed, 1e-9):,.0f} rows/s)")

    def _rows(self, clients: int, seed: int) -> dict[str, int]:
        with tqdm(total=clients, unit="client", unit_scale=True, file=sys.stderr, dynamic_ncols=True) as bar:
            def progress(done: int, total: int) -> None:
                bar.update(done - bar.n)

            try:
                counts = generate_portfolio(clients=clients, seed=seed, progress=progress)
            except ServiceError as exc:
                raise command_error(exc) from exc
        # Fresh planner statistics: without them SQLite picks poor indexes on a freshly bulk-loaded book. On
        # PostgreSQL also the visibility map autovacuum sets after a bulk load (index-only scans then skip the
        # table's rows), which a server with autovacuum off never gets (seen on the benchmark machine, issue 19).
        with connection.cursor() as cursor:
            vacuum = connection.vendor == "postgresql" and not connection.in_atomic_block
            cursor.execute("VACUUM (ANALYZE)" if vacuum else "ANALYZE")
        return counts


def _duration(seconds: float) -> str:
    """1 h 02 min 05 s, 4 min 10 s, 12.3 s."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {secs:02d} s"
