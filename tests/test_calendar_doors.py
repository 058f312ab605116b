"""The working-calendar doors: `bcrm calendar list | show | load | set-team`, the read-only /calendars/ page
and the Django admin where calendars and their days are edited."""

from __future__ import annotations

import datetime as dt
import json
from functools import partial

import pytest
from django.core.management import CommandError

from bcrm.audit.models import AuditEntry
from bcrm.playbooks.models import CalendarDay, TeamCalendar, WorkCalendar
from tests.doors import command
from tests.factories import make_user

pytestmark = pytest.mark.django_db


run = partial(command, "calendar")  # `bcrm calendar …`; answers its stdout


@pytest.fixture
def beijing(db):
    run("load", "CN", "--years", "2025-2027", "--calendar", "Beijing")
    return WorkCalendar.objects.get(name="Beijing")


def test_load_creates_the_calendar_with_holidays_and_make_up_days(beijing):
    assert beijing.country == "CN" and beijing.timezone == "Asia/Shanghai" and beijing.is_default
    days = dict(CalendarDay.objects.filter(calendar=beijing).values_list("date", "kind"))
    assert days[dt.date(2026, 10, 1)] == "holiday"
    assert days[dt.date(2026, 10, 10)] == "workday"
    assert days[dt.date(2027, 1, 1)] == "holiday"
    entry = AuditEntry.objects.get(action="create", object_id=str(beijing.pk), content_type__model="workcalendar")
    assert entry.changes["public_holidays"]["years"] == [2025, 2026, 2027]


def test_loading_again_replaces_the_days_without_duplicates(beijing):
    before = CalendarDay.objects.filter(calendar=beijing).count()
    out = run("load", "CN", "--years", "2026", "--calendar", "Beijing")
    assert "loaded" in out and "created" not in out
    assert CalendarDay.objects.filter(calendar=beijing).count() == before


def test_load_without_a_name_uses_the_country_calendar_or_makes_one(db):
    out = run("load", "SG", "--years", "2026")
    assert "SG working calendar: created and loaded" in out
    cal = WorkCalendar.objects.get(country="SG")
    assert cal.timezone == "Asia/Singapore"
    run("load", "SG", "--years", "2027")
    assert WorkCalendar.objects.filter(country="SG").count() == 1


@pytest.mark.parametrize(("args", "message"), [
    (["load", "XX", "--years", "2026"], "No public holidays are known for country XX"),
    (["load", "CHN", "--years", "2026"], "not an ISO 3166 country code"),
    (["load", "CN", "--years", "2027-2025"], "ends before it starts"),
    (["load", "CN", "--years", "next year"], "give a year"),
    (["load", "CN", "--years", "1800"], "between 1950 and 2100"),
    (["load", "CN", "--years", "2000-2050"], "at most 30 years"),
    (["load", "CN", "--years", "2026", "--timezone", "Mars/Olympus"], "not a known time zone"),
])
def test_load_refuses_bad_input_and_writes_nothing(db, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not WorkCalendar.objects.exists()


def test_list_and_show(beijing, team):
    TeamCalendar.objects.create(team=team, calendar=beijing)
    listing = run("list")
    assert "Beijing (default)" in listing and "1 team(s)" in listing
    data = json.loads(run("list", "--json"))
    assert data[0]["name"] == "Beijing" and data[0]["holidays"] > 20 and data[0]["workdays"] >= 6
    shown = run("show", "Beijing", "--year", "2026")
    assert "2026-10-10 Sat\tWORKDAY" in shown
    assert "2026-10-01 Thu\tholiday" in shown
    assert "Energy Desk" in shown
    as_json = json.loads(run("show", str(beijing.pk), "--year", "2026", "--json"))
    assert {"date": "2026-09-20", "kind": "workday", "name": "Make-up working day"} in as_json["days"]


def test_list_says_how_to_start_when_empty(db):
    assert "bcrm calendar load CN" in run("list")


def test_show_refuses_unknown_calendars_and_years(beijing):
    with pytest.raises(CommandError, match="No working calendar named 'Shanghai'"):
        run("show", "Shanghai")
    with pytest.raises(CommandError, match="between 1950 and 2100"):
        run("show", "Beijing", "--year", "20260")


def test_set_team(beijing, team):
    run("load", "SG", "--years", "2026")
    assert "now use Beijing" in run("set-team", "Energy Desk", "Beijing")
    assert TeamCalendar.objects.get(team=team).calendar == beijing
    out = run("set-team", str(team.pk), "SG working calendar")
    assert "(was Beijing)" in out
    assert TeamCalendar.objects.get(team=team).calendar.name == "SG working calendar"
    changes = list(AuditEntry.objects.filter(content_type__model="teamcalendar").order_by("at", "id")
                   .values_list("action", "changes"))
    assert changes == [("create", {"calendar": [None, "Beijing"]}),
                       ("update", {"calendar": ["Beijing", "SG working calendar"]})]
    with pytest.raises(CommandError, match="No team"):
        run("set-team", "Nobody's Desk", "Beijing")
    with pytest.raises(CommandError, match="No working calendar"):
        run("set-team", "Energy Desk", "Atlantis")


# --- the page and the admin --------------------------------------------------------------------------------

def test_the_calendars_page_lists_holidays_and_make_up_days(client, beijing, viewer):
    client.force_login(viewer)
    response = client.get("/calendars/?year=2026")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-calendar="Beijing"' in html
    assert 'data-date="2026-10-01"' in html and 'data-date="2026-10-10"' in html
    assert 'data-date="2025-10-01"' not in html
    assert "/admin/playbooks/workcalendar/" not in html          # a viewer cannot edit


def test_admins_get_a_link_to_edit(client, beijing, admin):
    client.force_login(admin)
    html = client.get("/calendars/").content.decode()
    assert f"/admin/playbooks/workcalendar/{beijing.pk}/change/" in html


def test_the_calendars_page_asks_strangers_to_sign_in_and_survives_bad_years(client, beijing, viewer):
    assert client.get("/calendars/").status_code == 302
    client.force_login(viewer)
    assert client.get("/calendars/?year=soon").status_code == 200
    assert client.get("/calendars/?year=99999").status_code == 422


def test_the_admin_edits_calendar_days_inline(client, beijing, admin):
    client.force_login(admin)
    page = client.get(f"/admin/playbooks/workcalendar/{beijing.pk}/change/")
    assert page.status_code == 200
    assert "days-TOTAL_FORMS" in page.content.decode()
    for url in ("/admin/playbooks/tierpolicy/", "/admin/playbooks/playbook/", "/admin/playbooks/playbookstep/",
                "/admin/playbooks/calendarday/", "/admin/playbooks/teamcalendar/", "/admin/playbooks/clienttier/",
                "/admin/playbooks/automationrun/", "/admin/playbooks/automationschedule/"):
        assert client.get(url).status_code == 200, url


# --- the services the CLI calls ------------------------------------------------------------------------------

def test_the_cli_writes_through_the_calendar_services(db, team, monkeypatch):
    from bcrm.playbooks import calendars

    calls = []

    def spying(name):
        real = getattr(calendars, name)

        def spy(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)
        return spy

    for name in ("calendar_load_holidays", "team_calendar_set"):
        monkeypatch.setattr(calendars, name, spying(name))
    run("load", "CN", "--years", "2026", "--calendar", "Beijing")
    run("set-team", "Energy Desk", "Beijing")
    assert calls == ["calendar_load_holidays", "team_calendar_set"]


@pytest.mark.parametrize("role", ["viewer", "analyst", "compliance", "rm"])
def test_only_leads_and_admins_change_calendars(request, role, team):
    from bcrm.core.errors import PermissionDenied
    from bcrm.playbooks.calendars import calendar_load_holidays, team_calendar_set

    user = request.getfixturevalue(role)
    with pytest.raises(PermissionDenied):
        calendar_load_holidays(actor=user, country="CN", years=[2026], calendar_name="Beijing")
    assert not WorkCalendar.objects.exists()
    cal = WorkCalendar.objects.create(name="Plain")
    with pytest.raises(PermissionDenied):
        team_calendar_set(actor=user, team=team, calendar=cal)
    assert not TeamCalendar.objects.exists()
    assert not AuditEntry.objects.filter(content_type__model__in=["workcalendar", "teamcalendar"]).exists()


@pytest.mark.parametrize("role", ["lead", "admin"])
def test_a_lead_or_an_admin_loads_and_assigns_with_their_name_in_the_audit(request, role, team):
    from bcrm.playbooks.calendars import calendar_load_holidays, team_calendar_set

    user = request.getfixturevalue(role)
    done = calendar_load_holidays(actor=user, country="cn", years=[2027, 2026], calendar_name="Beijing")
    assert done.created and done.country == "CN" and done.years == [2026, 2027] and done.holidays > 10
    link, before = team_calendar_set(actor=user, team=team, calendar=done.calendar)
    assert before is None and link.calendar == done.calendar
    entries = AuditEntry.objects.filter(content_type__model__in=["workcalendar", "teamcalendar"])
    assert {(e.action, e.actor_id) for e in entries} == {("create", user.pk)}


def test_the_service_refuses_bad_input_in_fields(db):
    from bcrm.core.errors import InvalidInput
    from bcrm.playbooks.calendars import calendar_load_holidays

    for kwargs, field in [({"country": "CHN", "years": [2026]}, "country"),
                          ({"country": "CN", "years": []}, "years"),
                          ({"country": "CN", "years": range(2000, 2040)}, "years"),
                          ({"country": "CN", "years": [2026], "timezone_name": "Mars/Olympus"}, "timezone")]:
        with pytest.raises(InvalidInput) as caught:
            calendar_load_holidays(actor=None, **kwargs)
        assert field in caught.value.fields
    assert not WorkCalendar.objects.exists()


# --- the admin edits through the same services ----------------------------------------------------------------------

def _calendar_post(cal: WorkCalendar, **changes) -> dict:
    data = {"name": cal.name, "timezone": cal.timezone, "day_start": f"{cal.day_start:%H:%M:%S}",
            "day_end": f"{cal.day_end:%H:%M:%S}", "weekend": cal.weekend, "country": cal.country,
            "days-TOTAL_FORMS": "0", "days-INITIAL_FORMS": "0", "days-MIN_NUM_FORMS": "0",
            "days-MAX_NUM_FORMS": "1000", **changes}
    if cal.is_default:
        data["is_default"] = "on"
    return data


def test_the_admin_changes_a_calendar_through_the_service_with_an_audit_entry(client, beijing, admin):
    client.force_login(admin)
    url = f"/admin/playbooks/workcalendar/{beijing.pk}/change/"
    bad = client.post(url, _calendar_post(beijing, weekend="8"))
    assert bad.status_code == 200 and "ISO weekday numbers" in bad.content.decode()
    bad = client.post(url, _calendar_post(beijing, timezone="Mars/Olympus"))
    assert bad.status_code == 200 and "not a known time zone" in bad.content.decode()
    assert client.post(url, _calendar_post(beijing, weekend="5,6")).status_code == 302
    beijing.refresh_from_db()
    assert beijing.weekend == "5,6"
    entry = AuditEntry.objects.filter(content_type__model="workcalendar", action="update").latest("id")
    assert entry.changes == {"weekend": ["6,7", "5,6"]} and entry.actor_id == admin.pk


def test_the_admin_adds_a_day_and_assigns_a_team_through_the_services(client, beijing, admin, team):
    client.force_login(admin)
    response = client.post("/admin/playbooks/calendarday/add/", {
        "calendar": beijing.pk, "date": "2026-12-24", "kind": "holiday", "name": "Christmas Eve"})
    assert response.status_code == 302
    assert CalendarDay.objects.get(calendar=beijing, date=dt.date(2026, 12, 24)).name == "Christmas Eve"
    entry = AuditEntry.objects.filter(content_type__model="workcalendar", action="update").latest("id")
    assert entry.changes["days"]["saved"] == [{"date": "2026-12-24", "kind": "holiday", "name": "Christmas Eve"}]
    response = client.post("/admin/playbooks/teamcalendar/add/", {"team": team.pk, "calendar": beijing.pk})
    assert response.status_code == 302
    assert list(AuditEntry.objects.filter(content_type__model="teamcalendar").values_list("action", "changes")) == [
        ("create", {"calendar": [None, "Beijing"]})]


def test_staff_without_the_role_cannot_edit_calendars_in_the_admin(client, beijing):
    from django.contrib.auth.models import Permission

    staff = make_user("staff_viewer", "viewer")
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="playbooks"))
    client.force_login(staff)
    url = f"/admin/playbooks/workcalendar/{beijing.pk}/change/"
    assert client.post(url, _calendar_post(beijing, weekend="5,6")).status_code == 403
    beijing.refresh_from_db()
    assert beijing.weekend == "6,7"
    assert client.get("/admin/playbooks/teamcalendar/add/").status_code == 403
