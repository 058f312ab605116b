"""The automation engine: tiers from labels, due steps on the business calendar, capacity-aware assignment,
fulfilment, SLA escalation, idempotence (also with two workers at once on PostgreSQL), dry runs and failures."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.accounts.services import team_member_set
from bcrm.core.errors import PermissionDenied
from bcrm.engagement.models import Interaction, ServiceRequest, Task
from bcrm.playbooks import automation as engine
from bcrm.playbooks import cadence
from bcrm.playbooks.automation import automation_tick, run_automation
from bcrm.playbooks.businesstime import BusinessCalendar, add_cadence
from bcrm.playbooks.calendars import load_public_holidays
from bcrm.playbooks.choices import Action, Tier
from bcrm.playbooks.defaults import DEFAULT_CALENDAR, ensure_defaults
from bcrm.playbooks.models import AutomationRun, AutomationSchedule, ClientTier, PlaybookStep, WorkCalendar
from bcrm.segmentation.models import ClientLabels
from tests.factories import make_org, make_participation, make_project, make_team, make_user

SH = ZoneInfo("Asia/Shanghai")


def at(y, m, d, h=10, minute=0) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=SH)


@pytest.fixture
def cn(db):
    """The default calendar: Beijing time, 09:00–18:00, Chinese public holidays and make-up days of 2026."""
    cal = WorkCalendar.objects.create(name=DEFAULT_CALENDAR, timezone="Asia/Shanghai", is_default=True,
                                      day_start=dt.time(9), day_end=dt.time(18), weekend="6,7")
    load_public_holidays(cal, "CN", [2026])
    ensure_defaults()
    return cal


def only_steps(*actions: str) -> None:
    """Keep only these actions active, so a test sees one rule at a time."""
    PlaybookStep.objects.exclude(action__in=actions).update(is_active=False)


def labelled(value="general", risk="low", relationship="ordinary", **fields):
    org = make_org(**fields)
    ClientLabels.objects.create(organization=org, value=value, risk=risk, relationship=relationship)
    return org


def log(org, kind, when, **fields):
    return Interaction.objects.create(organization=org, kind=kind, occurred_at=when, summary="logged", **fields)


def playbook_tasks(**filters):
    return Task.objects.filter(source="playbook", **filters)


# --- tiers --------------------------------------------------------------------------------------------

def test_tiers_follow_the_labels_by_the_default_policy(cn, team):
    high = labelled(value="high", team=team)
    strategic = labelled(relationship="strategic", team=team)
    risky = labelled(risk="high", team=team)
    thin = labelled(value="insufficient", team=team)
    plain = labelled(team=team)
    unlabelled = make_org(team=team)
    report = run_automation(actor=None, as_of=at(2026, 11, 30), dry_run=False)
    tiers = {t.organization_id: (t.tier, t.addons) for t in ClientTier.objects.all()}
    assert tiers[high.pk] == ("dedicated", "")
    assert tiers[strategic.pk] == ("dedicated", "")
    assert tiers[risky.pk] == ("standard", "enhanced_dd,kyc_refresh")
    assert tiers[thin.pk] == ("standard", "data_collection")
    assert tiers[plain.pk] == ("standard", "")
    assert tiers[unlabelled.pk] == ("standard", "")  # never classified: not "insufficient", no add-on
    assert report.counts["tiers"] == {"dedicated": 2, "standard": 4}
    assert report.counts["tiers_changed"] == 6

    ClientLabels.objects.filter(organization=plain).update(value="high")
    report = run_automation(actor=None, as_of=at(2026, 12, 1))
    assert report.counts["tiers_changed"] == 1
    moved = ClientTier.objects.get(organization=plain)
    assert moved.tier == "dedicated" and moved.since == at(2026, 12, 1)
    assert ClientTier.objects.get(organization=high).since == at(2026, 11, 30)  # unchanged rows keep their date


# --- due dates on the business calendar -------------------------------------------------------------------

def test_a_contact_due_on_a_holiday_moves_to_the_next_business_day(cn, team, rm):
    only_steps(Action.CONTACT)
    org = labelled(value="high", team=team, relationship_manager=rm)
    log(org, "call", at(2026, 9, 17, 15))  # Thursday; two weeks later is 1 October, National Day
    # As of 1 October the due date (8 October, the first working day after Golden Week) is beyond the
    # step's three-day lead time: nothing yet.
    report = run_automation(actor=None, as_of=at(2026, 10, 1, 12))
    assert report.counts["created"].get(Action.CONTACT, 0) == 0
    # As of 6 October it is within three days: one task, due at the close of 8 October.
    run_automation(actor=None, as_of=at(2026, 10, 6, 12))
    task = playbook_tasks(action=Action.CONTACT).get()
    assert task.organization == org and task.assignee == rm
    assert task.due_at == at(2026, 10, 8, 18)
    assert task.basis_at == at(2026, 9, 17, 15)
    assert task.planned_hours == Decimal("1.50")


def test_a_step_never_done_is_due_on_the_next_business_day(cn, team, rm):
    only_steps(Action.DATA_COLLECTION)
    org = labelled(value="insufficient", team=team, relationship_manager=rm)
    # Saturday 28 November: the data-collection step (no lead time) is due on Monday, so not yet.
    report = run_automation(actor=None, as_of=at(2026, 11, 28))
    assert report.counts["created"] == {}
    run_automation(actor=None, as_of=at(2026, 11, 30))
    task = playbook_tasks(action=Action.DATA_COLLECTION).get()
    assert task.organization == org and task.due_at == at(2026, 11, 30, 18) and task.basis_at is None


def test_a_run_after_the_close_makes_tasks_due_at_the_next_close_not_overdue(cn, team, rm):
    """Found by the demo's test in a session that ran after 18:00 Beijing time: the run's tasks due "today" were
    due at today's close, already past — every new task was born overdue."""
    only_steps(Action.DATA_COLLECTION)
    org = labelled(value="insufficient", team=team, relationship_manager=rm)
    run_automation(actor=None, as_of=at(2026, 11, 30, 18, 40))  # Monday, after the close
    task = playbook_tasks(action=Action.DATA_COLLECTION).get()
    assert task.organization == org and task.due_at == at(2026, 12, 1, 18)  # Tuesday's close
    assert task.due_at > at(2026, 11, 30, 18, 40)


def test_a_run_on_friday_evening_makes_tasks_due_on_monday(cn, team, rm):
    only_steps(Action.DATA_COLLECTION)
    labelled(value="insufficient", team=team, relationship_manager=rm)
    run_automation(actor=None, as_of=at(2026, 12, 4, 20))  # Friday 4 December, 20:00
    assert playbook_tasks(action=Action.DATA_COLLECTION).get().due_at == at(2026, 12, 7, 18)


def test_a_condition_limits_a_step_to_strategic_partners(cn, team, rm):
    only_steps(Action.SENIOR_MEETING)
    strategic = labelled(relationship="strategic", team=team, relationship_manager=rm)
    labelled(value="high", team=team, relationship_manager=rm)  # dedicated but not a strategic partner
    run_automation(actor=None, as_of=at(2026, 11, 30))
    assert list(playbook_tasks().values_list("organization", flat=True)) == [strategic.pk]


# --- idempotence, dry runs, failures ----------------------------------------------------------------------

def test_running_twice_creates_nothing_the_second_time(cn, team, rm, lead):
    team_member_set(team=team, user=lead, weekly_capacity_hours=5)
    for i in range(6):
        labelled(value="high" if i % 2 else "general", risk="high" if i == 3 else "low", team=team,
                 relationship_manager=rm)
    first = run_automation(actor=None, as_of=at(2026, 11, 30))
    assert sum(first.counts["created"].values()) > 0
    tasks = Task.objects.count()
    keys = set(Task.objects.values_list("source_key", flat=True))
    second = run_automation(actor=None, as_of=at(2026, 11, 30, 15))
    assert sum(second.counts["created"].values()) == 0
    assert second.counts["tiers_changed"] == 0
    assert Task.objects.count() == tasks
    assert set(Task.objects.values_list("source_key", flat=True)) == keys
    assert AutomationRun.objects.filter(status="done").count() == 2


def test_a_dry_run_reports_exactly_and_writes_nothing(cn, team, rm):
    for _ in range(3):
        labelled(value="high", team=team, relationship_manager=rm)
    dry = run_automation(actor=None, as_of=at(2026, 11, 30), dry_run=True)
    assert dry.run is None
    assert Task.objects.count() == 0 and ClientTier.objects.count() == 0 and AutomationRun.objects.count() == 0
    real = run_automation(actor=None, as_of=at(2026, 11, 30))
    assert real.counts["created"] == dry.counts["created"]
    assert real.counts["tiers"] == dry.counts["tiers"]


def test_a_failure_midway_leaves_the_database_as_it_was_and_is_recorded(cn, team, rm, monkeypatch):
    labelled(value="high", team=team, relationship_manager=rm)

    def broken(self, tasks):
        raise RuntimeError("disk full")

    monkeypatch.setattr(engine._Engine, "_insert", broken)
    with pytest.raises(RuntimeError):
        run_automation(actor=None, as_of=at(2026, 11, 30))
    assert ClientTier.objects.count() == 0  # the tiers written before the failure were rolled back
    assert Task.objects.count() == 0
    failed = AutomationRun.objects.get()
    assert failed.status == "failed" and "disk full" in failed.errors[0]


# --- capacity ----------------------------------------------------------------------------------------------

def test_capacity_is_respected_and_overflow_goes_to_the_lead(cn, lead):
    only_steps(Action.CONTACT)
    team = make_team("Capacity team")
    rm = make_user("rm.cap", "relationship_manager")
    team_member_set(team=team, user=rm, weekly_capacity_hours=Decimal("3"))
    team_member_set(team=team, user=lead, weekly_capacity_hours=Decimal("2"))
    orgs = [labelled(value="high", team=team, relationship_manager=rm) for _ in range(3)]
    report = run_automation(actor=None, as_of=at(2026, 11, 30))
    contacts = playbook_tasks(action=Action.CONTACT)
    assert contacts.count() == 3
    assert contacts.filter(assignee=rm).count() == 2          # 2 × 1.5 h = the 3 hours of the week
    overflow = contacts.get(assignee__isnull=True)
    assert overflow.team == team and overflow.organization in orgs
    assert report.counts["overflow"] == 1
    note = Task.objects.get(action=Action.CAPACITY_OVERFLOW)
    assert note.assignee == lead and "1 tasks" in note.title and "Capacity team" in note.title
    assert report.overflow == [{"team_id": team.pk, "team": "Capacity team", "tasks": 1, "hours": "1.50",
                                "leads": [lead.pk]}]


def test_hours_already_planned_count_against_the_week(cn):
    only_steps(Action.CONTACT)
    team = make_team()
    rm = make_user("rm.busy", "relationship_manager")
    team_member_set(team=team, user=rm, weekly_capacity_hours=Decimal("3"))
    Task.objects.create(title="Existing", assignee=rm, due_at=at(2026, 12, 2, 18),
                        planned_hours=Decimal("2"))
    labelled(value="high", team=team, relationship_manager=rm)
    labelled(value="high", team=team, relationship_manager=rm)
    report = run_automation(actor=None, as_of=at(2026, 11, 30))
    assert report.counts["assigned"] == 0 and report.counts["overflow"] == 2  # 2 h + 1.5 h > 3 h


def test_the_team_pool_is_balanced_by_load(cn):
    only_steps(Action.CONTACT)
    team = make_team()
    a = make_user("pool.a", "relationship_manager")
    b = make_user("pool.b", "relationship_manager")
    team_member_set(team=team, user=a, weekly_capacity_hours=Decimal("1"))
    team_member_set(team=team, user=b, weekly_capacity_hours=Decimal("1"))
    for _ in range(5):
        labelled(team=team)  # standard tier: a call each quarter from the team pool, half an hour
    report = run_automation(actor=None, as_of=at(2026, 11, 30))
    tasks = playbook_tasks(action=Action.CONTACT)
    assert tasks.filter(assignee=a).count() == 2 and tasks.filter(assignee=b).count() == 2
    assert tasks.filter(assignee__isnull=True).count() == 1
    assert report.counts["assigned"] == 4


# --- fulfilment ---------------------------------------------------------------------------------------------

def test_a_newer_interaction_fulfils_the_open_task_and_starts_the_next_cycle(cn, team, rm):
    only_steps(Action.CONTACT)
    org = labelled(value="high", team=team, relationship_manager=rm)
    run_automation(actor=None, as_of=at(2026, 11, 30))
    task = playbook_tasks().get()
    log(org, "meeting", at(2026, 12, 1, 11))
    report = run_automation(actor=None, as_of=at(2026, 12, 2))
    task.refresh_from_db()
    assert task.status == "done" and report.counts["fulfilled"] == 1
    assert playbook_tasks(status="open").count() == 0  # next contact due 15 December, beyond the lead time
    run_automation(actor=None, as_of=at(2026, 12, 14))
    nxt = playbook_tasks(status="open").get()
    assert nxt.due_at == at(2026, 12, 15, 18) and nxt.basis_at == at(2026, 12, 1, 11)


# --- new participations -------------------------------------------------------------------------------------

def test_each_new_participation_of_a_high_risk_client_gets_one_due_diligence_review(cn, team, rm):
    only_steps(Action.DUE_DILIGENCE)
    risky = labelled(risk="high", team=team, relationship_manager=rm)
    safe = labelled(risk="low", team=team, relationship_manager=rm)
    project = make_project(name="Qinghai Solar", local_name="青海光伏电站")
    p1 = make_participation(project, risky, status="soft_interest")
    make_participation(project, safe, status="soft_interest")
    make_participation(make_project(), risky, status="declined")
    run_automation(actor=None, as_of=timezone_now_plus(days=10))
    task = playbook_tasks(action=Action.DUE_DILIGENCE).get()
    assert task.participation == p1 and task.organization == risky
    task.status = "done"
    task.completed_at = timezone_now_plus(days=10)
    task.save()
    report = run_automation(actor=None, as_of=timezone_now_plus(days=11))
    assert report.counts["created"] == {}


def timezone_now_plus(days: int) -> dt.datetime:
    from django.utils import timezone

    return timezone.now() + dt.timedelta(days=days)


# --- service requests ------------------------------------------------------------------------------------

def test_a_breached_response_sla_is_escalated_once_to_the_team_lead(cn, team, rm, lead):
    team_member_set(team=team, user=lead, weekly_capacity_hours=5)
    only_steps()
    org = labelled(value="high", team=team, relationship_manager=rm)
    run_automation(actor=None, as_of=at(2026, 11, 27, 9))  # the tier is known before the request
    from bcrm.engagement.services import service_request_create

    request = service_request_create(actor=rm, organization=org,
                                     data={"subject": "Term sheet question", "opened_at": at(2026, 11, 27, 16)})
    # Dedicated: first response within 4 business hours → Friday 16:00–18:00 plus Monday 09:00–11:00.
    assert request.response_due_at == at(2026, 11, 30, 11)
    # Resolution within 24 business hours: Friday 2 h, Monday 9 h, Tuesday 9 h, Wednesday 4 h.
    assert request.resolution_due_at == at(2026, 12, 2, 13)
    report = run_automation(actor=None, as_of=at(2026, 11, 30, 10, 30))
    assert report.counts["breaches"] == 0
    report = run_automation(actor=None, as_of=at(2026, 11, 30, 12))
    escalation = Task.objects.get(action=Action.SLA_ESCALATION)
    assert escalation.assignee == lead and escalation.service_request == request
    request.refresh_from_db()
    assert request.escalated_at == at(2026, 11, 30, 12)
    again = run_automation(actor=None, as_of=at(2026, 11, 30, 15))
    assert again.counts["created"] == {} and Task.objects.filter(action=Action.SLA_ESCALATION).count() == 1


def test_requests_without_due_dates_get_them_from_the_automation(cn, team):
    only_steps()
    org = labelled(team=team)
    request = ServiceRequest.objects.create(organization=org, subject="Imported", opened_at=at(2026, 11, 26, 17))
    report = run_automation(actor=None, as_of=at(2026, 11, 26, 17, 30))
    request.refresh_from_db()
    # Standard: 16 business hours from Thursday 17:00 → Thursday 1 h, Friday 9 h, Monday 6 h → Monday 15:00.
    assert request.response_due_at == at(2026, 11, 30, 15)
    assert report.counts["sla_stamped"] == 1


# --- doors and permissions ---------------------------------------------------------------------------------

def test_only_leads_and_administrators_run_the_automation(cn, rm, viewer, lead):
    for user in (rm, viewer):
        with pytest.raises(PermissionDenied):
            run_automation(actor=user, as_of=at(2026, 11, 30))
    report = run_automation(actor=lead, as_of=at(2026, 11, 30))
    assert report.run.started_by == lead


def test_the_cli_runs_reports_and_rejects_bad_input(cn, team, rm, capsys):
    labelled(value="high", team=team, relationship_manager=rm)
    call_command("automate", "--as-of", "2026-11-30", "--json")
    import json

    out = json.loads(capsys.readouterr().out)
    assert out["counts"]["created"]["contact"] == 1 and out["run_id"] is not None
    call_command("automate", "--as-of", "2026-11-30")
    text = capsys.readouterr().out
    assert "tasks created" in text and "0" in text
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("automate", "--as-of", "30/11/2026")
    with pytest.raises(CommandError):
        call_command("automate", "--as", "nobody-such")


def test_the_worker_claims_the_daily_run_once_per_business_day(cn, team, rm, django_capture_on_commit_callbacks):
    labelled(value="high", team=team, relationship_manager=rm)
    assert automation_tick(at(2026, 11, 29, 9)) is False      # Sunday
    assert automation_tick(at(2026, 11, 30, 6)) is False      # before 07:00
    with django_capture_on_commit_callbacks(execute=True):
        assert automation_tick(at(2026, 11, 30, 7, 5)) is True    # queued after commit; runs inline in tests
    assert AutomationRun.objects.filter(trigger="schedule").count() == 1
    assert automation_tick(at(2026, 11, 30, 9)) is False      # the day is taken
    assert AutomationSchedule.objects.get(key="daily").last_day == dt.date(2026, 11, 30)


# --- two workers at once (PostgreSQL: SQLite serialises writers anyway) -----------------------------------

@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_create_no_duplicate(lead):
    if connection.vendor != "postgresql":
        pytest.skip("row locks between two connections are a PostgreSQL test")
    cal = WorkCalendar.objects.create(name=DEFAULT_CALENDAR, is_default=True)
    load_public_holidays(cal, "CN", [2026])
    ensure_defaults()
    team = make_team()
    rm = make_user("rm.race", "relationship_manager")
    team_member_set(team=team, user=rm, weekly_capacity_hours=Decimal("6"))
    from bcrm.progress.models import ReportDelivery
    from tests.factories import make_contact

    project = make_project(name="Race Wind Farm")
    for i in range(40):
        org = labelled(value="high" if i % 3 == 0 else "general", risk="high" if i % 5 == 0 else "low",
                       team=team, relationship_manager=rm)
        make_contact(org, report_consent=True, consent_given_at=at(2026, 1, 5))
        make_participation(project, org, status="firm_commitment")
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker():
        from django.db import connection as conn
        try:
            barrier.wait()
            run_automation(actor=None, as_of=at(2026, 11, 30), trigger="test")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    runs = list(AutomationRun.objects.order_by("started_at"))
    assert len(runs) == 2
    made = [sum(r.counts["created"].values()) for r in runs]
    assert sorted(made)[0] == 0 and sorted(made)[1] == Task.objects.count()
    keys = list(Task.objects.values_list("source_key", flat=True))
    assert len(keys) == len(set(keys))
    week_hours: dict = {}
    for t in Task.objects.filter(assignee=rm):
        week = max(t.due_at.astimezone(SH).isocalendar()[:2], (2026, 49))
        week_hours[week] = week_hours.get(week, Decimal(0)) + t.planned_hours
    assert week_hours and all(h <= Decimal("6") for h in week_hours.values())  # the capacity is weekly
    # The standard-tier clients' November report: queued once, whichever worker got there first.
    queued = [r.counts.get("deliveries_queued", 0) for r in runs]
    standard = ClientTier.objects.filter(tier="standard").count()
    assert sorted(queued) == [0, standard] and ReportDelivery.objects.count() == standard


# --- the engine's vectorised date arithmetic agrees with the calendar's ------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2090, 12, 31)), st.integers(1, 24),
       st.sampled_from(["day", "week", "month"]))
def test_vectorised_cadence_matches_the_calendar(day, count, unit):
    number = (day - dt.date(1970, 1, 1)).days
    got = cadence._add_cadence_days(np.array([number], dtype=np.int64), count, unit)[0]
    assert cadence._day(int(got)) == add_cadence(day, count, unit)


@settings(max_examples=60, deadline=None)
@given(st.sets(st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2026, 3, 31)), max_size=20),
       st.sets(st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2026, 3, 31)), max_size=5),
       st.lists(st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2026, 3, 1)), min_size=1, max_size=20))
def test_business_day_lookup_matches_the_calendar(holidays, workdays, days):
    cal = BusinessCalendar(holidays=frozenset(holidays), workdays=frozenset(workdays))
    numbers = np.array([(d - dt.date(1970, 1, 1)).days for d in days], dtype=np.int64)
    lookup = cadence._BusinessDays(cal, int(numbers.min()), int(numbers.max()) + 40)
    got = [cadence._day(int(n)) for n in lookup.forward(numbers)]
    assert got == [cal.next_business_day(d) for d in days]


def test_tier_enum_is_what_the_task_rank_knows():
    assert set(engine.TIER_RANK) == set(Tier.values)


# --- automated deliverables ---------------------------------------------------------------------------------

def test_the_monthly_report_is_queued_once_for_consenting_standard_tier_contacts(cn, team):
    from bcrm.progress.models import ReportDelivery
    from bcrm.progress.services import queue_progress_reports
    from tests.factories import make_contact

    only_steps(Action.PROGRESS_REPORT)
    standard = labelled(team=team)
    dedicated = labelled(value="high", team=team)
    yes = make_contact(standard, report_consent=True, consent_given_at=at(2026, 1, 5), language="zh-hans")
    make_contact(standard, report_consent=False)
    make_contact(dedicated, report_consent=True, consent_given_at=at(2026, 1, 5))
    project = make_project(name="Qinghai Solar", local_name="青海光伏电站")
    make_participation(project, standard, status="firm_commitment")
    make_participation(project, dedicated, status="firm_commitment")
    make_participation(make_project(), standard, status="withdrawn")

    report = run_automation(actor=None, as_of=at(2026, 12, 1))
    assert report.counts["report_period"] == "2026-11" and report.counts["deliveries_queued"] == 1
    delivery = ReportDelivery.objects.get()
    assert (delivery.project, delivery.contact, delivery.period, delivery.language) == \
        (project, yes, "2026-11", "zh-hans")
    assert delivery.run_id == report.run.pk
    # The careful path (used by "send now") finds exactly what the automation's lean path queued.
    again = queue_progress_reports(period="2026-11", organization_ids=ClientTier.objects.filter(
        tier="standard").values_list("organization_id", flat=True))
    assert again.created == 0 and again.already_queued == 1 and again.skipped_no_consent == 1
    # Later runs in the month do not queue the period again.
    later = run_automation(actor=None, as_of=at(2026, 12, 2))
    assert later.counts["deliveries_queued"] == 0 and later.counts["deliveries_skipped"]
    assert ReportDelivery.objects.count() == 1


def test_a_cycle_missed_long_ago_is_due_now_not_on_its_old_date(cn, team, rm):
    only_steps(Action.CONTACT)
    org = labelled(value="high", team=team, relationship_manager=rm)
    log(org, "call", at(2025, 1, 10, 15))
    run_automation(actor=None, as_of=at(2026, 11, 28, 12))  # a Saturday
    task = playbook_tasks().get()
    assert task.due_at == at(2026, 11, 30, 18)  # the next business day, not 24 January 2025
    assert task.basis_at == at(2025, 1, 10, 15)  # when the client was last served is kept


def test_the_interaction_a_task_was_based_on_does_not_fulfil_it(cn, team, rm):
    only_steps(Action.CONTACT)
    org = labelled(value="high", team=team, relationship_manager=rm)
    log(org, "call", at(2026, 11, 10, 15) + dt.timedelta(microseconds=700_000))
    run_automation(actor=None, as_of=at(2026, 11, 23))
    task = playbook_tasks().get()
    again = run_automation(actor=None, as_of=at(2026, 11, 24))
    task.refresh_from_db()
    assert task.status == "open" and again.counts.get("fulfilled", 0) == 0 and again.counts["created"] == {}


def test_times_written_by_the_engine_compare_like_the_orms(cn, team, rm):
    """Raw SQL writes must store times as the ORM does (on SQLite: naive UTC text), or filters and ordering
    on them go wrong by the time-zone offset."""
    only_steps(Action.DATA_COLLECTION)
    labelled(value="insufficient", team=team, relationship_manager=rm)
    run_automation(actor=None, as_of=at(2026, 11, 30))
    task = playbook_tasks().get()
    assert task.due_at == at(2026, 11, 30, 18)
    assert playbook_tasks(due_at__lt=at(2026, 11, 30, 18, 30)).count() == 1
    assert playbook_tasks(due_at__lt=at(2026, 11, 30, 17, 30)).count() == 0
    assert ClientTier.objects.filter(since__lt=at(2026, 11, 30, 10, 30)).count() == 1
    assert ClientTier.objects.filter(since__lt=at(2026, 11, 30, 9, 30)).count() == 0
