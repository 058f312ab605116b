"""My day in real Chromium: a relationship manager signs in, finds the calls their clients are due for,
completes one through the form (htmx swaps it out of the list and the call lands on the client's timeline),
then does the same in Chinese. Screenshots go to /tmp/myday_shots/."""

from __future__ import annotations

import datetime as dt
import os
from functools import partial
from pathlib import Path

import pytest
from django.utils import timezone

from bcrm.engagement.models import Interaction, Task
from bcrm.playbooks.defaults import ensure_defaults
from bcrm.playbooks.models import PlaybookStep
from tests import browsing
from tests.browsing import BROWSER_MARKS, PASSWORD, TIMEOUT_MS
from tests.factories import make_org, make_team, make_user

pytestmark = BROWSER_MARKS
SHOTS = Path(os.environ.get("BCRM_SHOTS", "/tmp/myday_shots"))


@pytest.fixture
def morning(transactional_db):
    """An RM with two standard-tier clients due a quarterly call (one overdue, one later today) and a
    dedicated client's plan review next week."""
    ensure_defaults()
    team = make_team("Energy Desk")
    rm = make_user("li.na", "relationship_manager", team=team, password=PASSWORD)
    rm.first_name, rm.last_name = "Na", "Li"
    rm.save()
    call = PlaybookStep.objects.get(playbook__code="standard", action="contact")
    review = PlaybookStep.objects.get(playbook__code="dedicated", action="plan_review")
    now = timezone.now()
    tasks = []
    for i, (name, local, step, due) in enumerate([
        ("Huaneng Capital", "华能资本", call, now - dt.timedelta(days=1)),
        ("Silk Road Fund", "丝路基金", call, now - dt.timedelta(hours=2)),
        ("CDB Leasing", "国银租赁", review, now + dt.timedelta(days=3)),
    ]):
        org = make_org(legal_name=name, local_name=local, team=team, relationship_manager=rm)
        tasks.append(Task.objects.create(
            title=f"{step.get_action_display()}: {name}", organization=org, assignee=rm, due_at=due,
            source="playbook", source_key=f"browser:{i}", action=step.action, step=step, team=team,
            planned_hours=step.hours))
    return rm, tasks


shot = partial(browsing.shot, SHOTS)


def complete(page, task: Task, *, minutes: str, summary: str) -> None:
    row = f"#task-{task.pk}"
    page.click(f"{row} [data-action=complete]")
    page.wait_for_selector(f"{row} form.complete-form")
    page.fill(f"{row} input[name=minutes]", minutes)
    page.fill(f"{row} textarea[name=summary]", summary)
    page.click(f"{row} [data-action=save-complete]")
    page.wait_for_selector(row, state="detached")


def test_an_rm_completes_tasks_from_my_day_in_english_and_chinese(live_server, browser, morning):
    rm, (first, second, review) = morning
    page = browser.new_page(locale="en-US", viewport={"width": 1360, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((live_server.url, "data:")) else None)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{live_server.url}/my-day/")
    page.fill("input[name=username]", "li.na")
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url("**/my-day/")
    assert page.inner_text("main h1") == "My day"
    overdue = page.inner_text("#overdue")
    assert "Huaneng Capital" in overdue and "Silk Road Fund" in overdue and "Personal contact" in overdue
    assert "CDB Leasing" in page.inner_text("#week") and "4 h planned" in page.inner_text("#week")
    shot(page, "1_my_day_en")

    complete(page, first, minutes="25", summary="Walked through the Q3 drawdown schedule")
    assert "logged as Call" in page.inner_text("#myday-flash")
    assert "Huaneng Capital" not in page.inner_text("#overdue") and "Silk Road Fund" in page.inner_text("#overdue")
    logged = Interaction.objects.get(organization=first.organization)
    assert logged.kind == "call" and logged.minutes_spent == 25 and logged.owner == rm
    assert Task.objects.get(pk=first.pk).interaction == logged
    shot(page, "2_completed_en")

    # The same page in Chinese.
    page.click("button[value=zh-hans]")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.lang").lower().startswith("zh")
    assert page.inner_text("main h1") == "我的待办"
    assert "已逾期" in page.inner_text("#overdue h2") and "个人联络" in page.inner_text("#overdue")
    complete(page, second, minutes="", summary="确认了二期融资时间表")
    assert "已完成" in page.inner_text("#myday-flash")
    assert not page.query_selector_all("#overdue li.task-item")
    page.reload()
    assert not page.query_selector("#overdue")  # nothing overdue is left: the section goes
    assert Interaction.objects.get(organization=second.organization).minutes_spent == 30  # the planned half hour
    assert "定制化融资方案审阅" in page.inner_text("#week")
    shot(page, "3_completed_zh")

    assert Task.objects.filter(pk=review.pk, status="open").exists()
    assert not errors, errors
    assert not outside, outside  # no CDN, no external request
    page.close()
