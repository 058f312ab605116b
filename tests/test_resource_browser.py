"""The resource plan in real Chromium: a team lead picks a team, both charts are drawn by the vendored
vega-embed (no outside request) with their table views, and the figures match the selector's. Screenshots
go to /tmp/resource_shots/."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from bcrm.accounts.models import TeamMembership
from bcrm.resources.selectors import resource_plan
from tests.browsing import BROWSER_MARKS, PASSWORD, TIMEOUT_MS
from tests.factories import make_team, make_user
from tests.test_resource_doors import client_row, value_run

pytestmark = BROWSER_MARKS
SHOTS = Path(os.environ.get("BCRM_SHOTS", "/tmp/resource_shots"))


@pytest.fixture
def desk(transactional_db):
    team = make_team("Energy Desk")
    lead = make_user("lead.person", "lead", password=PASSWORD)
    rm = make_user("rm.person", "relationship_manager", team=team, password=PASSWORD)
    TeamMembership.objects.filter(user=rm).update(weekly_capacity_hours=Decimal("30"))
    run = value_run()
    for i in range(30):
        labels = ("high" if i % 4 == 0 else "general", "high" if i % 7 == 0 else "low",
                  "strategic" if i % 5 == 0 else "ordinary")
        tier = "dedicated" if labels[0] == "high" or labels[2] == "strategic" else "standard"
        addons = "enhanced_dd,kyc_refresh" if labels[1] == "high" else ""
        client_row(team, f"Investor {i:02d}", labels, tier, addons, score=float(30 - i), run=run)
    return lead, team


def test_a_lead_reads_the_plan_and_both_charts(live_server, browser, desk):
    lead, team = desk
    plan = resource_plan(lead, team=team.pk).get(team.pk)
    page = browser.new_page(locale="en-US", viewport={"width": 1360, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    outside, errors = [], []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((live_server.url, "data:")) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server.url}/resource-plan/")
    page.fill("input[name=username]", "lead.person")
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url("**/resource-plan/")
    page.select_option("#id_team", str(team.pk))
    page.click("#resource-filter button[type=submit]")
    page.wait_for_url(f"**/resource-plan/?team={team.pk}")
    page.wait_for_selector("#chart-demand-capacity .chart-canvas svg")
    page.wait_for_selector("#chart-value-hours .chart-canvas svg")
    assert "Capacity" in page.inner_text("#chart-value-hours .chart-canvas")
    row = page.inner_text(f"#team-table tr[data-team='{team.pk}']")
    assert f"{plan.demand:,.1f}" in row and f"{plan.capacity:,.1f}" in row
    assert page.inner_text(f"#what-if tr[data-team='{team.pk}'] [data-col=k]") == str(plan.what_if.k)
    page.click("#chart-value-hours .chart-table > summary")
    assert page.is_visible("#chart-value-hours table")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "resource_plan_en.png"), full_page=True)
    page.goto(f"{live_server.url}/calendars/")
    page.wait_for_selector("h1")
    page.screenshot(path=str(SHOTS / "calendars_en.png"), full_page=True)
    assert not errors, errors
    assert not outside, outside
    page.close()
