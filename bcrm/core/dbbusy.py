"""A write that cannot get the database's lock in time answers 503 with ``Retry-After``, never 500.

On SQLite one writer holds the file's write lock at a time; another waits up to the busy timeout (20 s) and
then fails with ``OperationalError: database is locked``. On PostgreSQL a ``lock_timeout`` ends the same way
(``LockNotAvailable``). Neither is a bug in the request: the same request a moment later succeeds. So the
pages (:class:`DatabaseBusyMiddleware`) and the REST API (the handler in bcrm.api) answer 503 Service
Unavailable with ``Retry-After: BUSY_RETRY_AFTER`` and, in the API, the error code ``database_busy``.
Nothing was changed: the request's writes ran in a transaction that rolled back.
"""

from __future__ import annotations

import logging

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

#: Seconds a client is asked to wait before trying again.
BUSY_RETRY_AFTER = 5
BUSY_CODE = "database_busy"
BUSY_MESSAGE = "The database is busy with another write (an import, a run); nothing was changed. Try again shortly."

_LOCK_MARKERS = ("database is locked", "database table is locked", "lock timeout", "could not obtain lock",
                 "canceling statement due to lock timeout")


def is_lock_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that waited for a lock longer than the database allows."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if cause is not None and type(cause).__name__ == "LockNotAvailable":
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _LOCK_MARKERS)


def busy_page(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(render_to_string("503.html", {"retry_after": BUSY_RETRY_AFTER}, request=request),
                            status=503)
    response["Retry-After"] = str(BUSY_RETRY_AFTER)
    return response


class DatabaseBusyMiddleware:
    """A page whose write timed out on a lock: 503 with Retry-After (other errors go on to the 500 page)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_lock_timeout(exception):
            return None
        logger.warning("%s %s: database busy (%s); answered 503", request.method, request.path, exception)
        return busy_page(request)
