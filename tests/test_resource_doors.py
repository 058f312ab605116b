"""The resource plan through its doors: the selector against a hand computation on a small portfolio, who
may see which team, the page with both charts and their tables, and the API returning the same figures."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bcrm.accounts.models import TeamMembership
from bcrm.core.errors import InvalidInput, NotFound, PermissionDenied
from bcrm.financing.models import Participation
from bcrm.playbooks.models import ClientTier
from bcrm.resources.selectors import resource_plan
from bcrm.segmentation.models import Assignment, ClientLabels, Run
from bcrm.segmentation.services import criterion_active
from tests.factories import make_org, make_participation, make_project, make_user

pytestmark = pytest.mark.django_db

FORTNIGHTLY = 1.5 * (365.25 / 12) / 14
DEDICATED_ORDINARY = FORTNIGHTLY + 4 / 3
DEDICATED_STRATEGIC = DEDICATED_ORDINARY + 1.0
STANDARD = 0.5 / 3
NOW = timezone.now()


def client_row(team, name, labels, tier=None, addons="", score=None, run=None):
    org = make_org(legal_name=name, team=team)
    ClientLabels.objects.create(organization=org, value=labels[0], risk=labels[1], relationship=labels[2])
    if tier:
        ClientTier.objects.create(organization=org, tier=tier, addons=addons, policy_version=1, since=NOW)
    if run is not None and score is not None:
        Assignment.objects.create(run=run, organization=org, label=labels[0] or "general",
                                  engine_label=labels[0] or "general", score=score, completeness=1.0)
    return org


def value_run():
    criterion = criterion_active("value")
    return Run.objects.create(criterion=criterion, dimension="value", as_of=NOW.date(), method="top_share",
                              started_at=NOW, finished_at=NOW, duration_ms=1)


@pytest.fixture
def portfolio(team, other_team, rm, other_rm):
    """Energy Desk: 5 clients, 4 hours a week of capacity (the RM alone); Platform Desk: one client."""
    TeamMembership.objects.filter(user=rm, team=team).update(weekly_capacity_hours=Decimal("4"))
    run = value_run()
    c1 = client_row(team, "Strategic One", ("high", "low", "strategic"), "dedicated", score=10.0, run=run)
    c2 = client_row(team, "High Two", ("high", "low", "ordinary"), "dedicated", score=6.0, run=run)
    c3 = client_row(team, "Risky Three", ("general", "high", "ordinary"), "standard", "enhanced_dd,kyc_refresh",
                    score=5.0, run=run)
    c4 = client_row(team, "Thin Four", ("insufficient", "low", "ordinary"), "standard", "data_collection",
                    score=4.5, run=run)
    # Not tiered by the engine yet: the active policy says dedicated (high value).
    c5 = client_row(team, "Untiered Five", ("high", "low", "ordinary"), None, score=1.0, run=run)
    c6 = client_row(other_team, "Platform Six", ("general", "low", "ordinary"), "standard", score=3.0, run=run)
    project = make_project(name="Solar Farm")
    for i in range(3):                                  # three new participations in the last year
        make_participation(project, c3, tranche=f"T{i}")
    old = make_participation(project, c3, tranche="old")
    Participation.objects.filter(pk=old.pk).update(created_at=NOW - dt.timedelta(days=500))
    return {"run": run, "clients": [c1, c2, c3, c4, c5], "other": c6}


ENERGY_DEMAND = (DEDICATED_STRATEGIC + 2 * DEDICATED_ORDINARY     # c1, c2 and c5 (the policy's choice)
                 + 2 * STANDARD + 2 / 6 + 6 * 3 / 12               # c3: call, KYC refresh, 3 due diligences a year
                 + 0.5)                                            # c4: data collection (its call counted above)
ENERGY_CAPACITY = 4 * 52 / 12
ENERGY_BASE = 5 * STANDARD + 2 / 6 + 1.5 + 0.5                    # everybody on the standard tier


def test_demand_and_capacity_against_a_hand_computation(portfolio, lead, team, other_team):
    plan = resource_plan(lead)
    energy = plan.get(team.pk)
    assert energy.clients == 5 and energy.members == 1
    assert energy.dedicated_clients == 3
    assert energy.capacity == pytest.approx(ENERGY_CAPACITY)
    assert energy.demand == pytest.approx(ENERGY_DEMAND)
    assert energy.gap == pytest.approx(ENERGY_CAPACITY - ENERGY_DEMAND)
    assert energy.utilisation == pytest.approx(ENERGY_DEMAND / ENERGY_CAPACITY)
    lines = {(x.playbook, x.action): x for x in energy.lines}
    assert lines[("dedicated", "contact")].clients == 3
    assert lines[("dedicated", "senior_meeting")].hours == pytest.approx(1.0)
    assert lines[("enhanced_dd", "due_diligence")].hours == pytest.approx(1.5)   # the old participation is out
    assert lines[("standard", "progress_report")].hours == 0
    platform = plan.get(other_team.pk)
    assert platform.demand == pytest.approx(STANDARD)
    assert platform.capacity == pytest.approx(40 * 52 / 12)
    assert plan.value_run_id == portfolio["run"].pk


def test_the_what_if_against_brute_force(portfolio, lead, team):
    what = resource_plan(lead, team=team.pk).get(team.pk).what_if
    assert what.base_hours == pytest.approx(ENERGY_BASE)
    assert what.budget == pytest.approx(ENERGY_CAPACITY - ENERGY_BASE)
    scores = [10.0, 6.0, 5.0, 4.5, 1.0]
    costs = [DEDICATED_STRATEGIC - STANDARD] + [DEDICATED_ORDINARY - STANDARD] * 4
    best = max(
        (sum(scores[i] for i in subset), subset)
        for r in range(6) for subset in itertools.combinations(range(5), r)
        if sum(costs[i] for i in subset) <= what.budget)
    assert what.value_selected == pytest.approx(best[0])
    assert what.k == len(best[1]) == 2
    assert what.value_covered == pytest.approx(16 / 26.5)
    assert what.hours_used == pytest.approx(costs[0] + costs[1])
    assert what.current_k == 3                     # two tiered dedicated + the untiered high-value client
    assert what.current_value_covered == pytest.approx(17 / 26.5)
    assert what.curve[0] == (pytest.approx(ENERGY_BASE), 0.0)


def test_the_plan_reads_in_a_fixed_number_of_queries(portfolio, lead, team):
    resource_plan(lead)                            # defaults created on first use
    with CaptureQueriesContext(connection) as few:
        resource_plan(lead)
    for i in range(20):
        client_row(team, f"More {i}", ("general", "low", "ordinary"), "standard", score=0.5 + i, run=portfolio["run"])
    with CaptureQueriesContext(connection) as many:
        plan = resource_plan(lead)
    assert plan.get(team.pk).clients == 25
    assert len(many) == len(few) <= 15


# --- who sees what -----------------------------------------------------------------------------------------

def test_a_relationship_manager_sees_only_their_teams(portfolio, rm, team, other_team):
    plan = resource_plan(rm)
    assert [t.team_id for t in plan.teams] == [team.pk]
    with pytest.raises(PermissionDenied):
        resource_plan(rm, team=other_team.pk)


@pytest.mark.parametrize("role", ["admin", "lead", "analyst", "viewer"])
def test_portfolio_roles_see_every_team(portfolio, role, team, other_team):
    user = make_user(f"{role}_x", role)
    assert {t.team_id for t in resource_plan(user).teams} == {team.pk, other_team.pk}


def test_compliance_and_roleless_users_are_refused(portfolio, compliance):
    with pytest.raises(PermissionDenied):
        resource_plan(compliance)
    with pytest.raises(PermissionDenied):
        resource_plan(make_user("nobody"))


def test_unknown_and_malformed_teams(portfolio, lead):
    with pytest.raises(NotFound):
        resource_plan(lead, team=999_999)
    with pytest.raises(InvalidInput):
        resource_plan(lead, team="energy")


def test_clients_of_no_team_show_only_to_those_who_see_every_team(portfolio, lead, rm):
    client_row(None, "Orphan", ("general", "low", "ordinary"), "standard")
    assert resource_plan(lead).get(None).clients == 1
    assert resource_plan(rm).get(None) is None


# --- the page ----------------------------------------------------------------------------------------------

def test_the_page_shows_tables_and_both_charts(client, portfolio, lead, team):
    client.force_login(lead)
    response = client.get(f"/resource-plan/?team={team.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="chart-demand-capacity"' in html and 'id="chart-value-hours"' in html
    assert html.count("Table view") >= 2
    row = re.search(rf'<tr data-team="{team.pk}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert f"{ENERGY_DEMAND:,.1f}" in row and f"{ENERGY_CAPACITY:,.1f}" in row
    spec = json.loads(re.search(r'id="chart-value-hours-spec"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert spec["datasets"]["capacity"][0]["hours"] == pytest.approx(ENERGY_CAPACITY, abs=0.01)
    bars = json.loads(re.search(r'id="chart-demand-capacity-spec"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert {b["series"] for b in bars["datasets"]["bars"]} == {"Demand", "Capacity"}


def test_the_page_in_chinese(client, portfolio, lead):
    client.force_login(lead)
    response = client.get("/resource-plan/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'lang="zh-Hans"' in html and "资源分配计划" in html and "Resource plan" not in html
    assert "团队产能（工时/月）" in html and "需求（工时/月）" in html and "表格视图" in html


def test_the_page_refuses_compliance_and_asks_strangers_to_sign_in(client, portfolio, compliance, rm, other_team):
    assert client.get("/resource-plan/").status_code == 302
    client.force_login(compliance)
    assert client.get("/resource-plan/").status_code == 403
    client.force_login(rm)
    assert client.get(f"/resource-plan/?team={other_team.pk}").status_code == 403
    assert client.get("/resource-plan/?team=abc").status_code == 422


def test_a_team_without_value_scores_gets_a_plan_but_no_curve(client, lead, team):
    client_row(team, "Lonely", ("general", "low", "ordinary"), "standard")
    client.force_login(lead)
    html = client.get(f"/resource-plan/?team={team.pk}").content.decode()
    assert 'id="chart-demand-capacity"' in html and 'id="chart-value-hours"' not in html


# --- the API -----------------------------------------------------------------------------------------------

def test_the_api_returns_the_same_figures(client, portfolio, lead, team):
    client.force_login(lead)
    body = client.get(f"/api/v1/resource-plan?team={team.pk}").json()
    plan = resource_plan(lead, team=team.pk)
    (row,) = body["teams"]
    mine = plan.get(team.pk)
    assert row["demand"] == pytest.approx(mine.demand) == pytest.approx(ENERGY_DEMAND)
    assert row["capacity"] == pytest.approx(mine.capacity)
    assert row["gap"] == pytest.approx(mine.gap)
    assert row["what_if"]["k"] == mine.what_if.k == 2
    assert row["what_if"]["value_covered"] == pytest.approx(16 / 26.5)
    assert {(x["playbook"], x["action"]) for x in row["lines"]} == {(x.playbook, x.action) for x in mine.lines}
    assert body["value_run_id"] == portfolio["run"].pk


def test_the_api_refuses_with_the_error_shape(client, portfolio, rm, compliance, other_team):
    assert client.get("/api/v1/resource-plan").status_code == 401
    client.force_login(rm)
    denied = client.get(f"/api/v1/resource-plan?team={other_team.pk}")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "permission_denied"
    assert client.get("/api/v1/resource-plan?team=999999").status_code == 404
    client.force_login(compliance)
    assert client.get("/api/v1/resource-plan").status_code == 403


def test_an_empty_portfolio_gives_an_empty_plan(client, lead, team):
    plan = resource_plan(lead)
    assert [(t.name, t.clients, t.demand, t.what_if.k) for t in plan.teams] == [("Energy Desk", 0, 0.0, 0)]
    assert plan.value_run_id is None
    client.force_login(lead)
    assert client.get("/resource-plan/").status_code == 200
    assert client.get("/api/v1/resource-plan").json()["teams"][0]["demand"] == 0


def test_both_charts_are_valid_vega_lite(portfolio, lead, team):
    from bcrm.resources import charts as resource_charts
    from bcrm.ui.charts import validated

    plan = resource_plan(lead)
    bars = resource_charts.demand_capacity(plan)
    curve = resource_charts.value_curve(plan.get(team.pk).what_if, team_name="Energy Desk")
    for chart in (bars, curve):
        validated(chart)
        assert chart.rows and chart.columns
    assert [row[0] for row in bars.rows] == ["Energy Desk", "Platform Desk"]
    assert bars.rows[0][1:] == [f"{ENERGY_DEMAND:,.1f}", f"{ENERGY_CAPACITY:,.1f}"]
    points = {p["what"]: p for p in curve.spec["datasets"]["points"]}
    assert points["Best use of capacity"]["share"] == pytest.approx(16 / 26.5, abs=1e-4)
    assert points["Dedicated today"]["share"] == pytest.approx(17 / 26.5, abs=1e-4)
    assert curve.svg().startswith("<svg")          # the same definition renders statically too
