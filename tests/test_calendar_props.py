"""Properties of business time (bcrm/playbooks/businesstime.py) on random calendars, and hand-checked deadlines
on the Chinese calendar loaded from the `holidays` data (National Day week, make-up working days 调休)."""

from __future__ import annotations

import calendar as stdlib_calendar
import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.playbooks.businesstime import BusinessCalendar, CalendarError, add_cadence, add_months, next_due

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = dt.date(2026, 1, 1)


def _calendar(draw) -> BusinessCalendar:
    tz = ZoneInfo(draw(st.sampled_from(["Asia/Shanghai", "Europe/London", "America/New_York", "UTC"])))
    start_minute = draw(st.integers(6 * 60, 11 * 60)) // 15 * 15
    length = draw(st.integers(2 * 60, 11 * 60)) // 15 * 15
    end_minute = start_minute + length
    weekend = frozenset(draw(st.sets(st.integers(1, 7), max_size=3)))
    holidays = frozenset(START + dt.timedelta(days=d) for d in draw(st.sets(st.integers(0, 400), max_size=60)))
    workdays = frozenset(d for d in (START + dt.timedelta(days=x) for x in draw(st.sets(st.integers(0, 400),
                                                                                       max_size=10)))
                         if d.isoweekday() in weekend)
    return BusinessCalendar(tz=tz, day_start=dt.time(start_minute // 60, start_minute % 60),
                            day_end=dt.time(end_minute // 60, end_minute % 60), weekend=weekend,
                            holidays=holidays - workdays, workdays=workdays)


calendars = st.composite(lambda draw: _calendar(draw))()
moments = st.builds(
    lambda days, minutes, tz: dt.datetime.combine(START + dt.timedelta(days=days), dt.time(0, 0),
                                                  tzinfo=ZoneInfo(tz)) + dt.timedelta(minutes=minutes),
    st.integers(0, 380), st.integers(0, 24 * 60 - 1), st.sampled_from(["Asia/Shanghai", "UTC"]))
hours = st.integers(0, 4 * 200).map(lambda q: Decimal(q) / 4)     # quarter hours, up to 200 business hours


def within_working_hours(cal: BusinessCalendar, moment: dt.datetime) -> bool:
    local = moment.astimezone(cal.tz)
    day = local.date()
    return cal.is_business_day(day) and cal.opens(day) <= local <= cal.closes(day)


@settings(max_examples=200, deadline=None)
@given(calendars, moments, hours)
def test_a_deadline_lands_inside_working_hours_on_a_business_day(cal, start, h):
    due = cal.add_business_hours(start, h)
    assert within_working_hours(cal, due)
    assert due >= start


@settings(max_examples=200, deadline=None)
@given(calendars, moments, hours)
def test_business_time_between_start_and_deadline_is_the_hours_asked(cal, start, h):
    aligned = cal.align(start)
    due = cal.add_business_hours(aligned, h)
    assert cal.business_seconds_between(aligned, due) == int(h * 3600)
    # …and from an unaligned start the clock only begins at the first working instant.
    assert cal.business_seconds_between(start, cal.add_business_hours(start, h)) == int(h * 3600)


@settings(max_examples=200, deadline=None)
@given(calendars, moments, hours, hours)
def test_deadlines_are_monotonic_in_the_hours(cal, start, h1, h2):
    low, high = sorted((h1, h2))
    assert cal.add_business_hours(start, low) <= cal.add_business_hours(start, high)


@settings(max_examples=200, deadline=None)
@given(calendars, st.integers(0, 380))
def test_next_business_day_is_one_and_skips_none(cal, offset):
    day = START + dt.timedelta(days=offset)
    nxt = cal.next_business_day(day)
    assert cal.is_business_day(nxt)
    assert nxt >= day
    between = day
    while between < nxt:
        assert not cal.is_business_day(between)
        between += dt.timedelta(days=1)
    after = cal.next_business_day(day, include=False)
    assert after > day and cal.is_business_day(after)


def test_negative_hours_and_naive_datetimes_are_refused():
    cal = BusinessCalendar()
    with pytest.raises(CalendarError):
        cal.add_business_hours(dt.datetime(2026, 3, 2, 10, tzinfo=SHANGHAI), -1)
    with pytest.raises(CalendarError):
        cal.add_business_hours(dt.datetime(2026, 3, 2, 10), 1)
    with pytest.raises(CalendarError):
        BusinessCalendar(day_start=dt.time(18), day_end=dt.time(9))


@given(st.dates(dt.date(1900, 1, 1), dt.date(2200, 12, 31)), st.integers(-240, 240))
def test_add_months_clamps_to_the_month_length(day, months):
    result = add_months(day, months)
    assert (result.year * 12 + result.month) - (day.year * 12 + day.month) == months
    assert result.day == min(day.day, stdlib_calendar.monthrange(result.year, result.month)[1])


def test_end_of_january_plus_a_month_is_end_of_february():
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2028, 1, 31), 1) == dt.date(2028, 2, 29)
    assert add_months(dt.date(2026, 3, 31), -1) == dt.date(2026, 2, 28)
    assert add_cadence(dt.date(2026, 8, 31), 3, "month") == dt.date(2026, 11, 30)
    assert add_cadence(dt.date(2026, 1, 1), 2, "week") == dt.date(2026, 1, 15)
    with pytest.raises(CalendarError):
        add_cadence(dt.date(2026, 1, 1), 1, "year")


# --- the Chinese calendar, from the loaded data ---------------------------------------------------------

@pytest.fixture
def china(db):
    from bcrm.playbooks.calendars import business_calendar, load_public_holidays
    from bcrm.playbooks.models import WorkCalendar

    row = WorkCalendar.objects.create(name="Beijing", timezone="Asia/Shanghai", country="CN")
    load_public_holidays(row, "CN", [2025, 2026])
    return row, business_calendar(row)


def test_national_day_2026_in_the_loaded_data(china):
    row, cal = china
    holidays = set(row.days.filter(kind="holiday").values_list("date", flat=True))
    workdays = set(row.days.filter(kind="workday").values_list("date", flat=True))
    # 2026: 1–7 October off (4 October is a Sunday), worked on Sunday 20 September and Saturday 10 October.
    assert {dt.date(2026, 10, d) for d in (1, 2, 3, 5, 6, 7)} <= holidays
    assert [d for d in range(1, 12) if not cal.is_business_day(dt.date(2026, 10, d))] == [1, 2, 3, 4, 5, 6, 7, 11]
    assert dt.date(2026, 10, 10).isoweekday() == 6
    assert {dt.date(2026, 9, 20), dt.date(2026, 10, 10)} <= workdays
    assert cal.is_business_day(dt.date(2026, 10, 10))
    assert cal.next_business_day(dt.date(2026, 10, 1)) == dt.date(2026, 10, 8)


def test_a_four_hour_sla_opened_before_national_day_2026(china):
    _, cal = china
    opened = dt.datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI)
    due = cal.add_business_hours(opened, 4)
    # Two hours on Wednesday 30 September, the other two when work resumes on Thursday 8 October.
    assert due == dt.datetime(2026, 10, 8, 11, 0, tzinfo=SHANGHAI)
    assert cal.business_hours_between(opened, due) == 4


def test_a_four_hour_sla_opened_before_golden_week_2025(china):
    """In 2025 National Day and Mid-Autumn made one week, 1–8 October: the deadline moves to 9 October."""
    _, cal = china
    assert [d for d in range(1, 10) if not cal.is_business_day(dt.date(2025, 10, d))] == [1, 2, 3, 4, 5, 6, 7, 8]
    due = cal.add_business_hours(dt.datetime(2025, 9, 30, 16, 0, tzinfo=SHANGHAI), 4)
    assert due == dt.datetime(2025, 10, 9, 11, 0, tzinfo=SHANGHAI)
    assert cal.is_business_day(dt.date(2025, 10, 11))          # Saturday, worked (调休)
    assert cal.is_business_day(dt.date(2025, 9, 28))           # Sunday, worked


def test_a_task_due_in_the_holiday_falls_on_the_next_business_day(china):
    _, cal = china
    assert cal.due_at(dt.date(2026, 10, 3)) == dt.datetime(2026, 10, 8, 18, 0, tzinfo=SHANGHAI)
    assert next_due(dt.date(2026, 9, 3), count=1, unit="month", today=dt.date(2026, 9, 1), calendar=cal) == \
        dt.date(2026, 10, 8)
    assert next_due(None, count=1, unit="month", today=dt.date(2026, 10, 10), calendar=cal) == dt.date(2026, 10, 10)


def test_a_two_business_day_sla_across_the_spring_festival_2026(china):
    _, cal = china
    # Spring Festival 2026: 15–23 February off, Saturday 14 and Saturday 28 February worked.
    opened = dt.datetime(2026, 2, 13, 17, 0, tzinfo=SHANGHAI)   # Friday
    due = cal.add_business_hours(opened, 16)
    # 1 h on Friday 13, 9 h on Saturday 14 (worked), the last 6 h on Tuesday 24 February.
    assert due == dt.datetime(2026, 2, 24, 15, 0, tzinfo=SHANGHAI)

