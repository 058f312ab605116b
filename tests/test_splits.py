"""Split methods against brute force on small populations, bad input, hysteresis, and one 1,000,000 run."""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from bcrm.segmentation import splits
from bcrm.segmentation.splits import SplitError

# Small integer-valued populations with many ties and zeros: float sums stay exact.
small_ints = st.lists(st.integers(min_value=0, max_value=12), min_size=0, max_size=9)
small_signed = st.lists(st.integers(min_value=-6, max_value=12), min_size=0, max_size=9)
small_floats = st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.25, 3.0, 7.5, 10.0, 100.0]), max_size=9)


def arr(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def assert_threshold_set(result: splits.SplitResult, scores: np.ndarray) -> None:
    """label = score >= threshold, equal scores equal labels, threshold = smallest upper score."""
    if result.threshold is None:
        assert not result.upper.any()
    else:
        assert np.array_equal(result.upper, scores >= result.threshold)
    for value in np.unique(scores):
        labels = result.upper[scores == value]
        assert labels.all() or not labels.any()
    assert result.diagnostics["n_upper"] == int(result.upper.sum())
    assert result.diagnostics["n_lower"] == scores.size - int(result.upper.sum())


def assert_json_plain(diagnostics: dict) -> None:
    text = json.dumps(diagnostics, allow_nan=False)
    assert json.loads(text) == diagnostics
    for value in diagnostics.values():
        assert value is None or type(value) in (bool, int, float, str, list, dict)


def sse(values: np.ndarray) -> float:
    return float(((values - values.mean()) ** 2).sum()) if values.size else 0.0


# --------------------------------------------------------------------------------------------------
# fixed


@given(small_signed, st.integers(min_value=-7, max_value=13))
@settings(deadline=None)
def test_fixed_is_score_at_or_above_the_line(values, theta):
    scores = arr(values)
    result = splits.split("fixed", scores, threshold=theta)
    assert np.array_equal(result.upper, scores >= theta)
    assert result.threshold == (float(theta) if (scores >= theta).any() else None)
    assert result.diagnostics["threshold"] == theta
    assert result.diagnostics["tied_at_threshold"] == (int((scores == theta).sum()) if result.threshold is not None else 0)
    assert_json_plain(result.diagnostics)


# --------------------------------------------------------------------------------------------------
# top_k / top_share


def best_threshold_set_size(scores: np.ndarray, k: int) -> int:
    """The largest class {score >= t} with at most k members (0 if none)."""
    sizes = [int((scores >= t).sum()) for t in np.unique(scores)]
    return max([size for size in sizes if size <= k], default=0)


@given(small_signed, st.integers(min_value=0, max_value=11))
@settings(deadline=None)
@example([5, 5, 5, 1], 2)
def test_top_k_never_exceeds_k_and_keeps_ties_together(values, k):
    scores = arr(values)
    result = splits.split("top_k", scores, k=k)
    assert_threshold_set(result, scores)
    d = result.diagnostics
    assert d["n_upper"] <= k
    assert d["n_upper"] == best_threshold_set_size(scores, k)
    assert d["requested"] == k and d["k"] == k
    if 0 < k < scores.size:
        kth = float(np.sort(scores)[::-1][k - 1])
        assert d["boundary_score"] == kth
        assert d["tied_at_boundary"] == int((scores == kth).sum())
        assert d["excluded_by_ties"] == k - d["n_upper"]
    assert_json_plain(d)


def test_top_k_ties_at_the_boundary_go_below():
    result = splits.split_top_k([9, 7, 7, 7, 1], 2)
    assert result.upper.tolist() == [True, False, False, False, False]
    assert result.threshold == 9
    assert result.diagnostics["tied_at_boundary"] == 3
    assert result.diagnostics["excluded_by_ties"] == 1


def test_top_k_all_tied_puts_nobody_above():
    result = splits.split_top_k([4, 4, 4], 2)
    assert not result.upper.any() and result.threshold is None


@given(small_signed, st.sampled_from([0.05, 0.1, 0.2, 0.25, 0.29, 1 / 3, 0.5, 0.7, 0.99, 1.0]))
@settings(deadline=None)
def test_top_share_takes_floor_q_n_at_most(values, q):
    scores = arr(values)
    result = splits.split("top_share", scores, q=q)
    k = math.floor(Fraction(repr(q)) * scores.size)
    assert_threshold_set(result, scores)
    assert result.diagnostics["requested"] == k
    assert result.diagnostics["n_upper"] == best_threshold_set_size(scores, k)
    assert result.diagnostics["q"] == q


def test_top_share_uses_the_decimal_value_of_q():
    # 0.29 * 100 is 28.999999999999996 in binary floating point; a person means 29.
    result = splits.split_top_share(np.arange(100.0), 0.29)
    assert result.diagnostics["requested"] == 29 and result.diagnostics["n_upper"] == 29


# --------------------------------------------------------------------------------------------------
# pareto


@given(small_ints, st.sampled_from([0.1, 0.5, 0.8, 0.9, 1.0, 0.333]))
@settings(deadline=None)
@example([5, 5, 5, 5], 0.5)
@example([0, 0, 0], 0.8)
def test_pareto_is_the_minimal_set_plus_boundary_ties(values, p):
    scores = arr(values)
    result = splits.split("pareto", scores, p=p)
    assert_threshold_set(result, scores)
    total = float(scores.sum())
    if total <= 0:
        assert not result.upper.any() and "note" in result.diagnostics
        return
    target = p * total
    minimal = min(size for size in range(1, scores.size + 1)
                  for combo in itertools.combinations(scores.tolist(), size) if sum(combo) >= target)
    d = result.diagnostics
    assert d["minimal_count"] == minimal
    boundary = float(np.sort(scores)[::-1][minimal - 1])
    assert result.threshold == boundary
    assert d["n_upper"] == int((scores >= boundary).sum())
    assert d["added_by_ties"] == d["n_upper"] - minimal
    assert float(scores[result.upper].sum()) >= target


def test_pareto_reports_clients_added_by_ties():
    result = splits.split_pareto([10, 5, 5, 5, 1], 0.5)          # 10 + 5 reach 13 of 26
    assert result.diagnostics["minimal_count"] == 2
    assert result.upper.tolist() == [True, True, True, True, False]
    assert result.diagnostics["added_by_ties"] == 2


# --------------------------------------------------------------------------------------------------
# natural_break


@given(st.one_of(small_signed, small_floats))
@settings(deadline=None)
@example([0, 1, 2])                                                  # two equally good cuts
@example([3, 3, 3])
def test_natural_break_is_the_exhaustive_least_sse_split(values):
    scores = arr(values)
    result = splits.split("natural_break", scores)
    assert_threshold_set(result, scores)
    distinct = np.unique(scores)
    if distinct.size < 2:
        assert result.threshold is None and "note" in result.diagnostics
        return
    cuts = {float(t): sse(scores[scores < t]) + sse(scores[scores >= t]) for t in distinct[1:]}
    best = min(cuts.values())
    assert result.diagnostics["within_ss"] == pytest.approx(best, rel=1e-9, abs=1e-9)
    tied = [t for t, value in cuts.items() if value <= best + 1e-9 * max(1.0, best)]
    assert result.threshold == max(tied)                         # ties: the highest threshold
    d = result.diagnostics
    assert d["within_ss"] + d["between_ss"] == pytest.approx(sse(scores), rel=1e-9, abs=1e-9)
    assert_json_plain(d)


def test_natural_break_finds_the_gap():
    result = splits.split_natural_break([1, 2, 2, 3, 50, 51, 52])
    assert result.threshold == 50 and result.diagnostics["n_upper"] == 3


# --------------------------------------------------------------------------------------------------
# information_gain


def entropy(pos: int, count: int) -> float:
    if count == 0 or pos in (0, count):
        return 0.0
    p = pos / count
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


@st.composite
def scored_outcomes(draw):
    values = draw(st.lists(st.integers(min_value=0, max_value=6), min_size=0, max_size=9))
    outcome = draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    return values, outcome


@given(scored_outcomes())
@settings(deadline=None)
@example(([1, 2, 3, 4], [True, False, False, True]))
@example(([1, 1, 2, 2], [True, False, True, False]))                 # no threshold helps
def test_information_gain_is_the_exhaustive_best_threshold(case):
    values, outcome = case
    scores, y = arr(values), np.array(outcome, dtype=bool)
    result = splits.split("information_gain", scores, outcome=y)
    assert_threshold_set(result, scores)
    n, positives = y.size, int(y.sum())
    before = entropy(positives, n)
    gains = {}
    for t in np.unique(scores)[1:]:
        up = scores >= t
        after = (up.sum() * entropy(int(y[up].sum()), int(up.sum()))
                 + (~up).sum() * entropy(int(y[~up].sum()), int((~up).sum()))) / n
        gains[float(t)] = before - after
    best = max(gains.values(), default=0.0)
    d = result.diagnostics
    if best <= 1e-12:
        assert result.threshold is None and "note" in d
        return
    assert d["information_gain"] == pytest.approx(best, abs=1e-9)
    assert result.threshold == max(t for t, g in gains.items() if g >= best - 1e-9)
    assert d["entropy_before"] == pytest.approx(before, abs=1e-12)
    up = result.upper
    assert d["outcome_rate_upper"] == pytest.approx(y[up].mean())
    assert d["outcome_rate_lower"] == (pytest.approx(y[~up].mean()) if (~up).any() else None)
    assert_json_plain(d)


def test_information_gain_accepts_0_1_integers_and_finds_the_perfect_cut():
    result = splits.split("information_gain", [1, 2, 3, 10, 11, 12], outcome=[0, 0, 0, 1, 1, 1])
    assert result.threshold == 10
    assert result.diagnostics["information_gain"] == pytest.approx(1.0)


def test_outcome_adds_information_gain_to_any_method():
    result = splits.split("top_k", [1, 2, 3, 10, 11, 12], k=3, outcome=np.array([0, 0, 0, 1, 1, 1], dtype=np.int8))
    assert result.diagnostics["information_gain"] == pytest.approx(1.0)
    assert result.diagnostics["outcome_rate_upper"] == 1.0


# --------------------------------------------------------------------------------------------------
# capacity


@st.composite
def knapsacks(draw):
    n = draw(st.integers(min_value=0, max_value=8))
    values = draw(st.lists(st.integers(min_value=-3, max_value=20), min_size=n, max_size=n))
    units = draw(st.lists(st.integers(min_value=1, max_value=30), min_size=n, max_size=n))
    budget_units = draw(st.integers(min_value=0, max_value=80))
    return values, units, budget_units


def brute_knapsack(values, units, budget_units) -> float:
    best = 0.0
    for mask in range(1 << len(values)):
        chosen = [i for i in range(len(values)) if mask >> i & 1]
        if sum(units[i] for i in chosen) <= budget_units:
            best = max(best, float(sum(values[i] for i in chosen)))
    return best


@given(knapsacks())
@settings(max_examples=150, deadline=None)
def test_capacity_exact_mode_equals_the_brute_force_optimum(case):
    values, units, budget_units = case
    scores, costs = arr(values), np.array(units) / 10           # hours in 0.1 h steps
    result = splits.split("capacity", scores, costs=costs, budget=budget_units / 10)
    d = result.diagnostics
    optimum = brute_knapsack(values, units, budget_units)
    assert d["exact"] is True
    assert d["value"] == pytest.approx(optimum)
    assert float(scores[result.upper].sum()) == pytest.approx(optimum)
    assert sum(units[i] for i in np.flatnonzero(result.upper)) <= budget_units
    assert not (result.upper & (scores <= 0)).any()              # zero or negative: never selected
    assert d["upper_bound"] == pytest.approx(d["value"]) and d["gap"] == 0
    assert result.threshold == (float(scores[result.upper].min()) if result.upper.any() else None)
    assert_json_plain(d)


@given(knapsacks())
@settings(max_examples=150, deadline=None)
def test_capacity_greedy_mode_is_feasible_and_bounded(case):
    values, units, budget_units = case
    scores, costs = arr(values), np.array(units) / 10
    budget = budget_units / 10
    result = splits.split_capacity(scores, costs, budget, exact_limit=0)
    d = result.diagnostics
    optimum = brute_knapsack(values, units, budget_units)
    assert d["exact"] is False or not result.upper.any() or d["algorithm"] == "nothing fits the budget"
    assert float(costs[result.upper].sum()) <= budget + 1e-9
    assert d["value"] <= optimum + 1e-9
    assert optimum <= d["upper_bound"] * (1 + 1e-9) + 1e-9
    assert 2 * d["value"] >= optimum - 1e-9                      # greedy + best single item: ≥ half
    if d["upper_bound"] > 0:
        assert d["gap"] == pytest.approx((d["upper_bound"] - d["value"]) / d["upper_bound"], abs=1e-12)
    assert 0 <= d["gap"] <= 1


@given(small_signed, st.integers(min_value=1, max_value=4), st.integers(min_value=0, max_value=20))
@settings(deadline=None)
def test_capacity_with_one_cost_takes_the_best_that_fit(values, cost, budget):
    scores = arr(values)
    result = splits.split("capacity", scores, cost=float(cost), budget=float(budget))
    slots = budget // cost
    optimum = brute_knapsack(values, [cost] * len(values), budget)
    assert result.diagnostics["exact"] is True
    assert result.diagnostics["value"] == pytest.approx(optimum)
    assert int(result.upper.sum()) <= slots
    assert not (result.upper & (scores <= 0)).any()
    assert result.diagnostics["used"] == cost * int(result.upper.sum())


def test_capacity_budget_in_decimal_hours():
    # 1.0 h / 0.1 h is 9.999999999999998 in binary floating point: ten clients fit, not nine.
    result = splits.split("capacity", np.arange(1.0, 21.0), cost=0.1, budget=1.0)
    assert result.diagnostics["n_upper"] == 10


def test_capacity_need_not_be_a_threshold_set():
    # The 9-point client costs the whole budget; two 6-point clients fit and are worth more.
    result = splits.split("capacity", [9, 6, 6], costs=[10.0, 5.0, 5.0], budget=10)
    assert result.upper.tolist() == [False, True, True]
    assert result.threshold == 6
    assert result.diagnostics["unselected_at_or_above_threshold"] == 1


def test_capacity_costs_off_the_unit_grid_are_not_called_exact():
    result = splits.split("capacity", [5, 4, 3], costs=[0.33, 0.33, 0.33], budget=1.0)
    assert result.upper.all()
    assert result.diagnostics["exact"] is False
    assert result.diagnostics["used"] == pytest.approx(0.99)
    assert result.diagnostics["gap"] == pytest.approx(0.0)


# --------------------------------------------------------------------------------------------------
# common diagnostics, dispatch, parameters, comparison


@given(st.one_of(small_signed, small_floats), st.sampled_from(list(splits.METHODS)))
@settings(deadline=None)
def test_every_method_reports_the_common_diagnostics(values, method):
    scores = arr(values)
    assume(method not in ("pareto", "capacity") or (scores >= 0).all())
    params = {"fixed": {"threshold": 2.0}, "top_share": {"q": 0.3}, "top_k": {"k": 3},
              "capacity": {"budget": 4.0, "cost": 1.0}}.get(method, {})
    outcome = (scores > np.median(scores)) if scores.size else np.zeros(0, dtype=bool)
    result = splits.split(method, scores, outcome=outcome, **params)
    d = result.diagnostics
    for key in ("n", "n_upper", "n_lower", "share_upper", "value_share_upper", "mean_upper", "mean_lower",
                "within_ss", "between_ss", "tied_at_threshold", "information_gain"):
        assert key in d
    assert d["n"] == scores.size
    if scores.size:
        assert d["within_ss"] + d["between_ss"] == pytest.approx(sse(scores), rel=1e-9, abs=1e-9)
        total = float(scores.sum())
        expected = float(scores[result.upper].sum()) / total if total > 0 else None
        assert d["value_share_upper"] == (pytest.approx(expected) if expected is not None else None)
    if result.threshold is not None:
        assert d["tied_at_threshold"] == int((scores == result.threshold).sum())
    assert_json_plain(d)


@pytest.mark.parametrize("method", splits.METHODS)
def test_empty_input_gives_an_empty_result(method):
    params = {"fixed": {"threshold": 1.0}, "top_share": {"q": 0.5}, "top_k": {"k": 2},
              "capacity": {"budget": 4.0, "cost": 1.0}}.get(method, {})
    result = splits.split(method, np.zeros(0), outcome=np.zeros(0, dtype=bool), **params)
    assert result.threshold is None and result.upper.shape == (0,)
    assert result.diagnostics["n"] == 0
    assert_json_plain(result.diagnostics)


def test_parse_params_types_and_shares():
    assert splits.parse_params("top_share", {"q": "20%"}) == {"q": 0.2}
    assert splits.parse_params("top_k", {"k": "10.0"}) == {"k": 10}
    assert splits.parse_params("capacity", {"budget": "400", "cost": "2.5"}) == {"budget": 400.0, "cost": 2.5}
    assert splits.parse_params("natural_break", {}) == {}


@pytest.mark.parametrize(("method", "raw", "words"), [
    ("nope", {}, "Unknown split method"),
    ("top_k", {"q": "1"}, "no parameter"),
    ("top_k", {"k": "2.5"}, "whole number"),
    ("top_share", {"q": "abc"}, "must be a number"),
    ("fixed", {"threshold": "nan"}, "finite"),
])
def test_parse_params_refuses_bad_input(method, raw, words):
    with pytest.raises(SplitError, match=words):
        splits.parse_params(method, raw)


def test_compare_methods_runs_what_can_run():
    scores = arr([1, 2, 3, 4, 50, 60])
    names = [r.method for r in splits.compare_methods(scores)]
    assert names == ["top_share", "pareto", "natural_break"]
    with_outcome = splits.compare_methods(scores, outcome=[0, 0, 0, 0, 1, 1],
                                          params_by_method={"top_k": {"k": 2}, "capacity": {"budget": 2, "cost": 1}})
    assert [r.method for r in with_outcome] == ["top_share", "top_k", "pareto", "natural_break", "capacity",
                                                "information_gain"]
    assert all("information_gain" in r.diagnostics for r in with_outcome)
    assert "capacity" not in [r.method for r in splits.compare_methods(scores, params_by_method={"capacity": {}})]
    with pytest.raises(SplitError, match="0 or 1"):
        splits.compare_methods(scores, outcome=[0, 0, 0, 0, 1, 2])
    # pareto cannot run on negative scores: skipped by default, an error when asked for.
    assert "pareto" not in [r.method for r in splits.compare_methods(arr([-1, 2, 3]))]
    with pytest.raises(SplitError):
        splits.compare_methods(arr([-1, 2, 3]), params_by_method={"pareto": {"p": 0.8}})


# --------------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(("call", "words"), [
    (lambda: splits.split("natural_break", [1.0, float("nan")]), "missing or infinite"),
    (lambda: splits.split("top_k", [1.0, float("inf")], k=1), "missing or infinite"),
    (lambda: splits.split("natural_break", [[1.0, 2.0]]), "flat list"),
    (lambda: splits.split("information_gain", [1.0, 2.0]), "needs a known outcome"),
    (lambda: splits.split("information_gain", [1.0, 2.0], outcome=[1]), "2 scores"),
    (lambda: splits.split("information_gain", [1.0, 2.0], outcome=[0, 2]), "0 or 1"),
    (lambda: splits.split("information_gain", [1.0, 2.0], outcome=[0, float("nan")]), "0 or 1"),
    (lambda: splits.split("information_gain", [1.0, 2.0], outcome=["a", "b"]), "0/1"),
    (lambda: splits.split("pareto", [1.0, -2.0]), "negative"),
    (lambda: splits.split("top_share", [1.0, 2.0], q=0), "q must be"),
    (lambda: splits.split("top_share", [1.0, 2.0], q=1.5), "q must be"),
    (lambda: splits.split("pareto", [1.0, 2.0], p=0), "p must be"),
    (lambda: splits.split("top_k", [1.0, 2.0], k=-1), "k must be"),
    (lambda: splits.split("top_k", [1.0, 2.0], k=1.5), "whole number"),
    (lambda: splits.split("top_k", [1.0, 2.0]), "needs the parameter k"),
    (lambda: splits.split("fixed", [1.0, 2.0], threshold=float("nan")), "finite"),
    (lambda: splits.split("wobble", [1.0, 2.0]), "Unknown split method"),
    (lambda: splits.split("natural_break", [1.0, 2.0], q=0.2), "no parameter"),
    (lambda: splits.split("capacity", [1.0, 2.0], budget=5), "needs the hours"),
    (lambda: splits.split("capacity", [1.0, 2.0], budget=5, cost=1, costs=[1, 1]), "not both"),
    (lambda: splits.split("capacity", [1.0, 2.0], budget=-1, cost=1), "budget"),
    (lambda: splits.split("capacity", [1.0, 2.0], budget=5, cost=0), "above zero"),
    (lambda: splits.split("capacity", [1.0, 2.0], budget=5, costs=[1.0]), "one cost per client"),
    (lambda: splits.split("capacity", [1.0, 2.0], budget=5, costs=[1.0, 0.0]), "above zero"),
])
def test_bad_input_is_a_split_error_with_a_readable_message(call, words):
    with pytest.raises(SplitError, match=words) as info:
        call()
    assert info.value.template and str(info.value) == info.value.template % info.value.params


def test_capacity_never_selects_negative_scores():
    result = splits.split("capacity", [-5.0, -1.0, 3.0], cost=1.0, budget=10)
    assert result.upper.tolist() == [False, False, True]
    assert result.diagnostics["n_excluded_nonpositive"] == 2


# --------------------------------------------------------------------------------------------------
# hysteresis


@st.composite
def hysteresis_cases(draw):
    n = draw(st.integers(min_value=0, max_value=12))
    scores = draw(st.lists(st.integers(min_value=0, max_value=20), min_size=n, max_size=n))
    previous = draw(st.lists(st.sampled_from([-1, 0, 1]), min_size=n, max_size=n))
    theta = draw(st.integers(min_value=0, max_value=20))
    margin = draw(st.integers(min_value=0, max_value=6))
    return arr(scores), np.array(previous, dtype=np.int8), float(theta), float(margin)


@given(hysteresis_cases())
@settings(deadline=None)
def test_hysteresis_margin_zero_is_the_raw_labels(case):
    scores, previous, theta, _ = case
    raw = scores >= theta
    assert np.array_equal(splits.apply_hysteresis(scores, raw, theta, 0.0, previous), raw)


@given(hysteresis_cases())
@settings(deadline=None)
def test_hysteresis_rules(case):
    scores, previous, theta, margin = case
    raw = scores >= theta
    held = splits.apply_hysteresis(scores, raw, theta, margin, previous)
    band = (scores >= theta - margin) & (scores < theta + margin)
    known = previous >= 0
    # nobody with a previous label flips inside the band
    assert np.array_equal(held[band & known], previous[band & known] == 1)
    # outside the band, and without a previous label, the raw label stands
    assert np.array_equal(held[~band | ~known], raw[~band | ~known])
    assert np.array_equal(held[previous == 1], scores[previous == 1] >= theta - margin)
    assert np.array_equal(held[previous == 0], scores[previous == 0] >= theta + margin)


@given(hysteresis_cases(), st.integers(min_value=0, max_value=6))
@settings(deadline=None)
def test_hysteresis_is_monotonic(case, extra):
    scores, previous, theta, margin = case
    raw = scores >= theta
    held = splits.apply_hysteresis(scores, raw, theta, margin, previous)
    # a higher score never gets a lower label for the same previous state …
    for state in (-1, 0, 1):
        group = previous == state
        order = np.argsort(scores[group], kind="stable")
        assert np.all(np.diff(held[group][order].astype(int)) >= 0)
    # … and a wider margin only keeps more clients where they were.
    wider = splits.apply_hysteresis(scores, raw, theta, margin + extra, previous)
    known = previous >= 0
    kept_before = held[known] == (previous[known] == 1)
    kept_after = wider[known] == (previous[known] == 1)
    assert np.all(kept_after[kept_before])


def test_hysteresis_without_threshold_and_bad_margin():
    upper = np.array([True, False])
    assert splits.apply_hysteresis([1.0, 0.0], upper, None, 5.0, np.array([0, 1], np.int8)).tolist() == [True, False]
    with pytest.raises(SplitError, match="margin"):
        splits.apply_hysteresis([1.0, 0.0], upper, 0.5, -1.0, np.array([0, 1], np.int8))


# --------------------------------------------------------------------------------------------------
# scale: 1,000,000 clients in a structure whose answer is known


def test_one_million_clients_structured():
    n_low, n_high = 900_000, 100_000
    low = np.tile(np.arange(10.0), n_low // 10)                 # 0..9, 90,000 each
    high = 1000.0 + np.tile(np.arange(10.0), n_high // 10)      # 1000..1009, 10,000 each
    rng = np.random.default_rng(1)
    scores = np.concatenate([low, high])[rng.permutation(n_low + n_high)]
    is_high = scores >= 1000

    assert np.array_equal(splits.split("natural_break", scores).upper, is_high)
    assert np.array_equal(splits.split("top_k", scores, k=100_000).upper, is_high)
    top = splits.split("top_k", scores, k=100_005)              # ties at 9.0 (90,000 clients) all go below
    assert np.array_equal(top.upper, is_high) and top.diagnostics["excluded_by_ties"] == 5
    assert np.array_equal(splits.split("top_share", scores, q=0.1).upper, is_high)
    assert np.array_equal(splits.split("fixed", scores, threshold=1000).upper, is_high)
    gain = splits.split("information_gain", scores, outcome=is_high)
    assert gain.threshold == 1000 and gain.diagnostics["information_gain"] == pytest.approx(
        entropy(n_high, n_low + n_high))
    # The high class holds 100,450,000 of 104,500,000 (96.1 %): p = 0.9 needs the best 94,050,000,
    # i.e. 1009 … 1000 minus some — the threshold lands inside the high class.
    pareto = splits.split("pareto", scores, p=0.9)
    desc = np.sort(scores)[::-1]
    minimal = int(np.searchsorted(np.cumsum(desc), 0.9 * scores.sum())) + 1
    assert pareto.diagnostics["minimal_count"] == minimal
    assert np.array_equal(pareto.upper, scores >= desc[minimal - 1])
    one_cost = splits.split("capacity", scores, cost=1.0, budget=100_000)
    assert np.array_equal(one_cost.upper, is_high) and one_cost.diagnostics["exact"]
    costs = np.where(is_high, 2.0, 0.5)
    greedy = splits.split("capacity", scores, costs=costs, budget=200_000.0)
    assert greedy.diagnostics["exact"] is False                 # far above the exact limit
    assert np.array_equal(greedy.upper, is_high)                # 1000/2 h beats 9/0.5 h per hour
    assert greedy.diagnostics["gap"] == pytest.approx(0.0, abs=1e-12)


def test_capacity_greedy_fills_on_past_a_client_that_does_not_fit():
    result = splits.split_capacity([10.0, 9.0, 1.0], np.array([5.0, 5.0, 1.0]), 6.0, exact_limit=0)
    assert result.upper.tolist() == [True, False, True]
    assert result.diagnostics["algorithm"] == "greedy by score per hour"
    assert result.diagnostics["used"] == 6.0


def test_capacity_greedy_takes_the_best_single_client_when_worth_more():
    # By score per hour the two small clients come first (2/h), leaving no room for the 19-point one.
    result = splits.split_capacity([2.0, 2.0, 19.0], np.array([1.0, 1.0, 10.0]), 10.0, exact_limit=0)
    assert result.upper.tolist() == [False, False, True]
    assert result.diagnostics["value"] == 19.0
