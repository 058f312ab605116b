"""Background work for the automation engine (django-tasks; `bcrm worker` runs it)."""

from __future__ import annotations

import datetime as dt

from django_tasks import task


@task()
def scheduled_automation(as_of: str) -> dict:
    """The daily automation run the worker's schedule claimed."""
    from bcrm.playbooks.automation import run_automation

    report = run_automation(actor=None, as_of=dt.datetime.fromisoformat(as_of), trigger="schedule")
    return report.as_dict()
