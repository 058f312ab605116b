"""Checks on the ``data`` dicts the doors hand to services."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _

from bcrm.core.errors import InvalidInput


def only_fields(data: dict[str, Any], allowed: set[str] | frozenset[str] | tuple[str, ...]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidInput(fields={k: [_("This field cannot be set here.")] for k in unknown})
    return dict(data)


#: The days a date the engines compute from may hold: their windows reach years back and forward from it, so a
#: day near the calendar's ends (a typo, a fuzzer's 0001-07-02) is refused, not an overflow.
EARLIEST_DAY = dt.date(1900, 1, 1)
LATEST_DAY = dt.date(9998, 12, 31)


def day_range_error(day: dt.date | None) -> str | None:
    """Why ``day`` is outside the days the engines compute from, or None."""
    if day is None or EARLIEST_DAY <= day <= LATEST_DAY:
        return None
    return str(_("The date must be between %(earliest)s and %(latest)s.") % {
        "earliest": EARLIEST_DAY.isoformat(), "latest": LATEST_DAY.isoformat()})
