"""The automation's daily run works on what changed: it examines the clients due by date, those whose labels,
team or relationship manager changed and those with writes since the previous run, and makes exactly what a
full run over the whole book would (tasks, tiers, report deliveries), on dates where cadence steps fall due
with no writes and after changes made through the real services. On SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from bcrm.accounts.services import team_member_set
from bcrm.engagement.models import Interaction, Task
from bcrm.engagement.services import interaction_create, interaction_delete
from bcrm.financing.services import participation_create
from bcrm.parties.services import organization_update
from bcrm.playbooks.automation import run_automation
from bcrm.playbooks.calendars import load_public_holidays
from bcrm.playbooks.choices import RunMode
from bcrm.playbooks.defaults import DEFAULT_CALENDAR, ensure_defaults
from bcrm.playbooks.models import AutomationRun, ClientDue, ClientTier, PlaybookStep, WorkCalendar
from bcrm.playbooks.services import automation_run, step_update, task_cancel, task_complete
from bcrm.progress.models import ReportDelivery
from bcrm.segmentation.models import ClientLabels
from bcrm.segmentation.services import override_create
from tests.doors import signed_in
from tests.factories import make_contact, make_org, make_participation, make_project, make_team, make_user

SH = ZoneInfo("Asia/Shanghai")


class _Rollback(Exception):
    pass


def _at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=SH)


def _state():
    """Everything a run writes that users see, without database ids."""
    tasks = sorted(Task.objects.values_list(
        "source_key", "organization_id", "assignee_id", "due_at", "status", "action", "step_id", "team_id",
        "basis_at", "planned_hours", "participation_id", "title", "title_params"), key=repr)
    tiers = sorted(ClientTier.objects.values_list("organization_id", "tier", "addons", "since", "policy_version"))
    deliveries = sorted(ReportDelivery.objects.values_list("key", "organization_id", "contact_id", "period"))
    return tasks, tiers, deliveries


def _full_outcome(as_of: dt.datetime):
    """What a full run as of ``as_of`` would leave, rolled back afterwards."""
    try:
        with transaction.atomic():
            run_automation(actor=None, as_of=as_of, full=True)
            outcome = _state()
            raise _Rollback
    except _Rollback:
        pass
    return outcome


def _same_as_full(as_of: dt.datetime):
    """Run the default (incremental) run as of ``as_of`` for real and check it left what a full run would."""
    expected = _full_outcome(as_of)
    report = run_automation(actor=None, as_of=as_of)
    assert _state() == expected
    return report


@pytest.fixture
def book(db, settings):
    """A small book across two teams: every tier and add-on, interactions of several ages, a deal in the
    pipeline of a high-risk client, consenting contacts for the monthly report."""
    settings.BCRM_AUTOMATION_SLACK_SECONDS = 0  # the book's own rows are older than the first run
    start = timezone.localdate() + dt.timedelta(days=1)
    cal = WorkCalendar.objects.create(name=DEFAULT_CALENDAR, timezone="Asia/Shanghai", is_default=True,
                                      day_start=dt.time(9), day_end=dt.time(18), weekend="6,7")
    load_public_holidays(cal, "CN", [start.year, start.year + 1])
    ensure_defaults()
    east, west = make_team("East Desk"), make_team("West Desk")
    rm_east = make_user("rm_east", "relationship_manager", team=east)
    rm_west = make_user("rm_west", "relationship_manager", team=west)
    lead = make_user("lead_both", "lead")
    team_member_set(team=east, user=lead, weekly_capacity_hours=5)
    team_member_set(team=east, user=rm_east, weekly_capacity_hours=12)  # little room: some overflow
    admin = make_user("admin_both", "admin")
    labels = [("high", "low", "ordinary"), ("general", "low", "strategic"), ("general", "high", "ordinary"),
              ("insufficient", "low", "ordinary"), ("general", "low", "ordinary"), ("high", "high", "strategic")]
    orgs = []
    for i in range(18):
        east_side = i % 3 != 0
        org = make_org(team=east if east_side else west, relationship_manager=rm_east if east_side else rm_west)
        value, risk, relationship = labels[i % len(labels)]
        ClientLabels.objects.create(organization=org, value=value, risk=risk, relationship=relationship)
        for back in ((5 + 3 * i) % 40, 30 + i, 95 + 2 * i)[: 1 + i % 3]:
            Interaction.objects.create(organization=org, kind=("call", "meeting", "kyc_review", "report_sent")[i % 4],
                                       occurred_at=_at(start - dt.timedelta(days=back)), summary="earlier")
        if i % 4 == 0:
            make_contact(org, report_consent=True, consent_given_at=_at(start - dt.timedelta(days=300)))
        orgs.append(org)
    project = make_project(name="Gansu Wind")
    make_participation(project, orgs[2], status="firm_commitment")
    make_participation(project, orgs[4], status="firm_commitment")
    make_org(team=west)  # never classified
    return {"start": start, "orgs": orgs, "east": east, "west": west, "rm_east": rm_east, "rm_west": rm_west,
            "lead": lead, "admin": admin, "project": project}


def test_the_daily_run_makes_exactly_what_a_full_run_would(book):
    start, orgs = book["start"], book["orgs"]
    first = _same_as_full(_at(start, 8))
    assert first.mode == RunMode.FULL  # nothing to start from: the first run examines the book
    assert first.examined == len(orgs) + 1
    assert ClientDue.objects.count() == len(orgs) + 1
    # Day after day with no writes at all: cadence steps fall due by date alone.
    examined = []
    for days in (1, 8, 22, 47):
        report = _same_as_full(_at(start + dt.timedelta(days=days)))
        assert report.mode == RunMode.INCREMENTAL
        examined.append(report.examined)
    assert min(examined) < len(orgs)  # not the whole book every day
    assert sum(examined) < len(examined) * (len(orgs) + 1)

    # Changes through the real services, then the next day.
    day = start + dt.timedelta(days=48)
    lead, admin, rm_east = book["lead"], book["admin"], book["rm_east"]
    plain = orgs[4]
    override_create(actor=lead, organization=plain, dimension="value", label="high", reason="anchor investor",
                    expires_at=timezone.now() + dt.timedelta(days=90))
    moved = orgs[7]
    organization_update(actor=admin, organization=moved, data={"team": book["west"],
                                                              "relationship_manager": book["rm_west"]},
                        expected_version=None)
    interaction_create(actor=rm_east, organization=orgs[5], data={
        "kind": "meeting", "occurred_at": _at(day - dt.timedelta(days=1)), "minutes_spent": 45, "summary": "met"})
    open_tasks = list(Task.objects.filter(source="playbook", status="open", organization__isnull=False,
                                          participation__isnull=True).order_by("source_key"))
    assert len(open_tasks) >= 2
    task_complete(actor=admin, task=open_tasks[0], minutes=30, occurred_at=_at(day - dt.timedelta(days=1)))
    task_cancel(actor=admin, task=open_tasks[-1])
    participation_create(actor=admin, data={"project": make_project(name="Ningxia Solar"), "organization": orgs[8],
                                            "role": "senior_debt", "amount": Decimal("2500000"), "currency": "USD",
                                            "status": "soft_interest"})
    # A client's latest contact deleted: its next one falls due sooner.
    latest = Interaction.objects.filter(organization=orgs[13]).order_by("-occurred_at").first()
    interaction_delete(actor=admin, interaction=latest)
    changed = _same_as_full(_at(day))
    assert changed.mode == RunMode.INCREMENTAL
    assert ClientTier.objects.get(organization=plain).tier == "dedicated"
    for days in (1, 20):
        _same_as_full(_at(day + dt.timedelta(days=days)))


def test_a_change_of_playbook_makes_the_next_run_full_and_the_flag_forces_one(book):
    start = book["start"]
    run_automation(actor=None, as_of=_at(start))
    assert run_automation(actor=None, as_of=_at(start + dt.timedelta(days=1))).mode == RunMode.INCREMENTAL
    step = PlaybookStep.objects.filter(is_active=True, trigger="cadence").exclude(owner_rule="automation").first()
    step_update(actor=book["admin"], step=step, data={"cadence_count": 1, "cadence_unit": "week"},
                expected_version=step.version)
    day = start + dt.timedelta(days=2)
    expected = _full_outcome(_at(day))
    after = run_automation(actor=None, as_of=_at(day))
    assert after.mode == RunMode.FULL and after.examined == len(book["orgs"]) + 1
    assert _state() == expected
    forced = automation_run(actor=book["lead"], as_of=_at(day, 15), full=True)
    assert forced.mode == RunMode.FULL
    run = AutomationRun.objects.get(pk=forced.run.pk)
    assert (run.mode, run.examined) == (RunMode.FULL, len(book["orgs"]) + 1)


def test_a_step_being_phased_in_gives_the_daily_run_what_a_full_run_would(book):
    """A phase-in puts clients' first tasks on days of their own: a day run that examines only the clients due
    by date must make each of them on its day, as a full run would."""
    start = book["start"]
    _same_as_full(_at(start, 8))
    for step in PlaybookStep.objects.filter(action="contact"):  # both tiers' contact steps, a month each way
        step_update(actor=book["admin"], step=step, data={"phase_in_days": 30, "phase_in_from": start},
                    expected_version=step.version)
    modes = []
    for days in (1, 2, 5, 9, 12, 16, 23, 31, 40):
        modes.append(_same_as_full(_at(start + dt.timedelta(days=days))).mode)
    assert modes[0] == RunMode.FULL and set(modes[1:]) == {RunMode.INCREMENTAL}
    made = Task.objects.filter(source="playbook", action="contact")
    assert len({t.due_at.date() for t in made}) >= 4  # spread over the window


def test_the_run_record_says_its_mode_in_the_cli_the_api_and_the_page(book):
    start = book["start"]
    call_command("automate", "--as-of", start.isoformat(), "--full")
    out = run_automation(actor=None, as_of=_at(start + dt.timedelta(days=1)))
    assert out.as_dict()["mode"] == "incremental" and out.as_dict()["examined"] == out.examined
    api = signed_in(book["lead"])
    listed = api.get("/api/v1/automation/runs").json()["items"]
    assert [r["mode"] for r in listed] == ["incremental", "full"]
    assert listed[0]["examined"] == out.examined and listed[1]["examined"] == len(book["orgs"]) + 1
    created = api.post("/api/v1/automation/runs", {"dry_run": True, "full": True}, content_type="application/json")
    assert created.status_code == 200 and created.json()["mode"] == "full"
    page = signed_in(book["lead"])
    page.cookies["django_language"] = "zh-hans"
    html = page.get(reverse("playbooks:automation")).content.decode()
    assert 'data-mode="incremental"' in html and "增量" in html and "全量" in html
    page.cookies["django_language"] = "en"
    html = page.get(reverse("playbooks:automation")).content.decode()
    assert "Incremental (clients due or changed)" in html and "Full (every client)" in html


def test_only_leads_and_administrators_force_a_full_run(book):
    from bcrm.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        automation_run(actor=book["rm_east"], full=True)


def test_a_cycle_cancelled_is_not_offered_again_nor_counted_against_capacity(book):
    """A cancelled cycle keeps its key, so no run makes it again; nor may a run count it as work to assign:
    a full run did, taking room from the week's real tasks and reporting it in the lead's overflow task,
    while the daily run (which does not examine that client) did not (CI saw the two disagree)."""
    start = book["start"]
    first = run_automation(actor=None, as_of=_at(start, 8), full=True)
    assert sum(first.counts["created"].values()) > 0
    for task in Task.objects.filter(source="playbook", status="open", organization__isnull=False):
        task_cancel(actor=book["admin"], task=task)
    later = run_automation(actor=None, as_of=_at(start + dt.timedelta(days=1)), full=True)
    assert later.counts["created"] == {}
    assert later.counts["assigned"] == later.counts["overflow"] == 0  # nothing counted that is not made
    assert later.overflow == []
