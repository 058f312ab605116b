"""Heartbeats of long work: import jobs, automation runs, the worker processes and their queue entries.

Work with a "running" status beats while it runs: a daemon thread touches a small file
``<data folder>/heartbeats/<key>`` every ``timeout / 4`` seconds and, where a second connection may write
beside the work's own transaction (PostgreSQL), also sets the row's ``heartbeat_at``. A file, because on
SQLite the work's own transaction holds the single write lock: a heartbeat written to the database would
wait for the work it reports on. The last beat is the later of the two.

When the process dies (``kill -9``, a lost machine) the beats stop. Each app registers a sweep in the
worker's schedule (bcrm.core.schedule), run by every worker when it starts and on each tick: work whose last
beat is older than ``BCRM_HEARTBEAT_TIMEOUT`` seconds is marked failed with a reason (a text code,
bcrm.core.texts) and requeued where running it again is safe. :func:`sweep_queue` does the same for the
task queue's own entries (django-tasks-db rows): an entry left RUNNING by a worker that stopped beating is
marked FAILED, so it no longer shows as running forever.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.utils import timezone

from bcrm.core.texts import gettext_noop, text

logger = logging.getLogger(__name__)

WORKER_STOPPED = gettext_noop("The worker running this stopped (no heartbeat for %(seconds)s seconds); "
                              "nothing it did was kept.")
WORKER_STOPPED_REQUEUED = gettext_noop("The worker running this stopped (no heartbeat for %(seconds)s seconds); "
                                       "nothing it did was kept, and it was queued again as %(again)s.")
QUEUE_WORKER_STOPPED = "bcrm.core.heartbeat.WorkerStopped"


def timeout() -> dt.timedelta:
    return dt.timedelta(seconds=float(settings.BCRM_HEARTBEAT_TIMEOUT))


def interval() -> float:
    return max(0.5, float(settings.BCRM_HEARTBEAT_TIMEOUT) / 4)


def folder() -> Path:
    return Path(settings.DATA_DIR) / "heartbeats"


def _path(key: str) -> Path:
    return folder() / key.replace("/", "_")


def beat(key: str) -> None:
    """Record that ``key`` is alive now (the file's modification time is the beat)."""
    path = _path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError as exc:  # a full disk must not stop the work; the sweep then relies on the database column
        logger.warning("heartbeat %s not written: %s", key, exc)


def last_beat(key: str, recorded: dt.datetime | None = None) -> dt.datetime | None:
    """The later of the file's beat and ``recorded`` (the row's ``heartbeat_at``)."""
    try:
        mtime = _path(key).stat().st_mtime
    except OSError:
        return recorded
    filed = dt.datetime.fromtimestamp(mtime, tz=dt.UTC)
    return filed if recorded is None or filed > recorded else recorded


def forget(key: str) -> None:
    try:
        _path(key).unlink(missing_ok=True)
    except OSError:
        pass


def stopped(key: str, recorded: dt.datetime | None, started: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether work that says "running" stopped beating longer than the timeout ago."""
    last = last_beat(key, recorded) or started
    return last is None or last < now - timeout()


def reason(*, requeued_as: Any = None) -> dict[str, Any]:
    seconds = int(timeout().total_seconds())
    if requeued_as:
        said = text(WORKER_STOPPED_REQUEUED, seconds=seconds, again=requeued_as)
    else:
        said = text(WORKER_STOPPED, seconds=seconds)
    return {**said, "code": "worker_stopped"}


@contextmanager
def beating(key: str, on_beat: Callable[[dt.datetime], Any] | None = None) -> Iterator[None]:
    """Beat for ``key`` while the block runs. ``on_beat(now)`` also records the beat in the database, on its own
    connection in the beating thread; it is not called on SQLite (the work holds the write lock)."""
    stop = threading.Event()
    use_db = on_beat is not None and connection.vendor != "sqlite"

    def run() -> None:
        try:
            while not stop.wait(interval()):
                beat(key)
                if use_db:
                    try:
                        on_beat(timezone.now())  # type: ignore[misc]
                    except DatabaseError as exc:
                        logger.warning("heartbeat %s not recorded in the database: %s", key, exc)
        finally:
            if use_db:
                connections.close_all()

    beat(key)
    thread = threading.Thread(target=run, name=f"heartbeat-{key}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
        forget(key)


# -- the worker processes and the queue's entries -----------------------------------------------------------

WORKER_PREFIX = "bcrm-"


def worker_key(worker_id: str) -> str:
    return f"worker-{worker_id}"


def new_worker_id() -> str:
    import socket
    import uuid

    return f"{WORKER_PREFIX}{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"[:63]


def sweep_queue(now: dt.datetime | None = None) -> list[str]:
    """Mark queue entries left RUNNING by a worker that stopped beating as FAILED; their ids."""
    from django_tasks_db.compat import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    dead: list[str] = []
    for entry in DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).only("id", "worker_ids", "started_at"):
        worker = entry.worker_ids[-1] if entry.worker_ids else ""
        if not worker.startswith(WORKER_PREFIX):
            continue  # not a `bcrm worker` (a bare db_worker beats nowhere): left alone
        if stopped(worker_key(worker), None, entry.started_at, now):
            dead.append(str(entry.pk))
    if dead:
        fail_queue_entries(dead, now=now)
    return dead


def fail_queue_entries(ids: list[str], *, now: dt.datetime | None = None) -> int:
    """Mark these queue entries FAILED (if still RUNNING) with the reason in their traceback field."""
    from django_tasks_db.compat import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    if not ids:
        return 0
    return DBTaskResult.objects.filter(pk__in=ids, status=TaskResultStatus.RUNNING).update(
        status=TaskResultStatus.FAILED, finished_at=now or timezone.now(), return_value=None,
        exception_class_path=QUEUE_WORKER_STOPPED, traceback=str(reason()["message"]))
