"""Background work of the monitoring app: the monthly KPI snapshot (django-tasks; `bcrm worker` runs it)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task

from bcrm.progress.periods import previous_period


@task()
def scheduled_snapshot(period: str) -> dict:
    """The snapshot of the month the worker's schedule claimed, then the month's management report e-mailed to
    the team leads and administrators (once per address: see :func:`bcrm.monitoring.report.send`)."""
    from bcrm.monitoring.choices import SnapshotTrigger
    from bcrm.monitoring.services import compute_snapshot

    run = compute_snapshot(actor=None, period=period, trigger=SnapshotTrigger.SCHEDULE)
    out = {"run": run.pk, "period": run.period, "rows": run.rows, "status": run.status}
    if settings.BCRM_MANAGEMENT_REPORT_EMAIL:
        from bcrm.monitoring.report import send

        sent = send(actor=None, period=period, trigger=SnapshotTrigger.SCHEDULE, resend=False)
        out["management_report"] = {"sent": len(sent.sent), "failed": len(sent.failed)}
    return out


def tick(now: dt.datetime | None = None) -> str | None:
    """Called by `bcrm worker` every tick: when a new month has started (display time zone), the first worker
    to lock the schedule row claims the previous month and queues its snapshot; the others see it taken.
    Returns the period queued, or None."""
    from bcrm.monitoring.models import SnapshotSchedule

    now = now or timezone.now()
    period = previous_period(timezone.localtime(now, timezone.get_default_timezone()).date())
    SnapshotSchedule.objects.get_or_create(key="monthly")
    with transaction.atomic():
        state = SnapshotSchedule.objects.select_for_update().get(key="monthly")
        if not state.enabled or (state.last_period and state.last_period >= period):
            return None
        state.last_period = period
        state.save(update_fields=["last_period"])
        transaction.on_commit(lambda: scheduled_snapshot.enqueue(period))
    return period
