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

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from bcrm.accounts.permissions import SystemOperator
from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError
from bcrm.playbooks import calendars
from bcrm.playbooks.choices import DayKind


def parse_years(text: str) -> list[int]:
    """"2026", "2025-2027" or "2025,2027" → the years; CommandError in plain words otherwise (the bounds are
    the service's: :func:`bcrm.playbooks.calendars.calendar_load_holidays`)."""
    text = (text or "").strip()
    if re.fullmatch(r"\d{4}-\d{4}", text):
        first, last = (int(x) for x in text.split("-"))
        if last < first:
            raise CommandError(f"--years {text}: the range ends before it starts; write it as {last}-{first}.")
        return list(range(first, last + 1))
    if re.fullmatch(r"\d{4}(,\d{4})*", text):
        return sorted({int(x) for x in text.split(",")})
    raise CommandError(f"--years {text!r}: give a year (2026), a range (2025-2027) or a list (2025,2027).")


class Command(BaseCommand):
    help = ("List, show and load working calendars (public holidays and make-up days), and give a team its calendar; "
            "`calendar import FILE --user U` captures the meetings of an .ics file.")

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
        meetings = sub.add_parser("import", help="capture the meetings of an .ics file as USER's (bcrm.intel)")
        meetings.add_argument("file", metavar="FILE")
        meetings.add_argument("--user", required=True)
        caldav_sync = sub.add_parser("sync", help="sync the connected CalDAV calendars (all, or one user's)")
        caldav_sync.add_argument("--user", default=None)

    def handle(self, *args, action, **options):
        try:
            actions: dict[str, Callable[..., None]] = {"list": self.list, "show": self.show, "load": self.load,
                                                       "set-team": self.set_team, "import": self.import_meetings,
                                                       "sync": self.sync_calendars}
            actions[action](**options)
        except ServiceError as exc:
            raise command_error(exc) from exc

    def import_meetings(self, *, file: str, user: str, **_options):
        from bcrm.accounts.services import user_get_by_username
        from bcrm.intel.management.commands.mail import report
        from bcrm.intel.sources import import_calendar_file

        report(self, file, import_calendar_file(user_get_by_username(user), file))

    def sync_calendars(self, *, user: str | None, **_options):
        from bcrm.intel.management.commands.mail import accounts, report
        from bcrm.intel.sources import sync_calendar

        failed = False
        for account in accounts("caldav", user):
            report(self, f"{account} ({account.user})", sync_calendar(account))
            self.stdout.write(f"  status: {account.status} {account.status_detail}")
            failed |= account.status != "ok"
        if failed:
            raise CommandError("Some calendars could not be synced completely (see their status).")

    def _json(self, data) -> None:
        self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str))

    def list(self, *, as_json: bool, **_options):
        data = calendars.calendar_summaries()
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
        cal = calendars.calendar_get(name)
        data = calendars.calendar_year(cal, year or timezone.localdate().year)
        if as_json:
            return self._json(data)
        self.stdout.write(f"{cal.name}{' (default)' if cal.is_default else ''}: {data['day_start']}-{data['day_end']} "
                          f"{cal.timezone}, weekend {cal.weekend}, holidays of {cal.country or '-'}")
        self.stdout.write(f"teams: {', '.join(data['teams']) or '-'}")
        for d in data["days"]:
            kind = "holiday" if d["kind"] == DayKind.HOLIDAY else "WORKDAY"
            day = dt.date.fromisoformat(d["date"])
            self.stdout.write(f"{day:%Y-%m-%d %a}\t{kind}\t{d['name']}")
        if not data["days"]:
            self.stdout.write(f"No holidays or make-up days loaded for {data['year']}.")

    def load(self, *, country: str, years: str, calendar: str | None, tz_name: str | None, **_options):
        done = calendars.calendar_load_holidays(actor=SystemOperator(), country=country, years=parse_years(years),
                                                calendar_name=calendar, timezone_name=tz_name)
        verb = "created and loaded" if done.created else "loaded"
        self.stdout.write(f"{done.calendar.name}: {verb} {done.holidays} public holidays and {done.workdays} make-up "
                          f"working days of {done.country} for {done.years[0]}–{done.years[-1]}.")

    def set_team(self, *, team: str, calendar: str, **_options):
        row = calendars.team_get(team)
        cal = calendars.calendar_get(calendar)
        _link, before = calendars.team_calendar_set(actor=SystemOperator(), team=row, calendar=cal)
        self.stdout.write(f"{row.name}: SLAs and due dates now use {cal.name}" +
                          (f" (was {before})." if before and before != cal.name else "."))
