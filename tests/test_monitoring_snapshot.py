"""The KPI snapshot: every figure against a hand-computed value on a small portfolio (two teams, two tiers,
three currencies, a few tasks, requests, interactions and survey answers), recompute, the stored-rows-only
selector, permissions."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bcrm.core.errors import InvalidInput, PermissionDenied
from bcrm.engagement.models import Interaction, ServiceRequest, SurveyResponse, Task
from bcrm.financing.models import ExchangeRate
from bcrm.monitoring import selectors, services
from bcrm.monitoring.models import KpiCurve, KpiSnapshot, SnapshotRun
from bcrm.playbooks.models import ClientTier
from bcrm.segmentation.models import ClientLabels
from tests.factories import make_org, make_participation, make_project

pytestmark = pytest.mark.django_db
PERIOD = "2026-04"
_keys = itertools.count(1)


def local(y, m, d, h=12, mi=0) -> dt.datetime:
    return timezone.make_aware(dt.datetime(y, m, d, h, mi), timezone.get_default_timezone())


NOW = local(2026, 5, 2, 10)


def client(team, value, risk, relationship, tier):
    org = make_org(team=team)
    if value or risk or relationship:
        ClientLabels.objects.create(organization=org, value=value, risk=risk, relationship=relationship)
    if tier:
        ClientTier.objects.create(organization=org, tier=tier, policy_version=1, since=local(2026, 1, 1))
    return org


def task(org, due, done=None, status=None, source="playbook"):
    return Task.objects.create(
        title="Quarterly review", organization=org, due_at=due, completed_at=done,
        status=status or ("done" if done else "open"), source=source,
        source_key=None if source == "manual" else f"test:{next(_keys)}")


def request(org, opened, response_due=None, responded=None, resolution_due=None, resolved=None):
    return ServiceRequest.objects.create(organization=org, subject="Term sheet question", opened_at=opened,
                                         response_due_at=response_due, first_response_at=responded,
                                         resolution_due_at=resolution_due, resolved_at=resolved)


def talk(org, when, minutes):
    return Interaction.objects.create(organization=org, kind="call", occurred_at=when, minutes_spent=minutes,
                                      summary="Call")


def answer(org, when, nps=None, csat=None):
    return SurveyResponse.objects.create(organization=org, responded_at=when, nps=nps, csat=csat)


@pytest.fixture
def portfolio(team, other_team):
    """o1, o2 in team A; o3, o4 in team B; o5 without team, labels or tier. See the module's tests for the
    hand-computed figures."""
    o1 = client(team, "high", "low", "strategic", "dedicated")
    o2 = client(team, "general", "high", "ordinary", "standard")
    o3 = client(other_team, "high", "insufficient", "ordinary", "dedicated")
    o4 = client(other_team, "insufficient", "low", "ordinary", "standard")
    o5 = make_org()
    ExchangeRate.objects.create(currency="EUR", quote="USD", as_of=dt.date(2026, 3, 31), rate=Decimal("1.10"))
    ExchangeRate.objects.create(currency="EUR", quote="USD", as_of=dt.date(2026, 5, 15), rate=Decimal("1.20"))
    p1, p2, p3 = make_project(), make_project(), make_project()
    make_participation(p1, o1, amount=Decimal("1000000"), currency="USD", status="funded",
                       status_changed_at=local(2026, 2, 10), fee_income=Decimal("10000"))
    make_participation(p2, o1, amount=Decimal("500000"), currency="EUR", status="firm_commitment",
                       status_changed_at=local(2026, 4, 10), fee_income=Decimal("5000"))
    make_participation(p3, o1, amount=Decimal("200000"), currency="USD", status="term_sheet",
                       status_changed_at=local(2026, 4, 5))
    make_participation(p1, o2, amount=Decimal("250000"), currency="USD", status="allocated",
                       status_changed_at=local(2026, 3, 1), fee_income=Decimal("2500"))
    make_participation(p2, o2, amount=Decimal("100000"), currency="EUR", status="firm_commitment",
                       status_changed_at=local(2026, 5, 3))  # after the period: left out
    make_participation(p1, o3, amount=Decimal("300000.50"), currency="EUR", status="funded",
                       status_changed_at=local(2026, 1, 20))
    make_participation(p1, o4, amount=Decimal("400000"), currency="GBP", status="firm_commitment",
                       status_changed_at=local(2026, 4, 1))  # no GBP rate: unconverted
    make_participation(p2, o4, amount=Decimal("50000"), currency="USD", status="declined",
                       status_changed_at=local(2026, 4, 2))
    # cadence: due dates and done dates are local calendar dates
    task(o1, local(2026, 4, 10, 9), local(2026, 4, 10, 18))        # on time: done later the same day
    task(o1, local(2026, 4, 12, 9), local(2026, 4, 14, 9))         # late
    task(o1, local(2026, 4, 20, 9))                                 # missed
    task(o1, local(2026, 4, 21, 9), source="manual")                # not a playbook task
    task(o2, local(2026, 4, 30, 23, 30), local(2026, 5, 1, 0, 30))  # late: the next local day (same UTC day)
    task(o2, local(2026, 4, 5, 9), status="cancelled")              # not judged
    task(o3, local(2026, 4, 1, 0, 30), local(2026, 4, 1, 8))        # on time; due on 31 March in UTC
    task(o3, local(2026, 3, 31, 23), local(2026, 3, 31, 23, 30))    # due in March
    # SLA
    request(o1, local(2026, 4, 3), local(2026, 4, 4), local(2026, 4, 3, 15), local(2026, 4, 10), local(2026, 4, 12))
    request(o2, local(2026, 4, 20), local(2026, 4, 21), None, local(2026, 4, 30), None)
    request(o3, local(2026, 4, 25), local(2026, 4, 26), local(2026, 4, 26), local(2026, 5, 20), None)
    request(o4, local(2026, 4, 28))
    request(o1, local(2026, 3, 30), local(2026, 3, 31), None)  # opened in March
    # hours
    talk(o1, local(2026, 4, 2), 90)
    talk(o1, local(2026, 4, 30, 22), 30)
    talk(o2, local(2026, 4, 15), 60)
    talk(o3, local(2026, 4, 1, 0, 10), 120)
    talk(o1, local(2026, 5, 1, 0, 10), 600)  # May in local time
    # satisfaction
    answer(o1, local(2026, 4, 8), nps=10, csat=5)
    answer(o1, local(2026, 4, 18), nps=9, csat=4)
    answer(o2, local(2026, 4, 9), nps=6, csat=2)
    answer(o3, local(2026, 4, 11), nps=8)
    answer(o4, local(2026, 4, 12), csat=3)
    answer(o4, local(2026, 5, 12), nps=0, csat=1)  # May
    return {"o1": o1, "o2": o2, "o3": o3, "o4": o4, "o5": o5}


def figures(breakdown, segment, team=None, period=PERIOD):
    return KpiSnapshot.objects.get(period=period, breakdown=breakdown, segment=segment, team=team).figures


@pytest.fixture
def computed(portfolio, lead):
    run = services.compute_snapshot(actor=lead, period=PERIOD, now=NOW)
    return run


# Each KPI against a hand-computed value --------------------------------------------------------------------------


def test_client_counts_and_segments(computed, team, other_team):
    assert computed.status == "done" and computed.rows == KpiSnapshot.objects.filter(period=PERIOD).count()
    assert figures("tier", "all")["clients"] == 5
    assert figures("tier", "dedicated")["clients"] == 2
    assert figures("tier", "unclassified")["clients"] == 1
    assert figures("tier", "all", team)["clients"] == 2
    assert figures("value", "high", other_team)["clients"] == 1
    assert figures("value", "general", other_team)["clients"] == 0  # a row with 0, not a missing row
    assert not KpiSnapshot.objects.filter(period=PERIOD, segment="unclassified", team__isnull=False).exists()


def test_commitments_fee_income_and_shares_in_the_reporting_currency(computed, team):
    total = figures("tier", "all")
    assert total["currency"] == "USD"
    assert total["committed"] == "2130000.55"          # 1,000,000 + 500,000 EUR × 1.10 + 250,000 + 300,000.50 × 1.10
    assert total["fee_income"] == "18000.00"           # 10,000 + 5,000 × 1.10 + 2,500
    assert total["committed_in_period"] == "550000.00"
    assert total["commitments"] == 4
    assert total["unconverted"] == 1 and total["unconverted_currencies"] == ["GBP"]
    dedicated = figures("tier", "dedicated")
    assert dedicated["committed"] == "1880000.55"
    assert dedicated["committed_share"] == pytest.approx(1880000.55 / 2130000.55)
    assert dedicated["fee_income_share"] == pytest.approx(15500 / 18000)
    assert figures("tier", "dedicated", team)["committed_share"] == pytest.approx(1550000 / 1800000)
    assert total["committed_share"] == pytest.approx(1.0)


def test_pipeline_by_status(computed):
    pipeline = figures("tier", "all")["pipeline"]
    assert pipeline["funded"] == {"amount": "1330000.55", "count": 2}
    assert pipeline["firm_commitment"] == {"amount": "550000.00", "count": 1}
    assert pipeline["allocated"] == {"amount": "250000.00", "count": 1}
    assert pipeline["term_sheet"] == {"amount": "200000.00", "count": 1}
    assert pipeline["declined"] == {"amount": "50000.00", "count": 1}
    assert pipeline["prospect"] == {"amount": "0.00", "count": 0}


def test_cadence_adherence_on_local_dates(computed, team, other_team):
    total = figures("tier", "all")["cadence"]
    assert (total["on_time"], total["late"], total["missed"], total["pending"]) == (2, 2, 1, 0)
    assert total["share"] == pytest.approx(0.4) and total["judged"] == 5 and total["grace_days"] == 0
    assert figures("tier", "all", team)["cadence"]["share"] == pytest.approx(0.25)
    assert figures("tier", "all", other_team)["cadence"]["share"] == pytest.approx(1.0)
    assert figures("tier", "dedicated")["cadence"]["share"] == pytest.approx(0.5)
    assert figures("tier", "standard")["cadence"]["share"] == 0.0
    assert 0 <= total["ci_low"] < 0.4 < total["ci_high"] <= 1


def test_cadence_leaves_undone_contacts_not_yet_due_pending(portfolio, lead):
    task(portfolio["o2"], local(2026, 4, 30, 9))
    services.compute_snapshot(actor=lead, period=PERIOD, now=local(2026, 4, 30, 12))
    total = figures("tier", "all")["cadence"]
    assert total["pending"] == 1                      # due today, not done: its window has not ended
    assert total["missed"] == 1                       # due on the 20th, not done


def test_sla_compliance(computed, team):
    total = figures("tier", "all")
    assert total["requests"] == 4
    assert total["sla_response"] == {**total["sla_response"], "met": 2, "breached": 1, "pending": 0, "no_sla": 1,
                                     "judged": 3}
    assert total["sla_response"]["share"] == pytest.approx(2 / 3)
    assert total["sla_resolution"] == {**total["sla_resolution"], "met": 0, "breached": 2, "pending": 1,
                                       "no_sla": 1, "judged": 2, "share": 0.0}
    assert figures("tier", "all", team)["sla_response"]["share"] == pytest.approx(0.5)


def test_hours_and_cost_to_serve(computed):
    total = figures("tier", "all")
    assert total["minutes"] == 300 and total["hours"] == 5.0 and total["interactions"] == 4
    assert figures("tier", "dedicated")["hours"] == 4.0
    assert figures("tier", "dedicated")["hours_per_million"] == pytest.approx(4 / 1880000.55 * 1e6, abs=1e-4)
    assert figures("tier", "standard")["hours_per_million"] == pytest.approx(4.0)
    assert figures("tier", "unclassified")["hours_per_million"] is None  # no commitments: no ratio


def test_nps_and_csat(computed):
    total = figures("tier", "all")
    assert total["nps"]["nps"] == pytest.approx(25.0)
    assert (total["nps"]["promoters"], total["nps"]["passives"], total["nps"]["detractors"]) == (2, 1, 1)
    assert total["nps"]["ci_low"] < 25 < total["nps"]["ci_high"]
    assert figures("tier", "dedicated")["nps"]["nps"] == pytest.approx(200 / 3)
    assert total["csat"]["mean"] == pytest.approx(3.5) and total["csat"]["n"] == 4
    assert total["csat"]["satisfied"] == 2 and total["csat"]["share_satisfied"] == pytest.approx(0.5)
    assert total["csat"]["ci_low"] < 3.5 < total["csat"]["ci_high"]
    assert figures("tier", "unclassified")["nps"]["nps"] is None  # no answers: no figure, not 0


def test_repeat_participation_and_insufficient_queue(computed, other_team):
    total = figures("value", "all")
    assert total["repeat"]["repeat_clients"] == 1 and total["repeat"]["committed_clients"] == 4
    assert total["repeat"]["share"] == pytest.approx(0.25)
    assert total["insufficient"] == 1
    assert figures("value", "insufficient")["clients"] == 1
    assert figures("risk", "all", other_team)["insufficient"] == 1
    assert figures("tier", "all")["insufficient"] is None


def test_lorenz_curve_stored_once(computed, portfolio):
    from bcrm.stats import kpistats

    curve = KpiCurve.objects.get(period=PERIOD)
    assert len(curve.points["x"]) == 101 and curve.points["clients"] == 5
    assert curve.points["gini"] == pytest.approx(kpistats.gini([1550000, 250000, 330000.55, 0, 0]))
    assert curve.points["y"][0] == 0 and curve.points["y"][-1] == pytest.approx(1.0)


# Recompute, failure, the selector -------------------------------------------------------------------------------


def test_recompute_replaces_the_period(computed, portfolio, lead):
    talk(portfolio["o2"], local(2026, 4, 16), 120)
    before = KpiSnapshot.objects.filter(period=PERIOD).count()
    services.compute_snapshot(actor=lead, period=PERIOD, now=NOW)
    assert KpiSnapshot.objects.filter(period=PERIOD).count() == before
    assert figures("tier", "all")["hours"] == 7.0
    assert SnapshotRun.objects.filter(period=PERIOD, status="done").count() == 2


def test_a_failure_leaves_the_old_rows(computed, portfolio, lead, monkeypatch):
    from bcrm.monitoring import snapshot

    talk(portfolio["o2"], local(2026, 4, 16), 120)
    real = snapshot._figures
    calls = itertools.count()

    def broken(*args, **kwargs):
        if next(calls) == 5:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(snapshot, "_figures", broken)
    with pytest.raises(RuntimeError):
        services.compute_snapshot(actor=lead, period=PERIOD, now=NOW)
    assert figures("tier", "all")["hours"] == 5.0  # the old figures
    failed = SnapshotRun.objects.get(status="failed")
    assert failed.errors[0]["message"] == "disk full"


def test_the_selector_reads_stored_rows_only(computed, portfolio, analyst, lead):
    selectors.kpis(analyst, PERIOD, "value")  # the analyst's roles, read once per user
    with CaptureQueriesContext(connection) as small:
        data = selectors.kpis(analyst, PERIOD, "tier")
    assert [r["segment"] for r in data["rows"]] == ["dedicated", "standard", "unclassified", "all"]
    assert data["rows"][0]["segment_name"] == "Dedicated service"
    for _ in range(5):  # more history changes nothing read
        talk(portfolio["o1"], local(2026, 4, 3), 30)
        answer(portfolio["o2"], local(2026, 4, 3), nps=3)
    with CaptureQueriesContext(connection) as large:
        again = selectors.kpis(analyst, PERIOD, "tier")
    assert len(large) == len(small) == 1
    assert again["rows"] == data["rows"]  # not recomputed on a read


def test_a_period_without_a_snapshot_reads_empty(analyst):
    data = selectors.kpis(analyst, "2025-01", "value")
    assert data["rows"] == [] and data["computed_at"] is None


# Permissions ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "rm", "compliance"])
def test_only_lead_analyst_admin_compute(request, role, portfolio):
    with pytest.raises(PermissionDenied):
        services.compute_snapshot(actor=request.getfixturevalue(role), period=PERIOD, now=NOW)
    assert not KpiSnapshot.objects.exists()


def test_the_system_and_an_analyst_compute(portfolio, analyst):
    assert services.compute_snapshot(actor=None, period=PERIOD, now=NOW).status == "done"
    assert services.compute_snapshot(actor=analyst, period=PERIOD, now=NOW).created_by == analyst


def test_an_rm_reads_their_own_teams_only(computed, rm, team, other_team):
    assert selectors.kpis(rm, PERIOD, "tier", team.pk)["rows"]
    with pytest.raises(PermissionDenied):
        selectors.kpis(rm, PERIOD, "tier", other_team.pk)
    with pytest.raises(PermissionDenied):
        selectors.kpis(rm, PERIOD, "tier")  # all teams add up clients they may not see


def test_a_viewer_reads_every_team(computed, viewer, other_team):
    assert selectors.kpis(viewer, PERIOD, "risk", other_team.pk)["rows"]


# Bad input ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("period", ["2026-13", "2026-4", "April", "", None, "1899-12"])
def test_a_bad_period_is_refused(lead, period):
    with pytest.raises(InvalidInput) as caught:
        services.compute_snapshot(actor=lead, period=period)
    assert "period" in caught.value.fields
    with pytest.raises(InvalidInput):
        selectors.kpis(lead, period, "tier")


def test_a_future_period_is_refused(lead):
    with pytest.raises(InvalidInput):
        services.compute_snapshot(actor=lead, period="2026-06", now=NOW)


@pytest.mark.parametrize("breakdown", ["size", "", "TIER"])
def test_an_unknown_breakdown_is_refused(lead, breakdown):
    with pytest.raises(InvalidInput) as caught:
        selectors.kpis(lead, PERIOD, breakdown)
    assert "breakdown" in caught.value.fields


def test_an_unknown_team_is_refused(lead):
    with pytest.raises(InvalidInput):
        selectors.kpis(lead, PERIOD, "tier", 999999)
    with pytest.raises(InvalidInput):
        selectors.kpis(lead, PERIOD, "tier", "desk")


def test_computing_costs_the_same_queries_whatever_the_portfolio_size(computed, lead, team):
    with CaptureQueriesContext(connection) as small:
        services.compute_snapshot(actor=lead, period=PERIOD, now=NOW)
    for _ in range(4):  # more clients, commitments, tasks, requests, answers
        org = client(team, "general", "low", "ordinary", "standard")
        make_participation(make_project(), org, status="funded", status_changed_at=local(2026, 4, 3))
        task(org, local(2026, 4, 7), local(2026, 4, 7))
        request(org, local(2026, 4, 8), local(2026, 4, 9), local(2026, 4, 8, 15))
        talk(org, local(2026, 4, 9), 45)
        answer(org, local(2026, 4, 10), nps=7, csat=4)
    with CaptureQueriesContext(connection) as large:
        services.compute_snapshot(actor=lead, period=PERIOD, now=NOW)
    assert len(large) == len(small)
    assert figures("tier", "all")["clients"] == 9


def test_segment_names_follow_the_language(computed, analyst):
    from django.utils import translation

    with translation.override("zh-hans"):
        names = {r["segment"]: r["segment_name"] for r in selectors.kpis(analyst, PERIOD, "tier")["rows"]}
    assert names["dedicated"] == "专属服务"
    assert names["all"] != "All clients"
