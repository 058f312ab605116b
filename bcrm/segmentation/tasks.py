"""Background work for the segmentation engine (django-tasks; `bcrm worker` runs it)."""

from __future__ import annotations

from django_tasks import task

from bcrm.segmentation.choices import RunTrigger


@task()
def scheduled_run(dimension: str) -> dict:
    """The scheduled re-run of one dimension with its active criterion: incremental (only the clients whose
    rows changed since the last run are recomputed; ``bcrm segment --full`` recomputes everyone)."""
    from bcrm.segmentation.services import run_segmentation

    report = run_segmentation(actor=None, dimension=dimension, trigger=RunTrigger.SCHEDULE, full=False)
    return {"run_id": report.run.pk if report.run else None, "counts": report.outcome.counts}


@task()
def schedule_tick() -> list[str]:
    from bcrm.segmentation.services import schedule_tick as tick

    return tick()


@task()
def requested_run(dimension: str, user_id: int | None, refit_clv: bool = False) -> dict:
    """A run somebody asked for in the web UI, too big to compute inside the request."""
    from django.contrib.auth import get_user_model

    from bcrm.segmentation.services import run_segmentation

    actor = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    report = run_segmentation(actor=actor, dimension=dimension, trigger=RunTrigger.MANUAL, refit_clv=refit_clv)
    return {"run_id": report.run.pk if report.run else None, "counts": report.outcome.counts}
