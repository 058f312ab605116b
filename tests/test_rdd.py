"""The effect estimate (bcrm.stats.rdd): a sharp regression discontinuity at the value line with the
Imbens–Kalyanaraman bandwidth and HC1 standard errors, the before/after view and the RD plot bins."""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy import stats as sps

from bcrm.stats import ModelError, rdd


def simulate(n: int, seed: int, *, jump: float = 2.0, threshold: float = 0.0, hetero: bool = False,
             curvature: float = 0.0):
    """y = 1 + 0.5·(x − θ) + curvature·(x − θ)² + jump·1[x ≥ θ] + noise, x uniform on θ ± 1."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1.0, 1.0, n)
    sd = 0.5 + 0.8 * np.abs(u) + 0.5 * (u >= 0) if hetero else 1.0
    y = 1.0 + 0.5 * u + curvature * u * u + jump * (u >= 0) + rng.normal(0.0, 1.0, n) * sd
    return u + threshold, y


# --------------------------------------------------------------------------------------------------
# What a user is told


def test_recovers_a_known_jump():
    x, y = simulate(4000, seed=7)
    result = rdd.estimate(x, y, 0.0)
    assert result.verdict == "effect"
    assert result.ci_low < 2.0 < result.ci_high
    assert result.ci_low > 0
    assert result.bandwidth_method == "ik" and result.bandwidth > 0
    assert result.n_left >= 20 and result.n_right >= 20
    assert result.p_value < 1e-6
    assert "jumps by 2" in result.notes[0]


def test_reports_no_effect_where_there_is_none():
    x, y = simulate(4000, seed=8, jump=0.0)
    result = rdd.estimate(x, y, 0.0)
    assert result.verdict == "no_detectable_effect"
    assert result.ci_low < 0.0 < result.ci_high
    assert result.p_value > 0.05
    assert "told apart from chance" in result.notes[-1]


def test_a_threshold_away_from_zero_and_clients_exactly_on_it_count_as_above():
    x, y = simulate(3000, seed=9, threshold=250.0)
    x[:50] = 250.0                                    # at the line: dedicated tier
    y[:50] = 1.0 + 2.0 + np.random.default_rng(1).normal(0, 1, 50)
    result = rdd.estimate(x, y, 250.0)
    assert result.verdict == "effect"
    assert result.ci_low < 2.0 < result.ci_high


def test_tiny_sample_is_too_few_and_says_so():
    x, y = simulate(30, seed=3)
    result = rdd.estimate(x, y, 0.0)
    assert result.verdict == "too_few"
    assert any(note.startswith("Only ") and "not reliable" in note for note in result.notes)
    json.dumps(result.as_dict())                        # a door can serialise it as it is


def test_clients_on_one_side_only_is_too_few():
    x = np.linspace(0.0, 1.0, 200)
    result = rdd.estimate(x, x + 1.0, 0.0)
    assert result.verdict == "too_few"
    assert result.effect is None and result.bandwidth is None
    assert result.n_left == 0 and result.n_right == 200
    assert "below the line" in result.notes[-1]


def test_min_per_side_decides_too_few():
    x, y = simulate(400, seed=4)
    low = rdd.estimate(x, y, 0.0, bandwidth=0.2, min_per_side=20)
    assert low.verdict in {"effect", "no_detectable_effect"}
    high = rdd.estimate(x, y, 0.0, bandwidth=0.2, min_per_side=100)
    assert high.verdict == "too_few"
    assert high.effect == pytest.approx(low.effect)      # figures still shown, flagged as unreliable


def test_missing_outcomes_are_dropped_and_counted():
    x, y = simulate(2000, seed=5)
    holed = y.copy()
    holed[::10] = np.nan
    x_holed = x.copy()
    x_holed[1::50] = np.nan
    result = rdd.estimate(x_holed, holed, 0.0)
    keep = np.isfinite(holed) & np.isfinite(x_holed)
    clean = rdd.estimate(x_holed[keep], holed[keep], 0.0)
    assert result.n_no_outcome == 200 and result.n_no_score == 40
    assert result.n_used == keep.sum()
    assert result.effect == pytest.approx(clean.effect) and result.se == pytest.approx(clean.se)
    assert "200 clients without an outcome were left out." in result.notes
    assert "40 clients without a score were left out." in result.notes


def test_constant_outcome_is_no_effect_with_a_fallback_bandwidth():
    x = np.random.default_rng(2).uniform(-1, 1, 500)
    result = rdd.estimate(x, np.full(500, 4.0), 0.0)
    assert result.verdict == "no_detectable_effect"
    assert result.effect == 0.0 and result.se == 0.0 and result.p_value == 1.0
    assert result.bandwidth_method == "rule_of_thumb"
    assert "The outcome does not vary near the line." in result.notes


def test_one_distinct_score_below_the_line_is_too_few():
    rng = np.random.default_rng(3)
    x = np.where(rng.uniform(-1, 1, 400) < 0, -0.1, rng.uniform(0, 1, 400))
    result = rdd.estimate(x, x + rng.normal(size=400), 0.0, bandwidth=0.5)
    assert result.verdict == "too_few"
    assert result.effect is None


def test_every_client_with_the_same_score_is_too_few():
    result = rdd.estimate(np.zeros(100), np.arange(100.0), 0.0)
    assert result.verdict == "too_few"


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"kernel": "gaussian"}, "Unknown kernel"),
    ({"alpha": 0}, "significance level"),
    ({"alpha": 1.5}, "significance level"),
    ({"bandwidth": 0}, "bandwidth must be a positive"),
    ({"bandwidth": -1.0}, "bandwidth must be a positive"),
    ({"bandwidth": math.inf}, "bandwidth must be a positive"),
    ({"min_per_side": 2}, "at least 3"),
    ({"min_per_side": 20.5}, "at least 3"),
])
def test_bad_parameters_are_refused(kwargs, words):
    x, y = simulate(100, seed=1)
    with pytest.raises(ModelError, match=words) as caught:
        rdd.estimate(x, y, 0.0, **kwargs)
    assert caught.value.template % caught.value.params == str(caught.value)


def test_bad_data_is_refused():
    with pytest.raises(ModelError, match="one value per client"):
        rdd.estimate([1.0, 2.0, 3.0], [1.0, 2.0], 0.0)
    with pytest.raises(ModelError, match="must be a number"):
        rdd.estimate(["a", "b"], [1.0, 2.0], 0.0)
    with pytest.raises(ModelError, match="flat list"):
        rdd.estimate(np.ones((3, 2)), np.ones((3, 2)), 0.0)
    with pytest.raises(ModelError, match="threshold must be a finite"):
        rdd.estimate([1.0, 2.0], [1.0, 2.0], math.nan)


# --------------------------------------------------------------------------------------------------
# The arithmetic, against independent computations


def test_point_estimate_and_hc1_match_the_pooled_weighted_regression():
    x, y = simulate(600, seed=11, hetero=True)
    h = 0.6
    result = rdd.estimate(x, y, 0.0, bandwidth=h)
    w = np.clip(1 - np.abs(x / h), 0, None)
    keep = w > 0
    u, yy, ww = x[keep], y[keep], w[keep]
    d = (u >= 0).astype(float)
    design = np.column_stack([np.ones_like(u), d, u, d * u])       # y = a + τD + b·u + c·D·u
    sw = np.sqrt(ww)
    coef, *_ = np.linalg.lstsq(design * sw[:, None], yy * sw, rcond=None)
    resid = yy - design @ coef
    bread = np.linalg.inv(design.T @ (design * ww[:, None]))
    meat = (design * (ww * resid)[:, None]).T @ (design * (ww * resid)[:, None])
    n = u.size
    cov = n / (n - 4) * bread @ meat @ bread
    assert result.effect == pytest.approx(coef[1], rel=1e-9)
    assert result.se == pytest.approx(math.sqrt(cov[1, 1]), rel=1e-9)
    assert result.n_left + result.n_right == n
    z = sps.norm.ppf(0.975)
    assert result.ci_low == pytest.approx(coef[1] - z * result.se)
    assert result.p_value == pytest.approx(2 * sps.norm.sf(abs(coef[1]) / result.se))
    assert result.fit["slope_left"] == pytest.approx(coef[2])
    assert result.fit["slope_right"] == pytest.approx(coef[2] + coef[3])


@pytest.mark.parametrize("kernel", ["triangular", "uniform", "epanechnikov"])
def test_ik_constant_follows_from_the_kernel_moments(kernel):
    """C_K = (C₂ / (4·C₁))^(1/5) with IK's eq. (5) moments of the one-sided kernel."""
    k = rdd.KERNELS[kernel]

    def nu(j):
        return integrate.quad(lambda t: t ** j * float(k(np.array(t))), 0, 1)[0]

    n0, n1, n2, n3 = (nu(j) for j in range(4))
    det = n2 * n0 - n1 ** 2
    c1 = 0.25 * ((n2 ** 2 - n1 * n3) / det) ** 2
    c2 = integrate.quad(lambda t: (n2 - t * n1) ** 2 * float(k(np.array(t))) ** 2, 0, 1)[0] / det ** 2
    assert rdd.IK_CONSTANT[kernel] == pytest.approx((c2 / (4 * c1)) ** 0.2, abs=1e-3)


def reference_ik(x: np.ndarray, y: np.ndarray, c: float) -> float:
    """IK (2012) section 4.2 transcribed step by step with np.polyfit, for comparison."""
    n = x.size
    h1 = 1.84 * np.std(x, ddof=1) * n ** (-1 / 5)
    lo = (x >= c - h1) & (x < c)
    hi = (x >= c) & (x <= c + h1)
    f = (lo.sum() + hi.sum()) / (2 * n * h1)
    s2l, s2r = np.var(y[lo], ddof=1), np.var(y[hi], ddof=1)
    design = np.column_stack([np.ones(n), x >= c, x - c, (x - c) ** 2, (x - c) ** 3])
    m3 = 6 * np.linalg.lstsq(design, y, rcond=None)[0][4]
    nl, nr = (x < c).sum(), (x >= c).sum()
    h2l = 3.56 * (s2l / (f * m3 ** 2)) ** (1 / 7) * nl ** (-1 / 7)
    h2r = 3.56 * (s2r / (f * m3 ** 2)) ** (1 / 7) * nr ** (-1 / 7)
    wl = (x >= c - h2l) & (x < c)
    wr = (x >= c) & (x <= c + h2r)
    m2l = 2 * np.polyfit(x[wl] - c, y[wl], 2)[0]
    m2r = 2 * np.polyfit(x[wr] - c, y[wr], 2)[0]
    rl = 2160 * s2l / (wl.sum() * h2l ** 4)
    rr = 2160 * s2r / (wr.sum() * h2r ** 4)
    return 3.4375 * ((s2l + s2r) / (f * ((m2r - m2l) ** 2 + rl + rr))) ** (1 / 5) * n ** (-1 / 5)


@pytest.mark.parametrize("decimals", [None, 2])
def test_ik_bandwidth_matches_the_paper_step_by_step(decimals):
    x, y = simulate(3000, seed=21, curvature=-3.0, threshold=5.0)
    if decimals is not None:                                    # ties, some of them on the line itself
        x = np.round(x, decimals)
        assert (x == 5.0).sum() > 5
    y = y + 4.0 * np.where(x >= 5.0, (x - 5.0) ** 2, 0.0)       # different curvature on each side
    found = rdd.ik_bandwidth(x, y, 5.0)
    steps = found.steps
    assert found.method == "ik" and found.notes == []
    assert steps["h2_left"] < 1.0 and steps["h2_right"] < 1.0   # pilots inside the data: no capping
    assert found.value == pytest.approx(reference_ik(x, y, 5.0), rel=1e-9)


def test_ik_bandwidth_shrinks_where_the_curvature_changes_at_the_line():
    x, y = simulate(4000, seed=22)
    straight = rdd.ik_bandwidth(x, y, 0.0).value
    bent = rdd.ik_bandwidth(x, y + 6.0 * np.where(x >= 0, x * x, -x * x), 0.0).value
    assert bent < straight


def test_ik_bandwidth_needs_both_sides():
    with pytest.raises(ModelError, match="both sides"):
        rdd.ik_bandwidth([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0.0)
    with pytest.raises(ModelError, match="both sides"):
        rdd.ik_bandwidth([0.0, 0.0, 0.0], [1.0, 2.0, 3.0], 0.0)


def test_ik_falls_back_when_the_line_is_in_a_gap():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(-10, -9, 200), rng.uniform(0, 10, 200)])
    found = rdd.ik_bandwidth(x, x + rng.normal(size=400), 0.0)
    assert found.method == "rule_of_thumb"
    assert found.value == pytest.approx(found.steps["h1"])
    assert "Too few clients near the line" in found.notes[0]


def test_confidence_intervals_cover_the_truth_about_95_percent_of_the_time():
    """200 simulated portfolios with heteroskedastic noise, IK bandwidth: the 95 % interval should
    cover the true jump in roughly 95 % of them (binomial spread: about 92–98 %)."""
    covered = 0
    draws = 200
    for seed in range(draws):
        x, y = simulate(1500, seed=1000 + seed, jump=1.0, hetero=True)
        result = rdd.estimate(x, y, 0.0)
        assert result.verdict != "too_few"
        covered += result.ci_low <= 1.0 <= result.ci_high
    assert 0.88 <= covered / draws <= 0.99


def test_no_jump_is_rarely_reported_as_an_effect():
    false_alarms = sum(rdd.estimate(*simulate(1000, seed=5000 + s, jump=0.0), 0.0).verdict == "effect"
                       for s in range(100))
    assert false_alarms <= 12


# --------------------------------------------------------------------------------------------------
# Fuzzy design: the tier policy also serves some clients below the line


def simulate_fuzzy(n: int, seed: int, *, effect: float = 2.0, below: float = 0.2, above: float = 0.8):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n)
    served = (rng.uniform(size=n) < np.where(x >= 0, above, below)).astype(float)
    y = 1.0 + 0.5 * x + effect * served + rng.normal(0.0, 1.0, n) * (0.6 + 0.6 * served)
    return x, y, served


def test_fuzzy_design_recovers_the_tier_effect_where_the_sharp_one_dilutes_it():
    x, y, served = simulate_fuzzy(4000, seed=31)
    sharp = rdd.estimate(x, y, 0.0)
    fuzzy = rdd.estimate(x, y, 0.0, treated=served)
    assert sharp.ci_high < 2.0                              # ≈ 2 × 0.6: the jump of being above the line
    assert fuzzy.design == "fuzzy" and fuzzy.verdict == "effect"
    assert fuzzy.ci_low < 2.0 < fuzzy.ci_high
    assert fuzzy.first_stage["jump"] == pytest.approx(0.6, abs=0.1)
    assert fuzzy.first_stage["f_stat"] > 10
    assert "rises from" in fuzzy.notes[0]


def test_fuzzy_matches_the_local_iv_sandwich():
    x, y, served = simulate_fuzzy(1500, seed=32)
    h = 0.8
    result = rdd.estimate(x, y, 0.0, treated=served, bandwidth=h)
    w = np.clip(1 - np.abs(x / h), 0, None)
    keep = w > 0
    u, d, t, yy, ww = x[keep], (x[keep] >= 0).astype(float), served[keep], y[keep], w[keep]
    regressors = np.column_stack([np.ones_like(u), t, u, d * u])
    instruments = np.column_stack([np.ones_like(u), d, u, d * u])
    a = instruments.T @ (regressors * ww[:, None])
    beta = np.linalg.solve(a, instruments.T @ (ww * yy))
    score = instruments * (ww * (yy - regressors @ beta))[:, None]
    inv = np.linalg.inv(a)
    cov = inv @ (score.T @ score) @ inv.T * u.size / (u.size - 4)
    assert result.effect == pytest.approx(beta[1], rel=1e-9)
    assert result.se == pytest.approx(math.sqrt(cov[1, 1]), rel=1e-9)


def test_fuzzy_with_everyone_above_served_is_the_sharp_design():
    x, y = simulate(2000, seed=33)
    sharp = rdd.estimate(x, y, 0.0)
    fuzzy = rdd.estimate(x, y, 0.0, treated=(x >= 0).astype(int))
    assert fuzzy.effect == pytest.approx(sharp.effect, rel=1e-9)
    assert fuzzy.se == pytest.approx(sharp.se, rel=1e-9)
    assert fuzzy.first_stage["jump"] == pytest.approx(1.0)


def test_fuzzy_with_a_line_that_changes_nothing_is_too_few():
    x, y, _ = simulate_fuzzy(3000, seed=34)
    coin = (np.random.default_rng(35).uniform(size=3000) < 0.5).astype(float)
    result = rdd.estimate(x, y, 0.0, treated=coin)
    assert result.verdict == "too_few"
    assert result.first_stage["f_stat"] < 10
    assert "hardly changes who gets the dedicated tier" in result.notes[-1]


def test_fuzzy_leaves_out_clients_without_a_known_tier():
    x, y, served = simulate_fuzzy(2000, seed=36)
    holed = served.copy()
    holed[::20] = np.nan
    result = rdd.estimate(x, y, 0.0, treated=holed)
    keep = np.isfinite(holed)
    assert result.n_no_outcome == 100 and result.n_used == 1900
    assert result.effect == pytest.approx(rdd.estimate(x[keep], y[keep], 0.0, treated=holed[keep]).effect)
    assert "100 clients without an outcome or a known tier were left out." in result.notes


def test_fuzzy_bad_tier_flags():
    x, y, served = simulate_fuzzy(100, seed=37)
    with pytest.raises(ModelError, match="tier flag"):
        rdd.estimate(x, y, 0.0, treated=served * 2)
    with pytest.raises(ModelError, match="one value per client"):
        rdd.estimate(x, y, 0.0, treated=served[:50])


def test_fuzzy_intervals_cover_the_tier_effect_about_95_percent_of_the_time():
    covered = 0
    for seed in range(100):
        x, y, served = simulate_fuzzy(1500, seed=7000 + seed)
        result = rdd.estimate(x, y, 0.0, treated=served)
        covered += result.ci_low <= 2.0 <= result.ci_high
    assert 85 <= covered <= 100


# --------------------------------------------------------------------------------------------------
# Properties


data_seed = st.integers(min_value=0, max_value=2 ** 32 - 1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=data_seed, shift=st.floats(-1e4, 1e4), jump=st.floats(-5, 5), fixed=st.booleans())
def test_shifting_the_outcome_leaves_the_effect_unchanged(seed, shift, jump, fixed):
    x, y = simulate(300, seed=seed, jump=jump)
    bandwidth = 0.7 if fixed else None
    base = rdd.estimate(x, y, 0.0, bandwidth=bandwidth)
    moved = rdd.estimate(x, y + shift, 0.0, bandwidth=bandwidth)
    assert moved.bandwidth == pytest.approx(base.bandwidth, rel=1e-6)
    assert moved.effect == pytest.approx(base.effect, rel=1e-6, abs=1e-6 * (1 + abs(shift)))
    assert moved.se == pytest.approx(base.se, rel=1e-5)
    assert moved.verdict == base.verdict or abs(base.p_value - 0.05) < 1e-3


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=data_seed, scale=st.floats(-1e3, 1e3).filter(lambda s: abs(s) > 1e-3), fixed=st.booleans())
def test_scaling_the_outcome_scales_the_effect(seed, scale, fixed):
    x, y = simulate(300, seed=seed, jump=1.5)
    bandwidth = 0.7 if fixed else None
    base = rdd.estimate(x, y, 0.0, bandwidth=bandwidth)
    scaled = rdd.estimate(x, y * scale, 0.0, bandwidth=bandwidth)
    assert scaled.bandwidth == pytest.approx(base.bandwidth, rel=1e-6)
    assert scaled.effect == pytest.approx(scale * base.effect, rel=1e-6)
    assert scaled.se == pytest.approx(abs(scale) * base.se, rel=1e-6)
    assert scaled.p_value == pytest.approx(base.p_value, rel=1e-4, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=data_seed, offset=st.floats(-1e3, 1e3))
def test_moving_scores_and_line_together_changes_nothing(seed, offset):
    x, y = simulate(300, seed=seed)
    base = rdd.estimate(x, y, 0.0)
    moved = rdd.estimate(x + offset, y, offset)
    assume(base.n_left == moved.n_left and base.n_right == moved.n_right)   # float rounding at the edge
    assert moved.effect == pytest.approx(base.effect, rel=1e-5, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=6, max_value=400),
    seed=data_seed,
    spread=st.floats(1e-3, 1e4),
    noise=st.floats(0.0, 100.0),
    curvature=st.floats(-50, 50),
    share_below=st.floats(0.05, 0.95),
    rounding=st.sampled_from([None, 0, 1, 2]),
)
def test_ik_bandwidth_is_positive_and_finite(n, seed, spread, noise, curvature, share_below, rounding):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-share_below, 1 - share_below, n) * spread
    if rounding is not None:                              # ties and gaps, as real scores have
        x = np.round(x / spread, rounding) * spread
    x[0], x[1] = -spread * share_below / 2, spread * (1 - share_below) / 2   # one client on each side
    y = curvature * (x / spread) ** 2 + (x >= 0) + noise * rng.normal(size=n)
    found = rdd.ik_bandwidth(x, y, 0.0)
    assert math.isfinite(found.value) and found.value > 0
    assert found.method in {"ik", "rule_of_thumb"}
    assert (found.method == "rule_of_thumb") == bool(found.notes)
    result = rdd.estimate(x, y, 0.0)
    assert result.verdict in {"effect", "no_detectable_effect", "too_few"}
    if result.effect is not None:
        assert math.isfinite(result.effect) and result.se >= 0
        assert result.ci_low <= result.effect <= result.ci_high
        assert 0.0 <= result.p_value <= 1.0


# --------------------------------------------------------------------------------------------------
# Before and after


def test_before_after_matches_the_paired_t_test():
    before = np.array([6, 7, 5, 8, 7, 6, 9, 5, 6, 7, 8, 6], dtype=float)
    after = np.array([8, 7, 7, 9, 8, 8, 9, 6, 7, 9, 8, 8], dtype=float)
    result = rdd.before_after(before, after)
    d = after - before                                     # 14 points over 12 clients
    assert result.mean_difference == pytest.approx(14 / 12)
    half = sps.t.ppf(0.975, 11) * d.std(ddof=1) / math.sqrt(12)
    assert result.ci_low == pytest.approx(14 / 12 - half)
    assert result.ci_high == pytest.approx(14 / 12 + half)
    assert result.p_value == pytest.approx(sps.ttest_rel(after, before).pvalue)
    assert result.verdict == "effect" and result.n == 12
    assert result.mean_before == pytest.approx(before.mean()) and result.mean_after == pytest.approx(after.mean())
    assert any("not its cause" in note for note in result.notes)
    json.dumps(result.as_dict())


def test_before_after_hand_computed_interval():
    # d = (1, 2, 3, …, 10) − 5.5 + 1 → mean 1, sd √(55/6); se = √(55/6)/√10 = 0.957427…
    before = np.zeros(10)
    after = np.arange(1.0, 11.0) - 4.5
    result = rdd.before_after(before, after)
    assert result.mean_difference == pytest.approx(1.0)
    assert result.se == pytest.approx(0.9574271, rel=1e-6)
    # t(0.975, 9) = 2.2621572
    assert result.ci_low == pytest.approx(1.0 - 2.2621572 * 0.9574271, rel=1e-6)
    assert result.verdict == "no_detectable_effect"


def test_before_after_under_ten_pairs_is_too_few():
    result = rdd.before_after([1, 2, 3, 4, 5, 6, 7, 8, 9], [2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert result.verdict == "too_few" and result.n == 9
    assert result.ci_low is None and result.p_value is None
    assert "Only 9 clients" in result.notes[-1]


def test_before_after_drops_incomplete_pairs():
    before = [1.0, 2.0, None, 4.0] + [float(i) for i in range(10)]
    after = [2.0, math.nan, 3.0, 5.0] + [float(i) + 1 for i in range(10)]
    result = rdd.before_after(np.array(before, dtype=float), np.array(after, dtype=float))
    assert result.n == 12 and result.n_dropped == 2
    assert result.mean_difference == pytest.approx(1.0) and result.se == 0.0
    assert result.verdict == "effect"


def test_before_after_bad_input():
    with pytest.raises(ModelError, match="pairs"):
        rdd.before_after([1, 2, 3], [1, 2])
    with pytest.raises(ModelError, match="significance level"):
        rdd.before_after([1, 2, 3], [1, 2, 3], alpha=0)


# --------------------------------------------------------------------------------------------------
# Bins for the RD plot


def test_binned_means_by_hand():
    x = np.array([-1.0, -0.9, -0.1, 0.0, 0.05, 0.4, 1.0])
    y = np.array([1.0, 3.0, 5.0, 10.0, 20.0, 30.0, 40.0])
    bins = rdd.binned_means(x, y, 0.0, bins=4)                # width 0.5: [-1,-.5) [-.5,0) [0,.5) [.5,1]
    assert bins.width == pytest.approx(0.5)
    assert bins.centres.tolist() == pytest.approx([-0.75, -0.25, 0.25, 0.75])
    assert bins.means.tolist() == pytest.approx([2.0, 5.0, 20.0, 40.0])
    assert bins.counts.tolist() == [2, 1, 3, 1]
    assert bins.above.tolist() == [False, False, True, True]


@settings(max_examples=60, deadline=None)
@given(
    x=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=200),
    threshold=st.floats(-1e3, 1e3),
    bins=st.integers(2, 40),
)
def test_bins_never_mix_the_sides_and_keep_every_client(x, threshold, bins):
    xs = np.array(x)
    ys = np.arange(xs.size, dtype=float)
    result = rdd.binned_means(xs, ys, threshold, bins=bins)
    assert result.counts.sum() == xs.size
    assert result.above.sum() == 0 or (xs >= threshold).any()
    assert (result.counts > 0).all()
    assert np.isclose((result.means * result.counts).sum(), ys.sum())
    assert len(result.centres) <= bins + 2
    edge = result.width / 2
    assert (result.centres[result.above] - edge >= threshold - 1e-9 * (1 + abs(threshold))).all()
    assert (result.centres[~result.above] + edge <= threshold + 1e-9 * (1 + abs(threshold))).all()


def test_binned_means_bad_input_and_empty():
    with pytest.raises(ModelError, match="bins"):
        rdd.binned_means([1.0], [1.0], 0.0, bins=1)
    assert rdd.binned_means([math.nan], [1.0], 0.0).as_rows() == []


# --------------------------------------------------------------------------------------------------
# Every sentence a page may show has a Chinese translation


def _po_entries(path) -> dict[str, str]:
    """msgid → msgstr of a .po file (multi-line strings joined; escapes undone)."""
    entries: dict[str, str] = {}
    current = None
    parts: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith(("msgid ", "msgstr ")):
            current = line.split(" ", 1)[0]
            parts[current] = [line.split(" ", 1)[1]]
        elif line.startswith('"') and current:
            parts[current].append(line)
        elif not line.strip() and "msgid" in parts and "msgstr" in parts:
            msgid, msgstr = ("".join(ast.literal_eval(chunk) for chunk in parts[name]) for name in ("msgid", "msgstr"))
            entries[msgid] = msgstr
            parts, current = {}, None
    return entries


def test_every_marked_message_is_translated():
    root = Path(__file__).resolve().parent.parent / "bcrm"
    known: dict[str, str] = {}
    for po in [root / "locale/zh_Hans/LC_MESSAGES/django.po", *sorted((root / "locale/pending").glob("*.po"))]:
        if po.exists():
            known.update({k: v for k, v in _po_entries(po).items() if v})
    marked = []
    for module in [*sorted((root / "stats/rdd").glob("*.py")), root / "stats/kpistats.py"]:
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "gettext_noop":
                marked.append(node.args[0].value)
    assert len(marked) > 40
    missing = [m for m in marked if m not in known]
    assert missing == []
    for message in marked:
        assert sorted(re.findall(r"%\(\w+\)", known[message])) == sorted(re.findall(r"%\(\w+\)", message))
