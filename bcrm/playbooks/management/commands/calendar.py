"""`bcrm calendar list | show | load | set-team`: the working calendars SLAs and due dates are measured on.

    bcrm calendar list [--json]
    bcrm calendar show NAME [--year YYYY] [--json]
    bcrm calendar load COUNTRY --years 2025-2027 [--calendar NAME] [--timezone TZ]
    bcrm calendar set-team TEAM CALENDAR
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from bcrm.accounts.models import Team
from bcrm.audit.models import AuditAction
from bcrm.audit.services import audit_record
from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError
from bcrm.playbooks.calendars import load_public_holidays
from bcrm.playbooks.choices import DayKind
from bcrm.playbooks.models import CalendarDay, TeamCalendar, WorkCalendar

MIN_YEAR, MAX_YEAR, MAX_SPAN = 1950, 2100, 30
COUNTRY_TIMEZONES = {"CN": "Asia/Shanghai", "HK": "Asia/Hong_Kong", "SG": "Asia/Singapore", "GB": "Europe/London",
                     "DE": "Europe/Berlin", "FR": "Europe/Paris", "JP": "Asia/Tokyo", "US": "America/New_York"}


def parse_years(text: str) -> list[int]:
    """"2026", "2025-2027" or "2025,2027" → the years; CommandError in plain words otherwise."""
    text = (text or "").strip()
    if re.fullmatch(r"\d{4}-\d{4}", text):
        first, last = (int(x) for x in text.split("-"))
        if last < first:
            raise CommandError(f"--years {text}: the range ends before it starts; write it as {last}-{first}.")
        years = list(range(first, last + 1))
    elif re.fullmatch(r"\d{4}(,\d{4})*", text):
        years = sorted({int(x) for x in text.split(",")})
    else:
        raise CommandError(f"--years {text!r}: give a year (2026), a range (2025-2027) or a list (2025,2027).")
    if years[0] < MIN_YEAR or years[-1] > MAX_YEAR:
        raise CommandError(f"--years {text}: years must be between {MIN_YEAR} and {MAX_YEAR}.")
    if len(years) > MAX_SPAN:
        raise CommandError(f"--years {text}: at most {MAX_SPAN} years at a time.")
    return years


def _calendar(name: str) -> WorkCalendar:
    query = Q(name=name) | (Q(pk=int(name)) if name.isdigit() else Q())
    found = WorkCalendar.objects.filter(query).first()
    if found is None:
        names = ", ".join(WorkCalendar.objects.order_by("name").values_list("name", flat=True)) or "none yet"
        raise CommandError(f"No working calendar named {name!r} (calendars: {names}).")
    return found


def _team(value: str) -> Team:
    query = Q(name=value) | (Q(pk=int(value)) if value.isdigit() else Q())
    rows = list(Team.objects.filter(query)[:2])
    if not rows:
        raise CommandError(f"No team with id or name {value!r}.")
    if len(rows) > 1:
        raise CommandError(f"{value!r} is the id of one team and the name of another; use the name.")
    return rows[0]


class Command(BaseCommand):
    help = "List, show and load working calendars (public holidays and make-up days), and give a team its calendar."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="the working calendars")
        listing.add_argument("--json", dest="as_json", action="store_true")
        show = sub.add_parser("show", help="one calendar with the holidays and make-up working days of a year")
        show.add_argument("name", metavar="NAME", help="calendar name (or id)")
        show.add_argument("--year", type=int, default=None, help="default: this year")
        show.add_argument("--json", dest="as_json", action="store_true")
        load = sub.add_parser("load", help="load a country's public holidays and make-up working days (调休)")
        load.add_argument("country", metavar="COUNTRY", help="ISO 3166 code, e.g. CN")
        load.add_argument("--years", required=True, help="2026, 2025-2027 or 2025,2027")
        load.add_argument("--calendar", metavar="NAME",
                          help="the calendar to load into, created if missing (default: the calendar of that "
                               "country, or a new one named after it)")
        load.add_argument("--timezone", dest="tz_name", metavar="TZ", help="time zone of a new calendar (default: the country's)")
        team = sub.add_parser("set-team", help="measure a team's SLAs and due dates on a calendar")
        team.add_argument("team", metavar="TEAM", help="team id or name")
        team.add_argument("calendar", metavar="CALENDAR", help="calendar name (or id)")

    def handle(self, *args, action, **options):
        try:
            actions: dict[str, Callable[..., None]] = {"list": self.list, "show": self.show, "load": self.load,
                                                       "set-team": self.set_team}
            actions[action](**options)
        except ServiceError as exc:
            raise command_error(exc) from exc

    def _json(self, data) -> None:
        self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str))

    def list(self, *, as_json: bool, **_options):
        rows = WorkCalendar.objects.annotate(
            holidays=Count("days", filter=Q(days__kind=DayKind.HOLIDAY)),
            workdays=Count("days", filter=Q(days__kind=DayKind.WORKDAY)),
            team_count=Count("teams", distinct=True)).order_by("name")
        data = [{"id": c.pk, "name": c.name, "timezone": c.timezone, "hours": f"{c.day_start:%H:%M}-{c.day_end:%H:%M}",
                 "weekend": c.weekend, "country": c.country, "default": c.is_default, "holidays": c.holidays,
                 "workdays": c.workdays, "teams": c.team_count} for c in rows]
        if as_json:
            return self._json(data)
        if not data:
            self.stdout.write("No working calendars yet: `bcrm calendar load CN --years 2025-2027` creates one.")
            return
        for c in data:
            mark = " (default)" if c["default"] else ""
            self.stdout.write(f"{c['name']}{mark}\t{c['timezone']}\t{c['hours']}\tweekend {c['weekend']}\t"
                              f"{c['country'] or '-'}\t{c['holidays']} holidays, {c['workdays']} make-up days\t"
                              f"{c['teams']} team(s)")

    def show(self, *, name: str, year: int | None, as_json: bool, **_options):
        cal = _calendar(name)
        year = year or timezone.localdate().year
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise CommandError(f"--year {year}: choose a year between {MIN_YEAR} and {MAX_YEAR}.")
        days = list(CalendarDay.objects.filter(calendar=cal, date__year=year).order_by("date"))
        teams = list(TeamCalendar.objects.filter(calendar=cal).select_related("team").values_list("team__name", flat=True))
        data = {"name": cal.name, "timezone": cal.timezone, "day_start": f"{cal.day_start:%H:%M}",
                "day_end": f"{cal.day_end:%H:%M}", "weekend": cal.weekend, "country": cal.country,
                "default": cal.is_default, "teams": teams, "year": year,
                "days": [{"date": d.date.isoformat(), "kind": d.kind, "name": d.display_name} for d in days]}
        if as_json:
            return self._json(data)
        self.stdout.write(f"{cal.name}{' (default)' if cal.is_default else ''}: {data['day_start']}-{data['day_end']} "
                          f"{cal.timezone}, weekend {cal.weekend}, holidays of {cal.country or '-'}")
        self.stdout.write(f"teams: {', '.join(teams) or '-'}")
        for d in days:
            kind = "holiday" if d.kind == DayKind.HOLIDAY else "WORKDAY"
            self.stdout.write(f"{d.date:%Y-%m-%d %a}\t{kind}\t{d.display_name}")
        if not days:
            self.stdout.write(f"No holidays or make-up days loaded for {year}.")

    def load(self, *, country: str, years: str, calendar: str | None, tz_name: str | None, **_options):
        code = (country or "").strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", code):
            raise CommandError(f"{country!r} is not an ISO 3166 country code (two letters, e.g. CN).")
        wanted = parse_years(years)
        tz = tz_name or COUNTRY_TIMEZONES.get(code, "UTC")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise CommandError(f"--timezone {tz!r} is not a known time zone (e.g. Asia/Shanghai).") from None
        with transaction.atomic():
            if calendar:
                cal = WorkCalendar.objects.filter(name=calendar).first()
            else:
                cal = WorkCalendar.objects.filter(country=code).order_by("-is_default", "name").first()
                calendar = f"{code} working calendar"
            created = cal is None
            if cal is None:
                cal = WorkCalendar.objects.create(name=calendar, timezone=tz, country=code,
                                                  day_start=dt.time(9, 0), day_end=dt.time(18, 0), weekend="6,7",
                                                  is_default=not WorkCalendar.objects.filter(is_default=True).exists())
            counts = load_public_holidays(cal, code, wanted)       # unknown country: rolls the creation back
            audit_record(actor=None, action=AuditAction.CREATE if created else AuditAction.UPDATE, instance=cal,
                         changes={"public_holidays": {"country": code, "years": wanted, **counts}})
        verb = "created and loaded" if created else "loaded"
        self.stdout.write(f"{cal.name}: {verb} {counts['holidays']} public holidays and {counts['workdays']} make-up "
                          f"working days of {code} for {wanted[0]}–{wanted[-1]}.")

    def set_team(self, *, team: str, calendar: str, **_options):
        row = _team(team)
        cal = _calendar(calendar)
        with transaction.atomic():
            link = TeamCalendar.objects.select_for_update().filter(team=row).first()
            before = link.calendar.name if link else None
            link, created = TeamCalendar.objects.update_or_create(team=row, defaults={"calendar": cal})
            audit_record(actor=None, action=AuditAction.CREATE if created else AuditAction.UPDATE, instance=link,
                         changes={"calendar": [before, cal.name]})
        self.stdout.write(f"{row.name}: SLAs and due dates now use {cal.name}" +
                          (f" (was {before})." if before and before != cal.name else "."))
