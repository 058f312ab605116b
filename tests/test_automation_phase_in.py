"""Phase-in of a playbook step (分批启动): the clients already due when a step starts get their first task on a
working day of the phase-in window of their own, not all on the first day; clients whose cycle falls due later
keep their date; after the window the step is as without one. Set through the service, the API and the page."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
import pytest
from django.db import transaction
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from bcrm.core.errors import InvalidInput
from bcrm.playbooks.automation import run_automation
from bcrm.playbooks.businesstime import BusinessCalendar
from bcrm.playbooks.cadence import _day, _day_number
from bcrm.playbooks.calendars import firm_today
from bcrm.playbooks.choices import Action
from bcrm.playbooks.duesteps import phase_in_slot, working_days
from bcrm.playbooks.models import PlaybookStep
from bcrm.playbooks.services import step_create, step_update
from tests import test_automation
from tests.doors import signed_in
from tests.factories import make_org
from tests.test_automation import at, labelled, log, only_steps, playbook_tasks

cn = test_automation.cn  # the default calendar with 2026's Chinese public holidays (a fixture)

START = dt.date(2026, 11, 30)  # a Monday; the window below holds no public holiday of 2026
WINDOW = 28  # 30 November – 27 December: 20 working days


def _step(action: str) -> PlaybookStep:
    """The step of ``action`` in its first playbook (the dedicated tier's contact, not the standard one's)."""
    return PlaybookStep.objects.filter(action=action, is_active=True).order_by("playbook_id")[0]


def _phase_in(action: str, days: int = WINDOW, start: dt.date = START) -> PlaybookStep:
    step = _step(action)
    return step_update(actor=None, step=step, data={"phase_in_days": days, "phase_in_from": start},
                       expected_version=step.version)


class _Rollback(Exception):
    pass


def test_clients_never_served_get_their_first_task_spread_over_the_working_days(cn, team, rm):
    only_steps(Action.DATA_COLLECTION)  # monthly, no lead time, for clients with too little data on value
    clients = [labelled(value="insufficient", team=team, relationship_manager=rm) for _ in range(60)]
    # Without a phase-in every one of them is due on the first day.
    try:
        with transaction.atomic():
            run_automation(actor=None, as_of=at(2026, 11, 30))
            assert playbook_tasks().count() == 60
            raise _Rollback
    except _Rollback:
        pass

    _phase_in(Action.DATA_COLLECTION)
    per_day = Counter()
    day = START
    while day <= dt.date(2026, 12, 31):
        before = playbook_tasks().count()
        run_automation(actor=None, as_of=at(day.year, day.month, day.day))
        per_day[day] = playbook_tasks().count() - before
        day += dt.timedelta(days=1)
    tasks = list(playbook_tasks())
    assert sorted(t.organization_id for t in tasks) == sorted(c.pk for c in clients)  # each once, all of them
    due_days = Counter(t.due_at.astimezone(at(2026, 1, 1).tzinfo).date() for t in tasks)
    assert min(due_days) >= START and max(due_days) <= dt.date(2026, 12, 27)
    assert all(d.isoweekday() < 6 for d in due_days)  # working days only
    assert len(due_days) >= 12  # spread over the window, not piled up
    assert per_day[START] < 10 and max(per_day.values()) < 10  # 60 on the first day without it
    # Each task was made on the day it falls due (no lead time), not before.
    assert all(per_day[d] == n for d, n in due_days.items())

    # After the window a client new to the step is due at once, as without a phase-in.
    late = labelled(value="insufficient", team=team, relationship_manager=rm)
    run_automation(actor=None, as_of=at(2027, 1, 5))
    assert playbook_tasks(organization=late).get().due_at == at(2027, 1, 5, 18)


def test_a_client_whose_cycle_falls_due_later_keeps_its_date(cn, team, rm):
    only_steps(Action.CONTACT)  # every two weeks for the dedicated tier, three days ahead
    recent = labelled(value="high", team=team, relationship_manager=rm)
    log(recent, "call", at(2026, 11, 27, 15))  # due 11 December by its cadence, inside the window
    overdue = [labelled(value="high", team=team, relationship_manager=rm) for _ in range(30)]
    for org in overdue:
        log(org, "call", at(2026, 9, 1, 15))  # overdue since September: phased
    _phase_in(Action.CONTACT)
    day = START
    while day <= dt.date(2026, 12, 28):
        run_automation(actor=None, as_of=at(day.year, day.month, day.day))
        day += dt.timedelta(days=1)
    assert playbook_tasks(organization=recent).get().due_at == at(2026, 12, 11, 18)
    phased = playbook_tasks(organization__in=overdue)
    assert phased.count() == 30
    assert len({t.due_at for t in phased}) >= 8
    assert all(t.basis_at == at(2026, 9, 1, 15) for t in phased)  # the task still says when they were last served


def test_the_service_starts_a_phase_in_today_and_checks_it(cn):
    step = _step(Action.CONTACT)
    step = step_update(actor=None, step=step, data={"phase_in_days": 30}, expected_version=step.version)
    assert step.phase_in_from == firm_today() and step.phase_in_until == firm_today() + dt.timedelta(days=29)
    # Asked for on a given day, it starts then; lengthened without a date, it starts again today.
    step = step_update(actor=None, step=step, data={"phase_in_from": START}, expected_version=step.version)
    assert step.phase_in_from == START
    step = step_update(actor=None, step=step, data={"phase_in_days": 45}, expected_version=step.version)
    assert step.phase_in_from == firm_today()
    step = step_update(actor=None, step=step, data={"phase_in_days": 0}, expected_version=step.version)
    assert step.phase_in_from is None and step.phase_in_until is None
    with pytest.raises(InvalidInput) as too_long:
        step_update(actor=None, step=step, data={"phase_in_days": 366}, expected_version=step.version)
    assert "phase_in_days" in too_long.value.fields
    review = PlaybookStep.objects.filter(trigger="new_participation").first()
    with pytest.raises(InvalidInput) as on_events:
        step_update(actor=None, step=review, data={"phase_in_days": 10}, expected_version=review.version)
    assert "phase_in_days" in on_events.value.fields
    new = step_create(actor=None, playbook=step.playbook, data={"action": Action.SURVEY_INVITATION, "phase_in_days": 20})
    assert new.phase_in_from == firm_today()


def test_the_api_sets_and_shows_a_phase_in_and_refuses_bad_values(cn, client, lead, rm):
    step = _step(Action.CONTACT)
    api = signed_in(lead, client)
    url = f"/api/v1/playbook-steps/{step.pk}"
    answer = api.patch(url, {"version": step.version, "phase_in_days": 20, "phase_in_from": "2026-11-30"},
                       content_type="application/json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["phase_in_days"], body["phase_in_from"], body["phase_in_until"]) == (20, "2026-11-30", "2026-12-19")
    for bad in ({"phase_in_days": -1}, {"phase_in_days": 400}, {"phase_in_from": "30/11/2026"},
                {"phase_in_from": "9999-12-31"}, {"phase_in_from": "0001-01-01"}):
        refused = api.patch(url, {"version": body["version"], **bad}, content_type="application/json")
        assert refused.status_code == 422, (bad, refused.content)
    assert PlaybookStep.objects.get(pk=step.pk).phase_in_days == 20
    as_rm = signed_in(rm).patch(url, {"version": body["version"], "phase_in_days": 5},
                                        content_type="application/json")
    assert as_rm.status_code == 403
    assert PlaybookStep.objects.get(pk=step.pk).phase_in_days == 20


def test_the_page_sets_a_phase_in_and_shows_its_window_in_both_languages(cn, client, lead):
    step = _step(Action.CONTACT)
    browser = signed_in(lead, client)
    form = browser.get(reverse("playbooks:step_edit", args=[step.pk]))
    assert 'name="phase_in_days"' in form.content.decode()
    data = {"action": step.action, "trigger": step.trigger, "cadence_count": step.cadence_count,
            "cadence_unit": step.cadence_unit, "channel": step.channel, "owner_rule": step.owner_rule,
            "hours": step.hours, "lead_days": step.lead_days, "only_dimension": "", "only_label": "",
            "position": step.position, "is_active": "on", "phase_in_days": "14", "phase_in_from": "",
            "version": step.version}
    saved = browser.post(reverse("playbooks:step_edit", args=[step.pk]), data)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    step.refresh_from_db()
    assert step.phase_in_days == 14 and step.phase_in_from == firm_today()
    until = step.phase_in_until.isoformat()
    page = browser.get(reverse("playbooks:playbook_list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"first tasks phased in {firm_today().isoformat()} – {until}" in page
    zh = browser.get(reverse("playbooks:playbook_list"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f"首批任务分批启动：{firm_today().isoformat()} 至 {until}" in zh
    data.update(phase_in_days="500", version=step.version)
    refused = browser.post(reverse("playbooks:step_edit", args=[step.pk]), data)
    assert refused.status_code == 200 and "365" in refused.content.decode()
    step.refresh_from_db()
    assert step.phase_in_days == 14


def test_a_phase_in_makes_the_next_run_full(cn, team, rm):
    only_steps(Action.DATA_COLLECTION)
    labelled(value="insufficient", team=team, relationship_manager=rm)
    run_automation(actor=None, as_of=at(2026, 11, 27))
    _phase_in(Action.DATA_COLLECTION)
    assert run_automation(actor=None, as_of=at(2026, 11, 30)).mode == "full"


# --- the pure parts --------------------------------------------------------------------------------------

@given(st.lists(st.integers(1, 2**40), min_size=1, max_size=200, unique=True), st.integers(1, 10**6),
       st.integers(1, 365))
def test_a_clients_place_is_in_range_and_its_own(orgs, step, size):
    ids = np.array(orgs, dtype=np.int64)
    slots = phase_in_slot(ids, step, size)
    assert slots.min() >= 0 and slots.max() < size
    # The same place whatever else is in the run, in whatever order: incremental runs agree with full ones.
    alone = np.array([phase_in_slot(ids[i:i + 1], step, size)[0] for i in range(ids.size)])
    assert np.array_equal(slots, alone)
    assert np.array_equal(phase_in_slot(ids[::-1], step, size), slots[::-1])


def test_places_are_spread_evenly():
    slots = phase_in_slot(np.arange(1, 20_001, dtype=np.int64), step=7, size=20)
    counts = np.bincount(slots, minlength=20)
    assert counts.min() > 850 and counts.max() < 1150  # 1,000 each on average


@given(st.dates(dt.date(2025, 1, 1), dt.date(2027, 12, 31)), st.integers(1, 120),
       st.sets(st.dates(dt.date(2025, 1, 1), dt.date(2028, 3, 31)), max_size=30))
def test_the_window_holds_exactly_its_working_days(start, length, holidays):
    calendar = BusinessCalendar(holidays=frozenset(holidays))
    days = working_days(calendar, _day_number(start), length)
    expected = [d for d in (start + dt.timedelta(days=i) for i in range(length)) if calendar.is_business_day(d)]
    if expected:
        assert [_day(n) for n in days] == expected
    else:  # none inside (a short window over a holiday week): the first working day after it
        assert [_day(n) for n in days] == [calendar.next_business_day(start)]


def test_an_unclassified_client_is_not_phased_into_a_step_it_is_not_in(cn, team, rm):
    only_steps(Action.DATA_COLLECTION)
    _phase_in(Action.DATA_COLLECTION)
    make_org(team=team, relationship_manager=rm)  # never classified: no data-collection add-on
    run_automation(actor=None, as_of=at(2026, 12, 31))
    assert playbook_tasks().count() == 0
