"""KPI statistics (bcrm.stats.kpistats) against hand-computed values, with properties and bad input."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from bcrm.stats import ModelError, kpistats

Z95 = 1.959963984540054


# --------------------------------------------------------------------------------------------------
# NPS


def test_nps_by_hand():
    # promoters 10, 9, 9, 10, 10 (5); passives 8, 7 (2); detractors 6, 5, 0 (3); n = 10
    result = kpistats.nps([10, 9, 9, 8, 7, 6, 5, 0, 10, 10])
    assert (result.promoters, result.passives, result.detractors, result.n) == (5, 2, 3, 10)
    assert result.nps == pytest.approx(20.0)
    # Var = (0.5 + 0.3 − 0.2²)/10 = 0.076; half-width 100 · 1.959964 · √0.076 = 54.03248
    assert result.ci_low == pytest.approx(20.0 - 54.03248, abs=1e-4)
    assert result.ci_high == pytest.approx(20.0 + 54.03248, abs=1e-4)


def test_nps_missing_answers_are_left_out_and_bounds_hold():
    result = kpistats.nps([10, None, 10, math.nan, 9])
    assert result.n == 3 and result.nps == 100.0
    assert result.ci_low == 100.0 and result.ci_high == 100.0        # no spread: the interval is a point
    assert kpistats.nps([0, 1, 2]).nps == -100.0


def test_nps_without_answers_is_none_not_zero():
    assert kpistats.nps([]) == (None, 0, 0, 0, 0, None, None)
    assert kpistats.nps([None, None]).nps is None


@pytest.mark.parametrize("bad", [[11], [-1], [7.5], ["ten"]])
def test_nps_refuses_scores_outside_the_scale(bad):
    with pytest.raises(ModelError):
        kpistats.nps(bad)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10), min_size=1, max_size=300), st.floats(0.001, 0.5))
def test_nps_interval_contains_the_score_and_stays_on_the_scale(scores, alpha):
    result = kpistats.nps(scores, alpha=alpha)
    assert -100.0 <= result.ci_low <= result.nps <= result.ci_high <= 100.0
    assert result.promoters + result.passives + result.detractors == result.n == len(scores)
    assert result.nps == pytest.approx(100.0 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores))
                                       / len(scores))


# --------------------------------------------------------------------------------------------------
# Means and proportions


def test_mean_ci_by_hand():
    # mean 5, s² = 32/7, s = 2.13809, se = 0.75593; t(0.975, 7) = 2.364624 → half-width 1.787488
    result = kpistats.mean_ci([2, 4, 4, 4, 5, 5, 7, 9])
    assert result.mean == 5.0 and result.n == 8
    assert result.sd == pytest.approx(math.sqrt(32 / 7))
    assert result.ci_low == pytest.approx(5.0 - 1.787488, abs=1e-6)
    assert result.ci_high == pytest.approx(5.0 + 1.787488, abs=1e-6)


def test_mean_ci_small_samples():
    assert kpistats.mean_ci([]) == (None, None, None, 0, None)
    assert kpistats.mean_ci([4.0, None]) == (4.0, None, None, 1, None)
    with pytest.raises(ModelError, match="finite"):
        kpistats.mean_ci([1.0, math.inf])
    with pytest.raises(ModelError, match="significance level"):
        kpistats.mean_ci([1.0, 2.0], alpha=True)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=100), st.floats(0.001, 0.5))
def test_mean_ci_agrees_with_scipy(values, alpha):
    result = kpistats.mean_ci(values, alpha=alpha)
    arr = np.array(values)
    if arr.std() == 0:
        assert result.ci_low == pytest.approx(result.mean) and result.ci_high == pytest.approx(result.mean)
        return
    low, high = sps.t.interval(1 - alpha, arr.size - 1, loc=arr.mean(), scale=sps.sem(arr))
    assert result.ci_low == pytest.approx(low, rel=1e-9, abs=1e-6)
    assert result.ci_high == pytest.approx(high, rel=1e-9, abs=1e-6)


def test_wilson_by_hand():
    # 8 of 10: centre (0.8 + z²/20)/(1 + z²/10) = 0.716738; half z·√(0.016 + z²/400)/(1 + z²/10) = 0.226578
    result = kpistats.proportion_ci(8, 10)
    assert result.share == 0.8
    assert result.ci_low == pytest.approx(0.490160, abs=1e-5)
    assert result.ci_high == pytest.approx(0.943316, abs=1e-5)
    # 0 of 10: [0, z²/10 / (1 + z²/10)] = [0, 0.277533]
    none = kpistats.proportion_ci(0, 10)
    assert none.ci_low == 0.0 and none.ci_high == pytest.approx(0.277533, abs=1e-5)
    assert kpistats.proportion_ci(10, 10).ci_high == 1.0


def test_wilson_bad_input():
    assert kpistats.proportion_ci(0, 0) == (None, None, None, 0, 0)
    with pytest.raises(ModelError, match="cannot exceed"):
        kpistats.proportion_ci(5, 4)
    with pytest.raises(ModelError, match="whole number"):
        kpistats.proportion_ci(-1, 4)
    with pytest.raises(ModelError, match="whole number"):
        kpistats.proportion_ci(1.5, 4)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.floats(0.001, 0.5))
def test_wilson_interval_is_proper(case, alpha):
    k, n = case
    result = kpistats.proportion_ci(k, n, alpha)
    assert 0.0 <= result.ci_low <= result.share <= result.ci_high <= 1.0
    wider = kpistats.proportion_ci(k, n, alpha / 2)
    assert wider.ci_low <= result.ci_low + 1e-12 and wider.ci_high >= result.ci_high - 1e-12


# --------------------------------------------------------------------------------------------------
# Concentration


def test_lorenz_top_share_and_gini_by_hand():
    x, y = kpistats.lorenz([4, 1, 3, 2])
    assert x.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert y.tolist() == pytest.approx([0.0, 0.1, 0.3, 0.6, 1.0])
    assert kpistats.top_share([4, 1, 3, 2], 0.25) == pytest.approx(0.4)        # the top client holds 4/10
    assert kpistats.top_share([4, 1, 3, 2], 0.5) == pytest.approx(0.7)
    assert kpistats.top_share([4, 1, 3, 2], 0.125) == pytest.approx(0.2)       # half of the top client
    assert kpistats.gini([1, 2, 3, 4]) == pytest.approx(0.25)                  # Σ|xi − xj| / (2n²μ) = 20/80
    assert kpistats.gini([0, 0, 0, 5]) == pytest.approx(0.75)                  # (n − 1)/n


def test_concentration_degenerate_and_bad_input():
    assert [a.tolist() for a in kpistats.lorenz([])] == [[0.0, 1.0], [0.0, 1.0]]
    x, y = kpistats.lorenz([0, 0, 0])
    assert y.tolist() == x.tolist()
    assert kpistats.top_share([], 0.2) is None and kpistats.top_share([0, 0], 0.2) is None
    assert kpistats.gini([0, 0]) is None
    with pytest.raises(ModelError, match="negative"):
        kpistats.lorenz([1, -1])
    with pytest.raises(ModelError, match="missing"):
        kpistats.lorenz([1, None])
    with pytest.raises(ModelError, match="between 0 and 1"):
        kpistats.top_share([1, 2], 1.2)


amounts = st.lists(st.floats(0, 1e9), min_size=1, max_size=200)


@settings(max_examples=150, deadline=None)
@given(amounts)
def test_lorenz_runs_from_0_to_1_rising_and_below_the_diagonal(values):
    x, y = kpistats.lorenz(values)
    assert (x[0], y[0]) == (0.0, 0.0) and (x[-1], y[-1]) == (1.0, 1.0)
    assert len(x) == len(y) == len(values) + 1
    assert (np.diff(x) > 0).all() and (np.diff(y) >= -1e-12).all()
    assert (y <= x + 1e-9).all()
    steps = np.diff(y)
    assert (np.diff(steps) >= -1e-9).all()               # convex: each next client holds at least as much


@settings(max_examples=150, deadline=None)
@given(amounts, st.floats(0, 1), st.floats(0, 1))
def test_top_share_is_at_least_the_share_and_grows_with_it(values, q1, q2):
    if sum(values) == 0:
        assert kpistats.top_share(values, q1) is None
        return
    low, high = sorted((q1, q2))
    s_low, s_high = kpistats.top_share(values, low), kpistats.top_share(values, high)
    assert low - 1e-9 <= s_low <= s_high + 1e-9 <= 1.0 + 2e-9
    assert kpistats.top_share(values, 1.0) == pytest.approx(1.0)
    assert kpistats.top_share(values, 0.0) == pytest.approx(0.0, abs=1e-9)
    g = kpistats.gini(values)
    assert 0.0 <= g <= 1.0 - 1.0 / len(values) + 1e-9


# --------------------------------------------------------------------------------------------------
# Cadence adherence


D = dt.date


def test_cadence_on_time_late_and_missed_by_hand():
    due = [D(2026, 3, 2), D(2026, 3, 2), D(2026, 3, 2), D(2026, 3, 2), D(2026, 3, 9)]
    done = [D(2026, 2, 27),   # early: on time
            D(2026, 3, 4),    # due + 2 with a grace of 2: on time (the last day counts)
            D(2026, 3, 5),    # due + 3: late
            None,             # missed
            D(2026, 3, 9)]    # on the day: on time
    result = kpistats.cadence_adherence(due, done, grace_days=2)
    assert (result.on_time, result.late, result.missed, result.pending, result.judged) == (3, 1, 1, 0, 5)
    assert result.share == pytest.approx(0.6)
    wilson = kpistats.proportion_ci(3, 5)
    assert (result.ci_low, result.ci_high) == (wilson.ci_low, wilson.ci_high)
    strict = kpistats.cadence_adherence(due, done, grace_days=0)
    assert (strict.on_time, strict.late) == (2, 2)


def test_cadence_as_of_leaves_open_windows_pending():
    due = [D(2026, 3, 2), D(2026, 3, 2), D(2026, 3, 10), D(2026, 3, 20), D(2026, 3, 1)]
    done = [None, D(2026, 3, 3), None, D(2026, 3, 1), None]
    # as of 12 March, grace 3: the first is missed (window ended 5 March), the second on time, the third
    # still open (window ends 13 March), the fourth not due yet (done early), the fifth missed.
    result = kpistats.cadence_adherence(due, done, grace_days=3, as_of=D(2026, 3, 12))
    assert (result.on_time, result.late, result.missed, result.pending) == (1, 0, 2, 2)
    assert result.share == pytest.approx(1 / 3)
    last_day = kpistats.cadence_adherence([D(2026, 3, 10)], [None], grace_days=3, as_of=D(2026, 3, 13))
    assert last_day.pending == 1 and last_day.share is None       # it can still be done today
    assert kpistats.cadence_adherence([D(2026, 3, 10)], [None], 3, as_of=D(2026, 3, 14)).missed == 1


def test_cadence_accepts_numpy_dates_and_empty_input():
    due = np.array(["2026-01-05", "2026-01-12"], dtype="datetime64[D]")
    done = np.array(["2026-01-05", "NaT"], dtype="datetime64[D]")
    result = kpistats.cadence_adherence(due, done)
    assert (result.on_time, result.missed) == (1, 1)
    assert kpistats.cadence_adherence([], []).share is None
    assert result.as_dict()["share"] == 0.5


def test_cadence_bad_input():
    with pytest.raises(ModelError, match="local date"):
        kpistats.cadence_adherence([dt.datetime(2026, 1, 1, tzinfo=dt.UTC)], [None])
    with pytest.raises(ModelError, match="local date"):
        kpistats.cadence_adherence(np.array(["2026-01-01T23:00"], dtype="datetime64[m]"), [None])
    with pytest.raises(ModelError, match="local date"):
        kpistats.cadence_adherence([np.datetime64("2026-01-01T23:00")], [None])
    with pytest.raises(ModelError, match="one done date"):
        kpistats.cadence_adherence([D(2026, 1, 1)], [])
    with pytest.raises(ModelError, match="due date"):
        kpistats.cadence_adherence([None], [None])
    with pytest.raises(ModelError, match="whole number"):
        kpistats.cadence_adherence([D(2026, 1, 1)], [None], grace_days=-1)
    with pytest.raises(ModelError, match="must be dates"):
        kpistats.cadence_adherence(["2026-01-01"], [None])
    with pytest.raises(ModelError, match="calendar date"):
        kpistats.cadence_adherence([D(2026, 1, 1)], [None], as_of=dt.datetime(2026, 1, 2, tzinfo=dt.UTC))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.one_of(st.none(), st.integers(-10, 80))), max_size=60),
       st.integers(0, 10), st.one_of(st.none(), st.integers(0, 70)))
def test_cadence_counts_add_up_and_grace_only_helps(rows, grace, today):
    start = D(2026, 1, 1)
    due = [start + dt.timedelta(days=d) for d, _ in rows]
    done = [None if k is None else start + dt.timedelta(days=d + k) for d, k in rows]
    as_of = None if today is None else start + dt.timedelta(days=today)
    result = kpistats.cadence_adherence(due, done, grace, as_of=as_of)
    assert result.on_time + result.late + result.missed + result.pending == len(rows)
    assert result.judged == result.on_time + result.late + result.missed
    more = kpistats.cadence_adherence(due, done, grace + 1, as_of=as_of)
    assert more.on_time >= result.on_time
    if as_of is None:
        assert result.pending == 0 and more.missed == result.missed


# --------------------------------------------------------------------------------------------------
# From aggregates (what the bulk snapshot queries return)


def test_nps_from_counts_equals_nps_of_the_answers():
    answers = [10, 9, 9, 8, 7, 6, 5, 0, 10, 10]
    assert kpistats.nps_from_counts(5, 2, 3) == kpistats.nps(answers)
    assert kpistats.nps_from_counts(np.int64(5), 2, 3).nps == pytest.approx(20.0)
    assert kpistats.nps_from_counts(0, 0, 0).nps is None
    with pytest.raises(ModelError, match="whole numbers"):
        kpistats.nps_from_counts(-1, 2, 3)
    with pytest.raises(ModelError, match="whole numbers"):
        kpistats.nps_from_counts(1.5, 2, 3)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 5), max_size=200), st.floats(0.001, 0.5))
def test_mean_from_sums_equals_mean_of_the_values(values, alpha):
    arr = np.array(values, dtype=float)
    direct = kpistats.mean_ci(arr, alpha)
    bulk = kpistats.mean_ci_from_sums(len(values), float(arr.sum()), float((arr * arr).sum()), alpha)
    assert bulk.n == direct.n
    for got, want in zip(bulk, direct, strict=True):
        assert (got is None) == (want is None)
        if want is not None:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_mean_from_sums_bad_input():
    with pytest.raises(ModelError, match="whole number"):
        kpistats.mean_ci_from_sums(-2, 1.0, 1.0)
    with pytest.raises(ModelError, match="finite"):
        kpistats.mean_ci_from_sums(2, math.nan, 1.0)
    with pytest.raises(ModelError, match="finite"):
        kpistats.mean_ci_from_sums(2, 1.0, -1.0)
    assert kpistats.mean_ci_from_sums(0, 0, 0).mean is None


def test_csat_by_hand():
    # answers 5, 4, 4, 3, 2 (+ one blank): mean 3.6, s² = 1.3, satisfied 3 of 5
    result = kpistats.csat([5, 4, None, 4, 3, 2])
    assert result.n == 5 and result.satisfied == 3
    assert result.mean == pytest.approx(3.6)
    half = sps.t.ppf(0.975, 4) * math.sqrt(1.3 / 5)               # 2.776445 · 0.509902 = 1.415715
    assert half == pytest.approx(1.415715, abs=1e-6)
    assert (result.mean_ci_low, result.mean_ci_high) == pytest.approx((3.6 - half, 3.6 + half))
    assert result.share_satisfied == pytest.approx(0.6)
    wilson = kpistats.proportion_ci(3, 5)
    assert (result.share_ci_low, result.share_ci_high) == (wilson.ci_low, wilson.ci_high)
    assert kpistats.csat([]).mean is None and kpistats.csat([]).share_satisfied is None
    for bad in ([0], [6], [4.5], ["good"]):
        with pytest.raises(ModelError, match="satisfaction score"):
            kpistats.csat(bad)


def test_lorenz_read_at_fixed_points():
    x, y = kpistats.lorenz([4, 1, 3, 2], points=9)                 # x = 0, 0.125, …, 1
    assert x.tolist() == pytest.approx(np.linspace(0, 1, 9).tolist())
    assert y.tolist() == pytest.approx([0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0])
    big = np.random.default_rng(1).pareto(1.5, 100_000)
    x, y = kpistats.lorenz(big, points=101)
    assert len(x) == 101 and (y[0], y[-1]) == (0.0, 1.0)
    assert 1 - y[80] == pytest.approx(kpistats.top_share(big, 0.2))
    assert kpistats.lorenz([], points=5)[1].tolist() == np.linspace(0, 1, 5).tolist()
    with pytest.raises(ModelError, match="points"):
        kpistats.lorenz([1, 2], points=1)
