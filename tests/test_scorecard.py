"""Credit-risk scorecards (bcrm.stats.scorecard): the fitted scorecard on data with a known signal,
its points arithmetic and bad input; the expert points scorecard and its configuration."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.stats import ModelError, scorecard


def synthetic(n: int = 5000, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``leverage`` drives the default rate, ``region`` a little (north is riskier), ``noise`` not at all;
    2 % of leverage is missing."""
    rng = np.random.default_rng(seed)
    leverage = rng.normal(size=n)
    noise = rng.normal(size=n)
    region = np.array(["north", "south", "east"], dtype=object)[rng.integers(0, 3, n)]
    logit = -2.0 + 1.3 * leverage + np.where(region == "north", 0.7, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    leverage[rng.random(n) < 0.02] = np.nan
    return {"leverage": leverage, "noise": noise, "region": region}, y


@pytest.fixture(scope="module")
def fit() -> scorecard.ScorecardFit:
    X, y = synthetic()
    return scorecard.fit_scorecard(X, y, folds=5, seed=0)


# --------------------------------------------------------------------------------------------------
# Known signal


def test_signal_gets_high_iv_and_auc_noise_gets_none(fit):
    iv = fit.information_value
    assert iv["leverage"] > 0.5                      # "strong" by the usual rule of thumb
    assert 0.02 < iv["region"] < iv["leverage"]
    assert iv["noise"] < 0.02
    assert fit.dropped == {"noise": "low_iv"}
    assert [v.name for v in fit.points_table.variables] == ["leverage", "region"]
    cv = fit.cross_validation
    assert cv["folds"] == 5 and len(cv["per_fold"]) == 5 and sum(f["rows"] for f in cv["per_fold"]) == 5000
    assert cv["auc"] > 0.75 and cv["pooled"]["auc"] > 0.75
    assert cv["gini"] == pytest.approx(2 * cv["auc"] - 1)
    assert 0.3 < cv["ks"] < 1 and cv["auc_sd"] < 0.05
    assert fit.training["auc"] >= cv["auc"] - 0.02
    roc = cv["roc"]
    assert roc["fpr"][0] == 0 and roc["fpr"][-1] == 1 and roc["tpr"][-1] == 1
    assert all(b >= a for a, b in zip(roc["tpr"], roc["tpr"][1:], strict=False))


def test_bins_follow_the_signal(fit):
    leverage = fit.points_table.variables[0]
    rates = [r for r in leverage.event_rates if r is not None]
    assert rates == sorted(rates)                     # more leverage, more defaults (monotone binning)
    assert leverage.points == sorted(leverage.points, reverse=True)   # … and fewer points
    assert leverage.missing_count > 0                 # missing values: their own bin with their own points
    region = fit.points_table.variables[1]
    north = next(k for k, group in enumerate(region.groups) if "north" in group)
    assert region.points[north] == min(region.points)


def test_points_are_the_scaled_log_odds(fit):
    X, y = synthetic()
    table = fit.points_table
    points = scorecard.score(table, X)
    np.testing.assert_allclose(points, fit.scores)
    # score = offset + factor · ln(odds of good), ln odds of good = −(β₀ + Σ β·WoE)
    logit = table.intercept + sum(v.coefficient * v.woe_of(X[v.name]) for v in table.variables)
    np.testing.assert_allclose(points, table.offset - table.factor * logit)
    assert table.factor == pytest.approx(20 / math.log(2))
    assert table.offset == pytest.approx(600 - 20 / math.log(2) * math.log(50))
    # 20 points more = twice the odds of good
    odds = np.exp(-logit)
    i, j = np.argmin(points), np.argmax(points)
    assert (points[j] - points[i]) / 20 == pytest.approx(math.log2(odds[j] / odds[i]))
    # higher points = fewer defaults
    low, high = points < np.median(points), points >= np.median(points)
    assert y[low].mean() > 2 * y[high].mean()


def test_missing_values_and_unseen_categories(fit):
    table = fit.points_table
    leverage = table.variables[0]
    region = table.variables[1]
    row = scorecard.score(table, {"leverage": [np.nan, None], "region": ["west", None]})
    assert row[0] == pytest.approx(table.base_points + leverage.missing_points + region.other_points)
    assert region.other_points == 0.0                 # a category never seen: WoE 0, neutral
    assert row[1] == pytest.approx(table.base_points + leverage.missing_points + region.missing_points)
    with pytest.raises(ModelError, match="needs column leverage"):
        scorecard.score(table, {"region": ["north"]})


def test_points_table_round_trips_through_json(fit):
    X, _ = synthetic(200, seed=3)
    stored = json.loads(json.dumps(fit.points_table.as_dict()))
    np.testing.assert_allclose(scorecard.score(stored, X), scorecard.score(fit.points_table, X))
    rows = fit.points_table.rows()
    assert rows[0]["variable"] == "(base)" and rows[0]["points"] == fit.points_table.base_points
    assert {r["variable"] for r in rows} == {"(base)", "leverage", "region"}
    with pytest.raises(ModelError, match="Not a points table"):
        scorecard.score({"variables": [{"name": "x"}]}, X)


def test_custom_scaling_shifts_and_stretches_points():
    X, y = synthetic(2000, seed=1)
    base = scorecard.fit_scorecard(X, y, folds=3)
    other = scorecard.fit_scorecard(X, y, folds=3, scaling={"base_score": 500, "pdo": 40})
    a, b = scorecard.score(base.points_table, X), scorecard.score(other.points_table, X)
    np.testing.assert_allclose(b - 500, 2 * (a - 600), atol=1e-6)       # twice the PDO: twice the spread
    assert base.cross_validation["auc"] == pytest.approx(other.cross_validation["auc"])


def test_metrics_on_a_perfect_and_a_useless_score():
    y = np.array([0, 0, 0, 1, 1, 1])
    perfect = scorecard.classification_metrics(y, np.array([1, 2, 3, 4, 5, 6]))
    assert perfect == {"auc": 1.0, "ks": 1.0, "gini": 1.0}
    flat = scorecard.classification_metrics(y, np.zeros(6))
    assert flat["auc"] == 0.5 and flat["ks"] == 0.0 and flat["gini"] == 0.0


# --------------------------------------------------------------------------------------------------
# Bad input


def test_target_must_be_binary_and_complete():
    X, y = synthetic(200)
    with pytest.raises(ModelError, match="binary") as info:
        scorecard.fit_scorecard(X, np.where(y == 1, 2, 0))
    assert info.value.params["row"] >= 1 and info.value.template % info.value.params == str(info.value)
    with pytest.raises(ModelError, match="binary"):
        scorecard.fit_scorecard(X, ["bad" if v else "good" for v in y])
    with pytest.raises(ModelError, match="missing on row 3"):
        scorecard.fit_scorecard(X, [0, 1, None] + [0] * 197)
    with pytest.raises(ModelError, match="one class only"):
        scorecard.fit_scorecard(X, np.zeros(200))
    # booleans and 0.0/1.0 are fine
    scorecard.fit_scorecard(X, y.astype(bool), folds=2)


def test_constant_columns_are_dropped_with_a_note_or_refused():
    X, y = synthetic(1000)
    X = {**X, "same": np.full(1000, 3.0), "label": np.array(["x"] * 1000, dtype=object)}
    fit = scorecard.fit_scorecard(X, y, folds=3)
    assert fit.dropped["same"] == "constant" and fit.dropped["label"] == "constant"
    assert any("same left out" in n["message"] for n in fit.notes)
    with pytest.raises(ModelError, match="Every variable is constant"):
        scorecard.fit_scorecard({"same": np.full(1000, 3.0)}, y)
    with pytest.raises(ModelError, match="No variable predicts"):
        scorecard.fit_scorecard({"noise": X["noise"]}, y, folds=3)


def test_shapes_sizes_and_folds():
    X, y = synthetic(200)
    with pytest.raises(ModelError, match="has 199 values"):
        scorecard.fit_scorecard({**X, "short": np.zeros(199)}, y)
    with pytest.raises(ModelError, match="Too few rows"):
        scorecard.fit_scorecard({k: v[:10] for k, v in X.items()}, y[:10])
    rare = np.zeros(200, dtype=int)
    rare[:3] = 1
    with pytest.raises(ModelError, match="rarer outcome"):
        scorecard.fit_scorecard(X, rare, folds=5)
    with pytest.raises(ModelError, match="folds"):
        scorecard.fit_scorecard(X, y, folds=1)
    with pytest.raises(ModelError, match="named columns"):
        scorecard.fit_scorecard({}, y)
    with pytest.raises(ModelError, match="PDO"):
        scorecard.fit_scorecard(X, y, scaling={"pdo": 0})


def test_all_missing_column_is_constant_and_missingness_alone_can_be_a_signal():
    rng = np.random.default_rng(4)
    _, y = synthetic(3000, seed=4)
    gone = rng.random(3000) < np.where(y == 1, 0.8, 0.1)     # defaulters mostly stopped reporting
    reported = np.where(gone, np.nan, rng.normal(size=3000))
    fit = scorecard.fit_scorecard({"reported": reported, "empty": np.full(3000, np.nan)}, y, folds=3)
    assert fit.dropped == {"empty": "constant"}
    assert fit.cross_validation["auc"] > 0.8
    var = fit.points_table.variables[0]
    assert var.missing_points < min(var.points)               # a missing value costs points


def test_a_variable_that_cannot_be_binned_is_left_out_with_a_note():
    X, y = synthetic(1000, seed=5)
    separating = np.where(y == 1, np.nan, 1.0)               # every row with a value is a good one
    fit = scorecard.fit_scorecard({**X, "separating": separating}, y, folds=3)
    assert fit.dropped["separating"] == "not_binnable"
    assert any("same outcome" in n["message"] for n in fit.notes)


# --------------------------------------------------------------------------------------------------
# Expert scorecard


def test_default_expert_config_by_hand():
    result = scorecard.expert_points(None, {
        "rating_score": [1, 9, 22, np.nan],
        "kyc_state": ["verified", "expired", None, "pending"],
        "kyc_age_months": [3, 30, None, 12],
        "sanctions_flag": [0, 0, 1, 0],
        "withdrawn_share": [0.0, 0.3, np.nan, 1.0],
        "country_risk": [0, 3, 7, None],
    })
    # AAA 40 + verified 15 + fresh KYC 5 + clear 0 + no fall-out 10 + country 0: 15
    assert result.points[0] == 40 + 15 + 5 + 0 + 10 + 15
    assert result.points[1] == 26 - 5 - 5 + 0 + 0 + 6
    assert result.points[2] == -20 + 0 - 5 - 100 + 0 - 10
    assert result.points[3] == 10 + 5 + 0 + 0 - 10 + 0
    assert result.missing["rating"].tolist() == [False, False, False, True]
    assert result.missing["kyc_state"].tolist() == [False, False, True, False]
    assert result.components["sanctions"].tolist() == [0, 0, -100, 0]
    assert result.minimum == -20 - 30 - 5 - 100 - 10 - 10 and result.maximum == 40 + 15 + 5 + 0 + 10 + 15
    assert np.all((result.scaled >= 0) & (result.scaled <= 100))
    assert result.scaled[0] == 100.0


def test_absent_inputs_count_as_missing():
    result = scorecard.expert_points(None, {"rating_score": [5, 12]})
    assert result.points.tolist() == [34 + 0 - 5 + 0 + 0 + 0, 15 + 0 - 5 + 0 + 0 + 0]
    assert all(result.missing[part].all() for part in ("kyc_state", "kyc_age_months", "withdrawn_share"))


def test_a_partial_config_scores_only_its_parts():
    config = {"rating": {"bands": [{"from": 1, "to": 10, "points": 1}, {"from": 11, "to": 22, "points": 0}]},
              "sanctions": {"hit": -5}}
    result = scorecard.expert_points(config, {"rating_score": [3, 15, 40], "sanctions_flag": [0, 1, 0]})
    assert result.points.tolist() == [1, -5, 0]            # grade 40 is outside every band: missing (0)
    assert result.missing["rating"].tolist() == [False, False, True]
    assert set(result.components) == {"rating", "sanctions"}


@pytest.mark.parametrize("config, words", [
    ({"rating": {"bands": [{"from": 1, "to": 10, "points": 1}, {"from": 12, "to": 22, "points": 0}]}}, "gaps"),
    ({"rating": {"bands": [{"from": 1, "to": 10, "points": 1}, {"from": 10, "to": 22, "points": 0}]}}, "gaps"),
    ({"rating": {"bands": [{"from": 2, "to": 22, "points": 1}]}}, r"1 \(AAA\) to 22"),
    ({"rating": {"bands": [{"from": 1, "to": 22, "points": "ten"}]}}, "number of points"),
    ({"rating": {"bands": [{"from": 1, "to": 22}]}}, "exactly from, to and points"),
    ({"withdrawn_share": {"bands": [{"from": 0.5, "to": 0.1, "points": 1}]}}, "end after it starts"),
    ({"kyc_state": {"points": {"verified": 1, "approved": 2}}}, "Unknown KYC states: approved"),
    ({"country_risk": {"points": {"0": 1}}}, "each category 0 to 7"),
    ({"turnover": {}}, "Unknown parts"),
    ({"sanctions": {"hit": None}}, "number of points"),
    ("rating", "mapping"),
])
def test_bad_expert_configs_are_refused(config, words):
    with pytest.raises(ModelError, match=words):
        scorecard.validate_expert_config(config)


def test_default_config_is_valid_and_json():
    assert scorecard.validate_expert_config(json.loads(json.dumps(scorecard.DEFAULT_EXPERT_CONFIG)))
    with pytest.raises(ModelError, match="lengths differ"):
        scorecard.expert_points(None, {"rating_score": [1, 2], "sanctions_flag": [0]})


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 21), st.integers(0, 6), st.floats(0, 0.99), st.sampled_from(scorecard.KYC_STATES))
def test_expert_points_never_reward_more_risk(grade, country, share, kyc):
    base = {"rating_score": [grade], "country_risk": [country], "withdrawn_share": [share], "kyc_state": [kyc],
            "sanctions_flag": [0], "kyc_age_months": [6]}
    points = scorecard.expert_points(None, base).points[0]
    for worse in ({"rating_score": [grade + 1]}, {"country_risk": [country + 1]},
                  {"withdrawn_share": [min(share + 0.2, 1.0)]}, {"sanctions_flag": [1]}, {"kyc_age_months": [36]}):
        assert scorecard.expert_points(None, {**base, **worse}).points[0] <= points
