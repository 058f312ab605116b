"""Work that survives a crash: a job, run or queue entry left "running" by a dead worker is failed by the sweep,
with its reason shown, and queued again where that is safe."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest
from django.utils import timezone, translation
from django_tasks_db.models import DBTaskResult

from bcrm.core import heartbeat, schedule
from bcrm.dataio import services
from bcrm.dataio.choices import JobSource, JobStatus
from bcrm.dataio.models import ImportJob
from bcrm.parties.models import Organization
from bcrm.playbooks.choices import RunStatus
from bcrm.playbooks.models import AutomationRun
from tests.doors import Api
from tests.fixtures_dataio.helpers import write_csv

pytestmark = pytest.mark.usefixtures("import_dir")

LONG_AGO = dt.timedelta(hours=1)


@pytest.fixture(autouse=True)
def _heartbeats(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.BCRM_HEARTBEAT_TIMEOUT = 60


def sweep(name: str) -> list[str]:
    """The check the app registered in the worker's schedule."""
    return {w.name: w for w in schedule.registered()}[name].check()


def queue_entry(worker: str, started: dt.datetime) -> DBTaskResult:
    return DBTaskResult.objects.create(
        status="RUNNING", args_kwargs={"args": [0], "kwargs": {}}, task_path="bcrm.dataio.tasks.run_import",
        backend_name="default", run_after=started, started_at=started, worker_ids=[worker])


def dead_import(lead, tmp_path, source=JobSource.API) -> ImportJob:
    path = write_csv(tmp_path / "clients.csv", [["external_id", "legal_name", "kind", "country"], ["HB-1", "Heartbeat Capital", "fund", "CN"]])
    job = services.import_job_create_from_path(actor=lead, entity="organizations", path=path, source=source)
    old = timezone.now() - LONG_AGO
    entry = queue_entry("bcrm-dead-worker", old)
    ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=old, heartbeat_at=old,
                                               task_id=str(entry.pk))
    return ImportJob.objects.get(pk=job.pk)


def test_dead_import_is_failed_with_reason_and_requeued(lead, tmp_path, django_capture_on_commit_callbacks):
    job = dead_import(lead, tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep("imports.heartbeat") == [f"import #{job.pk + 1}"]
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.finished_at is not None
    assert job.reason["template"] == heartbeat.WORKER_STOPPED_REQUEUED
    assert "no heartbeat for 60 seconds" in job.message
    assert DBTaskResult.objects.get(pk=job.task_id).status == "FAILED"
    again = ImportJob.objects.get(based_on=job)
    assert again.status == JobStatus.DONE, again.message   # tasks run inline here: the requeued job ran
    assert Organization.objects.filter(external_id="HB-1").count() == 1
    assert sweep("imports.heartbeat") == []               # nothing twice
    # The reason through the doors: the API in the request's language, the job page.
    status, body = Api(lead).get(f"/imports/{job.pk}")
    assert status == 200 and f"#{again.pk}" in body["message"]
    with translation.override("zh-hans"):
        shown = job.shown_message
    assert shown != job.message and f"#{again.pk}" in shown
    from django.test import Client

    client = Client()
    client.force_login(lead)
    page = client.get(f"/data/imports/{job.pk}/").content.decode()
    assert "no heartbeat for 60 seconds" in page and f"/data/imports/{again.pk}/" in page


def test_killed_command_line_import_is_failed_not_requeued(lead, tmp_path):
    job = dead_import(lead, tmp_path, source=JobSource.CLI)
    assert sweep("imports.heartbeat") == []
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.reason["template"] == heartbeat.WORKER_STOPPED
    assert not ImportJob.objects.filter(based_on=job).exists()


def test_import_still_beating_is_left_alone(lead, tmp_path):
    job = dead_import(lead, tmp_path)
    heartbeat.beat(services.job_heartbeat_key(job.pk))   # its worker is alive, the transaction just long
    assert sweep("imports.heartbeat") == []
    assert ImportJob.objects.get(pk=job.pk).status == JobStatus.RUNNING


def test_import_beats_while_it_runs_and_clears_after(lead, tmp_path, settings):
    seen = []
    path = write_csv(tmp_path / "c.csv", [["external_id", "legal_name", "kind", "country"], ["HB-2", "Beat Two", "fund", "CN"]])
    job = services.import_job_create_from_path(actor=lead, entity="organizations", path=path, source=JobSource.CLI)
    key = services.job_heartbeat_key(job.pk)
    job = services.import_job_run(job, on_progress=lambda rows, f: seen.append(heartbeat.last_beat(key)))
    assert job.status == JobStatus.DONE and job.heartbeat_at is not None
    assert seen and seen[0] is not None                     # beating during the run
    assert heartbeat.last_beat(key) is None                 # and forgotten when it ended


def test_dead_scheduled_automation_is_failed_and_queued_again(lead, client, django_capture_on_commit_callbacks):
    old = timezone.now() - LONG_AGO
    scheduled = AutomationRun.objects.create(as_of=old, trigger="schedule", started_at=old, heartbeat_at=old)
    by_hand = AutomationRun.objects.create(as_of=old, trigger="cli", started_at=old, heartbeat_at=old)
    fresh = AutomationRun.objects.create(as_of=old, trigger="cli", started_at=old, heartbeat_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        queued = sweep("automation.heartbeat")
    assert len(queued) == 1
    scheduled.refresh_from_db()
    by_hand.refresh_from_db()
    assert scheduled.status == by_hand.status == RunStatus.FAILED
    assert scheduled.reason["template"] == heartbeat.WORKER_STOPPED_REQUEUED
    assert by_hand.reason["template"] == heartbeat.WORKER_STOPPED
    assert AutomationRun.objects.get(pk=fresh.pk).status == RunStatus.RUNNING
    again = AutomationRun.objects.exclude(pk__in=[scheduled.pk, by_hand.pk, fresh.pk]).get()
    assert again.trigger == "schedule" and again.as_of == scheduled.as_of and again.status == RunStatus.DONE
    client.force_login(lead)
    page = client.get("/automation/").content.decode()
    assert "no heartbeat for 60 seconds" in page


def test_queue_sweep_fails_entries_of_dead_bcrm_workers_only(db):
    old = timezone.now() - LONG_AGO
    dead = queue_entry("bcrm-gone", old)
    alive = queue_entry("bcrm-alive", old)
    foreign = queue_entry("some-other-worker", old)
    heartbeat.beat(heartbeat.worker_key("bcrm-alive"))
    assert sweep("queue.heartbeat") == []
    assert DBTaskResult.objects.get(pk=dead.pk).status == "FAILED"
    assert DBTaskResult.objects.get(pk=dead.pk).exception_class_path == heartbeat.QUEUE_WORKER_STOPPED
    assert DBTaskResult.objects.get(pk=alive.pk).status == "RUNNING"
    assert DBTaskResult.objects.get(pk=foreign.pk).status == "RUNNING"


def test_a_killed_process_stops_beating(settings):
    """A real `kill -9` of a process beating with :func:`heartbeat.beating`: its beats stop with it. (The process
    configures only the settings the heartbeat reads, so it starts in a moment.)"""
    settings.BCRM_HEARTBEAT_TIMEOUT = 2   # beats every 0.5 s
    code = ("import sys, time; from django.conf import settings\n"
            "settings.configure(DATA_DIR=sys.argv[1], BCRM_HEARTBEAT_TIMEOUT=2, USE_TZ=True)\n"
            "from bcrm.core import heartbeat\n"
            "with heartbeat.beating('worker-bcrm-k9'):\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(settings.DATA_DIR)])
    try:
        deadline = time.monotonic() + 30
        while heartbeat.last_beat("worker-bcrm-k9") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2.5)   # longer than the timeout: the beats go on
        assert not heartbeat.stopped("worker-bcrm-k9", None, None, timezone.now())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        time.sleep(2.5)
        assert heartbeat.stopped("worker-bcrm-k9", None, None, timezone.now())
    finally:
        if proc.poll() is None:
            proc.kill()
