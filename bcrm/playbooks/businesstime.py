"""Business time on a working calendar (工作日历): pure functions, no database.

A :class:`BusinessCalendar` knows its time zone, the working hours of a day, the weekly rest days, the
public holidays and the make-up working days (调休: a weekend day that is worked). SLAs are measured in
business hours on it and playbook due dates fall on its business days.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

MAX_SEARCH_DAYS = 800  # a calendar with no business day in two years is a configuration error


class CalendarError(ValueError):
    pass


@dataclass(frozen=True)
class BusinessCalendar:
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    day_start: dt.time = dt.time(9, 0)
    day_end: dt.time = dt.time(18, 0)
    weekend: frozenset[int] = frozenset({6, 7})          # ISO weekdays
    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()            # weekend days that are worked

    def __post_init__(self) -> None:
        if self.day_end <= self.day_start:
            raise CalendarError("The working day must end after it starts.")
        if len(self.weekend) >= 7 and not self.workdays:
            raise CalendarError("A calendar needs at least one working weekday.")

    # --- days --------------------------------------------------------------------------------------
    def is_business_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day.isoweekday() not in self.weekend and day not in self.holidays

    def next_business_day(self, day: dt.date, *, include: bool = True) -> dt.date:
        """``day`` itself when it is a business day (and ``include``), else the next one."""
        current = day if include else day + dt.timedelta(days=1)
        for _ in range(MAX_SEARCH_DAYS):
            if self.is_business_day(current):
                return current
            current += dt.timedelta(days=1)
        raise CalendarError(f"No business day within {MAX_SEARCH_DAYS} days of {day}.")

    def business_days(self, start: dt.date, end: dt.date) -> Iterable[dt.date]:
        """Business days in [start, end]."""
        current = start
        while current <= end:
            if self.is_business_day(current):
                yield current
            current += dt.timedelta(days=1)

    # --- hours -------------------------------------------------------------------------------------
    @property
    def seconds_per_day(self) -> int:
        start = self.day_start.hour * 3600 + self.day_start.minute * 60 + self.day_start.second
        end = self.day_end.hour * 3600 + self.day_end.minute * 60 + self.day_end.second
        return end - start

    @property
    def hours_per_day(self) -> float:
        return self.seconds_per_day / 3600

    def opens(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.day_start, tzinfo=self.tz)

    def closes(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.day_end, tzinfo=self.tz)

    def local(self, moment: dt.datetime) -> dt.datetime:
        if moment.tzinfo is None:
            raise CalendarError("Business time needs a timezone-aware datetime.")
        return moment.astimezone(self.tz)

    def align(self, moment: dt.datetime) -> dt.datetime:
        """The first working instant at or after ``moment`` (a clock that only runs in working hours)."""
        local = self.local(moment)
        day = local.date()
        if self.is_business_day(day):
            if local < self.opens(day):
                return self.opens(day)
            if local < self.closes(day):
                return local
        return self.opens(self.next_business_day(day, include=False))

    def add_business_hours(self, start: dt.datetime, hours: Decimal | float | int) -> dt.datetime:
        """The moment ``hours`` of working time after ``start``; a deadline that uses up a whole day ends at
        that day's close, not the next day's opening."""
        remaining = round(Decimal(str(hours)) * 3600)
        if remaining < 0:
            raise CalendarError("Business hours cannot be negative.")
        current = self.align(start)
        while True:
            available = int((self.closes(current.date()) - current).total_seconds())
            if remaining <= available:
                return current + dt.timedelta(seconds=remaining)
            remaining -= available
            current = self.opens(self.next_business_day(current.date(), include=False))

    def business_seconds_between(self, start: dt.datetime, end: dt.datetime) -> int:
        """Working seconds in [start, end] (negative when end is before start)."""
        if end < start:
            return -self.business_seconds_between(end, start)
        a, b = self.local(start), self.local(end)
        total = 0
        for day in self.business_days(a.date(), b.date()):
            lo = max(a, self.opens(day))
            hi = min(b, self.closes(day))
            if hi > lo:
                total += int((hi - lo).total_seconds())
        return total

    def business_hours_between(self, start: dt.datetime, end: dt.datetime) -> float:
        return self.business_seconds_between(start, end) / 3600

    def due_at(self, day: dt.date) -> dt.datetime:
        """A task due on ``day`` is due at the close of that business day (moved forward to one)."""
        return self.closes(self.next_business_day(day))


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar months later, the day clamped to the month's length (31 Jan + 1 month = 28/29 Feb)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = _calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def add_cadence(day: dt.date, count: int, unit: str) -> dt.date:
    if unit == "day":
        return day + dt.timedelta(days=count)
    if unit == "week":
        return day + dt.timedelta(weeks=count)
    if unit == "month":
        return add_months(day, count)
    raise CalendarError(f"Unknown cadence unit {unit!r}.")


def next_due(last: dt.date | None, *, count: int, unit: str, today: dt.date,
             calendar: BusinessCalendar) -> dt.date:
    """When a recurring step is next due: a cadence after the last matching interaction, on a business day;
    a step never done is due today (the next business day if today is not one)."""
    day = today if last is None else add_cadence(last, count, unit)
    return calendar.next_business_day(day)


def iso_week(day: dt.date) -> tuple[int, int]:
    year, week, _ = day.isocalendar()
    return year, week
