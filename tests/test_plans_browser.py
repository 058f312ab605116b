"""Financing plan and closing checklist in real Chromium: a lead opens a plan with two versions, sees what
changed side by side, reviews it (status button), then opens the project's closing checklist and waives a
condition with a reason; no script errors, no outside requests. Screenshots go to /tmp/plans_shots/."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from bcrm.closing import services as closing
from bcrm.plans import services
from bcrm.plans.models import FinancingPlan
from tests import browsing
from tests.browsing import BROWSER_MARKS, PASSWORD, TIMEOUT_MS
from tests.factories import make_org, make_project, make_team, make_user

pytestmark = BROWSER_MARKS
SHOTS = Path(os.environ.get("BCRM_SHOTS", "/tmp/plans_shots"))


@pytest.fixture
def deal(transactional_db):
    team = make_team("Energy Desk")
    lead = make_user("zhao.lei", "lead", team=team, password=PASSWORD)
    org = make_org(legal_name="Silk Road Fund", team=team)
    project = make_project(name="Gobi Solar 400 MW", expected_close=dt.date.today() + dt.timedelta(days=40))
    plan = services.plan_create(actor=lead, organization=org, project=project, terms={
        "instrument": "senior_debt", "amount": "50000000", "currency": "USD", "tenor_months": 180,
        "margin_bps": "275"})
    services.plan_revise(actor=lead, plan=plan, terms={"margin_bps": "250"}, reason="Matched a competing bid")
    services.plan_transition(actor=lead, plan=plan, to="internal_review")
    closing.checklist_create(actor=lead, project=project)
    return lead, plan, project


def test_a_lead_compares_reviews_a_plan_and_waives_a_condition(live_server, browser, deal):
    lead, plan, project = deal
    page = browser.new_page(locale="en-US", viewport={"width": 1360, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    outside, errors = [], []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((live_server.url, "data:")) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{live_server.url}/plans/{plan.pk}/")
    page.fill("input[name=username]", "zhao.lei")
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url(f"**/plans/{plan.pk}/")
    changed = page.inner_text("tr.changed")
    assert "Margin" in changed and "275" in changed and "250" in changed
    browsing.shot(SHOTS, page, "1_plan")
    page.click("button[name=to][value=proposed]")
    page.wait_for_selector(".status-proposed")
    assert FinancingPlan.objects.get(pk=plan.pk).status == "proposed"

    page.goto(f"{live_server.url}/projects/{project.pk}/closing/")
    row = page.locator("tbody tr").first
    row.locator("input[name=reason]").fill("Covered by the sponsor guarantee")
    row.locator("button:has-text('Waive')").click()
    page.wait_for_selector("text=Covered by the sponsor guarantee")
    browsing.shot(SHOTS, page, "2_checklist")
    assert not errors, errors
    assert not outside, outside
