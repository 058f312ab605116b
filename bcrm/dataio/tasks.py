"""Background work: an import runs as a django-tasks task (inline in tests), so a big file does not hold a
web request open; the job page polls the job's progress meanwhile."""

from __future__ import annotations

from django_tasks import task


@task()
def run_import(job_id: int) -> str:
    from bcrm.dataio.services import import_job_run

    job = import_job_run(job_id)
    return str(job.status)
