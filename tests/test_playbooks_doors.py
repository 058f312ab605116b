"""Tier policy, playbooks and tasks through their doors: the services (permissions, validation, versions),
the selectors behind My day and the team board (against hand-built rows), the REST API and the pages."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from bcrm.audit.models import AuditEntry
from bcrm.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from bcrm.core.texts import render
from bcrm.engagement.models import Interaction, ServiceRequest, Task
from bcrm.playbooks import selectors, services
from bcrm.playbooks.choices import STEP_ACTIONS
from bcrm.playbooks.defaults import ensure_defaults
from bcrm.playbooks.models import AutomationRun, ClientTier, Playbook, PlaybookStep, TierPolicy
from bcrm.playbooks.policy import DEFAULT_RULES
from tests.doors import signed_in
from tests.factories import make_org, make_participation, make_project, make_user

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Wednesday morning in Beijing, with no public holiday near it.
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
_keys = itertools.count(1)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def step_of(code: str, action: str) -> PlaybookStep:
    ensure_defaults()
    return PlaybookStep.objects.get(playbook__code=code, action=action)


def make_task(*, title="Task", due_at=NOW, assignee=None, organization=None, team=None, step=None,
              action="", planned_hours=None, source="playbook", status="open", **extra) -> Task:
    key = f"test:{next(_keys)}" if source == "playbook" else None
    if step is not None and not action:
        action = step.action
    if step is not None and planned_hours is None:
        planned_hours = step.hours
    return Task.objects.create(title=title, due_at=due_at, assignee=assignee, organization=organization, team=team,
                               step=step, action=action, planned_hours=planned_hours, source=source,
                               source_key=key, status=status,
                               completed_at=NOW if status == "done" else None, **extra)


@pytest.fixture
def managed_org(org, rm):
    org.relationship_manager = rm
    org.save(update_fields=["relationship_manager"])
    return org


@pytest.fixture
def member2(team):
    from bcrm.accounts.services import team_member_set

    user = make_user("rm_second", "relationship_manager")
    team_member_set(team=team, user=user, weekly_capacity_hours=20)
    return user


# --- tier policy ---------------------------------------------------------------------------------------------


def changed_rules():
    return {"dedicated": {"match": "any", "when": [["value", "high"]]}, "addons": DEFAULT_RULES["addons"]}


def test_a_lead_saves_rules_as_a_new_active_version_and_the_audit_log_says_so(lead):
    first = selectors.active_policy()
    saved = services.tier_policy_save(actor=lead, rules=changed_rules(), note="Value alone", base_version=first.version)
    assert saved.version == first.version + 1 and saved.is_active and saved.created_by == lead
    assert TierPolicy.objects.filter(is_active=True).get() == saved
    first.refresh_from_db()
    assert not first.is_active and first.rules == DEFAULT_RULES  # old versions are kept as they were
    entry = AuditEntry.objects.filter(object_id=str(saved.pk), content_type__model="tierpolicy").get()
    assert entry.actor == lead and entry.changes["rules"][1]["dedicated"]["when"] == [["value", "high"]]


@pytest.mark.parametrize("who", ["viewer", "analyst", "rm", "compliance"])
def test_only_leads_and_admins_change_the_tier_policy(request, who):
    user = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        services.tier_policy_save(actor=user, rules=changed_rules(), note="", base_version=None)
    assert TierPolicy.objects.count() <= 1


def test_a_stale_base_version_is_a_conflict_and_writes_nothing(lead, admin):
    base = selectors.active_policy().version
    services.tier_policy_save(actor=admin, rules=changed_rules(), base_version=base)
    with pytest.raises(Conflict):
        services.tier_policy_save(actor=lead, rules=DEFAULT_RULES, base_version=base)
    assert TierPolicy.objects.count() == 2


def test_bad_rules_are_refused_with_the_path_of_each_error(lead):
    rules = {"dedicated": {"match": "most", "when": [["value", "strategic"]]},
             "addons": [{"addon": "golf", "when": ["risk", "high"]}]}
    with pytest.raises(InvalidInput) as caught:
        services.tier_policy_save(actor=lead, rules=rules)
    assert {"dedicated.match", "dedicated.when.0", "addons.0.addon"} <= set(caught.value.fields)


def test_saving_the_same_rules_again_changes_nothing(lead):
    selectors.active_policy()
    with pytest.raises(InvalidInput):
        services.tier_policy_save(actor=lead, rules=DEFAULT_RULES)
    assert TierPolicy.objects.count() == 1


def test_tier_counts_group_clients_by_tier_and_add_on(rm, team, other_team):
    rows = [("dedicated", ""), ("dedicated", "enhanced_dd,kyc_refresh"), ("standard", "data_collection"),
            ("standard", ""), ("standard", "")]
    for i, (tier, addons) in enumerate(rows):
        org = make_org(team=team if i < 4 else other_team)
        ClientTier.objects.create(organization=org, tier=tier, addons=addons, policy_version=1, since=NOW)
    everything = selectors.tier_counts()
    assert everything["total"] == 5 and everything["tiers"] == {"dedicated": 2, "standard": 3}
    assert everything["addons"] == {"enhanced_dd": 1, "kyc_refresh": 1, "data_collection": 1}
    assert selectors.tier_counts(rm)["total"] == 4  # the RM sees their team's clients only


# --- playbooks and steps -------------------------------------------------------------------------------------


def test_a_lead_edits_a_playbook_and_a_stale_editor_gets_a_conflict(lead, admin):
    ensure_defaults()
    playbook = Playbook.objects.get(code="dedicated")
    version = playbook.version
    services.playbook_update(actor=lead, playbook=playbook, data={"response_sla_hours": Decimal("2")},
                             expected_version=version)
    playbook.refresh_from_db()
    assert playbook.response_sla_hours == Decimal("2") and playbook.version == version + 1
    with pytest.raises(Conflict):
        services.playbook_update(actor=admin, playbook=playbook, data={"description": "x"}, expected_version=version)


def test_playbook_update_checks_who_and_what(rm, lead):
    ensure_defaults()
    playbook = Playbook.objects.get(code="dedicated")
    with pytest.raises(PermissionDenied):
        services.playbook_update(actor=rm, playbook=playbook, data={"description": "x"}, expected_version=None)
    with pytest.raises(InvalidInput) as caught:
        services.playbook_update(actor=lead, playbook=playbook, data={"resolution_sla_hours": Decimal("1")},
                                 expected_version=None)
    assert "resolution_sla_hours" in caught.value.fields  # resolution before the first response
    addon = Playbook.objects.get(code="kyc_refresh")
    with pytest.raises(InvalidInput) as caught:
        services.playbook_update(actor=lead, playbook=addon, data={"response_sla_hours": Decimal("4")},
                                 expected_version=None)
    assert "response_sla_hours" in caught.value.fields
    with pytest.raises(InvalidInput):
        services.playbook_update(actor=lead, playbook=playbook, data={"code": "standard"}, expected_version=None)


GOOD_STEP = {"action": "contact", "trigger": "cadence", "cadence_count": 1, "cadence_unit": "month",
             "channel": "call", "owner_rule": "relationship_manager", "hours": Decimal("1"), "lead_days": 5,
             "only_dimension": "", "only_label": ""}


@pytest.mark.parametrize("change, field", [
    ({"owner_rule": "automation"}, "owner_rule"),
    ({"action": "progress_report", "owner_rule": "automation", "cadence_unit": "week"}, "cadence_unit"),
    ({"trigger": "new_participation"}, "trigger"),
    ({"only_dimension": "value", "only_label": "strategic"}, "only_label"),
    ({"only_dimension": "risk"}, "only_label"),
    ({"only_label": "high"}, "only_dimension"),
    ({"hours": Decimal("500")}, "hours"),
    ({"cadence_count": 0}, "cadence_count"),
    ({"action": "sla_escalation"}, "action"),
])
def test_a_step_that_breaks_a_rule_is_refused_on_the_field(lead, change, field):
    ensure_defaults()
    playbook = Playbook.objects.get(code="standard")
    before = playbook.steps.count()
    with pytest.raises(InvalidInput) as caught:
        services.step_create(actor=lead, playbook=playbook, data={**GOOD_STEP, **change})
    assert field in caught.value.fields
    assert playbook.steps.count() == before


def test_steps_are_added_at_the_end_updated_with_versions_and_deleted_by_leads_only(lead, rm):
    ensure_defaults()
    playbook = Playbook.objects.get(code="standard")
    last = max(playbook.steps.values_list("position", flat=True))
    with pytest.raises(PermissionDenied):
        services.step_create(actor=rm, playbook=playbook, data=GOOD_STEP)
    step = services.step_create(actor=lead, playbook=playbook, data={
        **GOOD_STEP, "action": "senior_meeting", "only_dimension": "relationship", "only_label": "strategic"})
    assert step.position == last + 1
    report = services.step_create(actor=lead, playbook=playbook, data={
        **GOOD_STEP, "action": "progress_report", "owner_rule": "automation", "channel": "automated_email"})
    assert report.owner_rule == "automation"
    updated = services.step_update(actor=lead, step=step, data={"hours": Decimal("2.5")}, expected_version=1)
    assert updated.hours == Decimal("2.5") and updated.version == 2
    with pytest.raises(Conflict):
        services.step_update(actor=lead, step=step, data={"hours": Decimal("3")}, expected_version=1)
    with pytest.raises(InvalidInput):  # the merged state is checked, not only the change
        services.step_update(actor=lead, step=updated, data={"owner_rule": "automation"}, expected_version=2)
    with pytest.raises(PermissionDenied):
        services.step_delete(actor=rm, step=updated)
    services.step_delete(actor=lead, step=updated)
    assert not PlaybookStep.objects.filter(pk=step.pk).exists()


# --- completing, assigning and cancelling tasks ------------------------------------------------------------


def test_completing_a_dedicated_contact_task_logs_a_meeting_with_the_planned_minutes(rm, managed_org):
    step = step_of("dedicated", "contact")  # any channel: the first kind, a meeting
    project = make_project(name="Ningxia Solar")
    participation = make_participation(project, managed_org)
    task = make_task(title="Call Huaneng", assignee=rm, organization=managed_org, step=step,
                     participation=participation)
    done = services.task_complete(actor=rm, task=task, summary="Discussed the refinancing")
    interaction = done.interaction
    assert done.status == "done" and done.completed_at is not None
    assert interaction.kind == "meeting" and interaction.minutes_spent == 90  # 1.5 h planned
    assert interaction.organization == managed_org and interaction.project == project
    assert interaction.summary == "Discussed the refinancing" and interaction.owner == rm
    assert Interaction.objects.get(task=done) == interaction


def test_a_call_channel_step_logs_a_call_and_the_person_may_pick_another_kind(rm, managed_org):
    step = step_of("standard", "contact")  # channel: call
    task = make_task(assignee=rm, organization=managed_org, step=step)
    assert services.interaction_kinds(task)[0] == "call"
    done = services.task_complete(actor=rm, task=task, minutes=20)
    assert done.interaction.kind == "call" and done.interaction.minutes_spent == 20
    assert done.interaction.summary == task.title  # no summary given: the task's title
    other = make_task(assignee=rm, organization=managed_org, step=step)
    assert services.task_complete(actor=rm, task=other, kind="visit").interaction.kind == "visit"



def test_a_generated_task_done_without_a_summary_logs_its_title_in_each_language(rm, managed_org):
    from django.utils import translation

    from bcrm.playbooks.duesteps import _action_code

    step = step_of("standard", "contact")
    code = _action_code(step.action)  # the title the automation gives the step's tasks
    with translation.override("zh-hans"):
        chinese = render(code)
    assert chinese != code  # a title the catalogue translates
    task = make_task(assignee=rm, organization=managed_org, step=step, title=code, title_code=code)
    logged = services.task_complete(actor=rm, task=task, minutes=20).interaction
    assert (logged.summary, logged.summary_code) == (code, code)
    with translation.override("zh-hans"):
        assert logged.display_summary == chinese
    typed = services.task_complete(actor=rm, task=make_task(assignee=rm, organization=managed_org, step=step,
                                                            title=code, title_code=code),
                                   summary="Spoke with the CFO").interaction
    assert (typed.summary, typed.summary_code) == ("Spoke with the CFO", "")

@pytest.mark.parametrize("action, kind", [("plan_review", "plan_review"), ("kyc_refresh", "kyc_review"),
                                          ("due_diligence", "due_diligence"), ("data_collection", "data_request")])
def test_each_action_logs_its_own_kind(rm, managed_org, action, kind):
    task = make_task(assignee=rm, organization=managed_org, action=action, planned_hours=Decimal("2"))
    assert services.task_complete(actor=rm, task=task).interaction.kind == kind


def test_a_kind_outside_the_action_is_refused(rm, managed_org):
    task = make_task(assignee=rm, organization=managed_org, action="kyc_refresh")
    with pytest.raises(InvalidInput) as caught:
        services.task_complete(actor=rm, task=task, kind="call")
    assert "kind" in caught.value.fields
    task.refresh_from_db()
    assert task.status == "open" and not Interaction.objects.exists()


def test_completing_twice_is_a_conflict_and_logs_once(rm, managed_org):
    task = make_task(assignee=rm, organization=managed_org, action="contact")
    services.task_complete(actor=rm, task=task)
    with pytest.raises(Conflict):
        services.task_complete(actor=rm, task=task)
    assert Interaction.objects.count() == 1


@pytest.mark.parametrize("action", ["sla_escalation", "capacity_overflow"])
def test_escalation_and_overflow_tasks_log_nothing(lead, managed_org, action):
    task = make_task(assignee=lead, organization=managed_org, action=action)
    done = services.task_complete(actor=lead, task=task, summary="handled")
    assert done.status == "done" and done.interaction is None and not Interaction.objects.exists()


def test_a_manual_task_just_becomes_done(rm, managed_org):
    task = make_task(assignee=rm, organization=managed_org, source="manual")
    assert services.task_complete(actor=rm, task=task).interaction is None
    assert not Interaction.objects.exists()


def test_who_may_complete_a_task(rm, other_rm, viewer, lead, member2, managed_org):
    task = make_task(assignee=member2, organization=managed_org, action="contact")
    for outsider in (other_rm, viewer):
        with pytest.raises(PermissionDenied):
            services.task_complete(actor=outsider, task=task)
    with pytest.raises(NotFound):  # the selector the doors use hides it from another team's RM
        selectors.task_get_for_user(user=other_rm, pk=task.pk)
    assert services.task_complete(actor=rm, task=task).status == "done"  # the client's RM
    second = make_task(assignee=member2, organization=managed_org, action="contact")
    assert services.task_complete(actor=lead, task=second).status == "done"
    third = make_task(assignee=rm, organization=managed_org, action="contact")
    with pytest.raises(PermissionDenied):  # a team-mate who is neither assignee nor the client's RM
        services.task_complete(actor=member2, task=third)


def test_a_lead_places_overflow_with_a_team_member_only(lead, rm, other_rm, team, managed_org):
    task = make_task(organization=managed_org, team=team, action="contact", planned_hours=Decimal("1"))
    with pytest.raises(PermissionDenied):
        services.task_assign(actor=rm, task=task, assignee=rm)
    with pytest.raises(InvalidInput) as caught:
        services.task_assign(actor=lead, task=task, assignee=other_rm)
    assert "assignee" in caught.value.fields
    assigned = services.task_assign(actor=lead, task=task, assignee=rm)
    assert assigned.assignee == rm and assigned.version == task.version + 1
    assert AuditEntry.objects.filter(object_id=str(task.pk), content_type__model="task", action="update").exists()


def test_cancelling_a_playbook_task_is_for_leads(lead, rm, managed_org):
    task = make_task(assignee=rm, organization=managed_org, action="contact")
    with pytest.raises(PermissionDenied):
        services.task_cancel(actor=rm, task=task)
    assert services.task_cancel(actor=lead, task=task).status == "cancelled"
    with pytest.raises(Conflict):
        services.task_complete(actor=rm, task=task)
    own = make_task(assignee=rm, organization=managed_org, source="manual")
    assert services.task_cancel(actor=rm, task=own).status == "cancelled"


@given(hours=st.decimals(min_value=0, max_value=200, places=2))
def test_default_minutes_are_the_planned_hours_rounded(hours):
    minutes = services.default_minutes(Task(planned_hours=hours))
    assert abs(minutes - hours * 60) <= Decimal("0.5") and minutes >= 0


# --- My day --------------------------------------------------------------------------------------------------


def test_my_day_puts_each_open_task_of_mine_in_its_bucket(rm, other_rm, managed_org):
    cases = {
        "yesterday": (at(24, 18), "overdue"), "this morning": (at(25, 9), "overdue"),
        "this afternoon": (at(25, 17), "today"), "tonight": (at(25, 23, 59), "today"),
        "tomorrow": (at(26, 9), "week"), "next tuesday": (at(1, 18, month=12), "week"),
        "in a week": (at(2, 9, month=12), None),
    }
    for title, (due, _bucket) in cases.items():
        make_task(title=title, due_at=due, assignee=rm, organization=managed_org, action="contact")
    make_task(title="someone else's", due_at=at(25, 12), assignee=other_rm, action="contact")
    make_task(title="done already", due_at=at(25, 12), assignee=rm, status="done")
    day = selectors.my_day(rm, NOW)
    for bucket in ("overdue", "today", "week"):
        got = [t.title for t in getattr(day, bucket).items]
        expected = [title for title, (_due, b) in cases.items() if b == bucket]
        assert got == expected, bucket
        assert getattr(day, bucket).count == len(expected)
    assert day.today.items[0].action_label == "Personal contact"
    assert not day.is_lead and not day.nothing_due


def test_my_day_lists_are_bounded_but_counts_are_exact(rm):
    for i in range(7):
        make_task(title=f"late {i}", due_at=at(20, 10 + i), assignee=rm)
    day = selectors.my_day(rm, NOW, limit=3)
    assert len(day.overdue.items) == 3 and day.overdue.count == 7 and day.overdue.more == 4
    assert day.overdue.items[0].title == "late 0"  # the oldest first


def test_requests_about_to_breach_are_those_of_my_clients_due_within_eight_business_hours(
        rm, other_rm, team, managed_org):
    mine_by_owner = make_org(team=team)  # not the RM's client, but the RM owns the request
    stranger = make_org(team=team)

    def request(subject, organization=managed_org, **fields):
        return ServiceRequest.objects.create(organization=organization, subject=subject, opened_at=at(20, 9),
                                             **fields)

    request("due at five", response_due_at=at(25, 17))                          # 7 business hours left
    request("late since tuesday", response_due_at=at(24, 15))                    # breached
    request("resolution at four", resolution_due_at=at(25, 16), first_response_at=at(20, 10))
    request("owner is me", organization=mine_by_owner, owner=rm, response_due_at=at(25, 12))
    request("tomorrow noon", response_due_at=at(26, 12))                          # 11 business hours: not yet
    request("answered", response_due_at=at(25, 11), first_response_at=at(21, 9),
            resolution_due_at=at(30, 18))
    request("resolved", response_due_at=at(25, 11), resolved_at=at(24, 9))
    request("not mine", organization=stranger, owner=other_rm, response_due_at=at(25, 11))
    breaches = selectors.requests_about_to_breach(rm, NOW)
    assert breaches.count == 4
    got = {b.request.subject: b for b in breaches.items}
    assert list(got) == ["late since tuesday", "owner is me", "resolution at four", "due at five"]
    assert got["due at five"].hours_left == 7.0 and not got["due at five"].breached
    assert got["late since tuesday"].breached and got["late since tuesday"].hours_left == -4.0  # Tue 15-18 + Wed 9-10
    assert got["resolution at four"].which == "resolution" and got["owner is me"].which == "response"


def test_a_lead_sees_the_overflow_and_escalations_of_their_teams(lead, rm, team, other_team, managed_org):
    from bcrm.accounts.services import team_member_set

    team_member_set(team=team, user=lead, weekly_capacity_hours=10)
    make_task(title="no room", organization=managed_org, team=team, action="contact", planned_hours=Decimal("1.5"))
    make_task(title="no room either", organization=managed_org, team=team, action="plan_review",
              planned_hours=Decimal("4"))
    make_task(title="other desk", team=other_team, action="contact", planned_hours=Decimal("9"))
    make_task(title="escalate", organization=managed_org, team=team, assignee=rm, action="sla_escalation")
    make_task(title="my overflow note", team=team, assignee=lead, action="capacity_overflow")
    make_task(title="other desk's breach", team=other_team, assignee=None, action="sla_escalation")
    day = selectors.my_day(lead, NOW)
    assert day.is_lead and day.overflow.count == 2 and day.overflow_hours == Decimal("5.5")
    assert [t.title for t in day.escalations.items] == ["escalate", "my overflow note"]
    assert [t.title for t in day.today.items] == ["my overflow note"]  # and in the lead's own list to complete
    assert selectors.my_day(rm, NOW).overflow.count == 0  # an RM has no lead queues


# --- team board ----------------------------------------------------------------------------------------------


def test_team_board_figures_match_a_hand_count(lead, rm, member2, team, other_team, managed_org):
    monday = dt.date(2026, 11, 23)
    # rm: 3 + 1.5 this week, 4 next week, 2 overdue from last week (counts as open, not in this week's hours)
    make_task(assignee=rm, team=team, due_at=at(26, 18), planned_hours=Decimal("3"))
    make_task(assignee=rm, team=team, due_at=at(29, 18), planned_hours=Decimal("1.5"))
    make_task(assignee=rm, team=team, due_at=at(2, 18, month=12), planned_hours=Decimal("4"))
    make_task(assignee=rm, team=team, due_at=at(18, 18), planned_hours=Decimal("2"))
    make_task(assignee=rm, source="manual", due_at=at(24, 18))  # a manual task: counted, no hours
    make_task(assignee=rm, team=other_team, due_at=at(26, 18), planned_hours=Decimal("8"))  # another team's work
    make_task(assignee=rm, team=team, due_at=at(26, 18), planned_hours=Decimal("5"), status="done")
    # member2: 25 h this week against 20 h capacity
    make_task(assignee=member2, team=team, due_at=at(27, 18), planned_hours=Decimal("25"))
    make_task(organization=managed_org, team=team, due_at=at(27, 18), planned_hours=Decimal("6"), action="contact")
    make_task(organization=managed_org, team=team, due_at=at(28, 18), planned_hours=Decimal("0.5"), action="contact")
    ServiceRequest.objects.create(organization=managed_org, subject="late", opened_at=at(20, 9),
                                  response_due_at=at(24, 12))
    ServiceRequest.objects.create(organization=managed_org, subject="fine", opened_at=at(20, 9),
                                  response_due_at=at(26, 12))
    board = selectors.team_board(lead, team, monday, now=NOW)
    loads = {m.user.username: m for m in board.members}
    assert set(loads) == {"rm_user", "rm_second"}
    a, b = loads["rm_user"], loads["rm_second"]
    assert (a.capacity, a.this_week, a.next_week, a.open_count, a.overdue_count) == (
        Decimal("40"), Decimal("4.5"), Decimal("4"), 5, 2)
    assert (b.capacity, b.this_week, b.next_week, b.open_count, b.overdue_count) == (
        Decimal("20"), Decimal("25"), Decimal("0"), 1, 0)
    assert b.over_capacity and b.bar_width == 100 and not a.over_capacity and a.bar_width == 11
    assert board.capacity == Decimal("60") and board.planned == Decimal("29.5")
    assert board.overflow.count == 2 and board.overflow_hours == Decimal("6.5")
    assert [r.request.subject for r in board.breaches.items] == ["late"]
    assert board.week_label == "2026-W48" and board.previous_week == "2026-W47"


def test_an_rm_sees_only_their_own_teams_board(rm, other_rm, team, other_team):
    assert list(selectors.teams_for_user(rm)) == [team]
    with pytest.raises(PermissionDenied):
        selectors.team_board(rm, other_team, dt.date(2026, 11, 23), now=NOW)


@pytest.mark.parametrize("text, monday", [("2026-W48", dt.date(2026, 11, 23)), ("2026-11-26", dt.date(2026, 11, 23)),
                                           ("", dt.date(2026, 11, 23))])
def test_weeks_are_read_as_iso_weeks_or_dates(text, monday):
    assert selectors.parse_week(text, dt.date(2026, 11, 25)) == monday


@pytest.mark.parametrize("text", ["2026-W99", "next week", "2026-13-01"])
def test_a_bad_week_is_a_field_error(text):
    with pytest.raises(InvalidInput) as caught:
        selectors.parse_week(text, dt.date(2026, 11, 25))
    assert "week" in caught.value.fields


def test_task_scopes_follow_visibility(rm, other_rm, lead, team, other_team, managed_org, foreign_org):
    mine = make_task(assignee=rm, organization=managed_org, due_at=at(20, 9))
    teams = make_task(organization=managed_org, team=team, due_at=at(30, 9))
    theirs = make_task(assignee=other_rm, organization=foreign_org, team=other_team, due_at=at(20, 9))
    ids = lambda qs: {t.pk for t in qs}  # noqa: E731
    assert ids(selectors.task_queryset(rm, "mine", now=NOW)) == {mine.pk}
    assert ids(selectors.task_queryset(rm, "team", now=NOW)) == {teams.pk}
    assert ids(selectors.task_queryset(rm, "overdue", now=NOW)) == {mine.pk}
    assert ids(selectors.task_queryset(lead, "overdue", now=NOW)) == {mine.pk, theirs.pk}
    with pytest.raises(NotFound):
        list(selectors.task_queryset(rm, "team", team=other_team.pk))
    with pytest.raises(InvalidInput):
        selectors.task_queryset(rm, "everything")


# --- API -----------------------------------------------------------------------------------------------------


def test_api_tier_policy_read_save_conflict_and_bad_input(lead, viewer):
    client = signed_in(lead)
    got = client.get("/api/v1/tier-policy").json()
    assert got["version"] == 1 and "High value" in got["description"]["dedicated"]
    assert got["counts"]["tiers"] == {"dedicated": 0, "standard": 0}
    saved = client.post("/api/v1/tier-policy", {"rules": changed_rules(), "note": "v2", "base_version": 1},
                        content_type="application/json")
    assert saved.status_code == 201 and saved.json()["version"] == 2
    stale = client.post("/api/v1/tier-policy", {"rules": DEFAULT_RULES, "base_version": 1},
                        content_type="application/json")
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "conflict"
    bad = client.post("/api/v1/tier-policy", {"rules": {"dedicated": {"match": "any", "when": [["value", "x"]]}}},
                      content_type="application/json")
    assert bad.status_code == 422
    assert [f["path"] for f in bad.json()["error"]["fields"]] == ["dedicated.when.0"]
    shape = client.post("/api/v1/tier-policy", {"note": "no rules"}, content_type="application/json")
    assert shape.status_code == 422 and shape.json()["error"]["fields"][0]["path"] == "rules"
    versions = client.get("/api/v1/tier-policy/versions").json()
    assert [v["version"] for v in versions["items"]] == [2, 1] and versions["items"][0]["created_by"] == "lead_user"
    refused = signed_in(viewer).post("/api/v1/tier-policy", {"rules": DEFAULT_RULES}, content_type="application/json")
    assert refused.status_code == 403
    assert Client().get("/api/v1/tier-policy").status_code == 401


def test_api_playbooks_and_steps(lead, rm):
    client = signed_in(lead)
    listed = client.get("/api/v1/playbooks").json()
    assert [p["code"] for p in listed] == ["dedicated", "standard", "enhanced_dd", "kyc_refresh", "data_collection"]
    dedicated = client.get("/api/v1/playbooks/dedicated").json()
    assert dedicated["response_sla_hours"] == "4.0" and len(dedicated["steps"]) == 3
    assert client.get("/api/v1/playbooks/golf").status_code == 404
    patched = client.patch("/api/v1/playbooks/dedicated", {"version": dedicated["version"], "response_sla_hours": 2},
                           content_type="application/json")
    assert patched.status_code == 200 and patched.json()["response_sla_hours"] == "2.0"
    stale = client.patch("/api/v1/playbooks/dedicated", {"version": dedicated["version"], "description": "x"},
                         content_type="application/json")
    assert stale.status_code == 409
    negative = client.patch("/api/v1/playbooks/dedicated", {"version": 2, "response_sla_hours": -1},
                            content_type="application/json")
    assert negative.status_code == 422 and negative.json()["error"]["fields"][0]["path"] == "response_sla_hours"

    bad = client.post("/api/v1/playbooks/standard/steps", {"action": "contact", "hours": 500, "cadence_unit": "year"},
                      content_type="application/json")
    assert bad.status_code == 422 and {f["path"] for f in bad.json()["error"]["fields"]} == {"hours", "cadence_unit"}
    rule = client.post("/api/v1/playbooks/standard/steps", {"action": "contact", "owner_rule": "automation"},
                       content_type="application/json")
    assert rule.status_code == 422 and rule.json()["error"]["fields"][0]["path"] == "owner_rule"
    engine_only = client.post("/api/v1/playbooks/standard/steps", {"action": "sla_escalation"},
                              content_type="application/json")
    assert engine_only.status_code == 422
    created = client.post("/api/v1/playbooks/standard/steps",
                          {"action": "survey_invitation", "cadence_count": 6, "channel": "email", "hours": "0.25"},
                          content_type="application/json")
    assert created.status_code == 201, created.content
    step = created.json()
    assert step["action_display"] == "Survey invitation" and step["position"] == 2
    assert signed_in(rm).patch(f"/api/v1/playbook-steps/{step['id']}", {"version": 1, "hours": 1},
                               content_type="application/json").status_code == 403
    moved = client.patch(f"/api/v1/playbook-steps/{step['id']}", {"version": 1, "cadence_count": 3},
                         content_type="application/json")
    assert moved.status_code == 200 and moved.json()["cadence_count"] == 3 and moved.json()["version"] == 2
    assert client.patch(f"/api/v1/playbook-steps/{step['id']}", {"version": 1, "hours": 1},
                        content_type="application/json").status_code == 409
    assert client.delete(f"/api/v1/playbook-steps/{step['id']}").status_code == 204
    assert client.delete(f"/api/v1/playbook-steps/{step['id']}").status_code == 404


def test_api_step_actions_are_the_step_actions():
    from bcrm.playbooks.api import ActionName

    assert set(ActionName.__args__) == {a.value for a in STEP_ACTIONS}


def test_api_tasks_lists_complete_and_assign(rm, other_rm, lead, team, managed_org):
    step = step_of("standard", "contact")
    mine = make_task(title="call back", assignee=rm, organization=managed_org, step=step, due_at=at(20, 9))
    overflow = make_task(title="unplaced", organization=managed_org, team=team, action="contact", due_at=at(30, 9))
    client = signed_in(rm)
    assert [t["title"] for t in client.get("/api/v1/tasks/mine").json()["items"]] == ["call back"]
    assert [t["title"] for t in client.get("/api/v1/tasks/team").json()["items"]] == ["unplaced"]
    assert client.get(f"/api/v1/tasks/team?team={team.pk}").json()["count"] == 1
    assert client.get("/api/v1/tasks/team?team=abc").status_code == 422
    assert client.get("/api/v1/tasks/overdue").json()["items"][0]["organization"] == "Huaneng Capital"

    bad = client.post(f"/api/v1/tasks/{mine.pk}/complete", {"minutes": -5}, content_type="application/json")
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["path"] == "minutes"
    wrong_kind = client.post(f"/api/v1/tasks/{mine.pk}/complete", {"kind": "kyc_review"},
                             content_type="application/json")
    assert wrong_kind.status_code == 422 and wrong_kind.json()["error"]["fields"][0]["path"] == "kind"
    done = client.post(f"/api/v1/tasks/{mine.pk}/complete", {"summary": "Spoke to the CFO", "version": 1},
                       content_type="application/json")
    assert done.status_code == 200 and done.json()["status"] == "done"
    interaction = Interaction.objects.get(pk=done.json()["interaction_id"])
    assert interaction.kind == "call" and interaction.minutes_spent == 30
    again = client.post(f"/api/v1/tasks/{mine.pk}/complete", {}, content_type="application/json")
    assert again.status_code == 409
    assert signed_in(other_rm).post(f"/api/v1/tasks/{overflow.pk}/complete", {},
                                    content_type="application/json").status_code == 404

    assert client.post(f"/api/v1/tasks/{overflow.pk}/assign", {"assignee": rm.pk},
                       content_type="application/json").status_code == 403
    lead_client = signed_in(lead)
    outsider = lead_client.post(f"/api/v1/tasks/{overflow.pk}/assign", {"assignee": other_rm.pk},
                                content_type="application/json")
    assert outsider.status_code == 422 and outsider.json()["error"]["fields"][0]["path"] == "assignee"
    assert lead_client.post(f"/api/v1/tasks/{overflow.pk}/assign", {"assignee": 999999},
                            content_type="application/json").status_code == 422
    placed = lead_client.post(f"/api/v1/tasks/{overflow.pk}/assign", {"assignee": rm.pk, "version": 1},
                              content_type="application/json")
    assert placed.status_code == 200 and placed.json()["assignee_id"] == rm.pk


@pytest.fixture
def engine_calls(monkeypatch):
    """The real automation engine, with what each door passed it recorded (a spy, not a stand-in)."""
    from bcrm.playbooks import automation

    calls = []
    real_run = automation.run_automation

    def recorded(**kwargs):
        calls.append(kwargs)
        return real_run(**kwargs)

    monkeypatch.setattr(automation, "run_automation", recorded)
    return calls


def test_api_automation_runs(lead, rm, managed_org, engine_calls):
    refused = signed_in(rm).post("/api/v1/automation/runs", {"dry_run": True}, content_type="application/json")
    assert refused.status_code == 403 and not engine_calls
    client = signed_in(lead)
    dry = client.post("/api/v1/automation/runs", {"dry_run": True, "as_of": "2026-11-25T08:00:00+08:00"},
                      content_type="application/json")
    assert dry.status_code == 200 and dry.json()["run_id"] is None and dry.json()["dry_run"] is True
    assert engine_calls[0]["as_of"] == at(25, 8) and engine_calls[0]["dry_run"] is True
    # the engine read the one client and wrote nothing
    assert dry.json()["counts"]["clients"] == 1 and not AutomationRun.objects.exists()
    assert not ClientTier.objects.exists() and not Task.objects.filter(source="playbook").exists()
    naive = client.post("/api/v1/automation/runs", {"as_of": "2026-11-25T08:00:00"}, content_type="application/json")
    assert naive.status_code == 422 and naive.json()["error"]["fields"][0]["path"] == "as_of"
    real = client.post("/api/v1/automation/runs", {}, content_type="application/json")
    assert real.status_code == 201, real.content
    run_id = real.json()["run_id"]
    stored = AutomationRun.objects.get(pk=run_id)
    assert real.json()["counts"] == stored.counts and stored.counts["clients"] == 1 and stored.trigger == "api"
    assert ClientTier.objects.get(organization=managed_org).tier == "standard"
    listed = signed_in(rm).get("/api/v1/automation/runs").json()
    assert [r["id"] for r in listed["items"]] == [run_id] and listed["items"][0]["started_by"] == "lead_user"
    timings = client.get(f"/api/v1/automation/runs/{run_id}").json()["timings"]
    assert timings == stored.timings and timings  # the engine's time per stage, as stored
    assert client.get("/api/v1/automation/runs/999999").status_code == 404


def test_api_automation_dry_run_with_the_real_engine_writes_no_run(lead, rm):
    assert signed_in(rm).post("/api/v1/automation/runs", {"dry_run": True},
                              content_type="application/json").status_code == 403
    dry = signed_in(lead).post("/api/v1/automation/runs", {"dry_run": True}, content_type="application/json")
    assert dry.status_code == 200, dry.content
    assert dry.json()["run_id"] is None and not AutomationRun.objects.filter(dry_run=False).exists()


# --- pages ---------------------------------------------------------------------------------------------------


def test_my_day_page_shows_the_buckets_and_the_empty_state(rm, member2, managed_org):
    from django.utils import timezone

    now = timezone.now()
    make_task(title="Quarterly call with Huaneng", assignee=rm, organization=managed_org, action="contact",
              due_at=now - dt.timedelta(days=2), planned_hours=Decimal("0.5"))
    body = signed_in(rm).get(reverse("playbooks:my_day")).content.decode()
    # A playbook task is named by its action (in the reader's language), with its client.
    assert 'id="overdue"' in body and "Personal contact" in body and managed_org.legal_name in body
    assert "Nothing due" not in body
    empty = signed_in(member2).get(reverse("playbooks:my_day")).content.decode()
    assert "Nothing due: automation handles your standard-tier clients." in empty


def test_completing_through_the_page_with_htmx_swaps_the_row_away(rm, managed_org):
    from django.utils import timezone

    task = make_task(title="Plan review", assignee=rm, organization=managed_org, action="plan_review",
                     due_at=timezone.now() + dt.timedelta(hours=1), planned_hours=Decimal("4"))
    client = signed_in(rm)
    url = reverse("playbooks:task_complete", args=[task.pk])
    opened = client.get(url, HTTP_HX_REQUEST="true")
    assert opened.status_code == 200 and 'name="minutes"' in opened.content.decode()
    assert 'placeholder="240"' in opened.content.decode()
    refused = client.post(url, {"minutes": "-3", "version": "1"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 200 and f'id="task-{task.pk}"' in refused.content.decode()
    assert "errorlist" in refused.content.decode()
    done = client.post(url, {"summary": "Reviewed the refinancing plan", "outcome": "Term sheet next",
                             "version": "1"}, HTTP_HX_REQUEST="true")
    body = done.content.decode()
    assert done.status_code == 200 and f'id="task-{task.pk}"' not in body and 'hx-swap-oob="true"' in body
    assert "logged as Financing-plan review" in body
    task.refresh_from_db()
    assert task.status == "done" and task.interaction.outcome == "Term sheet next"
    stale = client.post(url, {"version": "1"}, HTTP_HX_REQUEST="true")
    assert stale.status_code == 200 and "already done" in stale.content.decode()


def test_completing_without_script_redirects_back(rm, managed_org):
    task = make_task(assignee=rm, organization=managed_org, action="contact")
    client = signed_in(rm)
    url = reverse("playbooks:task_complete", args=[task.pk])
    assert "Complete task" in client.get(url).content.decode()
    response = client.post(url, {"minutes": "15"})
    assert response.status_code == 302 and response["Location"] == reverse("playbooks:my_day")
    assert Interaction.objects.get().minutes_spent == 15


def test_the_task_list_done_button_on_a_playbook_task_logs_its_interaction(rm, managed_org):
    task = make_task(assignee=rm, organization=managed_org, action="kyc_refresh")
    response = signed_in(rm).post(reverse("engagement:task_done", args=[task.pk]), {"version": "1"})
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == "done" and task.interaction.kind == "kyc_review"


def my_day_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("playbooks:my_day")).status_code == 200
    return len(ctx.captured_queries)


def test_my_day_makes_the_same_number_of_queries_for_five_tasks_or_sixty(lead, team, managed_org):
    from django.utils import timezone

    from bcrm.accounts.services import team_member_set

    team_member_set(team=team, user=lead, weekly_capacity_hours=40)
    client = signed_in(lead)
    now = timezone.now()
    step = step_of("dedicated", "contact")
    project = make_project()
    participation = make_participation(project, managed_org)

    end_of_today, _end_of_week = selectors.day_bounds(now)
    offsets = [dt.timedelta(hours=-30), (end_of_today - now) / 2, (end_of_today - now) + dt.timedelta(days=2)]

    def add(n):
        for i in range(n):
            make_task(assignee=lead, organization=managed_org, step=step, participation=participation,
                      due_at=now + offsets[i % 3])
            make_task(organization=managed_org, team=team, action="contact", due_at=now + dt.timedelta(days=i))
            ServiceRequest.objects.create(organization=managed_org, owner=lead, subject=f"r{i}", opened_at=now,
                                          response_due_at=now + dt.timedelta(hours=i))

    add(5)
    my_day_queries(client)  # warm: defaults created, session read
    few = my_day_queries(client)
    add(55)
    many = my_day_queries(client)
    assert few == many, (few, many)
    assert many <= 25


def test_team_board_page_and_assigning_from_the_overflow_queue(lead, rm, other_rm, team, other_team, managed_org):
    task = make_task(title="Unplaced call", organization=managed_org, team=team, action="contact",
                     planned_hours=Decimal("1.5"))
    lead_client = signed_in(lead)
    page = lead_client.get(reverse("playbooks:team_board") + f"?team={team.pk}&week=2026-W48")
    body = page.content.decode()
    assert page.status_code == 200 and 'class="inline-form assign-form"' in body
    assert "Personal contact" in body and managed_org.legal_name in body  # named by its action
    assert 'data-member="rm_user"' in body and "2026-W48" in body
    rm_page = signed_in(rm).get(reverse("playbooks:team_board")).content.decode()
    assert managed_org.legal_name in rm_page and "assign-form" not in rm_page
    assert signed_in(rm).get(reverse("playbooks:team_board") + f"?team={other_team.pk}").status_code == 404
    bad_week = lead_client.get(reverse("playbooks:team_board") + f"?team={team.pk}&week=someday", follow=True)
    assert bad_week.status_code == 200 and "Give a week as" in bad_week.content.decode()
    url = reverse("playbooks:task_assign", args=[task.pk])
    assert signed_in(rm).post(url, {"assignee": rm.pk}).status_code == 403
    wrong = lead_client.post(url, {"assignee": other_rm.pk}, follow=True)
    assert "Choose a member of the team." in wrong.content.decode()
    placed = lead_client.post(url, {"assignee": rm.pk, "version": "1"})
    assert placed.status_code == 302
    task.refresh_from_db()
    assert task.assignee == rm


def test_playbooks_page_is_read_only_for_rms_and_editable_for_leads(lead, rm):
    rm_client = signed_in(rm)
    body = rm_client.get(reverse("playbooks:playbook_list")).content.decode()
    assert "Dedicated service" in body and "first response within 4 business hours" in body
    assert reverse("playbooks:playbook_edit", args=["dedicated"]) not in body
    assert rm_client.get(reverse("playbooks:playbook_edit", args=["dedicated"])).status_code == 403
    step = step_of("standard", "contact")
    assert rm_client.post(reverse("playbooks:step_delete", args=[step.pk])).status_code == 403

    client = signed_in(lead)
    assert reverse("playbooks:playbook_edit", args=["dedicated"]) in client.get(
        reverse("playbooks:playbook_list")).content.decode()
    edit = client.post(reverse("playbooks:step_edit", args=[step.pk]), {
        "version": "1", "action": "contact", "trigger": "cadence", "cadence_count": "3", "cadence_unit": "month",
        "channel": "call", "owner_rule": "automation", "hours": "0.5", "lead_days": "7", "only_dimension": "",
        "only_label": "", "position": "1", "is_active": "on"})
    assert edit.status_code == 200 and "Only the progress report is sent by automation" in edit.content.decode()
    ok = client.post(reverse("playbooks:step_edit", args=[step.pk]), {
        "version": "1", "action": "contact", "trigger": "cadence", "cadence_count": "2", "cadence_unit": "month",
        "channel": "call", "owner_rule": "team_pool", "hours": "0.5", "lead_days": "7", "only_dimension": "",
        "only_label": "", "position": "1", "is_active": "on"})
    assert ok.status_code == 302
    step.refresh_from_db()
    assert step.cadence_count == 2 and step.version == 2
    sla = client.post(reverse("playbooks:playbook_edit", args=["standard"]), {
        "version": "1", "description": "Standard", "response_sla_hours": "8", "resolution_sla_hours": "4",
        "is_active": "on"})
    assert sla.status_code == 200 and "Resolution cannot be due before the first response." in sla.content.decode()
    created = client.post(reverse("playbooks:step_create", args=["kyc_refresh"]), {
        "action": "survey_invitation", "trigger": "cadence", "cadence_count": "12", "cadence_unit": "month",
        "channel": "email", "owner_rule": "relationship_manager", "hours": "0.25", "lead_days": "7",
        "only_dimension": "", "only_label": "", "is_active": "on"})
    assert created.status_code == 302
    assert Playbook.objects.get(code="kyc_refresh").steps.filter(action="survey_invitation").exists()


def policy_post(version, **checked):
    data = {"base_version": str(version), "match": "any", "note": "Strategic only",
            "dedicated": ["relationship:strategic"], "addon_enhanced_dd": ["risk:high"],
            "addon_kyc_refresh": ["risk:high"], "addon_data_collection": ["*:insufficient"]}
    data.update(checked)
    return data


def test_tier_policy_page_saves_a_version_and_shows_a_stale_save_as_a_conflict(lead, viewer):
    client = signed_in(lead)
    page = client.get(reverse("playbooks:tier_policy")).content.decode()
    assert "In force: version 1" in page and "Value: High value or Relationship: Strategic partner" in page
    checked = set(re.findall(r'<input type="checkbox" name="dedicated" value="([^"]+)"[^>]* checked>', page))
    assert checked == {"value:high", "relationship:strategic"}
    saved = client.post(reverse("playbooks:tier_policy"), policy_post(1))
    assert saved.status_code == 302
    active = TierPolicy.objects.get(is_active=True)
    assert active.version == 2 and active.rules["dedicated"]["when"] == [["relationship", "strategic"]]
    stale = client.post(reverse("playbooks:tier_policy"), policy_post(1, dedicated=["value:high"]))
    assert stale.status_code == 200 and "since you opened it" in stale.content.decode()
    empty = client.post(reverse("playbooks:tier_policy"), policy_post(2, dedicated=[]))
    assert "Give at least one label that earns the dedicated tier." in empty.content.decode()
    history = client.get(reverse("playbooks:tier_policy")).content.decode()
    assert 'data-version="2"' in history and "Strategic only" in history
    viewer_client = signed_in(viewer)
    assert 'id="policy-form"' not in viewer_client.get(reverse("playbooks:tier_policy")).content.decode()
    assert viewer_client.post(reverse("playbooks:tier_policy"), policy_post(2)).status_code == 403


def test_automation_page_lists_runs_and_runs_for_leads_only(lead, rm, engine_calls):
    AutomationRun.objects.create(as_of=NOW, status="done", started_at=NOW, duration_ms=1234,
                                 counts={"created": {"contact": 17}, "future_counter": 4},
                                 overflow=[{"team_id": 1, "team": "Energy Desk", "tasks": 2, "hours": "3.0"}],
                                 errors=["client 12: no relationship manager"])
    rm_client = signed_in(rm)
    body = rm_client.get(reverse("playbooks:automation")).content.decode()
    assert "Tasks created: Personal contact: 17" in body and "future_counter: 4" in body
    assert "Energy Desk: 2 tasks, 3.0 h" in body and "1234 ms" in body and "no relationship manager" in body
    assert 'data-action="run-now"' not in body
    assert rm_client.post(reverse("playbooks:automation"), {"mode": "run"}).status_code == 403
    client = signed_in(lead)
    dry = client.post(reverse("playbooks:automation"), {"mode": "dry"})
    assert dry.status_code == 200 and 'id="dry-run-report"' in dry.content.decode()
    assert client.post(reverse("playbooks:automation"), {"mode": "run"}).status_code == 302
    assert [c["dry_run"] for c in engine_calls] == [True, False] and AutomationRun.objects.count() == 2


def test_service_request_list_shows_the_sla_due_date(rm, managed_org):
    from django.utils import timezone

    ServiceRequest.objects.create(organization=managed_org, subject="Need the model", opened_at=timezone.now(),
                                  response_due_at=dt.datetime(2031, 1, 2, 13, 0, tzinfo=SHANGHAI))
    body = signed_in(rm).get(reverse("engagement:service_request_list")).content.decode()
    assert "2031-01-02 13:00" in body
    api = signed_in(rm).get("/api/v1/service-requests").json()
    due = dt.datetime.fromisoformat(api["items"][0]["response_due_at"].replace("Z", "+00:00"))
    assert due == dt.datetime(2031, 1, 2, 13, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize("who", ["viewer", "analyst", "compliance", "rm"])
def test_readers_and_rms_change_no_playbook_and_place_no_task(request, who, team, managed_org):
    user = request.getfixturevalue(who)
    ensure_defaults()
    playbook = Playbook.objects.get(code="standard")
    step = playbook.steps.first()
    task = make_task(organization=managed_org, team=team, action="contact")
    attempts = [
        lambda: services.playbook_update(actor=user, playbook=playbook, data={"description": "x"},
                                         expected_version=None),
        lambda: services.step_create(actor=user, playbook=playbook, data=GOOD_STEP),
        lambda: services.step_update(actor=user, step=step, data={"hours": Decimal("2")}, expected_version=None),
        lambda: services.step_delete(actor=user, step=step),
        lambda: services.task_assign(actor=user, task=task, assignee=user),
        lambda: services.task_cancel(actor=user, task=task),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            attempt()
    playbook.refresh_from_db()
    task.refresh_from_db()
    assert playbook.version == 1 and playbook.steps.count() == 2 and task.assignee is None and task.status == "open"


def test_every_page_speaks_chinese(lead, rm, team, managed_org):
    from django.utils import timezone

    from bcrm.accounts.services import team_member_set

    team_member_set(team=team, user=lead, weekly_capacity_hours=40)
    now = timezone.now()
    make_task(title="t1", assignee=lead, organization=managed_org, action="contact", due_at=now - dt.timedelta(days=1))
    make_task(title="t2", organization=managed_org, team=team, action="plan_review", planned_hours=Decimal("4"))
    ServiceRequest.objects.create(organization=managed_org, owner=lead, subject="s", opened_at=now - dt.timedelta(days=2),
                                  response_due_at=now - dt.timedelta(days=1))
    AutomationRun.objects.create(as_of=now, status="done", started_at=now, counts={"created": {"contact": 2}},
                                 overflow=[{"team": "Energy Desk", "tasks": 1, "hours": "4"}])
    client = signed_in(lead)
    client.cookies["django_language"] = "zh-hans"
    expected = {
        "playbooks:my_day": ["我的待办", "已逾期", "产能溢出", "已超时"],
        "playbooks:team_board": ["团队看板", "产能溢出队列", "本周产能"],
        "playbooks:playbook_list": ["服务策略", "专属服务", "个人联络", "客户的专属客户经理"],
        "playbooks:tier_policy": ["服务层级规则", "生效中:第 1 版", "可获得专属服务的标签"],
        "playbooks:automation": ["自动化", "新建待办: 个人联络: 2", "Energy Desk:1 项待办,4 小时"],
    }
    for name, words in expected.items():
        body = client.get(reverse(name)).content.decode()
        for word in words:
            assert word in body, (name, word)
