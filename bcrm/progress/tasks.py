"""Background sending of progress reports (django-tasks; `bcrm worker` runs it)."""

from __future__ import annotations

from django_tasks import task


def tick() -> dict:
    """What the worker calls each minute: send every delivery that is due, retries included."""
    from bcrm.progress.services import send_pending_deliveries

    return send_pending_deliveries().as_dict()


@task()
def send_deliveries() -> dict:
    """Queued after a batch of deliveries is committed."""
    return tick()
