"""The monitoring dashboard and the effect page: the stored figures of a small snapshot (the hand-computed
portfolio of the snapshot tests) in the table, filters, who may read and compute, bad input as a message,
the stored-rows-only query count, the effect page's plain verdict, the new charts' specifications, and the
sentences that say where service falls short (with hypothesis)."""

from __future__ import annotations

import html
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.monitoring import charts as monitoring_charts
from bcrm.monitoring import services
from bcrm.monitoring.models import KpiSnapshot, SnapshotRun
from bcrm.monitoring.presenters import shortfalls
from bcrm.ui import charts
from tests import test_monitoring_snapshot as shared
from tests.doors import signed_in
from tests.factories import make_user
from tests.test_monitoring_snapshot import NOW, PERIOD, answer, client, local, talk

portfolio = shared.portfolio
computed = shared.computed

pytestmark = pytest.mark.django_db
URL = "/dashboard/"


def browse(user, language: str = "en") -> Client:
    return signed_in(user, Client(HTTP_ACCEPT_LANGUAGE=language))


def text(response) -> str:
    return html.unescape(response.content.decode())


def cells(response, segment: str) -> dict[str, str]:
    """The table row of ``segment``: column name → the cell's text (tags stripped)."""
    body = response.content.decode()
    match = re.search(rf'<tr data-segment="{segment}"[^>]*>(.*?)</tr>', body, re.S)
    assert match, f"no row for {segment}"
    out = {}
    for col, cell in re.findall(r'data-col="([a-z_]+)">(.*?)</td>', match.group(1), re.S):
        out[col] = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
    return out


def segments(response) -> list[str]:
    return re.findall(r'<tr data-segment="([a-z_]+)"', response.content.decode())


# The stored figures, in the table and the cards ----------------------------------------------------------------


def test_the_dashboard_shows_the_stored_figures(computed, viewer):
    response = browse(viewer).get(URL, {"period": PERIOD, "breakdown": "tier"})
    assert response.status_code == 200
    assert segments(response) == ["dedicated", "standard", "unclassified", "all"]
    total, dedicated, standard = cells(response, "all"), cells(response, "dedicated"), cells(response, "standard")
    assert total["clients"] == "5" and total["committed"] == "2,130,000.55" and total["fee_income"] == "18,000.00"
    assert dedicated["committed"] == "1,880,000.55"
    assert dedicated["committed_share"] == f"{100 * 1880000.55 / 2130000.55:.1f}%" == "88.3%"
    assert dedicated["fee_income_share"] == f"{100 * 15500 / 18000:.1f}%"
    assert total["cadence"].startswith("40.0%") and "(5)" in total["cadence"]
    assert dedicated["cadence"].startswith("50.0%") and standard["cadence"].startswith("0.0%")
    assert total["insufficient"] == "—"  # the tier breakdown has no data-collection queue
    body = text(response)
    assert 'data-kpi="clients">5<' in body
    for key in ("commitments-share", "nps-interval", "service-levels", "lorenz-commitments", "trend"):
        assert key != "trend" or "chart-trend" not in body  # one period only: no trend yet
        if key != "trend":
            assert f'id="chart-{key}"' in body
    # 5 contacts judged: too few to rank a segment (presenters.MIN_COMPARED), so no segment is called the weakest
    assert "Where service falls short" in body and "has the lowest cadence adherence" not in body
    assert "Cadence adherence: too few playbook contacts judged to compare segments" in body
    assert f"/api/v1/kpis.xlsx?period={PERIOD}" in body
    assert "/segmentation/value/compare/" in body


def test_the_default_period_is_the_latest_and_the_trend_follows_the_snapshots(computed, analyst, lead):
    services.compute_snapshot(actor=lead, period="2026-03", now=NOW)
    response = browse(analyst).get(URL, {"figure": "cadence"})
    assert response.status_code == 200
    body = text(response)
    assert '<option value="2026-04" selected>' in body and '<option value="2026-03">' in body
    assert 'id="chart-trend"' in body and "Cadence adherence over the last snapshots" in body
    assert "2026-03" in body


def test_filters_breakdown_and_team(computed, analyst, team, other_team):
    c = browse(analyst)
    by_value = c.get(URL, {"period": PERIOD, "breakdown": "value"})
    assert segments(by_value) == ["high", "general", "insufficient", "unclassified", "all"]
    assert cells(by_value, "all")["insufficient"] == "1"
    assert "/segmentation/value/compare/" in text(by_value)
    by_risk = c.get(URL, {"period": PERIOD, "breakdown": "risk"})
    assert "/segmentation/risk/compare/" in text(by_risk)
    mine = c.get(URL, {"period": PERIOD, "breakdown": "tier", "team": team.pk})
    assert cells(mine, "all")["clients"] == "2" and cells(mine, "all")["cadence"].startswith("25.0%")
    assert 'id="chart-lorenz-commitments"' not in text(mine)  # the Lorenz curve is of all clients
    assert f"team={team.pk}" in text(mine)  # the export keeps the team
    theirs = c.get(URL, {"period": PERIOD, "team": other_team.pk})
    assert cells(theirs, "all")["cadence"].startswith("100.0%")


def test_the_page_in_chinese(computed, viewer):
    response = browse(viewer, "zh-hans").get(URL, {"period": PERIOD})
    assert response.status_code == 200
    assert 'lang="zh-Hans"' in text(response)
    assert "专属服务" in text(response)  # segment names come translated from the catalogue


# Permissions ------------------------------------------------------------------------------------------------------


def test_an_rm_reads_their_own_team_only(computed, rm, team, other_team):
    c = browse(rm)
    own = c.get(URL, {"period": PERIOD})  # no team chosen: their own team
    assert own.status_code == 200 and cells(own, "all")["clients"] == "2"
    assert "All teams" not in text(own) and "Platform Desk" not in text(own)
    theirs = c.get(URL, {"period": PERIOD, "team": other_team.pk})  # not one of the choices offered
    assert theirs.status_code == 400 and 'id="dashboard-error"' in text(theirs)
    assert 'name="period"' in text(own) and "Compute now" not in text(own)


def test_an_rm_cannot_read_another_team_through_the_selector(computed, rm, other_team, monkeypatch):
    # the form offers only their teams; the selector refuses whatever reaches it
    from bcrm.monitoring import forms

    monkeypatch.setattr(forms.DashboardFilter, "clean_team", lambda self: other_team.pk)
    assert browse(rm).get(URL, {"period": PERIOD}).status_code == 403


def test_a_user_without_a_role_is_refused(computed):
    nobody = make_user("nobody")
    assert browse(nobody).get(URL).status_code == 403
    assert browse(nobody).get("/dashboard/effect/").status_code == 403


def test_signing_in_is_required():
    assert Client().get(URL).status_code == 302


def test_compute_now_is_refused_to_a_viewer(portfolio, viewer):
    c = browse(viewer)
    assert "Compute now" not in text(c.get(URL))
    assert c.post("/dashboard/compute/", {"period": PERIOD}).status_code == 403
    assert not SnapshotRun.objects.exists() and not KpiSnapshot.objects.exists()


def test_compute_now_by_a_lead(portfolio, lead):
    c = browse(lead)
    assert "No KPI snapshot has been computed yet." in text(c.get(URL))
    response = c.post("/dashboard/compute/", {"period": PERIOD, "breakdown": "value"})
    assert response.status_code == 302 and f"period={PERIOD}" in response.url and "breakdown=value" in response.url
    assert SnapshotRun.objects.get().status == "done"
    page = c.get(response.url)
    assert "snapshot is computed" in text(page) and cells(page, "all")["clients"] == "5"


def test_compute_now_with_a_bad_period(portfolio, lead):
    response = browse(lead).post("/dashboard/compute/", {"period": "2026-13"}, follow=True)
    assert response.status_code == 200 and "YYYY-MM" in text(response)
    assert not SnapshotRun.objects.exists()
    assert browse(lead).get("/dashboard/compute/").status_code == 405


# Bad input is a message ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query, message", [
    ({"period": "2026-13"}, "YYYY-MM"),
    ({"period": "April"}, "YYYY-MM"),
    ({"breakdown": "size"}, "size"),
    ({"team": "desk"}, "desk"),
    ({"figure": "happiness"}, "happiness"),
])
def test_bad_filters_are_a_clear_message(computed, analyst, query, message):
    response = browse(analyst).get(URL, query)
    assert response.status_code == 400
    assert 'id="dashboard-error"' in text(response) and message in text(response)


def test_a_period_without_a_snapshot_says_so(computed, viewer):
    response = browse(viewer).get(URL, {"period": "2025-01"})
    assert response.status_code == 200
    assert "There is no snapshot for 2025-01 yet." in text(response)


# The page reads stored rows only ---------------------------------------------------------------------------------


def test_the_query_count_does_not_grow_with_the_data(computed, portfolio, analyst, lead, team):
    c = browse(analyst)
    c.get(URL, {"period": PERIOD})  # warm: session, roles
    with CaptureQueriesContext(connection) as small:
        assert c.get(URL, {"period": PERIOD}).status_code == 200
    for i in range(12):  # more clients and more history, then the snapshot again
        org = client(team, "high" if i % 2 else "general", "low", "ordinary", "dedicated" if i % 2 else "standard")
        talk(org, local(2026, 4, 3 + i), 30)
        answer(org, local(2026, 4, 3 + i), nps=i % 11, csat=1 + i % 5)
    talk(portfolio["o1"], local(2026, 4, 3), 30)
    services.compute_snapshot(actor=lead, period=PERIOD, now=NOW)
    with CaptureQueriesContext(connection) as large:
        response = c.get(URL, {"period": PERIOD})
    assert cells(response, "all")["clients"] == "17"
    assert len(large) == len(small), [q["sql"] for q in large.captured_queries]
    reads = [q["sql"] for q in large.captured_queries if "engagement_" in q["sql"] or "financing_" in q["sql"]]
    assert not reads  # no history table is touched on a page view


# The effect page ---------------------------------------------------------------------------------------------------


def test_the_effect_page_says_too_few(analyst):
    from tests.test_monitoring_effect import population

    population(8, 300_000.0)
    response = browse(analyst).get("/dashboard/effect/", {"dimension": "value", "outcome": "commitments_after"})
    assert response.status_code == 200
    body = text(response)
    assert 'data-verdict="too_few"' in body
    assert "Too few clients near the line to say anything." in body
    assert 'id="effect-notes"' in body


def test_the_effect_page_draws_the_rd_plot_for_a_known_jump(analyst):
    from tests.test_monitoring_effect import population

    population(200, 300_000.0, previous=True)
    response = browse(analyst).get("/dashboard/effect/", {"outcome": "commitments_after"})
    body = text(response)
    assert response.status_code == 200 and 'data-verdict="effect"' in body
    assert 'id="chart-rd-plot"' in body and "Before and after, for clients who moved up" in body
    assert 'data-kpi="n_left"' in body


def test_the_effect_page_without_any_run(viewer):
    response = browse(viewer).get("/dashboard/effect/")
    assert response.status_code == 200 and "no classification run" in text(response)


def test_the_effect_page_refuses_an_rm_and_bad_input(rm, analyst):
    assert browse(rm).get("/dashboard/effect/").status_code == 403
    bad = browse(analyst).get("/dashboard/effect/", {"dimension": "size", "outcome": "happiness"})
    assert bad.status_code == 400 and 'id="effect-error"' in text(bad) and "size" in text(bad)


# The charts' specifications --------------------------------------------------------------------------------------


def test_the_new_charts_are_valid_vega_lite():
    nps = monitoring_charts.interval_points(["Dedicated", "Standard"], [40.0, None], [10.0, None], [70.0, None],
                                            [12, 0], key="nps", title="NPS", x_title="NPS", domain=(-100, 100))
    assert nps.rows[1][1] == "—" and len(nps.spec["datasets"]["points"]) == 1
    trend = monitoring_charts.trend(["2026-03", "2026-04"], {"A": [0.5, None], "B": [0.25, 1.0]}, key="t",
                                    title="T", y_title="Share", value_format=".0%", percent=True)
    assert trend.rows == [["2026-03", "50.0%", "25.0%"], ["2026-04", "—", "100.0%"]]
    rd = monitoring_charts.rd_plot(
        [{"centre": -0.5, "mean": 1.0, "count": 3, "above": False}, {"centre": 0.5, "mean": 3.0, "count": 4,
                                                                     "above": True}],
        0.0, {"intercept_left": 1.5, "slope_left": 1.0, "intercept_right": 2.5, "slope_right": 1.0}, 0.75,
        outcome_title="NPS")
    fits = rd.spec["datasets"]["fits"]
    assert [f["x"] for f in fits] == [-0.5, 0.0, 0.0, 0.5]  # within the bandwidth and the data's range
    assert fits[1]["y"] == 1.5 and fits[2]["y"] == 2.5
    for chart in (nps, trend, rd):
        charts.validated(chart)
    assert "<svg" in rd.svg()


# Where service falls short, in words -----------------------------------------------------------------------------


def _row(segment, name, share=None, judged=0, nps=None, low=None, high=None, n=0, hpm=None):
    part = {"share": share, "judged": judged}
    return {"segment": segment, "segment_name": name, "figures": {
        "clients": 1, "cadence": part, "sla_response": part, "sla_resolution": part, "hours_per_million": hpm,
        "nps": {"nps": nps, "ci_low": low, "ci_high": high, "n": n}}}


def test_shortfalls_name_the_weakest_segment():
    rows = [_row("dedicated", "Dedicated", 0.9, 10, 50.0, 30.0, 70.0, 20, 1.0),
            _row("standard", "Standard", 0.5, 12, -10.0, -40.0, 20.0, 15, 4.0),
            _row("all", "All clients", 0.72, 22)]
    said = shortfalls("tier", rows)
    assert ("Standard has the lowest first-response SLA compliance: 50.0% of 12 requests answered within the SLA "
            "(all clients: 72.0%).") in said
    assert any(s.startswith("Standard has the lowest NPS, -10.0 (15 responses).") and "may be chance" not in s
               for s in said)
    assert any("Serving Standard costs the most" in s for s in said)
    overlapping = [_row("a", "A", nps=10.0, low=-20.0, high=40.0, n=19), _row("b", "B", nps=20.0, low=0.0, high=40.0,
                                                                              n=19)]
    assert any("may be chance" in s for s in shortfalls("tier", overlapping))
    assert shortfalls("tier", [_row("a", "A", 1.0, 13), _row("b", "B", 1.0, 14)]) == []


def test_shortfalls_draw_no_conclusion_from_too_few_observations():
    """"Standard service has the lowest NPS, -100.0 (1 responses)" was wrong twice: a conclusion from one answer,
    and "1 responses". Below MIN_COMPARED a segment is not ranked; the sentence says why."""
    from bcrm.monitoring.presenters import MIN_COMPARED

    assert MIN_COMPARED == 10
    few = [_row("dedicated", "Dedicated service", 0.9, 9, 80.0, 60.0, 100.0, 9),
           _row("standard", "Standard service", 0.2, 3, -100.0, -100.0, -100.0, 1),
           _row("all", "All clients", 0.7, 12)]
    said = shortfalls("tier", few)
    assert not any("lowest" in s for s in said)
    assert not any("1 responses" in s for s in said)
    assert "NPS: too few responses to compare segments (fewer than 10 in all but one segment)." in said
    assert ("Cadence adherence: too few playbook contacts judged to compare segments (fewer than 10 in all but one "
            "segment).") in said
    # two segments with enough answers are ranked; a third with too few is named as not ranked, not ranked last
    mixed = [_row("a", "A", 0.9, 30, 40.0, 20.0, 60.0, 25), _row("b", "B", 0.8, 20, 10.0, -10.0, 30.0, 12),
             _row("c", "C", 0.1, 2, -100.0, -100.0, -100.0, 1)]
    said = shortfalls("tier", mixed)
    nps = next(s for s in said if "NPS" in s)
    assert nps.startswith("B has the lowest NPS, 10.0 (12 responses).")
    assert nps.endswith("Not ranked, with fewer than 10 observations each: C.")
    cadence = next(s for s in said if "cadence" in s)
    assert cadence.startswith("B has the lowest cadence adherence: 80.0% of 20 playbook contacts")
    # plural forms come from ngettext: one client, one participation
    one = shortfalls("value", [{"segment": "all", "segment_name": "All", "figures": {
        "clients": 1, "insufficient": 1, "unconverted": 1, "unconverted_currencies": ["XOF"]}}])
    assert ("1 client lacks the data to be classified on this dimension: it waits in the data-collection queue."
            in one)
    assert "1 participation in XOF has no exchange rate and is left out of the amounts." in one


def test_shortfalls_in_chinese_have_no_english_plural():
    from django.utils import translation

    rows = [_row("a", "A", 0.9, 30, 40.0, 20.0, 60.0, 25), _row("b", "B", 0.8, 20, 10.0, -10.0, 30.0, 12),
            _row("c", "C", 0.1, 2, None, None, None, 0)]
    with translation.override("zh-hans"):
        said = shortfalls("tier", rows) + shortfalls("tier", rows[2:] + [_row("d", "D", 0.5, 3, 5.0, 0.0, 9.0, 2),
                                                                         _row("e", "E", 0.4, 4, 1.0, 0.0, 9.0, 1)])
    assert said and all(re.search(r"[\u4e00-\u9fff]", s) for s in said)
    assert not any(re.search(r"responses|lowest|too few", s) for s in said)


shares = st.one_of(st.none(), st.floats(min_value=0, max_value=1))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(shares, st.integers(0, 50), st.one_of(st.none(), st.floats(-100, 100))),
                min_size=0, max_size=5))
def test_shortfalls_never_fail_and_name_the_minimum(items):
    rows = [_row(f"s{i}", f"Segment {i}", share, judged, nps, None if nps is None else nps - 5,
                 None if nps is None else nps + 5, 3) for i, (share, judged, nps) in enumerate(items)]
    said = shortfalls("tier", rows)
    judged = [(r["figures"]["cadence"]["share"], r["segment_name"]) for r in rows
              if r["figures"]["cadence"]["share"] is not None and r["figures"]["cadence"]["judged"] >= 10]
    cadence = [s for s in said if "has the lowest cadence adherence" in s]
    if len(judged) >= 2 and min(judged)[0] < 1:
        worst = min(judged)
        assert len(cadence) == 1
        # the segment named has the lowest share (ties: any of them)
        assert any(cadence[0].startswith(name + " ") for share, name in judged if share == worst[0])
    else:
        assert cadence == []


def test_the_dashboard_opens_on_the_last_complete_month_not_the_current_partial_one(portfolio, lead, analyst):
    from django.utils import timezone

    from bcrm.monitoring.forms import default_period
    from bcrm.playbooks.businesstime import add_months

    today = timezone.localdate()
    current, previous = f"{today:%Y-%m}", f"{add_months(today.replace(day=1), -1):%Y-%m}"
    for period in (previous, current):
        services.compute_snapshot(actor=lead, period=period, now=timezone.now())
    body = text(browse(analyst).get(URL))
    assert f'<option value="{previous}" selected>' in body and f'<option value="{current}">' in body
    # the current month stays one click away, and is what opens when it is the only one stored
    assert f'<option value="{current}" selected>' in text(browse(analyst).get(URL, {"period": current}))
    assert default_period([current]) == current
    assert default_period([]) is None
    assert default_period([current, previous, "2020-01"]) == previous


@pytest.mark.parametrize("estimate, says, never", [
    ({"verdict": "effect", "ci_low": 0.4, "ci_high": 2.0}, "raises the outcome at the line", "chance"),
    ({"verdict": "effect", "ci_low": -3.0, "ci_high": -0.5}, "lowers the outcome at the line", "chance"),
    ({"verdict": "no_detectable_effect", "ci_low": -1.0, "ci_high": 2.0}, "contains zero", "makes a difference"),
    ({"verdict": "too_few", "ci_low": -1.0, "ci_high": 2.0}, "Too few clients near the line", "effect"),
    # a weak first stage is not "too few clients": the sentence says what is wrong
    ({"verdict": "too_few", "ci_low": -1.0, "ci_high": 2.0, "first_stage": {"f_stat": 2.5}},
     "hardly changes who is served by the dedicated tier", "Too few"),
    # an "effect" whose interval is unknown is not presented as one
    ({"verdict": "effect", "ci_low": None, "ci_high": None}, "Too few clients near the line", "raises"),
])
def test_the_effect_verdict_matches_its_numbers(estimate, says, never):
    from bcrm.monitoring.views import effect_verdict, figure

    sentence = effect_verdict(estimate)
    assert says in sentence and never not in sentence
    if estimate["verdict"] != "too_few" and estimate["ci_low"] is not None:
        assert f"({figure(estimate['ci_low'])} to {figure(estimate['ci_high'])})" in sentence
    assert figure(223456.7) == "223,457" and figure(-0.04567) == "-0.0457"


def test_the_effect_page_shows_no_figures_it_draws_no_conclusion_from(analyst):
    from tests.test_monitoring_effect import population

    population(8, 300_000.0)
    body = text(browse(analyst).get("/dashboard/effect/", {"dimension": "value", "outcome": "commitments_after"}))
    assert 'data-verdict="too_few"' in body
    for kpi in ("effect", "interval", "p"):
        assert f'data-kpi="{kpi}">—<' in body


def test_the_effect_page_in_chinese_says_the_verdict_in_chinese(analyst):
    from tests.test_monitoring_effect import population

    population(200, 300_000.0, previous=True)
    body = text(browse(analyst, "zh-hans").get("/dashboard/effect/", {"outcome": "commitments_after"}))
    verdict = re.search(r'<h2 id="h-verdict">(.*?)</h2>', body, re.S).group(1)
    assert re.search(r"[\u4e00-\u9fff]", verdict) and "interval" not in verdict


# Who reads the dashboard: one rule, the client list's ------------------------------------------------------------

ROLE_CASES = [  # role fixture, may view, reads all teams
    ("admin", True, True), ("lead", True, True), ("analyst", True, True), ("compliance", True, True),
    ("viewer", True, True), ("rm", True, False), (None, False, False),
]


@pytest.mark.parametrize(("role", "may_view", "all_teams"), ROLE_CASES)
def test_can_view_dashboard_for_each_role(request, role, may_view, all_teams, team, other_team):
    from bcrm.accounts.permissions import organization_scope, team_scope
    from bcrm.core.errors import PermissionDenied
    from bcrm.monitoring.selectors import dashboard_teams

    user = request.getfixturevalue(role) if role else make_user("nobody")
    assert services.can_view_dashboard(user) is may_view
    # the same rule as the client list: every team exactly when the client list is not restricted
    assert (team_scope(user) is None) == all_teams
    assert (organization_scope(user) is None) == all_teams
    if not may_view:
        with pytest.raises(PermissionDenied):
            dashboard_teams(user)
        for team_id in (None, team.pk):
            with pytest.raises(PermissionDenied):
                services.require_team_figures(user, team_id)
        return
    teams, every = dashboard_teams(user)
    assert every is all_teams
    if all_teams:
        assert {t.pk for t in teams} == {team.pk, other_team.pk}
        for team_id in (None, team.pk, other_team.pk):
            services.require_team_figures(user, team_id)
    else:
        assert [t.pk for t in teams] == [team.pk]
        services.require_team_figures(user, team.pk)
        for team_id in (None, other_team.pk):
            with pytest.raises(PermissionDenied):
                services.require_team_figures(user, team_id)


def test_an_rm_without_a_snapshot_still_gets_the_explicit_check(rm, other_team, monkeypatch):
    # no period computed: the page checks the team with the service's permission function, not a KPI read
    from bcrm.monitoring import forms

    assert browse(rm).get(URL).status_code == 200
    monkeypatch.setattr(forms.DashboardFilter, "clean_team", lambda self: other_team.pk)
    assert browse(rm).get(URL).status_code == 403
