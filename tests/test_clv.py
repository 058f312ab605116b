"""Lifetime-value models (bcrm.stats.clv): the published CDNOW results, the likelihood and its
gradient, the prediction formulas, the RFM summary of a transaction log, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import betaln, gammaln, hyp2f1

from bcrm.stats import ModelError, clv
from bcrm.stats.clv import expectations, optimiser
from tests.datafiles import DEMO_RFM, LOG, SPEND, SUMMARY

# Fader, Hardie & Lee (2005), see tests/data/cdnow/README.md
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LL = -9582.4
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
CDNOW = (0.243, 4.414, 0.793, 2.426)


def cdnow_summary() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = np.loadtxt(SUMMARY, delimiter=",", skiprows=1)
    return data[:, 1], data[:, 2], data[:, 3]


def cdnow_log() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    raw = np.loadtxt(LOG, dtype=str)
    dates = np.array([f"{s[:4]}-{s[4:6]}-{s[6:]}" for s in raw[:, 2]], dtype="datetime64[D]")
    return raw[:, 1], dates, raw[:, 4].astype(float)


def simulate(n: int, seed: int, r=0.243, alpha=4.414, a=0.793, b=2.426, p=6.25, q=3.74, gamma=15.44):
    """Customers from the BG/NBD + Gamma-Gamma generative process, T uniform in (27, 39] weeks."""
    rng = np.random.default_rng(seed)
    T = 39 - rng.uniform(0, 12, n)
    lam = rng.gamma(r, 1 / alpha, n)
    drop = rng.beta(a, b, n)
    events = rng.poisson(lam * T)
    x = np.minimum(events, rng.geometric(drop))
    tx = np.zeros(n)
    pos = x > 0
    tx[pos] = T[pos] * rng.beta(x[pos], events[pos] - x[pos] + 1)
    nu = rng.gamma(q, 1 / gamma, n)
    z = np.zeros(n)
    z[pos] = rng.gamma(p * x[pos], 1 / (x[pos] * nu[pos]))
    return x.astype(float), tx, T, z


# --------------------------------------------------------------------------------------------------
# The published CDNOW figures


def test_bgnbd_reproduces_fader_hardie_lee_on_cdnow():
    fit = clv.fit_bgnbd(*cdnow_summary())
    assert {k: round(v, 3) for k, v in fit.params.items()} == PUBLISHED_BGNBD
    assert round(fit.log_likelihood, 1) == PUBLISHED_LL
    assert fit.converged and fit.n_customers == 2357 and fit.n_distinct < 2357
    # standard errors: the inverse Hessian, as lifetimes reports them for the same data
    assert {k: round(v, 3) for k, v in fit.se.items()} == {"r": 0.013, "alpha": 0.378, "a": 0.186, "b": 0.705}
    # the optimum: the analytic gradient vanishes there
    grad = clv.bgnbd_log_likelihood_gradient(list(fit.params.values()), *cdnow_summary())
    assert np.max(np.abs(grad * np.array(list(fit.params.values())))) < 1e-4


def test_gamma_gamma_reproduces_the_published_spend_model():
    data = np.loadtxt(SPEND, delimiter=",", skiprows=1)
    fit = clv.fit_gamma_gamma(data[:, 1], data[:, 4])
    assert fit.n_customers == 946 and fit.n_excluded == 2357 - 946
    assert round(fit.p, 2) == PUBLISHED_GG["p"] and round(fit.q, 2) == PUBLISHED_GG["q"]
    # zbar in this file is rounded to cents, which moves γ to 15.4477; on the exact means (below) it is 15.44
    assert abs(fit.gamma - PUBLISHED_GG["gamma"]) < 0.01
    customers, dates, amounts = cdnow_log()
    summary = clv.rfm_summary(customers, dates, amounts, period="day", unit="week", calibration_end="1997-09-30")
    exact = clv.fit_gamma_gamma(summary.frequency, summary.monetary_value)
    assert {k: round(v, 2) for k, v in exact.params.items()} == PUBLISHED_GG
    assert exact.population_mean_spend == pytest.approx(exact.p * exact.gamma / (exact.q - 1))


def test_summary_of_the_cdnow_log_is_the_published_summary():
    customers, dates, amounts = cdnow_log()
    summary = clv.rfm_summary(customers, dates, amounts, period="day", unit="week", calibration_end="1997-09-30")
    data = np.loadtxt(SPEND, delimiter=",", skiprows=1)
    assert summary.customers.size == 2357 and summary.n_late == 0
    np.testing.assert_array_equal(summary.frequency, data[:, 1])
    np.testing.assert_allclose(summary.recency, data[:, 2], atol=0.005)
    np.testing.assert_allclose(summary.T, data[:, 3], atol=0.005)
    np.testing.assert_allclose(summary.monetary_value, data[:, 4], atol=0.0051)
    assert summary.holdout_length == 39.0 and summary.observation_end.isoformat() == "1998-06-30"
    assert summary.holdout_frequency is not None and summary.holdout_frequency.sum() > 0
    fit = clv.fit_bgnbd(summary.frequency, summary.recency, summary.T)
    assert {k: round(v, 3) for k, v in fit.params.items()} == PUBLISHED_BGNBD


def test_calibration_histogram_matches_the_model():
    x, tx, T = cdnow_summary()
    fit = clv.fit_bgnbd(x, tx, T)
    expected = fit.frequency_distribution(T, 7)
    observed = np.bincount(np.minimum(x.astype(int), 7))
    assert expected.sum() == pytest.approx(2357)
    assert expected[0] == pytest.approx(1411, abs=10)            # FHL figure 2: zero repeaters fitted closely
    assert np.all(np.abs(expected - observed) < 0.1 * observed + 25)


# --------------------------------------------------------------------------------------------------
# Likelihood and gradient


def numeric_gradient(f, params, h=1e-6):
    params = np.asarray(params, dtype=float)
    out = np.empty_like(params)
    for i in range(params.size):
        step = np.zeros_like(params)
        step[i] = h * max(1.0, abs(params[i]))
        out[i] = (f(params + step) - f(params - step)) / (2 * step[i])
    return out


@pytest.mark.parametrize("params", [CDNOW, (1.0, 1.0, 1.0, 1.0), (2.5, 30.0, 0.3, 7.0), (0.05, 0.5, 5.0, 0.6)])
def test_bgnbd_gradient_matches_finite_differences(params):
    x, tx, T, _ = simulate(500, seed=3)
    analytic = clv.bgnbd_log_likelihood_gradient(params, x, tx, T)
    numeric = numeric_gradient(lambda p: clv.bgnbd_log_likelihood(p, x, tx, T), params)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("params", [(6.25, 3.74, 15.44), (1.0, 1.0, 1.0), (0.5, 12.0, 300.0)])
def test_gamma_gamma_gradient_matches_finite_differences(params):
    x, _tx, _T, z = simulate(2000, seed=4)
    analytic = clv.gamma_gamma_log_likelihood_gradient(params, x, z)
    numeric = numeric_gradient(lambda p: clv.gamma_gamma_log_likelihood(p, x, z), params)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-4)


def direct_bgnbd_ll(params, x, tx, T):
    """FHL eq. 6 written out term by term, one customer at a time."""
    r, al, a, b = params
    total = 0.0
    for xi, ti, Ti in zip(x, tx, T, strict=True):
        a1 = gammaln(r + xi) - gammaln(r) + r * math.log(al)
        a2 = gammaln(a + b) + gammaln(b + xi) - gammaln(b) - gammaln(a + b + xi)
        a3 = math.exp(-(r + xi) * math.log(al + Ti))
        a4 = (a / (b + xi - 1)) * math.exp(-(r + xi) * math.log(al + ti)) if xi > 0 else 0.0
        total += a1 + a2 + math.log(a3 + a4)
    return total


def test_log_likelihood_is_fhl_equation_6():
    x, tx, T, _ = simulate(300, seed=5)
    assert clv.bgnbd_log_likelihood(CDNOW, x, tx, T) == pytest.approx(direct_bgnbd_ll(CDNOW, x, tx, T), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 4), st.integers(1, 5)), min_size=1, max_size=40),
       st.lists(st.integers(1, 4), min_size=40, max_size=40))
def test_grouped_weights_give_the_same_likelihood_as_repeated_rows(rows, counts):
    x = np.array([r[0] for r in rows], dtype=float)
    T = np.array([r[2] for r in rows], dtype=float) * 4
    tx = np.where(x > 0, np.minimum(np.array([r[1] for r in rows], dtype=float) * 4, T), 0.0)
    w = np.array(counts[: len(rows)], dtype=float)
    weighted = clv.bgnbd_log_likelihood(CDNOW, x, tx, T, weights=w)
    repeated = clv.bgnbd_log_likelihood(CDNOW, np.repeat(x, w.astype(int)), np.repeat(tx, w.astype(int)),
                                        np.repeat(T, w.astype(int)))
    assert weighted == pytest.approx(repeated, rel=1e-12, abs=1e-9)


def test_fit_with_weights_equals_fit_on_repeated_rows():
    x, tx, T, _ = simulate(3000, seed=6)
    (ux, utx, uT), counts, inverse = clv.group_rows(x, tx, T)
    np.testing.assert_array_equal(ux[inverse], x)
    np.testing.assert_array_equal(uT[inverse], T)
    grouped = clv.fit_bgnbd(ux, utx, uT, weights=counts)
    plain = clv.fit_bgnbd(x, tx, T)
    for name in ("r", "alpha", "a", "b"):
        assert grouped.params[name] == pytest.approx(plain.params[name], rel=1e-6)
    assert grouped.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-12)


def test_fit_recovers_simulated_parameters_within_their_errors():
    x, tx, T, z = simulate(40_000, seed=7)
    fit = clv.fit_bgnbd(x, tx, T)
    for name, true in zip(("r", "alpha", "a", "b"), CDNOW, strict=True):
        assert abs(fit.params[name] - true) < 4 * fit.se[name]
    gg = clv.fit_gamma_gamma(x, z)
    for name, true in (("p", 6.25), ("q", 3.74), ("gamma", 15.44)):
        assert abs(gg.params[name] - true) < 4 * gg.se[name]


def test_time_unit_changes_alpha_only():
    x, tx, T, _ = simulate(3000, seed=8)
    weeks = clv.fit_bgnbd(x, tx, T)
    days = clv.fit_bgnbd(x, tx * 7, T * 7)
    assert days.alpha == pytest.approx(7 * weeks.alpha, rel=1e-5)
    assert days.r == pytest.approx(weeks.r, rel=1e-5) and days.a == pytest.approx(weeks.a, rel=1e-5)
    assert days.se["alpha"] == pytest.approx(7 * weeks.se["alpha"], rel=1e-3)
    # the log-likelihood of a density in time changes by the Jacobian of the unit: −Σx·ln 7
    assert days.log_likelihood == pytest.approx(weeks.log_likelihood - x.sum() * math.log(7), rel=1e-9)


# --------------------------------------------------------------------------------------------------
# Predictions against the closed forms


def fhl_eq10(params, t, x, tx, T):
    """E[Y(t) | x, t_x, T] exactly as printed in FHL (2005) eq. 10."""
    r, al, a, b = params
    head = (a + b + x - 1) / (a - 1)
    body = 1 - ((al + T) / (al + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, t / (al + T + t))
    tail = 1 + (x > 0) * (a / (b + x - 1)) * ((al + T) / (al + tx)) ** (r + x)
    return head * body / tail


def fitted(params=CDNOW) -> clv.BGNBDFit:
    r, al, a, b = params
    return clv.BGNBDFit(r=r, alpha=al, a=a, b=b, se={}, covariance=np.zeros((4, 4)), log_likelihood=0.0,
                        n_customers=0, n_distinct=0, converged=True, iterations=0, evaluations=0, message="")


def test_predictions_match_the_closed_forms_on_hand_cases():
    fit = fitted()
    x = np.array([0.0, 1, 2, 7, 29])
    tx = np.array([0.0, 1.71, 30.43, 35.0, 38.0])
    T = np.array([38.86, 38.86, 38.86, 38.86, 38.86])
    for t in (1.0, 10.0, 39.0, 52.0):
        np.testing.assert_allclose(fit.expected_transactions(t, x, tx, T), fhl_eq10(CDNOW, t, x, tx, T), rtol=1e-10)
    # P(alive): 1 without a repeat purchase; 1 / (1 + a/(b+x−1)·((α+T)/(α+t_x))^(r+x)) otherwise
    r, al, a, b = CDNOW
    alive = fit.probability_alive(x, tx, T)
    assert alive[0] == 1.0
    hand = 1 / (1 + a / (b + 2 - 1) * ((al + 38.86) / (al + 30.43)) ** (r + 2))
    assert alive[2] == pytest.approx(hand, rel=1e-12)
    # a customer who bought at the very end of the period is as alive as the model allows: 1/(1 + a/(b+x−1))
    assert fit.probability_alive([3], [38.86], [38.86])[0] == pytest.approx(1 / (1 + a / (b + 2)))
    # new customer, FHL eq. 9
    for t in (1.0, 39.0, 78.0):
        eq9 = (a + b - 1) / (a - 1) * (1 - (al / (al + t)) ** r * hyp2f1(r, b, a + b - 1, t / (al + t)))
        assert fit.expected_transactions_new(t)[0] == pytest.approx(eq9, rel=1e-10)
    assert fit.expected_transactions(0.0, x, tx, T).tolist() == [0.0] * 5


def test_expected_transactions_grow_with_the_horizon_and_frequency():
    fit = fitted()
    horizons = [1, 4, 13, 26, 52, 104, 260]
    values = [fit.expected_transactions(t, [3], [30.0], [38.86])[0] for t in horizons]
    assert values == sorted(values) and values[0] > 0
    by_frequency = fit.expected_transactions(52, [1, 2, 5, 10], [38.0] * 4, [38.86] * 4)
    assert np.all(np.diff(by_frequency) > 0)


def test_hypergeometric_path_is_stable_over_cdnow_ranges():
    """SciPy's ₂F₁ (Pfaff form) against the integral it equals, computed by quadrature, over the ranges
    CDNOW data and year-long horizons produce; and finite, bounded values where ₂F₁ overflows."""
    params = dict(zip(("r", "alpha", "a", "b"), CDNOW, strict=True))
    worst = 0.0
    for x in (0, 1, 2, 5, 10, 29, 60):
        for T in (1.0, 10.0, 27.0, 38.86, 78.0):
            for t in (1.0, 4.35, 13.0, 52.0, 104.0, 260.0):
                base = np.array([params["alpha"] + T])
                fast = expectations._expected_given_alive(params, t, np.array([float(x)]), base)[0]
                slow = expectations._expected_quadrature(params["r"] + x, t / base[0], params["a"], params["b"] + x)
                worst = max(worst, abs(fast - slow) / slow)
    assert worst < 1e-8
    fit = fitted()
    extreme = fit.expected_transactions(520.0, [100, 500, 2000], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    assert np.all(np.isfinite(extreme)) and np.all(np.diff(extreme) > 0)
    r, al = CDNOW[:2]
    assert np.all(extreme <= (r + np.array([100, 500, 2000])) * 520 / (al + 1))


def test_expected_new_customer_transactions_match_simulation():
    fit = fitted()
    rng = np.random.default_rng(9)
    n, t = 400_000, 39.0
    lam = rng.gamma(CDNOW[0], 1 / CDNOW[1], n)
    drop = rng.beta(CDNOW[2], CDNOW[3], n)
    counts = np.minimum(rng.poisson(lam * t), rng.geometric(drop))
    mean, se = counts.mean(), counts.std() / math.sqrt(n)
    assert abs(fit.expected_transactions_new(t)[0] - mean) < 4 * se


def test_count_distribution_is_a_distribution():
    fit = fitted()
    probs = expectations._prob_count(fit.params, np.array([0.5, 10.0, 38.86]), np.arange(400))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert np.all(probs >= 0)
    # P(X(t)=0) by hand: B(a,b)/B(a,b)·(α/(α+t))^r  (nobody drops out before a first repeat purchase)
    r, al, a, b = CDNOW
    assert probs[1, 0] == pytest.approx((al / (al + 10.0)) ** r)
    assert probs[1, 2] > 0 and math.isclose(math.exp(betaln(a, b)), math.exp(betaln(a, b)))


# --------------------------------------------------------------------------------------------------
# Spend and lifetime value


def test_conditional_expected_spend_is_the_weighted_mean():
    gg = clv.GammaGammaFit(p=6.25, q=3.74, gamma=15.44, se={}, covariance=np.zeros((3, 3)), log_likelihood=0.0,
                           n_customers=0, n_excluded=0, frequency_spend_correlation=0.0, converged=True,
                           iterations=0, evaluations=0, message="")
    spend = gg.conditional_expected_spend([0, 1, 4], [0.0, 20.0, 50.0])
    population = 6.25 * 15.44 / 2.74
    assert spend[0] == pytest.approx(population)
    for i, (x, z) in enumerate(((1, 20.0), (4, 50.0)), start=1):
        weight = 6.25 * x / (6.25 * x + 3.74 - 1)
        assert spend[i] == pytest.approx((1 - weight) * population + weight * z)


def test_lifetime_value_discretisation():
    fit = fitted()
    x, tx, T = np.array([0.0, 2, 6]), np.array([0.0, 30.43, 36.0]), np.full(3, 38.86)
    spend = np.array([35.0, 24.66, 50.0])
    u = clv.UNITS_PER_MONTH["week"]
    one = clv.customer_lifetime_value(fit, x, tx, T, spend, months=1, discount_rate=0.0)
    np.testing.assert_allclose(one, fit.expected_transactions(u, x, tx, T) * spend)
    # no discount: the increments telescope to the cumulative expectation
    year = clv.customer_lifetime_value(fit, x, tx, T, spend, months=12, discount_rate=0.0)
    np.testing.assert_allclose(year, fit.expected_transactions(12 * u, x, tx, T) * spend)
    # with a discount: Σ increment_i·spend/(1+d)^i
    d = 0.01
    cumulative = [fit.expected_transactions(i * u, x, tx, T) for i in range(13)]
    hand = sum((cumulative[i] - cumulative[i - 1]) * spend / (1 + d) ** i for i in range(1, 13))
    np.testing.assert_allclose(clv.customer_lifetime_value(fit, x, tx, T, spend, months=12, discount_rate=d), hand)
    assert np.all(clv.customer_lifetime_value(fit, x, tx, T, spend, months=12, discount_rate=0.05) < year)


def test_predict_clv_aligns_every_array_with_the_input():
    data = np.loadtxt(SPEND, delimiter=",", skiprows=1)
    result = clv.predict_clv(data[:, 1], data[:, 2], data[:, 3], data[:, 4], horizon_months=12)
    assert result.gamma_gamma is not None and result.notes == []
    assert result.clv is not None and result.expected_spend is not None
    for arr in (result.expected_transactions, result.p_alive, result.expected_spend, result.clv):
        assert arr.shape == (2357,) and np.all(np.isfinite(arr)) and np.all(arr >= 0)
    i = 0  # customer 1: x=2, t_x=30.43, T=38.86, zbar=22.35
    assert result.expected_transactions[i] == pytest.approx(
        result.bgnbd.expected_transactions(result.horizon, [2], [30.43], [38.86])[0])
    assert result.horizon == pytest.approx(12 * clv.UNITS_PER_MONTH["week"])


def test_predict_clv_keeps_the_transaction_model_when_the_spend_model_fails():
    x, tx, T, _z = simulate(2000, seed=10)
    result = clv.predict_clv(x, tx, T, np.where(x > 0, 20.0, 0.0))      # every repeat buyer spends 20
    assert result.gamma_gamma is None and result.clv is None and result.expected_spend is None
    assert any("same spend" in note["message"] for note in result.notes)
    assert np.all(np.isfinite(result.expected_transactions))


# --------------------------------------------------------------------------------------------------
# RFM summary


def test_rfm_summary_by_hand():
    customers = ["b", "a", "a", "a", "a", "b", "c"]
    dates = np.array(["2024-01-03", "2024-01-01", "2024-01-01", "2024-01-15", "2024-02-20", "2024-01-04",
                      "2024-03-05"], dtype="datetime64[D]")
    amounts = [5.0, 10.0, 2.0, 30.0, 40.0, 7.0, 1.0]
    s = clv.rfm_summary(customers, dates, amounts, period="day", unit="day", calibration_end="2024-01-31")
    assert s.customers.tolist() == ["a", "b"] and s.n_late == 1           # c starts after the calibration end
    assert s.frequency.tolist() == [1.0, 1.0]          # a: 1 Jan (twice) and 15 Jan; b: 3 and 4 Jan
    assert s.recency.tolist() == [14.0, 1.0] and s.T.tolist() == [30.0, 28.0]
    assert s.monetary_value is not None and s.monetary_value.tolist() == [30.0, 7.0]   # same-day amounts add up
    assert s.holdout_frequency is not None and s.holdout_frequency.tolist() == [1.0, 0.0]   # a on 20 Feb
    assert s.holdout_length == 34.0                     # to 5 March, the last date
    weekly = clv.rfm_summary(customers, dates, amounts, period="week", unit="week", calibration_end="2024-01-31")
    assert weekly.frequency.tolist() == [1.0, 0.0]     # b's two purchases fall in one week (Mon 1 – Sun 7 Jan)
    assert weekly.recency.tolist() == [2.0, 0.0] and weekly.T.tolist() == [4.0, 4.0]
    monthly = clv.rfm_summary(customers, dates, None, period="month", unit="month")
    assert monthly.frequency.tolist() == [1.0, 0.0, 0.0] and monthly.T.tolist() == [2.0, 2.0, 0.0]
    assert monthly.monetary_value is None and monthly.holdout_frequency is None


def test_rfm_summary_bad_input():
    with pytest.raises(ModelError, match="period and unit"):
        clv.rfm_summary(["a"], np.array(["2024-01-01"], dtype="datetime64[D]"), period="hour")
    with pytest.raises(ModelError, match="empty"):
        clv.rfm_summary([], np.array([], dtype="datetime64[D]"))
    with pytest.raises(ModelError, match="no date"):
        clv.rfm_summary(["a", "b"], np.array(["2024-01-01", "NaT"], dtype="datetime64[D]"))
    with pytest.raises(ModelError, match="not a date"):
        clv.rfm_summary(["a"], np.array(["2024-01-01"], dtype="datetime64[D]"), calibration_end="31.01.2024")
    with pytest.raises(ModelError, match="before the calibration end"):
        clv.rfm_summary(["a"], np.array(["2024-01-01"], dtype="datetime64[D]"), calibration_end="2024-02-01",
                        observation_end="2024-01-15")


# --------------------------------------------------------------------------------------------------
# Bad input: a clear ModelError with a translatable template


def assert_model_error(call, *words):
    with pytest.raises(ModelError) as info:
        call()
    exc = info.value
    assert isinstance(exc, ValueError) and exc.template % exc.params == str(exc)
    for word in words:
        assert word in str(exc)
    return exc


def test_no_repeat_buyers():
    T = np.full(30, 20.0)
    assert_model_error(lambda: clv.fit_bgnbd(np.zeros(30), np.zeros(30), T), "No customer made a repeat purchase")
    assert_model_error(lambda: clv.fit_gamma_gamma(np.zeros(30), np.zeros(30)), "frequency above 0")


def test_recency_above_T_negative_nan_and_fractions():
    x, tx, T = np.array([1.0, 2, 0] * 5), np.array([3.0, 40, 0] * 5), np.array([10.0, 30, 10] * 5)
    exc = assert_model_error(lambda: clv.fit_bgnbd(x, tx, T), "recency cannot exceed T", "row 2")
    assert exc.params["row"] == 2
    assert_model_error(lambda: clv.fit_bgnbd([-1.0] * 12, [0.0] * 12, [5.0] * 12), "must not be negative")
    assert_model_error(lambda: clv.fit_bgnbd([1.0, np.nan] * 6, [1.0] * 12, [5.0] * 12), "missing or infinite")
    assert_model_error(lambda: clv.fit_bgnbd([1.5] * 12, [1.0] * 12, [5.0] * 12), "whole number")
    assert_model_error(lambda: clv.fit_bgnbd([0.0] * 12, [1.0] * 12, [5.0] * 12), "recency of")
    assert_model_error(lambda: clv.fit_bgnbd([1.0] * 12, [1.0] * 11, [5.0] * 12), "lengths differ")
    assert_model_error(lambda: clv.fit_bgnbd(["a"] * 12, [1.0] * 12, [5.0] * 12), "must be numbers")
    assert_model_error(lambda: clv.fit_gamma_gamma([1, 2, 3] * 4, [10.0, -1.0, 5.0] * 4), "cannot be negative", "row 2")
    assert_model_error(lambda: clv.fit_gamma_gamma([1, 2] * 8, [0.0] * 16), "No repeat buyer has a spend above 0")


def test_zero_spend_repeat_buyers_are_left_out_of_the_spend_fit_and_get_the_population_mean():
    data = np.loadtxt(SPEND, delimiter=",", skiprows=1)
    x, z = data[:, 1], data[:, 4]
    first = int(np.argmax(x > 0))
    z_with_zero = z.copy()
    z_with_zero[first] = 0.0
    keep = np.arange(x.size) != first
    clean, with_zero = clv.fit_gamma_gamma(x[keep], z[keep]), clv.fit_gamma_gamma(x, z_with_zero)
    assert with_zero.n_zero_spend == 1 and with_zero.first_zero_spend == first + 1
    assert with_zero.params == pytest.approx(clean.params, rel=1e-6)     # the same fit as without that row
    spend = with_zero.conditional_expected_spend(x, z_with_zero)
    assert spend[first] == pytest.approx(with_zero.population_mean_spend)


def test_a_likelihood_rising_without_end_names_the_parameter_at_the_edge():
    """The guard, on an objective that has no maximum by construction (so no optimiser can find one):
    the log-likelihood rises for ever with the second parameter."""
    def rising(params):
        a, b = params
        return -(np.log(a) ** 2) + np.log(b), np.array([-2 * np.log(a) / a, 1 / b])

    exc = assert_model_error(lambda: optimiser._maximise(rising, np.zeros(2), ["a", "b"], "Test"),
                             "did not converge", "ran to the edge")
    assert exc.params["params"] == "b"


def test_a_likelihood_with_a_ridge_has_no_clear_maximum():
    """The guard, on an objective whose maximum is a whole line (only the ratio of the two parameters is
    identified): the Hessian is singular, so there is no covariance and no clear maximum."""
    def ridge(params):
        a, b = params
        d = np.log(a) - np.log(b)
        return -(d ** 2), np.array([-2 * d / a, 2 * d / b])

    assert_model_error(lambda: optimiser._maximise(ridge, np.array([0.0, 1.0]), ["a", "b"], "Test"),
                       "did not converge", "no clear maximum")


def test_too_few_rows_and_non_convergence():
    assert_model_error(lambda: clv.fit_bgnbd([1.0, 0], [1.0, 0], [5.0, 5]), "Too few customers")
    assert_model_error(lambda: clv.fit_gamma_gamma([1.0, 2.0], [10.0, 12.0]), "Too few repeat buyers")
    # degenerate by construction: everybody bought at the very end, so nobody ever drops out and the
    # likelihood's supremum lies at a drop-out probability of 0 (b without bound), outside any range
    assert_model_error(lambda: clv.fit_bgnbd([5.0] * 50, [10.0] * 50, [10.0] * 50), "did not converge")
    assert_model_error(lambda: clv.fit_gamma_gamma([2.0] * 20, [5.0] * 20), "same spend")
    fit = fitted()
    assert_model_error(lambda: fit.expected_transactions(-1, [1], [1.0], [2.0]), "horizon")
    assert_model_error(lambda: clv.customer_lifetime_value(fit, [1], [1.0], [2.0], [5.0], months=0), "months")
    assert_model_error(lambda: clv.customer_lifetime_value(fit, [1], [1.0], [2.0], [5.0], discount_rate=2.0),
                       "discount rate")


def test_degenerate_fit_predicts_without_quadrature_and_matches_the_posterior_mean():
    """When the BG/NBD degenerates (a, b without bound: one drop-out probability for all), the expected
    transactions come from the concentrated Beta posterior in one vectorised step (issue 18, item 8): it
    agrees with a Monte Carlo average over the posterior, where the per-customer quadrature returned 0 for
    very active customers (the integrand is a spike it steps over)."""
    params = {"r": 0.38, "alpha": 0.18, "a": 2.8e6, "b": 5.5e7}
    x = np.array([49.0, 3.0, 0.0, 12.0])
    T = np.array([21.4, 40.0, 30.0, 60.0])
    s_base = params["alpha"] + T
    got = expectations._expected_given_alive(params, 52.0, x, s_base)
    rng = np.random.default_rng(0)
    for i in range(x.size):
        p = rng.beta(params["a"], params["b"] + x[i], size=400_000)
        big_a = params["r"] + x[i]
        monte_carlo = np.mean(-np.expm1(-big_a * np.log1p(p * 52.0 / s_base[i])) / p)
        assert got[i] == pytest.approx(monte_carlo, rel=1e-5)
    assert got[0] > 10                                      # a frequent buyer keeps buying


def test_degenerate_fit_says_so(monkeypatch):
    rng = np.random.default_rng(0)
    n = 3000
    lam, T = rng.gamma(0.5, 5.0, n), rng.uniform(20, 80, n)
    x, tx = np.zeros(n), np.zeros(n)
    for i in range(n):                                     # every customer drops out with p = 0.05 after a purchase
        t = last = 0.0
        k = 0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T[i]:
                break
            k, last = k + 1, t
            if rng.random() < 0.05:
                break
        x[i], tx[i] = max(k - 1, 0), last if k > 1 else 0.0
    fit = clv.fit_bgnbd(x, tx, T)
    assert any("very large" in w["message"] for w in fit.warnings)
    calls = []
    monkeypatch.setattr(expectations, "_expected_quadrature", lambda *args: calls.append(args) or 0.0)
    expected = fit.expected_transactions(52, x, tx, T)
    assert not calls and np.all(np.isfinite(expected)) and expected.max() > 1


def test_an_early_stop_of_the_quasi_newton_search_is_reported_not_hidden(monkeypatch):
    """L-BFGS-B can end with ABNORMAL_TERMINATION_IN_LNSRCH near the optimum (it did on the Gamma-Gamma fit
    at a million customers); the Newton polish finishes the job, and the fit says what happened."""
    real = optimiser.optimize.minimize

    def abnormal(*args, **kwargs):
        result = real(*args, **kwargs)
        result.success, result.message = False, "ABNORMAL_TERMINATION_IN_LNSRCH"
        return result

    monkeypatch.setattr(optimiser.optimize, "minimize", abnormal)
    data = np.loadtxt(SPEND, delimiter=",", skiprows=1)
    gg = clv.fit_gamma_gamma(data[:, 1], data[:, 4])
    assert gg.converged and gg.message == "ABNORMAL_TERMINATION_IN_LNSRCH"
    assert gg.search_status == "line_search" and gg.gradient_norm < 1e-9
    assert gg.as_dict()["search_status"] == "line_search"
    assert any("line search could not improve the likelihood any further (ABNORMAL_TERMINATION_IN_LNSRCH)"
               in w["message"] for w in gg.warnings)
    assert gg.params == pytest.approx(PUBLISHED_GG, rel=2e-3)
    result = clv.predict_clv(data[:, 1], data[:, 2], data[:, 3], data[:, 4])
    assert sum("ended early" in n["message"] for n in result.notes) == 2        # both fits
    assert result.bgnbd.search_status == "line_search"


def one_rate_histories(rng, lam: float, T: np.ndarray, drop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repeat purchases (x, t_x) of customers who all buy at rate ``lam``: the first purchase at 0, then each
    repeat until T, after each of which customer i drops out with probability ``drop[i]``."""
    x, tx = np.zeros(T.size), np.zeros(T.size)
    for i in range(T.size):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam)
            if t > T[i]:
                break
            x[i], tx[i] = x[i] + 1, t
            if rng.random() < drop[i]:
                break
    return x, tx


def test_one_purchase_rate_for_everyone_is_a_fit_not_a_failure(monkeypatch):
    """The other degenerate BG/NBD (r and α without bound, r/α fixed): every active customer buys at the same
    rate, so the Gamma of rates is a point mass. ``bcrm demo`` portfolios are like that, and the fit used to be
    refused ("alpha ran to the edge"), leaving every client without lifetime-value features. Now it stands,
    says so, recovers the rate, and predicts in one vectorised step (no quadrature per customer) what a
    Monte Carlo average over the posterior of the drop-out probability gives."""
    rng = np.random.default_rng(7)
    n, lam, a, b = 4000, 0.4, 1.6, 6.0
    T = rng.uniform(24, 60, n)
    drop = rng.beta(a, b, n)
    x, tx = one_rate_histories(rng, lam, T, drop)
    fit = clv.fit_bgnbd(x, tx, T)
    assert fit.r > 1e4 and fit.alpha > 1e4
    assert fit.r / fit.alpha == pytest.approx(lam, rel=0.05)
    assert fit.a == pytest.approx(a, rel=0.3) and fit.b == pytest.approx(b, rel=0.3)
    assert any("same purchase rate" in w["message"] for w in fit.warnings)
    calls = []
    monkeypatch.setattr(expectations, "_expected_quadrature", lambda *args: calls.append(args) or 0.0)
    expected = fit.expected_transactions(12, x, tx, T)
    assert not calls and np.all(np.isfinite(expected)) and np.all(expected >= 0)
    params = {"r": fit.r, "alpha": fit.alpha, "a": fit.a, "b": fit.b}
    rows = np.array([0, 1, 2, int(np.argmax(x))])
    given_alive = expectations._expected_given_alive(params, 12.0, x[rows], fit.alpha + T[rows])
    for i, row in enumerate(rows):
        p = rng.beta(fit.a, fit.b + x[row], size=400_000)
        big_a = fit.r + x[row]
        monte_carlo = np.mean(-np.expm1(-big_a * np.log1p(p * 12.0 / (fit.alpha + T[row]))) / p)
        assert given_alive[i] == pytest.approx(monte_carlo, rel=2e-3)


def test_one_rate_and_one_drop_out_probability_for_everyone_fits_as_the_demo_needs(monkeypatch):
    """Both limits at once (every active customer buys at one rate and drops out with one probability), as
    in a large ``bcrm demo`` portfolio, where the four-parameter search stops on the ridge ("alpha ran to the
    edge", or "no clear maximum"): the fit stands in that limit, recovers the rate and the probability, says
    both, and predicts without quadrature. Data where nobody ever drops out stay refused (the case above)."""
    rng = np.random.default_rng(12)
    n, lam, p = 5000, 0.3, 0.15
    T = rng.uniform(12, 48, n)
    x, tx = one_rate_histories(rng, lam, T, np.full(n, p))
    fit = clv.fit_bgnbd(x, tx, T)
    assert fit.r / fit.alpha == pytest.approx(lam, rel=0.05)
    assert fit.a / (fit.a + fit.b) == pytest.approx(p, abs=0.02)
    messages = " ".join(w["message"] for w in fit.warnings)
    assert "same purchase rate" in messages and "same drop-out probability" in messages
    calls = []
    monkeypatch.setattr(expectations, "_expected_quadrature", lambda *args: calls.append(args) or 0.0)
    expected = fit.expected_transactions(12, x, tx, T)
    alive = fit.probability_alive(x, tx, T)
    assert not calls and np.all(np.isfinite(expected)) and np.all((alive >= 0) & (alive <= 1))
    # A customer seen buying just now stayed with probability 1 − p after that purchase, then buys at the rate
    # and may drop out after each purchase: (1 − p)·(1 − e^−pλt)/p in the next t = 12.
    recent = int(np.argmax(np.where(T - tx < 0.05, x, -1)))
    assert alive[recent] == pytest.approx(1 - p, abs=0.03)
    assert expected[recent] == pytest.approx((1 - p) * -np.expm1(-p * lam * 12) / p, rel=0.05)


def test_the_million_client_demo_portfolio_fits_in_the_limit():
    """The summary a 1M-client ``bcrm demo`` gives the value dimension's fit (tests/data/demo_clv): the
    four-parameter search ran to the edge there, and so did the one-rate limit's own search for a and b (the
    run logged "CLV features missing for everyone"). The fit stands, in the limit of one rate and one
    drop-out probability, with the portfolio's rate and probability."""
    rows = np.loadtxt(DEMO_RFM, delimiter=",", skiprows=1)
    x, tx, T, customers = rows.T
    fit = clv.fit_bgnbd(x, tx, T, weights=customers)
    messages = " ".join(w["message"] for w in fit.warnings)
    assert "same purchase rate" in messages
    assert fit.r / fit.alpha == pytest.approx(0.052, rel=0.1)          # commitments a month while active
    assert fit.a / (fit.a + fit.b) == pytest.approx(0.13, abs=0.02)    # drop-out after a commitment
    prediction = clv.predict_clv(x, tx, T, None, horizon_months=12, units_per_month=1.0, weights=customers)
    assert np.all(np.isfinite(prediction.expected_transactions)) and np.all(np.isfinite(prediction.p_alive))
