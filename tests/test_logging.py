"""Failures in the background are logged with their traceback (issue 14, item 6): the worker's schedule tick
and a queued job that raises."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.management import call_command
from django_tasks import task

from bcrm.web.management.commands import worker


@task()
def failing_job() -> None:
    raise RuntimeError("the job broke here")


def test_a_failing_schedule_tick_is_logged_with_its_traceback_and_the_worker_goes_on(db, monkeypatch, caplog):
    def broken_tick():
        raise RuntimeError("the tick broke here")

    monkeypatch.setattr(worker, "tick", broken_tick)
    with caplog.at_level(logging.INFO):
        worker.tick_logged()  # does not raise: the schedule thread keeps ticking
    [record] = [r for r in caplog.records if r.name == "bcrm.web.management.commands.worker"]
    assert record.levelno == logging.ERROR and record.getMessage() == "schedule tick failed"
    assert record.exc_info and record.exc_info[0] is RuntimeError
    assert "Traceback (most recent call last)" in caplog.text and "the tick broke here" in caplog.text
    assert "broken_tick" in caplog.text  # the frame where it broke


@pytest.mark.django_db(transaction=True)
def test_a_failing_job_in_the_queue_is_logged_with_its_traceback(settings, monkeypatch, caplog):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    monkeypatch.setattr(worker, "tick", list)  # only the job below is in the queue
    failing_job.enqueue()
    with caplog.at_level(logging.INFO):
        call_command("worker", "--once", "--interval", "0.1", stdout=io.StringIO())
    assert DBTaskResult.objects.get().status == "FAILED"
    failed = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert failed and "tests.test_logging.failing_job" in failed[0].getMessage()
    assert "Traceback (most recent call last)" in caplog.text and "the job broke here" in caplog.text


def test_the_log_line_says_when_how_bad_and_where(settings):
    """The documented configuration: console, a line with the time, the level and the logger."""
    formatter = logging.Formatter(settings.LOGGING["formatters"]["line"]["format"])
    record = logging.LogRecord("bcrm.dataio.services", logging.WARNING, __file__, 1, "import file %s not removed",
                               ("x.csv",), None)
    line = formatter.format(record)
    assert line.endswith(" WARNING bcrm.dataio.services: import file x.csv not removed")
    assert line[:4].isdigit()  # starts with the time
    assert settings.LOGGING["root"]["handlers"] == ["console"]
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "line"
