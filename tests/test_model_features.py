"""The value, risk and relationship models as registry features: who gets a value, who is missing,
what a failed fit does, which way the scores point, and that each family reads in bulk."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.utils import timezone

from bcrm.engagement.models import Interaction
from bcrm.financing.models import ExchangeRate, Participation
from bcrm.segmentation import features, model_features
from bcrm.segmentation.criteria import DEFAULTS
from bcrm.segmentation.features import FEATURES, Population, compute_features, load_population
from bcrm.segmentation.model_selectors import client_model_figures
from tests.factories import make_contact, make_org, make_participation, make_project

TODAY = timezone.localdate()
MODEL_FEATURES = ["predicted_clv", "expected_deals_12m", "p_alive", "expert_risk_score", "relationship_strength"]


def aware(days_ago: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days_ago)


@pytest.fixture
def history(db, team):
    """50 clients whose commitments follow the BG/NBD story (a seeded draw): each commits at its own rate
    from a first deal 12–36 months ago until it drops out, in deals of its own typical size; plus 5
    clients without any commitment (one only a prospect-stage soft interest)."""
    rng = np.random.default_rng(1)
    project = make_project(name="Programme")
    committed = []
    for i in range(50):
        org = make_org(legal_name=f"Repeat {i:02d}", team=team)
        start = int(rng.integers(12, 37))
        rate, drop = rng.gamma(2.0, 1 / 6.0), rng.beta(2, 6)
        scale = float(rng.lognormal(0.0, 0.8)) * 1_000_000
        months, t = [start], float(start)
        while True:
            t -= rng.exponential(1 / rate)
            if t <= 0.5:
                break
            if int(round(t)) not in months:
                months.append(int(round(t)))
            if rng.random() < drop:
                break
        for j, month in enumerate(months):
            amount = round(scale * float(rng.gamma(4.0)) / 4.0)
            make_participation(project, org, tranche=f"T{j}", status="funded",
                               currency="EUR" if j % 3 == 0 else "USD", amount=Decimal(amount),
                               status_changed_at=aware(int(month * 30.4)))
        committed.append(org)
    ExchangeRate.objects.create(currency="EUR", quote="USD", as_of=TODAY - dt.timedelta(days=1200), rate=Decimal("1.1"))
    idle = [make_org(legal_name=f"Idle {i}", team=team) for i in range(5)]
    make_participation(project, idle[0], status="soft_interest", status_changed_at=aware(40))
    return {"committed": committed, "idle": idle}


def test_the_model_features_are_registered_and_feed_the_default_criteria():
    for name in MODEL_FEATURES:
        assert name in FEATURES and str(FEATURES[name].label) and str(FEATURES[name].description)
    used = {dim: {t["feature"]: t for t in spec["features"]} for dim, spec in DEFAULTS.items()}
    assert used["value"]["predicted_clv"]["transform"] == "pct_rank"
    assert used["risk"]["expert_risk_score"]["direction"] == "higher" and FEATURES["expert_risk_score"].higher_is_better
    assert used["relationship"]["relationship_strength"]["weight"] > 0
    for spec in DEFAULTS.values():
        assert sum(t["weight"] for t in spec["features"]) == pytest.approx(1.0)


def test_clv_features_exist_for_committers_and_are_missing_without_history(history, django_assert_max_num_queries):
    pop = load_population(TODAY)
    # the kept model (none yet: fitted, not kept outside a run; asked by the summaries and by the prediction), the
    # exchange rates and the commitments, whatever the size
    with django_assert_max_num_queries(4):
        matrix = compute_features(["predicted_clv", "expected_deals_12m", "p_alive"], pop)
    positions = pop.positions([o.pk for o in history["committed"]])
    idle = pop.positions([o.pk for o in history["idle"]])
    for name in ("predicted_clv", "expected_deals_12m", "p_alive"):
        fv = matrix[name]
        assert not fv.missing[positions].any(), name
        assert fv.missing[idle].all() and np.isnan(fv.values[idle]).all(), name
    alive = matrix["p_alive"].values[positions]
    assert ((alive >= 0) & (alive <= 1)).all()
    assert (matrix["expected_deals_12m"].values[positions] >= 0).all()
    assert (matrix["predicted_clv"].values[positions] > 0).all()
    assert "clv" not in model_features.LAST_NOTES


def test_a_client_committing_recently_and_often_is_worth_more_than_a_lapsed_one(history, team):
    project = make_project(name="Extra")
    frequent = make_org(legal_name="Frequent", team=team)
    lapsed = make_org(legal_name="Lapsed", team=team)
    for k in range(6):
        make_participation(make_project(name=f"F{k}"), frequent, status="funded", amount=Decimal("2000000"),
                           status_changed_at=aware(20 + 62 * k))
    make_participation(project, lapsed, status="funded", amount=Decimal("2000000"), status_changed_at=aware(1000))
    make_participation(make_project(name="L2"), lapsed, status="funded", amount=Decimal("2000000"),
                       status_changed_at=aware(880))  # a later month: one repeat deal, long ago
    pop = load_population(TODAY)
    matrix = compute_features(["predicted_clv", "expected_deals_12m", "p_alive"], pop)
    f, lap = pop.positions([frequent.pk, lapsed.pk])
    assert matrix["predicted_clv"].values[f] > matrix["predicted_clv"].values[lap]
    assert matrix["expected_deals_12m"].values[f] > matrix["expected_deals_12m"].values[lap]
    assert matrix["p_alive"].values[f] > matrix["p_alive"].values[lap]


def test_a_portfolio_too_small_to_fit_gives_missing_not_an_exception(db, team):
    orgs = [make_org(legal_name=f"Tiny {i}", team=team) for i in range(3)]
    for org in orgs:
        make_participation(make_project(), org, status="funded", status_changed_at=aware(60))
    pop = load_population(TODAY)
    matrix = compute_features(["predicted_clv", "expected_deals_12m", "p_alive"], pop)
    for name in ("predicted_clv", "expected_deals_12m", "p_alive"):
        assert matrix[name].missing.all()
    assert model_features.LAST_NOTES["clv"]["message"]


def test_an_empty_portfolio_gives_missing_too(db, org):
    matrix = compute_features(["predicted_clv"], load_population(TODAY))
    assert matrix["predicted_clv"].missing.all()
    assert "no committed participations" in model_features.LAST_NOTES["clv"]["message"]


def test_commitments_after_the_as_of_date_are_not_seen(history):
    past = TODAY - dt.timedelta(days=3 * 366)
    matrix = compute_features(["predicted_clv"], load_population(past))
    assert matrix["predicted_clv"].missing.all()  # nothing was committed yet three years ago


def test_expert_score_orders_a_sanctioned_poorly_rated_client_below_a_clean_aaa_one(db, team, django_assert_max_num_queries):
    clean = make_org(legal_name="Clean AAA", team=team, rating_agency="sp", rating_grade="AAA", kyc_status="verified",
                     kyc_expires_on=TODAY + dt.timedelta(days=300), country="SG")
    poor = make_org(legal_name="Poor B", team=team, rating_agency="sp", rating_grade="B", kyc_status="verified",
                    kyc_expires_on=TODAY + dt.timedelta(days=300), country="SG")
    sanctioned = make_org(legal_name="Listed AAA", team=team, rating_agency="sp", rating_grade="AAA",
                          kyc_status="verified", kyc_expires_on=TODAY + dt.timedelta(days=300), country="SG",
                          sanctions_flag=True)
    expired = make_org(legal_name="Expired KYC", team=team, rating_agency="sp", rating_grade="AAA",
                       kyc_status="verified", kyc_expires_on=TODAY - dt.timedelta(days=5), country="SG")
    unknown = make_org(legal_name="Unrated", team=team, country="")
    withdrawn = make_org(legal_name="Withdraws", team=team, rating_agency="sp", rating_grade="AAA",
                         kyc_status="verified", kyc_expires_on=TODAY + dt.timedelta(days=300), country="SG")
    for k in range(3):
        make_participation(make_project(), withdrawn, status="withdrawn", status_changed_at=aware(30 + k))
    pop = load_population(TODAY)
    with django_assert_max_num_queries(3):  # organisations, participation counts, the scorecard version in force
        fv = compute_features(["expert_risk_score"], pop)["expert_risk_score"]
    score = dict(zip(pop.ids.tolist(), fv.values.tolist(), strict=True))
    assert not fv.missing.any() and ((fv.values >= 0) & (fv.values <= 100)).all()
    assert score[clean.pk] > score[poor.pk]
    assert score[clean.pk] > score[sanctioned.pk]
    assert score[clean.pk] - score[sanctioned.pk] > score[clean.pk] - score[poor.pk]  # a sanctions hit weighs most
    assert score[clean.pk] > score[expired.pk]
    assert score[clean.pk] > score[withdrawn.pk]
    assert score[clean.pk] > score[unknown.pk]


def test_relationship_strength_rises_with_a_senior_meeting(db, team, django_assert_max_num_queries):
    a = make_org(legal_name="A", team=team, relationship_since=TODAY - dt.timedelta(days=800))
    b = make_org(legal_name="B", team=team, relationship_since=TODAY - dt.timedelta(days=800))
    for org in (a, b):
        Interaction.objects.create(organization=org, kind="call", occurred_at=aware(40), summary="Call")
        make_contact(org, seniority="middle")
    pop = load_population(TODAY)
    before = compute_features(["relationship_strength"], pop)["relationship_strength"]
    Interaction.objects.create(organization=a, kind="senior_meeting", occurred_at=aware(10), summary="Board")
    with django_assert_max_num_queries(4):  # organisations, participations, interactions, contacts
        after = compute_features(["relationship_strength"], pop)["relationship_strength"]
    ia, ib = pop.positions([a.pk, b.pk])
    assert after.values[ia] > before.values[ia]
    assert after.values[ib] == pytest.approx(before.values[ib])
    assert after.values[ia] > after.values[ib]
    assert ((after.values >= 0) & (after.values <= 100)).all()
    # an old senior meeting counts less than a recent one; a board contact more than a middle one
    Interaction.objects.create(organization=b, kind="senior_meeting", occurred_at=aware(700), summary="Old board")
    later = compute_features(["relationship_strength"], pop)["relationship_strength"]
    assert before.values[ib] < later.values[ib] < after.values[ia]
    make_contact(b, seniority="board")
    assert compute_features(["relationship_strength"], pop)["relationship_strength"].values[ib] > later.values[ib]


def test_family_queries_do_not_grow_with_clients(history, team, django_assert_max_num_queries):
    for i in range(30):
        org = make_org(legal_name=f"More {i}", team=team)
        Interaction.objects.create(organization=org, kind="meeting", occurred_at=aware(i + 1), summary="m")
        make_contact(org, seniority="senior")
    pop = load_population(TODAY)
    with django_assert_max_num_queries(11):  # 4 (clv) + 3 (risk, with the scorecard in force) + 4 (relationship)
        matrix = compute_features(MODEL_FEATURES, pop)
    assert matrix.queries == 3  # one call per family


def test_a_one_client_population_reads_only_that_client(history):
    org = history["committed"][3]
    one = Population(ids=np.array([org.pk], dtype=np.int64), as_of=TODAY)
    full = load_population(TODAY)
    small = compute_features(["expert_risk_score", "relationship_strength"], one)
    big = compute_features(["expert_risk_score", "relationship_strength"], full)
    pos = full.positions([org.pk])[0]
    for name in ("expert_risk_score", "relationship_strength"):
        assert small[name].values[0] == pytest.approx(big[name].values[pos])


def test_default_runs_use_the_models(history, lead):
    from bcrm.segmentation import services

    for dimension in ("value", "risk", "relationship"):
        report = services.run_segmentation(actor=lead, dimension=dimension, as_of=TODAY)
        assert report.run.counts["total"] == 55
        used = {t["feature"] for t in report.run.criterion.features}
        model = {"value": "predicted_clv", "risk": "expert_risk_score", "relationship": "relationship_strength"}
        assert model[dimension] in used and model[dimension] in report.outcome.matrix.columns
        assert not report.outcome.matrix[model[dimension]].missing.all()


# --- the 360° figures, the API ------------------------------------------------------------------

def test_client_figures_show_a_cached_portfolio_fit(history, rm, lead, settings, tmp_path,
                                                    django_assert_max_num_queries):
    settings.DATA_DIR = tmp_path
    org = history["committed"][1]
    figures = client_model_figures(actor=rm, organization=org)
    assert figures["clv"] is None  # no portfolio fit kept yet: "not computed yet"
    settings.BCRM_FEATURE_CACHE_SECONDS = 900
    compute_features(["predicted_clv"], load_population(TODAY))
    with django_assert_max_num_queries(4):
        figures = client_model_figures(actor=rm, organization=org)
    assert figures["clv"]["predicted_clv"] > 0 and 0 <= figures["clv"]["p_alive"] <= 1
    assert 0 <= figures["relationship"]["value"] <= 100
    # The expert score carries KYC and sanctions (issue 15, finding 1): for a lead, not a relationship manager.
    assert figures["risk"]["value"] is None
    assert 0 <= client_model_figures(actor=lead, organization=org)["risk"]["value"] <= 100
    idle = client_model_figures(actor=rm, organization=history["idle"][1])
    assert idle["clv"]["predicted_clv"] is None  # no commitment: no lifetime value, not zero
    # a kept fit cut short (a partial copy): the page shows "not computed yet", not an error
    kept = model_features._fit_path().read_bytes()
    model_features._fit_path().write_bytes(kept[: len(kept) // 2])
    assert client_model_figures(actor=rm, organization=org)["clv"] is None


def test_client_figures_respect_who_may_see_the_client(foreign_org, rm):
    from bcrm.core.errors import NotFound

    with pytest.raises(NotFound):
        client_model_figures(actor=rm, organization=foreign_org)


def test_api_returns_the_models_and_hides_other_teams_clients(history, rm, lead, foreign_org):
    from ninja.testing import TestClient

    from bcrm.core.errors import NotFound
    from bcrm.segmentation.model_api import router

    client = TestClient(router)
    org = history["committed"][0]
    response = client.get(f"/organizations/{org.pk}/models", user=rm)
    assert response.status_code == 200
    body = response.json()
    assert body["organization"] == org.pk and body["as_of"] == TODAY.isoformat()
    # The expert score carries KYC and sanctions (issue 15, finding 1): withheld from a relationship manager,
    # shown to a lead (tests/test_security_compliance.py has every role).
    assert body["expert_risk_score"]["value"] is None and body["expert_risk_score"]["explanation"]
    led = client.get(f"/organizations/{org.pk}/models", user=lead).json()
    assert 0 <= led["expert_risk_score"]["value"] <= 100 and led["expert_risk_score"]["explanation"]
    assert 0 <= body["relationship_strength"]["value"] <= 100
    assert body["clv"] is None  # no portfolio fit kept (the file cache is off in tests)
    with pytest.raises(NotFound):  # bcrm's API maps this to its 404 error shape
        client.get(f"/organizations/{foreign_org.pk}/models", user=rm)
    with pytest.raises(NotFound):
        client.get("/organizations/999999/models", user=rm)


def test_the_360_page_shows_the_models_with_explanations(client, history, rm, lead, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    org = history["committed"][2]
    client.force_login(rm)
    page = client.get(f"/clients/{org.pk}/").content.decode()
    assert 'id="models"' in page and "/ 100" in page and "Not computed yet" in page
    # The expert score carries KYC and sanctions (issue 15, finding 1): a lead reads it, a manager reads why not.
    assert "Expert scorecard on 0–100" not in page and "Computed from compliance data" in page
    lead_client = type(client)()
    lead_client.force_login(lead)
    assert "Expert scorecard on 0–100" in lead_client.get(f"/clients/{org.pk}/").content.decode()
    settings.BCRM_FEATURE_CACHE_SECONDS = 900
    compute_features(["predicted_clv"], load_population(TODAY))  # what a value run does
    page = client.get(f"/clients/{org.pk}/").content.decode()
    assert "Not computed yet" not in page and "P(alive)" in page and "BG/NBD" in page


def test_a_preview_predicts_with_the_model_a_run_kept(history, settings, tmp_path):
    """The criterion editor's preview does not refit the portfolio's lifetime-value model: it predicts with the
    model the last run kept, from the stored summaries, and shows the run's figures; asked to refit, it fits."""
    from unittest import mock

    from bcrm.segmentation import services

    settings.DATA_DIR = tmp_path
    run = services.run_segmentation(actor=None, dimension="value", as_of=TODAY, with_stability=False)
    fitted = run.outcome.matrix["predicted_clv"]
    assert not fitted.missing.all() and run.run.clv_fit is not None
    calls = []
    real = model_features.predict_clv

    def spy(*args, **kwargs):
        calls.append(kwargs.get("fitted"))
        return real(*args, **kwargs)

    with mock.patch.object(model_features, "predict_clv", side_effect=spy):
        preview = services.run_segmentation(actor=None, dimension="value", as_of=TODAY, dry_run=True,
                                            with_stability=False)
    assert calls and all(fitted_models is not None for fitted_models in calls)  # predicted, never fitted
    np.testing.assert_array_equal(preview.outcome.matrix["predicted_clv"].values, fitted.values)
    np.testing.assert_array_equal(preview.outcome.label, run.outcome.label)
    calls.clear()
    with mock.patch.object(model_features, "predict_clv", side_effect=spy):
        services.run_segmentation(actor=None, dimension="value", as_of=TODAY, dry_run=True, with_stability=False,
                                  refit_clv=True)
    assert None in calls  # the refit's preview fits


@pytest.mark.parametrize("compressed", [False, True])
def test_one_clients_kept_figures_are_read_without_loading_the_portfolios(db, settings, tmp_path, compressed):
    """The 360° page reads one client's lifetime value from the portfolio fit kept on disk: the arrays are mapped
    from the file (a binary search and three values read), not loaded whole — 10 ms a page at a million clients,
    growing with the portfolio. A file whose arrays are compressed is still read, the usual way."""
    settings.DATA_DIR = tmp_path
    settings.BCRM_FEATURE_CACHE_SECONDS = 900
    ids = np.arange(10, 200_010, 2, dtype=np.int64)
    clv = ids * 1.5
    clv[3] = np.nan  # a client without a value
    fit = {"ids": ids, "predicted_clv": clv, "expected_deals_12m": ids / 1e5, "p_alive": np.full(ids.size, 0.75),
           "params": {"r": 1.0}, "notes": ["a note"], "unvalued": 1, "as_of": "2026-12-01"}
    model_features._save_fit(fit)
    path = model_features._fit_path()
    if compressed:
        with np.load(path) as data:
            arrays = {name: data[name] for name in data.files}
        np.savez_compressed(path.with_suffix(".tmp.npz"), **arrays)
        path.with_suffix(".tmp.npz").replace(path)
    mapped = model_features._stored_arrays(path, ["ids", "predicted_clv", "expected_deals_12m", "p_alive"])
    if compressed:
        assert mapped is None
    else:
        assert mapped is not None and all(isinstance(a, np.memmap) for a in mapped.values())
        assert np.array_equal(mapped["ids"], ids)

    found = model_features.cached_client_clv(20_010)
    assert found == {"as_of": "2026-12-01", "params": {"r": 1.0}, "notes": ["a note"],
                     "predicted_clv": 30_015.0, "expected_deals_12m": 0.2001, "p_alive": 0.75}
    assert model_features.cached_client_clv(16)["predicted_clv"] is None  # NaN: no value
    for absent in (11, 5, 300_000):  # between ids, before the first, after the last
        figures = model_features.cached_client_clv(absent)
        assert figures["predicted_clv"] is figures["p_alive"] is None and figures["as_of"] == "2026-12-01"


def test_the_portfolio_fit_read_in_small_pieces_is_the_same_fit(history, monkeypatch):
    """The commitments are read a piece at a time into arrays (issue 19: as tuples they were a run's largest
    allocation); pieces of 7 rows — the history's hundreds of commitments cut into many — give the same fit."""
    whole = model_features.fit_portfolio_clv(TODAY)
    monkeypatch.setattr(features, "ROW_CHUNK", 7)
    pieces = model_features.fit_portfolio_clv(TODAY)
    assert np.array_equal(whole["ids"], pieces["ids"])
    for name in ("predicted_clv", "expected_deals_12m", "p_alive"):
        assert np.allclose(whole[name], pieces[name], equal_nan=True)
    assert whole["params"] == pytest.approx(pieces["params"])


def test_each_commitment_counts_on_its_calendar_day_even_at_midnight(history, monkeypatch):
    """The fit reads each commitment's time as seconds computed by the database (issue 19: parsing the times in
    Python was half of the fit at a million clients). Times at local midnight and a microsecond before it land
    on the calendar day the reader's time zone gives them, as when the times were parsed one by one."""
    org = history["committed"][0]
    project = make_project(name="Edges")
    midnight = timezone.localtime(aware(100)).replace(hour=0, minute=0, second=0, microsecond=0)
    for j, moment in enumerate([midnight, midnight - dt.timedelta(microseconds=1),
                                midnight + dt.timedelta(days=31, microseconds=1)]):
        make_participation(project, org, tranche=f"E{j}", status="funded", currency="USD",
                           amount=Decimal(1_000_000), status_changed_at=moment)
    seen = {}
    real = model_features.rfm_summary

    def capture(ids, days, amounts, **kwargs):
        seen["pairs"] = sorted(zip(ids.tolist(), days.astype("datetime64[D]").astype(object).tolist(), strict=True))
        return real(ids, days, amounts, **kwargs)

    monkeypatch.setattr(model_features, "rfm_summary", capture)
    end = Population(np.zeros(0, dtype=np.int64), TODAY).end  # as a run asks: the end of the as-of day
    model_features.fit_portfolio_clv(TODAY)
    expected = sorted((p.organization_id, timezone.localtime(p.status_changed_at).date())
                      for p in Participation.objects.filter(status="funded", status_changed_at__lt=end))
    assert seen["pairs"] == expected
