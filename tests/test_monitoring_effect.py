"""The effect estimate on simulated portfolios: a known jump at the value line is recovered (its interval
covers it), no jump gives no detected effect, a tiny portfolio gives "too_few", and bad input is refused."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.utils import timezone

from bcrm.core.errors import InvalidInput, PermissionDenied
from bcrm.financing.models import Participation
from bcrm.monitoring import services
from bcrm.parties.models import Organization
from bcrm.playbooks.models import ClientTier
from bcrm.segmentation.models import Assignment, Criterion, Run
from tests.factories import make_project
from tests.test_monitoring_snapshot import local

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2026, 3, 31)
NOW = local(2026, 6, 30)
JUMP = 300_000.0


def make_run(dimension: str, as_of: dt.date, threshold: float, started: dt.datetime) -> Run:
    criterion = Criterion.objects.filter(dimension=dimension).first() or Criterion.objects.create(
        dimension=dimension, version=1, features=[], method="fixed", params={"threshold": threshold})
    return Run.objects.create(criterion=criterion, dimension=dimension, as_of=as_of, method="fixed",
                              threshold=threshold, started_at=started, finished_at=started, duration_ms=1)


def population(n: int, jump: float, seed: int = 7, previous: bool = False, scores: np.ndarray | None = None) -> dict:
    """n clients with scores uniform on [-1, 1], the line at 0; clients at or above it get the dedicated tier
    and commit 1,000,000 + 500,000·score + jump (+ noise) after the run."""
    rng = np.random.default_rng(seed)
    orgs = Organization.objects.bulk_create(
        [Organization(legal_name=f"Sim {seed}-{i}", kind="fund", country="CN") for i in range(n)])
    scores = rng.uniform(-1, 1, n) if scores is None else scores
    above = scores >= 0
    run = make_run("value", AS_OF, 0.0, local(2026, 4, 1))
    Assignment.objects.bulk_create([
        Assignment(run=run, organization=o, score=float(s), label="high" if a else "general",
                   engine_label="high" if a else "general", completeness=1.0)
        for o, s, a in zip(orgs, scores, above, strict=True)])
    ClientTier.objects.bulk_create([
        ClientTier(organization=o, tier="dedicated" if a else "standard", policy_version=1, since=local(2026, 4, 1))
        for o, a in zip(orgs, above, strict=True)])
    project = make_project()
    amounts = 1_000_000 + 500_000 * scores + jump * above + rng.normal(0, 100_000, n)
    when = timezone.make_aware(dt.datetime(2026, 5, 10, 12), timezone.get_default_timezone())
    Participation.objects.bulk_create([
        Participation(project=project, organization=o, role="equity", amount=Decimal(f"{a:.2f}"), currency="USD",
                      status="firm_commitment", status_changed_at=when)
        for o, a in zip(orgs, amounts, strict=True)])
    if previous:  # an earlier run in which the clients just above the line were still general
        earlier = make_run("value", dt.date(2025, 12, 31), 0.2, local(2026, 1, 1))
        Assignment.objects.bulk_create([
            Assignment(run=earlier, organization=o, score=float(s), label="high" if s >= 0.2 else "general",
                       engine_label="high" if s >= 0.2 else "general", completeness=1.0)
            for o, s in zip(orgs, scores, strict=True)])
    return {"orgs": orgs, "scores": scores, "run": run}


def test_a_known_jump_is_recovered(analyst):
    population(400, JUMP)
    result = services.effect_estimate(actor=analyst, dimension="value", outcome="commitments_after", now=NOW)
    est = result["estimate"]
    assert est["verdict"] == "effect" and est["design"] == "fuzzy"
    assert est["ci_low"] < JUMP < est["ci_high"]
    assert est["ci_high"] - est["ci_low"] < JUMP  # an informative interval, not just a wide one
    assert result["run"]["threshold"] == 0.0 and result["bins"]
    assert any("dedicated tier" in note for note in est["notes"])


def test_no_jump_is_not_reported_as_an_effect(analyst):
    population(400, 0.0, seed=11)
    est = services.effect_estimate(actor=analyst, outcome="commitments_after", now=NOW)["estimate"]
    assert est["verdict"] == "no_detectable_effect"
    assert est["ci_low"] < 0 < est["ci_high"]


def test_a_tiny_portfolio_is_too_few_not_an_error(analyst):
    population(8, JUMP)
    result = services.effect_estimate(actor=analyst, outcome="commitments_after", now=NOW)
    assert result["estimate"]["verdict"] == "too_few"
    assert result["estimate"]["notes"]


def test_no_answers_after_the_run_is_too_few(analyst):
    population(30, JUMP)
    est = services.effect_estimate(actor=analyst, outcome="nps", now=NOW)["estimate"]
    assert est["verdict"] == "too_few" and est["n_no_outcome"] == 30


def test_before_after_for_clients_who_moved_up(analyst):
    data = population(200, JUMP, previous=True)
    result = services.effect_estimate(actor=analyst, outcome="commitments_after", now=NOW)
    pairs = result["before_after"]
    moved = int(((data["scores"] >= 0) & (data["scores"] < 0.2)).sum())
    assert pairs["migrated"] == moved and pairs["n"] == moved
    assert pairs["mean_before"] == 0.0 and pairs["mean_after"] > 1_000_000   # nothing committed before the run
    assert pairs["verdict"] == "effect"
    assert result["previous_run"]["as_of"] == "2025-12-31"


@pytest.mark.parametrize("kwargs, field", [
    ({"dimension": "size"}, "dimension"),
    ({"outcome": "happiness"}, "outcome"),
    ({"dimension": ""}, "dimension"),
])
def test_unknown_dimension_or_outcome_is_invalid(analyst, kwargs, field):
    with pytest.raises(InvalidInput) as caught:
        services.effect_estimate(actor=analyst, **kwargs)
    assert field in caught.value.fields


def test_only_portfolio_roles_estimate(rm):
    with pytest.raises(PermissionDenied):
        services.effect_estimate(actor=rm)


def test_a_run_as_of_today_has_nothing_after_it_yet(analyst):
    population(50, JUMP)
    est = services.effect_estimate(actor=analyst, outcome="commitments_after", now=local(2026, 3, 31, 18))["estimate"]
    assert est["verdict"] == "too_few"
    assert any("cannot be measured yet" in note for note in est["notes"])


def test_a_run_as_of_today_does_not_hide_the_run_outcomes_can_follow(analyst):
    data = population(300, JUMP)
    today = make_run("value", NOW.date(), 0.0, NOW)  # a fresh run: nothing can have happened after it
    result = services.effect_estimate(actor=analyst, outcome="commitments_after", now=NOW)
    assert result["run"]["id"] == data["run"].pk and result["estimate"]["verdict"] == "effect"
    fresh = services.effect_estimate(actor=analyst, outcome="commitments_after", now=NOW, run=today.pk)
    assert fresh["run"]["id"] == today.pk and fresh["estimate"]["verdict"] == "too_few"
    assert result["previous_run"] is None and fresh["previous_run"]["id"] == data["run"].pk


def test_a_run_must_be_a_finished_run_of_the_dimension(analyst):
    data = population(20, JUMP)
    risk = make_run("risk", AS_OF, 0.5, local(2026, 4, 1))
    for bad in (risk.pk, 999_999, "x"):
        with pytest.raises(InvalidInput) as caught:
            services.effect_estimate(actor=analyst, outcome="nps", now=NOW, run=bad)
        assert "run" in caught.value.fields
    assert services.effect_estimate(actor=analyst, outcome="nps", now=NOW, run=data["run"].pk)["run"]


def test_the_page_says_when_a_run_is_of_another_dimension(analyst, client):
    population(20, JUMP)
    risk = make_run("risk", AS_OF, 0.5, local(2026, 4, 1))
    client.force_login(analyst)
    page = client.get(f"/dashboard/effect/?dimension=value&outcome=nps&run={risk.pk}")
    assert page.status_code == 422 and b"effect-error" in page.content and b'name="run"' in page.content


# --------------------------------------------------------------------------------------------------
# Manipulation at the line (issue 18, item 9)


def nudged_scores(n: int, seed: int = 3) -> np.ndarray:
    """Uniform scores on [-1, 1], but half the clients just below the line pushed just over it."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(-1, 1, n)
    near = (scores > -0.15) & (scores < 0) & (rng.random(n) < 0.6)
    scores[near] = rng.uniform(0, 0.03, int(near.sum()))
    return scores


def test_bunching_at_the_line_is_flagged_on_the_estimate(analyst):
    population(1500, JUMP, scores=nudged_scores(1500))
    result = services.effect_estimate(actor=analyst, outcome="commitments_after", now=NOW)
    check = result["manipulation"]
    assert check["available"] and check["rejects"] and check["log_difference"] > 0
    assert check["warning"] in result["estimate"]["notes"][0] and "nudged over the line" in check["warning"]
    assert len(check["placebos"]) == 2 and check["bins"]["midpoints"]


def test_no_bunching_no_warning(analyst):
    population(1500, JUMP, seed=21)
    check = services.effect_estimate(actor=analyst, outcome="commitments_after", now=NOW)["manipulation"]
    assert check["available"] and not check["rejects"] and "warning" not in check


def test_too_few_clients_for_the_density_test_says_why(analyst):
    population(12, JUMP)
    check = services.effect_estimate(actor=analyst, outcome="commitments_after", now=NOW)["manipulation"]
    assert not check["available"] and "Too few scores" in check["reason"]


def test_the_page_and_the_management_report_warn_in_both_languages(analyst, client, admin):
    from bcrm.monitoring import report as management

    population(1500, JUMP, scores=nudged_scores(1500))
    client.force_login(analyst)
    html = client.get("/dashboard/effect/?dimension=value&outcome=commitments_after").content.decode()
    assert 'id="manipulation-warning"' in html and "nudged over the line" in html and 'id="chart-density"' in html
    html = client.get("/dashboard/effect/?dimension=value&outcome=commitments_after",
                      HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'id="manipulation-warning"' in html and "分界线" in html and "nudged over the line" not in html
    services.compute_snapshot(actor=admin, period="2026-06", now=NOW)
    for language, words in (("en", "nudged over the line"), ("zh-hans", "分界线")):
        built = management.build(admin, "2026-06", language)
        assert built.manipulation and built.manipulation[0]["dimension"] == "value"
        assert words in management.render_html(built)
