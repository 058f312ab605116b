"""The automation's day arithmetic, vectorised: day numbers (days since 1970-01-01), cadences added in days,
weeks or calendar months, and the next business day of a working calendar by table lookup."""

from __future__ import annotations

import datetime as dt

import numpy as np

from bcrm.playbooks.businesstime import BusinessCalendar
from bcrm.playbooks.choices import CadenceUnit

DAY = 86_400


def _epoch_days(epochs: np.ndarray, offset_seconds: int) -> np.ndarray:
    """Seconds since the epoch (UTC) → local calendar day numbers (days since 1970-01-01)."""
    return np.floor((epochs + offset_seconds) / DAY).astype(np.int64)


def _day(number: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(number))


def _day_number(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def _add_cadence_days(days: np.ndarray, count: int, unit: str) -> np.ndarray:
    """Day numbers plus a cadence, months as calendar months (clamped to the month's length)."""
    if unit == CadenceUnit.DAY:
        return days + count
    if unit == CadenceUnit.WEEK:
        return days + 7 * count
    as_dates = days.astype("datetime64[D]")
    month = as_dates.astype("datetime64[M]")
    offset = (as_dates - month.astype("datetime64[D]")).astype(np.int64)
    target = month + count
    last = ((target + 1).astype("datetime64[D]") - 1)
    out = np.minimum(target.astype("datetime64[D]") + offset, last)
    return out.astype(np.int64)


class _BusinessDays:
    """Next-business-day lookup over a range of day numbers, built once per calendar per run."""

    def __init__(self, calendar: BusinessCalendar, first: int, last: int):
        self.first = first
        size = max(0, last - first) + 1
        table = np.empty(size, dtype=np.int64)
        following: int | None = None
        for i in range(size - 1, -1, -1):
            day = _day(first + i)
            if calendar.is_business_day(day):
                following = first + i
            table[i] = following if following is not None else _day_number(calendar.next_business_day(day))
        self.table = table

    def forward(self, days: np.ndarray) -> np.ndarray:
        return self.table[days - self.first]
