"""Working calendars from the database: the pure :class:`BusinessCalendar` of a team, public holidays
loaded from the maintained `holidays` package (as data the team can then edit), and the use cases that write
calendars (load a country's holidays, give a team its calendar): every door (CLI, admin actions, a future
page or API) calls these, which check who may, validate, lock, write and audit."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from bcrm.accounts.models import Team
from bcrm.accounts.permissions import EDIT_ALL, has_any, require
from bcrm.audit.models import AuditAction
from bcrm.audit.services import audit_record
from bcrm.core.errors import InvalidInput, NotFound
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


def _zone(calendar: WorkCalendar) -> ZoneInfo:
    try:
        return ZoneInfo(calendar.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(_("Unknown time zone: %(tz)s.") % {"tz": calendar.timezone}) from None


def business_calendar(calendar: WorkCalendar) -> BusinessCalendar:
    tz = _zone(calendar)
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
    row = _default_row()
    return business_calendar(row) if row else BusinessCalendar()


def _default_row() -> WorkCalendar | None:
    return WorkCalendar.objects.filter(is_default=True).first() or WorkCalendar.objects.first()


def firm_today() -> dt.date:
    """Today in the default calendar's time zone: the day the automation counts from (its time zone only, not
    its holidays)."""
    row = _default_row()
    return timezone.now().astimezone(_zone(row) if row else BusinessCalendar().tz).date()


def team_calendar(team_id: int | None) -> BusinessCalendar:
    """One team's calendar (its own, else the default), for a page about one client: two queries."""
    link = TeamCalendar.objects.filter(team_id=team_id).select_related("calendar").first() if team_id else None
    row = link.calendar if link is not None else _default_row()
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


# --- reads of the calendars (CLI, API) ----------------------------------------------------------------------

MIN_YEAR, MAX_YEAR, MAX_SPAN = 1950, 2100, 30
#: The time zone a new calendar of a country gets when none is given.
COUNTRY_TIMEZONES = {"CN": "Asia/Shanghai", "HK": "Asia/Hong_Kong", "SG": "Asia/Singapore", "GB": "Europe/London",
                     "DE": "Europe/Berlin", "FR": "Europe/Paris", "JP": "Asia/Tokyo", "US": "America/New_York"}


def calendar_summaries() -> list[dict[str, Any]]:
    """Every working calendar with its hours, weekend, holidays and make-up days counted, and its teams: one query."""
    rows = WorkCalendar.objects.annotate(
        holidays=Count("days", filter=Q(days__kind=DayKind.HOLIDAY)),
        workdays=Count("days", filter=Q(days__kind=DayKind.WORKDAY)),
        team_count=Count("teams", distinct=True)).order_by("name")
    return [{"id": c.pk, "name": c.name, "timezone": c.timezone, "hours": f"{c.day_start:%H:%M}-{c.day_end:%H:%M}",
             "weekend": c.weekend, "country": c.country, "default": c.is_default,
             "holidays": c.holidays, "workdays": c.workdays, "teams": c.team_count} for c in rows]


def calendar_get(name: str) -> WorkCalendar:
    """The calendar named ``name`` (or with that id), or NotFound naming the calendars there are."""
    query = Q(name=name) | (Q(pk=int(name)) if name.isdigit() else Q())
    found = WorkCalendar.objects.filter(query).first()
    if found is None:
        names = ", ".join(WorkCalendar.objects.order_by("name").values_list("name", flat=True)) or _("none yet")
        raise NotFound(_("No working calendar named %(name)r (calendars: %(names)s).") % {"name": name, "names": names})
    return found


def check_year(year: int, field: str = "year") -> int:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidInput(fields={field: [_("Choose a year between %(min)s and %(max)s.")
                                           % {"min": MIN_YEAR, "max": MAX_YEAR}]})
    return year


def calendar_year(calendar: WorkCalendar, year: int) -> dict[str, Any]:
    """One calendar with its teams and the holidays and make-up working days of ``year``: three queries."""
    check_year(year)
    days = list(CalendarDay.objects.filter(calendar=calendar, date__year=year).order_by("date"))
    teams = list(TeamCalendar.objects.filter(calendar=calendar).values_list("team__name", flat=True))
    return {"name": calendar.name, "timezone": calendar.timezone, "day_start": f"{calendar.day_start:%H:%M}",
            "day_end": f"{calendar.day_end:%H:%M}", "weekend": calendar.weekend, "country": calendar.country,
            "default": calendar.is_default, "teams": teams, "year": year,
            "days": [{"date": d.date.isoformat(), "kind": d.kind, "name": d.display_name} for d in days]}


# --- writes ----------------------------------------------------------------------------------------------------

def can_edit_calendars(user) -> bool:
    """Working calendars are configuration, like the playbooks: team leads and administrators (``None``: the
    system)."""
    return user is None or has_any(user, EDIT_ALL)


def _require_edit(actor) -> None:
    require(can_edit_calendars(actor), _("Only a team lead or an administrator may change working calendars."))


def _audit_actor(actor):
    return actor if getattr(actor, "pk", None) else None


def _country(code: str) -> str:
    clean = (code or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", clean):
        raise InvalidInput(fields={"country": [
            _("%(value)r is not an ISO 3166 country code (two letters, e.g. CN).") % {"value": code}]})
    return clean


def _years(years: Iterable[int]) -> list[int]:
    wanted = sorted({int(y) for y in years})
    if not wanted:
        raise InvalidInput(fields={"years": [_("Give at least one year.")]})
    if wanted[0] < MIN_YEAR or wanted[-1] > MAX_YEAR:
        raise InvalidInput(fields={"years": [_("Years must be between %(min)s and %(max)s.")
                                             % {"min": MIN_YEAR, "max": MAX_YEAR}]})
    if len(wanted) > MAX_SPAN:
        raise InvalidInput(fields={"years": [_("Load at most %(n)s years at a time.") % {"n": MAX_SPAN}]})
    return wanted


def check_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(fields={"timezone": [
            _("%(value)r is not a known time zone (e.g. Asia/Shanghai).") % {"value": name}]}) from None
    return name


@dataclass(frozen=True)
class HolidayLoad:
    calendar: WorkCalendar
    created: bool
    country: str
    years: list[int]
    holidays: int
    workdays: int


@transaction.atomic
def calendar_load_holidays(*, actor, country: str, years: Iterable[int], calendar_name: str | None = None,
                           timezone_name: str | None = None) -> HolidayLoad:
    """Load ``country``'s public holidays and make-up working days (调休) of ``years`` into the calendar named
    ``calendar_name`` (default: the country's calendar), creating it when missing (default when there is no
    default calendar yet; 09:00-18:00, Saturday and Sunday off, in ``timezone_name`` or the country's time zone).
    Days already there on those dates are replaced. All or nothing: an unknown country creates nothing."""
    _require_edit(actor)
    code = _country(country)
    wanted = _years(years)
    tz = check_time_zone(timezone_name or COUNTRY_TIMEZONES.get(code, "UTC"))
    locked = WorkCalendar.objects.select_for_update()
    if calendar_name:
        cal = locked.filter(name=calendar_name).first()
    else:
        cal = locked.filter(country=code).order_by("-is_default", "name").first()
        calendar_name = f"{code} working calendar"
    created = cal is None
    if cal is None:
        cal = WorkCalendar(name=calendar_name, timezone=tz, country=code, day_start=dt.time(9, 0),
                           day_end=dt.time(18, 0), weekend="6,7",
                           is_default=not WorkCalendar.objects.filter(is_default=True).exists())
        try:
            cal.full_clean()
        except DjangoValidationError as exc:
            raise InvalidInput.from_django(exc) from exc
        cal.save()
    counts = load_public_holidays(cal, code, wanted)       # unknown country: InvalidInput, the creation rolls back
    audit_record(actor=_audit_actor(actor), action=AuditAction.CREATE if created else AuditAction.UPDATE,
                 instance=cal, changes={"public_holidays": {"country": code, "years": wanted, **counts}})
    return HolidayLoad(calendar=cal, created=created, country=code, years=wanted, holidays=counts["holidays"],
                       workdays=counts["workdays"])


def team_get(value: str) -> Team:
    """The team with id or name ``value``; NotFound, or InvalidInput when it is one team's id and another's name."""
    query = Q(name=value) | (Q(pk=int(value)) if value.isdigit() else Q())
    rows = list(Team.objects.filter(query)[:2])
    if not rows:
        raise NotFound(_("No team with id or name %(value)r.") % {"value": value})
    if len(rows) > 1:
        raise InvalidInput(_("%(value)r is the id of one team and the name of another; use the name.")
                           % {"value": value})
    return rows[0]


@transaction.atomic
def team_calendar_set(*, actor, team: Team, calendar: WorkCalendar) -> tuple[TeamCalendar, str | None]:
    """Measure ``team``'s SLAs and due dates on ``calendar``. Returns the link and the name of the calendar the
    team used before (``None``: the default)."""
    _require_edit(actor)
    Team.objects.select_for_update().filter(pk=team.pk).first()     # one writer per team at a time
    link = TeamCalendar.objects.select_for_update().select_related("calendar").filter(team=team).first()
    before = link.calendar.name if link else None
    created = link is None
    if link is None:
        link = TeamCalendar(team=team, calendar=calendar)
    link.calendar = calendar
    try:
        link.full_clean(validate_unique=False)
    except DjangoValidationError as exc:
        raise InvalidInput.from_django(exc) from exc
    link.save()
    audit_record(actor=_audit_actor(actor), action=AuditAction.CREATE if created else AuditAction.UPDATE,
                 instance=link, changes={"calendar": [before, calendar.name]})
    return link, before


# --- the Django admin's edits (where calendars and their days are edited by hand) ---------------------------------

CALENDAR_FIELDS = ("name", "timezone", "day_start", "day_end", "weekend", "country", "is_default")


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | bool | type(None)) else str(value)


def _clean(instance) -> None:
    try:
        instance.full_clean()
    except DjangoValidationError as exc:
        raise InvalidInput.from_django(exc) from exc


@transaction.atomic
def calendar_save(*, actor, calendar: WorkCalendar) -> WorkCalendar:
    """Create or change a working calendar as edited by hand (hours, weekend, time zone, default): validated,
    the row locked, the changed fields audited."""
    _require_edit(actor)
    before = WorkCalendar.objects.select_for_update().filter(pk=calendar.pk).first() if calendar.pk else None
    _clean(calendar)
    parse_weekend(calendar.weekend)
    check_time_zone(calendar.timezone)
    calendar.save()
    changes = {name: [None if before is None else _plain(getattr(before, name)), _plain(getattr(calendar, name))]
               for name in CALENDAR_FIELDS if before is None or getattr(before, name) != getattr(calendar, name)}
    audit_record(actor=_audit_actor(actor), action=AuditAction.UPDATE if before else AuditAction.CREATE,
                 instance=calendar, changes=changes)
    return calendar


@transaction.atomic
def calendar_delete(*, actor, calendar: WorkCalendar) -> None:
    """Delete a working calendar with its days (its teams fall back to the default calendar)."""
    _require_edit(actor)
    WorkCalendar.objects.select_for_update().filter(pk=calendar.pk).first()
    audit_record(actor=_audit_actor(actor), action=AuditAction.DELETE, instance=calendar,
                 changes={"name": [calendar.name, None]})
    calendar.delete()


@transaction.atomic
def calendar_days_write(*, actor, calendar: WorkCalendar, save: Iterable[CalendarDay] = (),
                        delete: Iterable[CalendarDay] = ()) -> None:
    """Add or change holidays and make-up working days of ``calendar`` and delete others, as edited by hand:
    each day validated, the calendar locked while they are written, one audit entry on the calendar."""
    _require_edit(actor)
    WorkCalendar.objects.select_for_update().filter(pk=calendar.pk).first()
    saved, deleted = [], []
    for day in save:
        day.calendar = calendar
        _clean(day)
        day.save()
        saved.append({"date": day.date.isoformat(), "kind": day.kind, "name": day.name})
    for day in delete:
        if day.pk is not None and day.calendar_id == calendar.pk:
            deleted.append(day.date.isoformat())
            day.delete()
    if saved or deleted:
        audit_record(actor=_audit_actor(actor), action=AuditAction.UPDATE, instance=calendar,
                     changes={"days": {"saved": saved, "deleted": deleted}})


@transaction.atomic
def team_calendar_clear(*, actor, team: Team) -> None:
    """The team's SLAs and due dates go back to the default calendar."""
    _require_edit(actor)
    link = TeamCalendar.objects.select_for_update().select_related("calendar").filter(team=team).first()
    if link is None:
        return
    audit_record(actor=_audit_actor(actor), action=AuditAction.DELETE, instance=link,
                 changes={"calendar": [link.calendar.name, None]})
    link.delete()
