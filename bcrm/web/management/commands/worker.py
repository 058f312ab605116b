"""`bcrm worker`: background work — the task queue and the schedules (DESIGN.md section 4).

The queue is django-tasks' database backend, so a worker needs nothing but the database. Every
``--tick`` seconds the worker runs the schedule each app registered in :mod:`bcrm.core.schedule` (scheduled
segmentation re-runs, ended overrides, the daily automation, e-mails due or to retry, the monthly KPI
snapshot, the audit trail's seal and daily check, scheduled backups), which enqueues what is due; the claim is a row lock, so several workers can run at once without
doing anything twice. ``--once`` ticks, drains the queue and exits (for cron).
"""

from __future__ import annotations

import logging
import threading

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from bcrm.core import heartbeat, schedule

logger = logging.getLogger(__name__)


def tick() -> list[str]:
    return schedule.tick()


def tick_logged() -> None:
    """One tick of the schedule thread: a failure is logged with its traceback, and the next tick comes."""
    try:
        tick()
    except Exception:  # keep ticking; the queue keeps working
        logger.exception("schedule tick failed")
    finally:
        close_old_connections()


class Command(BaseCommand):
    help = "Run the background task queue and the schedules (`--once` for cron)."

    def add_arguments(self, parser):
        parser.add_argument("--tick", type=float, default=60.0, help="seconds between schedule checks")
        parser.add_argument("--once", action="store_true", help="check schedules, run what is queued, exit")
        parser.add_argument("--interval", type=float, default=1.0, help="queue polling interval (seconds)")

    def handle(self, *args, **options):
        # The worker beats while it lives (bcrm.core.heartbeat): a queue entry it leaves RUNNING when it dies is
        # found by the next worker's sweep. Its first tick is that sweep, so a worker that starts cleans up.
        worker_id = heartbeat.new_worker_id()
        with heartbeat.beating(heartbeat.worker_key(worker_id)):
            self._serve(worker_id, options)

    def _serve(self, worker_id: str, options) -> None:
        if options["once"]:
            due = tick()
            self.stdout.write(f"scheduled: {', '.join(due) or 'nothing due'}")
            call_command("db_worker", batch=True, no_startup_delay=True, interval=options["interval"],
                         worker_id=worker_id)
            return
        stop = threading.Event()

        def schedules():
            while not stop.is_set():
                tick_logged()
                stop.wait(options["tick"])

        thread = threading.Thread(target=schedules, name="bcrm-schedules", daemon=True)
        thread.start()
        try:
            call_command("db_worker", interval=options["interval"], worker_id=worker_id)
        finally:
            stop.set()
