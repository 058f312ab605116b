"""Logging filters: an expected refusal is one line in the log, not a stack trace."""

from __future__ import annotations

import logging


class ExpectedRefusals(logging.Filter):
    """A 403 (a user asked for something their role does not allow) is an expected outcome of a request,
    not a fault: Django logs it with the PermissionDenied's traceback attached, which buries real errors.
    Keep the one-line warning ("Forbidden (Permission denied): /path"), drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
