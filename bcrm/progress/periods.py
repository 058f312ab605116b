"""Report periods: a calendar month written "YYYY-MM". Pure functions, no ORM."""

from __future__ import annotations

import calendar
import datetime as dt
import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_period(text: str) -> tuple[dt.date, dt.date]:
    """The first and last day of the month ``text`` names; ValueError for anything but "YYYY-MM"."""
    match = PERIOD_RE.match(str(text or "").strip())
    if not match:
        raise ValueError(text)
    year, month = int(match.group(1)), int(match.group(2))
    if year < 1900:
        raise ValueError(text)
    last = calendar.monthrange(year, month)[1]
    return dt.date(year, month, 1), dt.date(year, month, last)


def is_period(text: str) -> bool:
    try:
        parse_period(text)
    except ValueError:
        return False
    return True


def validate_period(value: str) -> None:
    if not is_period(value):
        raise ValidationError(_("A period is a month written YYYY-MM, e.g. 2026-04."), code="period")


def period_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def previous_period(today: dt.date) -> str:
    """The calendar month before the one ``today`` falls in (the default report period)."""
    return period_of(today.replace(day=1) - dt.timedelta(days=1))
