"""Working calendars from the database: the pure :class:`BusinessCalendar` of a team, public holidays
loaded from the maintained `holidays` package (as data the team can then edit)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from bcrm.core.errors import InvalidInput
from bcrm.playbooks.businesstime import BusinessCalendar
from bcrm.playbooks.choices import MAKEUP_WORKDAY, DayKind
from bcrm.playbooks.models import CalendarDay, TeamCalendar, WorkCalendar


def parse_weekend(text: str) -> frozenset[int]:
    try:
        days = frozenset(int(x) for x in str(text).replace(" ", "").split(",") if x)
    except ValueError:
        raise InvalidInput(_("Weekend days are ISO weekday numbers, like 6,7."), fields={"weekend": [
            _("Weekend days are ISO weekday numbers, like 6,7.")]}) from None
    if any(d < 1 or d > 7 for d in days) or len(days) >= 7:
        raise InvalidInput(_("Weekend days are ISO weekday numbers, like 6,7."), fields={"weekend": [
            _("Weekend days are ISO weekday numbers, like 6,7.")]})
    return days


def business_calendar(calendar: WorkCalendar) -> BusinessCalendar:
    try:
        tz = ZoneInfo(calendar.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(_("Unknown time zone: %(tz)s.") % {"tz": calendar.timezone}) from None
    holidays: set[dt.date] = set()
    workdays: set[dt.date] = set()
    for day, kind in calendar.days.values_list("date", "kind"):
        (holidays if kind == DayKind.HOLIDAY else workdays).add(day)
    return BusinessCalendar(tz=tz, day_start=calendar.day_start, day_end=calendar.day_end,
                            weekend=parse_weekend(calendar.weekend), holidays=frozenset(holidays),
                            workdays=frozenset(workdays))


def default_calendar() -> BusinessCalendar:
    from bcrm.playbooks.defaults import ensure_defaults

    ensure_defaults()
    row = WorkCalendar.objects.filter(is_default=True).first() or WorkCalendar.objects.first()
    return business_calendar(row) if row else BusinessCalendar()


def team_calendar(team_id: int | None) -> BusinessCalendar:
    """One team's calendar (its own, else the default), for a page about one client: two queries."""
    link = TeamCalendar.objects.filter(team_id=team_id).select_related("calendar").first() if team_id else None
    row = link.calendar if link is not None else (
        WorkCalendar.objects.filter(is_default=True).first() or WorkCalendar.objects.first())
    return business_calendar(row) if row is not None else BusinessCalendar()


def team_calendars() -> tuple[BusinessCalendar, dict[int, BusinessCalendar]]:
    """The default calendar and each team's own, loaded once per automation run."""
    default = default_calendar()
    by_calendar: dict[int, BusinessCalendar] = {}
    teams: dict[int, BusinessCalendar] = {}
    for link in TeamCalendar.objects.select_related("calendar"):
        if link.calendar_id not in by_calendar:
            by_calendar[link.calendar_id] = business_calendar(link.calendar)
        teams[link.team_id] = by_calendar[link.calendar_id]
    return default, teams


@functools.lru_cache(maxsize=128)
def _library_names(country: str, year: int, language: str) -> dict[dt.date, str]:
    import holidays as holidays_lib

    try:
        source = holidays_lib.country_holidays(country.upper(), years=[year], language=language)
    except (NotImplementedError, KeyError):
        return {}
    return {day: str(name)[:120] for day, name in source.items()}


def holiday_name(day: CalendarDay, country: str) -> str:
    """A public holiday's name in the reader's language: a name as loaded from the `holidays` package (in any
    of its languages) is shown in the reader's; a name a person typed is shown as typed."""
    if day.kind != DayKind.HOLIDAY or not country or not day.name:
        return day.name
    wanted = "zh_CN" if (translation.get_language() or "").lower().startswith("zh") else "en_US"
    loaded = {_library_names(country, day.date.year, language).get(day.date) for language in ("zh_CN", "en_US")}
    if day.name in loaded:
        return _library_names(country, day.date.year, wanted).get(day.date) or day.name
    return day.name


@transaction.atomic
def load_public_holidays(calendar: WorkCalendar, country: str, years: Iterable[int]) -> dict[str, int]:
    """Public holidays and make-up working days (调休) of ``country`` for ``years``, from the `holidays`
    package, written as calendar days (existing days of those dates are replaced)."""
    import holidays as holidays_lib

    years = sorted(set(years))
    try:
        source = holidays_lib.country_holidays(country.upper(), years=years,
                                               language="zh_CN" if country.upper() == "CN" else None)
    except NotImplementedError:
        raise InvalidInput(_("No public holidays are known for country %(code)s.") % {"code": country}) from None
    rows: dict[dt.date, CalendarDay] = {}
    for day, name in sorted(source.items()):
        rows[day] = CalendarDay(calendar=calendar, date=day, kind=DayKind.HOLIDAY, name=str(name)[:120])
    for day in sorted(getattr(source, "weekend_workdays", ()) or ()):
        if day.year in years:
            rows[day] = CalendarDay(calendar=calendar, date=day, kind=DayKind.WORKDAY, name=MAKEUP_WORKDAY)
    CalendarDay.objects.filter(calendar=calendar, date__in=list(rows)).delete()
    CalendarDay.objects.bulk_create(list(rows.values()))
    if not calendar.country:
        calendar.country = country.upper()
        calendar.save(update_fields=["country"])
    counts = {"holidays": sum(1 for r in rows.values() if r.kind == DayKind.HOLIDAY),
              "workdays": sum(1 for r in rows.values() if r.kind == DayKind.WORKDAY)}
    return counts
