"""The segmentation engine end to end on small portfolios: features, evidence, runs, hysteresis,
overrides, idempotence, criterion versions, permissions, and the API and CLI doors."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bcrm.audit.models import AuditEntry
from bcrm.core.errors import Conflict, InvalidInput, PermissionDenied
from bcrm.engagement.models import Interaction, SurveyResponse
from bcrm.financing.models import ExchangeRate
from bcrm.segmentation import scoring, services
from bcrm.segmentation.features import compute_features, load_population
from bcrm.segmentation.models import Assignment, ClientLabels, Criterion, Override, Run
from tests.doors import api_client
from tests.factories import make_org, make_participation, make_project

TODAY = timezone.localdate()


def aware(days_ago: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days_ago)


# --- pure scoring ----------------------------------------------------------------------------------

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(arrays(np.float64, st.integers(0, 40), elements=finite), st.data())
@settings(max_examples=150, deadline=None)
def test_percentile_rank_is_in_unit_interval_and_order_preserving(values, data):
    missing = np.array(data.draw(st.lists(st.booleans(), min_size=values.size, max_size=values.size)), dtype=bool)
    ranks = scoring.percentile_rank(values, missing)
    assert np.isnan(ranks[missing]).all()
    known = ~missing
    r, v = ranks[known], values[known]
    assert ((r >= 0) & (r <= 1)).all()
    for i in range(v.size):
        for j in range(v.size):
            if v[i] < v[j]:
                assert r[i] < r[j]
            elif v[i] == v[j]:
                assert r[i] == r[j]


@given(arrays(np.float64, st.integers(1, 30), elements=st.floats(0, 1e6)), st.sampled_from(scoring.TRANSFORMS))
@settings(max_examples=100, deadline=None)
def test_lower_is_better_reverses_the_order(values, kind):
    missing = np.zeros(values.size, dtype=bool)
    up = scoring.transform(values, missing, kind, "higher")
    down = scoring.transform(values, missing, kind, "lower")
    for i in range(values.size):
        for j in range(values.size):
            if up[i] < up[j]:
                assert down[i] >= down[j]  # weakly: 1 - 1e-50 rounds to 1


@given(st.integers(1, 25), st.data())
@settings(max_examples=100, deadline=None)
def test_score_is_a_weighted_mean_over_present_features(n, data):
    a = np.array(data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    b = np.array(data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    miss_b = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    wa, wb = data.draw(st.floats(0.01, 5)), data.draw(st.floats(0.01, 5))
    result = scoring.score({"a": (a, np.zeros(n, bool)), "b": (b, miss_b)},
                           [{"feature": "a", "transform": "raw", "weight": wa},
                            {"feature": "b", "transform": "raw", "weight": wb}])
    expected = np.where(miss_b, a, (wa * a + wb * np.where(miss_b, 0, b)) / (wa + wb))
    assert np.allclose(result.score, expected)
    assert np.allclose(result.completeness, np.where(miss_b, wa / (wa + wb), 1.0))
    # contributions sum to the client's distance from the average over its features
    idx, vals = scoring.all_contributions(result, top=2)
    assert idx.shape == (n, 2)


# --- features on a small portfolio ----------------------------------------------------------------

@pytest.fixture
def book(db, team):
    """Three clients with known numbers: a big repeat investor, a small one, a brand-new one."""
    big = make_org(legal_name="Big Fund", team=team, rating_agency="sp", rating_grade="AA", rating_score=3,
                   kyc_status="verified", country="SG", relationship_since=TODAY - dt.timedelta(days=365 * 6))
    small = make_org(legal_name="Small Bank", team=team, rating_agency="sp", rating_grade="BB", rating_score=12,
                     country="VN", relationship_since=TODAY - dt.timedelta(days=365 * 2))
    new = make_org(legal_name="New Prospect", team=team, country="CN")
    p1, p2 = make_project(name="Solar A"), make_project(name="Wind B")
    make_participation(p1, big, amount=Decimal("1000000"), status="funded", fee_income=Decimal("10000"),
                       status_changed_at=aware(100))
    make_participation(p2, big, amount=Decimal("500000"), currency="EUR", status="firm_commitment",
                       status_changed_at=aware(500))
    make_participation(p1, small, role="senior_debt", amount=Decimal("200000"), status="withdrawn",
                       status_changed_at=aware(30))
    ExchangeRate.objects.create(currency="EUR", quote="USD", as_of=TODAY - dt.timedelta(days=10), rate=Decimal("1.1"))
    Interaction.objects.create(organization=big, kind="senior_meeting", occurred_at=aware(20), summary="Q review")
    Interaction.objects.create(organization=small, kind="call", occurred_at=aware(400), summary="Old call")
    SurveyResponse.objects.create(organization=big, nps=6, responded_at=aware(200))
    SurveyResponse.objects.create(organization=big, nps=9, responded_at=aware(10))
    return {"big": big, "small": small, "new": new}


def test_features_are_computed_in_bulk_with_currency_conversion(book, django_assert_max_num_queries):
    pop = load_population(TODAY)
    names = ["committed_amount", "committed_amount_12m", "fee_income", "average_ticket", "joint_deals",
             "withdrawn_share", "latest_nps", "senior_meetings_12m", "interactions_12m", "rating_score",
             "kyc_valid", "country_risk", "history_months"]
    with django_assert_max_num_queries(12):
        matrix = compute_features(names, pop)
    at = {oid: i for i, oid in enumerate(pop.ids.tolist())}
    big, small, new = at[book["big"].pk], at[book["small"].pk], at[book["new"].pk]
    assert matrix["committed_amount"].values[big] == pytest.approx(1_000_000 + 500_000 * 1.1)
    assert matrix["committed_amount_12m"].values[big] == pytest.approx(1_000_000)
    assert matrix["average_ticket"].values[big] == pytest.approx((1_000_000 + 550_000) / 2)
    assert matrix["average_ticket"].missing[new]
    assert matrix["committed_amount"].values[new] == 0 and not matrix["committed_amount"].missing[new]
    assert matrix["joint_deals"].values[big] == 2
    assert matrix["withdrawn_share"].values[small] == 1.0
    assert matrix["withdrawn_share"].missing[new]
    assert matrix["latest_nps"].values[big] == 9
    assert matrix["latest_nps"].missing[small]
    assert matrix["senior_meetings_12m"].values[big] == 1
    assert matrix["interactions_12m"].values[small] == 0
    assert matrix["rating_score"].missing[new]
    assert matrix["kyc_valid"].values[big] == 1 and matrix["kyc_valid"].values[small] == 0
    assert matrix["country_risk"].values[big] == 0 and matrix["country_risk"].values[small] == 4
    assert matrix["history_months"].values[big] > 70
    assert matrix["history_months"].missing[new]


def test_an_amount_without_an_exchange_rate_is_missing_not_zero(book):
    ExchangeRate.objects.all().delete()
    pop = load_population(TODAY)
    matrix = compute_features(["committed_amount"], pop)
    big = pop.ids.tolist().index(book["big"].pk)
    assert matrix["committed_amount"].missing[big]


# --- runs -------------------------------------------------------------------------------------------

@pytest.fixture
def portfolio(db, team):
    """40 clients with graded commitments and history, 3 without any history (thin data)."""
    project = make_project(name="Offshore Wind")
    orgs = []
    for i in range(40):
        org = make_org(legal_name=f"Investor {i:02d}", team=team, country="CN", kyc_status="verified",
                       rating_agency="internal", rating_grade=str(1 + i % 20), rating_score=1 + i % 20,
                       relationship_since=TODAY - dt.timedelta(days=400 + 30 * i))
        make_participation(project, org, amount=Decimal(10_000 * (i + 1) ** 2), status="funded",
                           fee_income=Decimal(100 * (i + 1)), status_changed_at=aware(60))
        orgs.append(org)
    thin = [make_org(legal_name=f"Unknown {i}", team=team, country="CN") for i in range(3)]
    return {"orgs": orgs, "thin": thin}


def test_dry_run_reports_everything_and_writes_nothing(portfolio, analyst):
    audit_before = AuditEntry.objects.count()
    report = services.run_segmentation(actor=analyst, dimension="value", dry_run=True)
    data = report.as_dict()
    assert data["run_id"] is None and data["dry_run"]
    assert data["counts"]["total"] == 43
    assert data["counts"]["insufficient"] == 3
    assert data["counts"]["high"] + data["counts"]["general"] == 40
    assert data["counts"]["high"] == 8  # top_share q = 0.2 of the 40 classifiable
    assert {"dimension", "method", "threshold", "counts", "diagnostics", "migrations"} <= set(data)
    assert Run.objects.count() == 0 and Assignment.objects.count() == 0 and ClientLabels.objects.count() == 0
    assert AuditEntry.objects.count() == audit_before


def test_real_run_writes_one_assignment_per_client_and_the_current_labels(portfolio, analyst):
    report = services.run_segmentation(actor=analyst, dimension="value")
    run = report.run
    assert run.assignments.count() == 43
    top = portfolio["orgs"][-1]
    a = run.assignments.get(organization=top)
    assert a.label == "high" and a.score is not None and a.margin >= 0
    assert a.explanation["c"], "top contributions are recorded"
    assert ClientLabels.objects.get(organization=top).value == "high"
    assert ClientLabels.objects.get(organization=portfolio["thin"][0]).value == "insufficient"
    thin = run.assignments.get(organization=portfolio["thin"][0])
    assert "history" in thin.explanation["m"]
    assert run.counts["high"] == 8 and run.threshold is not None
    assert run.diagnostics["portfolio_value_share_upper"] > 0.4  # the top fifth holds most of the money
    assert run.migrations == {"": {"high": 8, "general": 32, "insufficient": 3}}


def test_rerunning_on_unchanged_data_moves_nobody(portfolio, analyst):
    services.run_segmentation(actor=analyst, dimension="value")
    again = services.run_segmentation(actor=analyst, dimension="value").run
    assert set(again.migrations) == {"high", "general", "insufficient"}
    for before, targets in again.migrations.items():
        assert set(targets) == {before}
    assert again.assignments.exclude(label=models_f("previous_label")).count() == 0


def models_f(name):
    from django.db.models import F

    return F(name)


def test_hysteresis_keeps_a_client_just_below_the_line_in_its_class(portfolio, analyst, admin):
    services.criterion_create_version(actor=analyst, dimension="value", spec={
        "features": [{"feature": "committed_amount", "transform": "pct_rank", "direction": "higher", "weight": 1}],
        "method": "fixed", "params": {"threshold": 0.5}, "hysteresis_margin": 0.2, "min_history_months": 0,
        "min_completeness": 0}, note="fixed line")
    first = services.run_segmentation(actor=analyst, dimension="value").run
    assert first.threshold == 0.5
    # Raise the line a little: clients between 0.5 and 0.6 stay high (within the margin)…
    services.criterion_create_version(actor=analyst, dimension="value", spec={"params": {"threshold": 0.6}})
    second = services.run_segmentation(actor=analyst, dimension="value").run
    held = second.assignments.filter(held_by_hysteresis=True)
    assert held.exists()
    assert all(a.label == "high" and 0.4 <= a.score < 0.6 for a in held)
    assert second.counts["high"] == first.counts["high"]
    # …and without the margin they move.
    services.criterion_create_version(actor=analyst, dimension="value", spec={"hysteresis_margin": 0})
    third = services.run_segmentation(actor=analyst, dimension="value").run
    assert third.counts["high"] < first.counts["high"]


def _labels_match(run) -> None:
    """Every client of ``run`` has the run's label as its current one."""
    current = dict(ClientLabels.objects.values_list("organization_id", run.dimension))
    assert {a: current.get(a) for a, _ in run.assignments.values_list("organization_id", "label")} == dict(
        run.assignments.values_list("organization_id", "label"))


def test_a_run_sets_the_labels_it_moves_and_tells_the_listeners_exactly_those(portfolio, analyst, monkeypatch):
    """The current labels a run moves are found from its own arrays (not by reading its assignments back): the
    listeners (the tiers) and the class-change events get exactly the clients whose label moved, and every client
    ends with the run's label."""
    heard: list[list[int]] = []
    monkeypatch.setattr(services, "LABEL_LISTENERS", [lambda ids: heard.append(list(ids))])
    spec = {"features": [{"feature": "committed_amount", "transform": "pct_rank", "direction": "higher", "weight": 1}],
            "method": "fixed", "params": {"threshold": 0.5}, "hysteresis_margin": 0, "min_history_months": 0,
            "min_completeness": 0}
    services.criterion_create_version(actor=analyst, dimension="value", spec=spec, note="fixed line")
    first = services.run_segmentation(actor=analyst, dimension="value").run
    assert heard == [sorted(first.assignments.values_list("organization_id", flat=True))]  # all new
    _labels_match(first)
    services.criterion_create_version(actor=analyst, dimension="value", spec={"params": {"threshold": 0.7}})
    second = services.run_segmentation(actor=analyst, dimension="value").run
    moved = sorted(second.assignments.exclude(label=models_f("previous_label")).values_list("organization_id",
                                                                                            flat=True))
    assert 0 < len(moved) < 43 and heard[1] == moved
    _labels_match(second)
    third = services.run_segmentation(actor=analyst, dimension="value").run  # nothing moves
    assert heard[2] == [] and third.assignments.exclude(label=models_f("previous_label")).count() == 0
    _labels_match(third)


def test_a_run_that_another_run_overtook_still_leaves_its_own_labels(portfolio, analyst, monkeypatch):
    """Another run of the dimension finishing between this run's read and its write: the labels read at the
    start are stale, so the run sets every client's label from its assignments."""
    spec = {"features": [{"feature": "committed_amount", "transform": "pct_rank", "direction": "higher", "weight": 1}],
            "method": "fixed", "params": {"threshold": 0.5}, "hysteresis_margin": 0, "min_history_months": 0,
            "min_completeness": 0}
    services.criterion_create_version(actor=analyst, dimension="value", spec=spec, note="fixed line")
    services.run_segmentation(actor=analyst, dimension="value")
    classify = services.engine.classify
    overtaken: list = []

    def classify_then_another_run(*args, **kwargs):
        outcome = classify(*args, **kwargs)
        if not overtaken:
            overtaken.append(None)  # the other run classifies through here too
            overtaken[0] = services.run_segmentation(
                actor=analyst, dimension="value", method="fixed", params={"threshold": "0.8"}).run
        return outcome

    monkeypatch.setattr(services.engine, "classify", classify_then_another_run)
    run = services.run_segmentation(actor=analyst, dimension="value").run
    assert overtaken and overtaken[0].counts["high"] < run.counts["high"]
    _labels_match(run)


def test_a_sanctions_hit_is_high_risk_whatever_the_score(portfolio, analyst):
    hit = portfolio["orgs"][0]
    type(hit).objects.filter(pk=hit.pk).update(sanctions_flag=True)
    run = services.run_segmentation(actor=analyst, dimension="risk").run
    a = run.assignments.get(organization=hit)
    assert a.label == "high" and a.explanation.get("r") == 0
    from bcrm.accounts.permissions import SystemOperator
    from bcrm.segmentation.selectors import explain

    assert any("Sanctions" in line for line in explain(a, actor=SystemOperator()))  # a reader who sees sanctions


def test_overrides_win_until_they_end_and_the_run_still_reports_the_engine_label(portfolio, analyst, lead):
    services.run_segmentation(actor=analyst, dimension="value")
    low = portfolio["orgs"][0]
    override = services.override_create(actor=lead, organization=low, dimension="value", label="high",
                                        reason="Board-level mandate signed", expires_at=aware(-30))
    assert ClientLabels.objects.get(organization=low).value == "high"
    run = services.run_segmentation(actor=analyst, dimension="value").run
    a = run.assignments.get(organization=low)
    assert a.label == "high" and a.overridden and a.engine_label == "general"
    services.override_expire(actor=lead, override=override)
    assert ClientLabels.objects.get(organization=low).value == "general"
    assert AuditEntry.objects.filter(object_id=str(override.pk), action="update").exists()


def test_an_expired_override_is_swept_back_to_the_engine_label(portfolio, analyst, lead):
    services.run_segmentation(actor=analyst, dimension="value")
    low = portfolio["orgs"][0]
    override = services.override_create(actor=lead, organization=low, dimension="value", label="high",
                                        reason="Temporary", expires_at=aware(-1))
    Override.objects.filter(pk=override.pk).update(expires_at=aware(1))  # time passes
    assert services.overrides_sweep() == 1
    assert ClientLabels.objects.get(organization=low).value == "general"
    assert services.overrides_sweep() == 0  # idempotent


@pytest.mark.parametrize("bad", [
    {"label": "insufficient"}, {"label": "strategic"}, {"reason": "  "}, {"expires_at": "past"},
])
def test_bad_overrides_are_refused(portfolio, lead, bad):
    args = {"label": "high", "reason": "ok", "expires_at": aware(-10)}
    args.update(bad)
    if args["expires_at"] == "past":
        args["expires_at"] = aware(1)
    with pytest.raises(InvalidInput):
        services.override_create(actor=lead, organization=portfolio["orgs"][0], dimension="value", **args)
    assert Override.objects.count() == 0


def test_permissions(portfolio, viewer, rm, compliance, lead):
    with pytest.raises(PermissionDenied):
        services.run_segmentation(actor=viewer, dimension="value", dry_run=True)
    with pytest.raises(PermissionDenied):
        services.run_segmentation(actor=rm, dimension="value")
    with pytest.raises(PermissionDenied):
        services.criterion_create_version(actor=rm, dimension="value", spec={"params": {"q": 0.3}})
    with pytest.raises(PermissionDenied):
        services.override_create(actor=rm, organization=portfolio["orgs"][0], dimension="value", label="high",
                                 reason="x", expires_at=aware(-5))
    with pytest.raises(PermissionDenied):
        services.override_create(actor=compliance, organization=portfolio["orgs"][0], dimension="value",
                                 label="high", reason="x", expires_at=aware(-5))
    services.override_create(actor=compliance, organization=portfolio["orgs"][0], dimension="risk", label="high",
                             reason="adverse media", expires_at=aware(-5))


def test_criterion_versions(portfolio, analyst, lead):
    v1 = services.criterion_active("value")
    v2 = services.criterion_create_version(actor=analyst, dimension="value", spec={"params": {"q": 0.3}},
                                           note="wider", base_version=1)
    assert v2.version == 2 and v2.is_active and v2.params == {"q": 0.3}
    v1.refresh_from_db()
    assert not v1.is_active and v1.params == {"q": 0.2}
    with pytest.raises(Conflict):
        services.criterion_create_version(actor=lead, dimension="value", spec={"params": {"q": 0.25}}, base_version=1)
    with pytest.raises(InvalidInput) as err:
        services.criterion_create_version(actor=lead, dimension="value", spec={
            "features": [{"feature": "no_such_thing", "weight": 1}], "params": {"q": 2}})
    assert "features.0.feature" in err.value.fields and "params" in err.value.fields
    with pytest.raises(InvalidInput):
        services.criterion_create_version(actor=lead, dimension="value", spec={"params": {"q": 0.3}})  # no change
    assert Criterion.objects.filter(dimension="value").count() == 2


def test_a_run_keeps_the_criterion_version_it_used(portfolio, analyst):
    run = services.run_segmentation(actor=analyst, dimension="value").run
    services.criterion_create_version(actor=analyst, dimension="value", spec={"params": {"q": 0.5}})
    run.refresh_from_db()
    assert run.criterion.version == 1 and run.params == {"q": 0.2}


# --- doors ------------------------------------------------------------------------------------------

def test_api_runs_assignments_labels_and_compare(portfolio, analyst, rm):
    api = api_client(analyst)
    dry = api.post("/api/v1/segmentation/runs", {"dimension": "value", "dry_run": True}, content_type="application/json")
    assert dry.status_code == 200 and dry.json()["run_id"] is None
    first = api.post("/api/v1/segmentation/runs", {"dimension": "value"}, content_type="application/json")
    assert first.status_code == 201
    run_id = first.json()["run_id"]
    page = api.get(f"/api/v1/segmentation/runs/{run_id}/assignments?label=high&page_size=5").json()
    assert len(page["items"]) == 5 and all(item["label"] == "high" for item in page["items"])
    assert page["items"][0]["why"]
    second = api.post("/api/v1/segmentation/runs", {"dimension": "value", "method": "top_k", "params": {"k": 4}},
                      content_type="application/json").json()
    compare = api.get(f"/api/v1/segmentation/runs/compare?a={run_id}&b={second['run_id']}").json()
    # Of the eight high-value clients, the top four stay; the others fall to general unless the
    # default hysteresis margin (0.02) keeps them, which the run reports.
    held = second["diagnostics"]["held_by_hysteresis"]
    assert compare["matrix"][0][1] == 4 - held and compare["matrix"][0][0] == 4 + held
    assert second["counts"]["high"] == 4 + held
    labels = api.get(f"/api/v1/organizations/{portfolio['orgs'][-1].pk}/labels").json()
    assert [item["dimension"] for item in labels] == ["value", "risk", "relationship"]
    assert labels[0]["label"] == "high" and labels[0]["why"]
    bad = api.post("/api/v1/segmentation/runs", {"dimension": "value", "method": "top_k", "params": {"k": -1}},
                   content_type="application/json")
    assert bad.status_code == 422 and bad.json()["error"]["fields"]
    # an RM may not run, nor read portfolio-wide runs
    rm_api = api_client(rm)
    assert rm_api.post("/api/v1/segmentation/runs", {"dimension": "value"},
                       content_type="application/json").status_code == 403
    assert rm_api.get(f"/api/v1/segmentation/runs/{run_id}").status_code == 403


def test_api_criteria_and_overrides(portfolio, analyst, lead):
    api = api_client(analyst)
    listed = api.get("/api/v1/segmentation/criteria?dimension=risk").json()
    assert listed[0]["version"] == 1 and listed[0]["rules"][0]["feature"] == "sanctions_flag"
    created = api.post("/api/v1/segmentation/criteria", {
        "dimension": "risk", "base_version": 1, "method": "top_share", "params": {"q": 0.7}, "note": "try"},
        content_type="application/json")
    assert created.status_code == 201 and created.json()["version"] == 2
    stale = api.post("/api/v1/segmentation/criteria", {"dimension": "risk", "base_version": 1, "params": {"q": 0.6}},
                     content_type="application/json")
    assert stale.status_code == 409
    lead_api = api_client(lead)
    org = portfolio["orgs"][3]
    made = lead_api.post("/api/v1/segmentation/overrides", {
        "organization": org.pk, "dimension": "value", "label": "high", "reason": "Anchor investor",
        "expires_at": (timezone.now() + dt.timedelta(days=90)).isoformat()}, content_type="application/json")
    assert made.status_code == 201 and made.json()["active"]
    naive = lead_api.post("/api/v1/segmentation/overrides", {
        "organization": org.pk, "dimension": "value", "label": "high", "reason": "x",
        "expires_at": "2031-01-01T00:00:00"}, content_type="application/json")
    assert naive.status_code == 422
    ended = lead_api.post(f"/api/v1/segmentation/overrides/{made.json()['id']}/expire")
    assert ended.status_code == 200 and not ended.json()["active"]
    assert api.post(f"/api/v1/segmentation/overrides/{made.json()['id']}/expire").status_code in (403, 422)


def test_cli_json_and_compare(portfolio):
    out = io.StringIO()
    call_command("segment", "--dimension", "value", "--dry-run", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["run_id"] is None
    assert {"dimension", "method", "threshold", "counts", "diagnostics", "run_id", "migrations"} <= set(data)
    assert data["counts"]["insufficient"] == 3
    out = io.StringIO()
    call_command("segment", "--dimension", "value", "--method", "top_k", "--param", "k=5", "--json", stdout=out)
    first = json.loads(out.getvalue())
    assert first["counts"]["high"] == 5 and first["run_id"]
    out = io.StringIO()
    call_command("segment", "--dimension", "value", "--json", stdout=out)
    second = json.loads(out.getvalue())
    out = io.StringIO()
    call_command("segment", "compare", str(first["run_id"]), str(second["run_id"]), "--json", stdout=out)
    matrix = json.loads(out.getvalue())
    # top 5 → top fifth of 40 = 8: three general clients rise, fewer if hysteresis holds them below
    held = second["diagnostics"]["held_by_hysteresis"]
    assert matrix["matrix"][1][0] == 3 - held and second["counts"]["high"] == 8 - held
    out = io.StringIO()
    call_command("segment", stdout=out)  # all three dimensions, human-readable
    assert "value" in out.getvalue() and "relationship" in out.getvalue()


def test_cli_bad_params_are_a_clear_error(portfolio):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="k"):
        call_command("segment", "--dimension", "value", "--method", "top_k", "--param", "k=-3")
    with pytest.raises(CommandError):
        call_command("segment", "--dimension", "value", "--param", "oops")
    assert Run.objects.count() == 0


def test_scheduled_runs_are_enqueued_once_per_period(portfolio, analyst):
    services.criterion_create_version(actor=analyst, dimension="value", spec={"schedule": "daily"})
    assert services.schedules_due() == ["value"]
    assert services.schedule_tick() == ["value"]  # tasks run inline in tests: the run happens
    assert Run.objects.filter(dimension="value", trigger="schedule").count() == 1
    assert services.schedule_tick() == []
    assert services.schedules_due() == []


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_scheduled_work_from_the_database_queue(settings, team):
    """Through the real database backend: the tick enqueues a row, `bcrm worker --once` runs it."""
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    project = make_project(name="Queue test")
    for i in range(5):
        org = make_org(legal_name=f"Queued {i}", team=team, relationship_since=TODAY - dt.timedelta(days=900))
        make_participation(project, org, amount=Decimal(1000 * (i + 1)), status="funded", status_changed_at=aware(40))
    criterion = services.criterion_active("value")
    Criterion.objects.filter(pk=criterion.pk).update(schedule="weekly")
    assert services.schedule_tick() == ["value"]
    assert services.schedule_tick() == []  # claimed: a second worker ticking now enqueues nothing
    assert DBTaskResult.objects.count() == 1 and Run.objects.count() == 0
    out = io.StringIO()
    call_command("worker", "--once", "--interval", "0.1", stdout=out)
    run = Run.objects.get()
    assert run.trigger == "schedule" and run.assignments.count() == 5
    assert DBTaskResult.objects.get(task_path__endswith="scheduled_run").status == "SUCCESSFUL"
    # The same tick may also have queued the daily automation and the monthly KPI snapshot: all ran well.
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"SUCCESSFUL"}


def test_a_run_asked_for_on_a_large_portfolio_goes_to_the_queue(portfolio, analyst, settings):
    from django_tasks_db.models import DBTaskResult

    assert services.run_requested(actor=analyst, dimension="value").run is not None  # small: inline
    settings.BCRM_INLINE_RUN_LIMIT = 10
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    assert services.run_requested(actor=analyst, dimension="value") is None
    assert DBTaskResult.objects.filter(task_path__endswith="requested_run").count() == 1
    assert Run.objects.count() == 1


def test_batch_explanations_are_the_same_json_as_one_by_one(portfolio, analyst, lead):
    """The fast writer's JSON equals ``explanation(i)`` for every client: classified, insufficient,
    ruled (sanctions) and held by hysteresis alike."""
    type(portfolio["orgs"][0]).objects.filter(pk=portfolio["orgs"][0].pk).update(sanctions_flag=True)
    for dimension in ("value", "risk"):
        report = services.run_segmentation(actor=analyst, dimension=dimension, dry_run=True)
        o = report.outcome
        n = o.population.size
        batch = o.explanations_json(0, n)
        assert [json.loads(text) for text in batch] == [o.explanation(i) for i in range(n)]
        assert o.explanations_json(5, 9) == batch[5:9]


def test_previews_reuse_recent_features_and_a_real_run_refreshes_them(portfolio, analyst, settings, tmp_path):
    settings.BCRM_FEATURE_CACHE_SECONDS = 600
    settings.DATA_DIR = tmp_path
    first = services.run_segmentation(actor=analyst, dimension="value", dry_run=True).outcome
    assert first.diagnostics["features_cached_seconds_ago"] is None  # computed, then cached
    again = services.run_segmentation(actor=analyst, dimension="value", dry_run=True).outcome
    assert again.diagnostics["features_cached_seconds_ago"] is not None
    assert np.array_equal(again.score, first.score, equal_nan=True)
    # new evidence: a preview within the cache window still shows the old numbers (documented) …
    top = portfolio["orgs"][0]
    make_participation(make_project(name="Second"), top, amount=Decimal("99000000"), status="funded",
                       status_changed_at=aware(5))
    stale = services.run_segmentation(actor=analyst, dimension="value", dry_run=True).outcome
    assert stale.counts == first.counts
    # … a real run recomputes and refreshes the cache for the previews after it
    real = services.run_segmentation(actor=analyst, dimension="value").run
    assert real.assignments.get(organization=top).label == "high"
    fresh = services.run_segmentation(actor=analyst, dimension="value", dry_run=True).outcome
    at = fresh.population.ids.tolist().index(top.pk)
    assert fresh.label[at] == "high"
    settings.BCRM_FEATURE_CACHE_SECONDS = 0
    assert services.run_segmentation(actor=analyst, dimension="value",
                                     dry_run=True).outcome.diagnostics["features_cached_seconds_ago"] is None


def test_a_client_with_neither_rating_nor_history_is_not_silently_given_a_risk_class(portfolio, analyst, team):
    """The expert score always has points (it scores missing evidence too), so the default risk
    criterion's completeness rule must still send a client known only by its country to the work queue."""
    bare = make_org(legal_name="Only A Country", team=team, country="SG")
    run = services.run_segmentation(actor=analyst, dimension="risk").run
    a = run.assignments.get(organization=bare)
    assert a.label == "insufficient" and "completeness" in a.explanation["m"]


# --- the last run's labels as arrays (issue 19: a dict of a million clients held ~130 MB) ----------------------

@settings(max_examples=200, deadline=None)
@given(mapping=st.dictionaries(st.integers(1, 60), st.sampled_from(["high_value", "general", "insufficient", ""]),
                                max_size=40),
       population=st.sets(st.integers(1, 60), max_size=40))
def test_a_label_map_places_labels_as_the_dict_did(mapping, population):
    from bcrm.segmentation.classify import LabelMap, _positions

    ids = np.array(sorted(population), dtype=np.int64)
    from_dict = _positions(mapping, ids)
    from_map = _positions(LabelMap.of(mapping), ids)
    # Keys in any order, as the database hands them over: the same positions and labels.
    shuffled = dict(sorted(mapping.items(), reverse=True))
    from_shuffled = _positions(LabelMap.of(shuffled), ids)
    expected = sorted((int(np.searchsorted(ids, k)), v) for k, v in mapping.items() if k in population)
    for positions, labels in (from_dict, from_map, from_shuffled):
        assert sorted(zip(positions.tolist(), labels.tolist(), strict=True)) == expected
