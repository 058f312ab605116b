"""Label stability under the m-out-of-n bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.segmentation.splits import SplitError, split
from bcrm.segmentation.stability import label_stability

PARAMS = {"fixed": {"threshold": 5.0}, "top_share": {"q": 0.3}, "top_k": {"k": 3}, "pareto": {"p": 0.8},
          "natural_break": {}, "capacity": {"budget": 6.0, "cost": 1.0}, "information_gain": {}}


@given(st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=40),
       st.sampled_from(sorted(PARAMS)), st.integers(min_value=0, max_value=2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_stability_is_a_share_and_deterministic_for_a_seed(values, method, seed):
    scores = np.asarray(values, dtype=np.float64)
    outcome = scores > np.median(scores)
    first = label_stability(scores, method, params=PARAMS[method], outcome=outcome, n_boot=12, seed=seed)
    again = label_stability(scores, method, params=PARAMS[method], outcome=outcome, n_boot=12, seed=seed)
    assert first.dtype == np.float64 and first.shape == scores.shape
    assert np.all((first >= 0) & (first <= 1))
    assert np.array_equal(first, again)
    # stability is a count of resamples out of n_boot
    assert np.allclose(first * 12, np.round(first * 12))
    # equal scores, equal stability (for threshold-set methods)
    if method != "capacity":
        for value in np.unique(scores):
            assert np.unique(first[scores == value]).size == 1


@pytest.mark.parametrize("method", ["natural_break", "information_gain", "fixed"])
def test_a_population_far_from_the_line_is_fully_stable(method):
    rng = np.random.default_rng(7)
    scores = np.concatenate([rng.uniform(0, 1, 900), rng.uniform(1000, 1001, 100)])
    outcome = scores > 500
    params = {"threshold": 500.0} if method == "fixed" else {}
    full = split(method, scores, outcome=outcome if method == "information_gain" else None, **params)
    assert np.array_equal(full.upper, scores > 500)
    stability = label_stability(scores, method, params=params, outcome=outcome, n_boot=30, sample_size=400)
    assert np.all(stability == 1.0)


@pytest.mark.parametrize(("method", "params"), [("top_share", {"q": 0.05}), ("top_k", {"k": 50}),
                                                ("pareto", {"p": 0.95})])
def test_a_line_inside_the_top_cluster_never_moves_the_bottom_cluster(method, params):
    # The line falls inside the high cluster and moves there from resample to resample (k scaled to the
    # resample for top_k); clients of the low cluster are far from it and always stay lower.
    rng = np.random.default_rng(7)
    scores = np.concatenate([rng.uniform(0, 1, 900), rng.uniform(1000, 1001, 100)])
    stability = label_stability(scores, method, params=params, n_boot=30, sample_size=400)
    assert np.all(stability[scores < 500] == 1.0)
    assert stability[scores > 500].min() < 1.0


def test_a_client_on_the_line_is_less_stable_than_one_far_from_it():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=5000)
    stability = label_stability(scores, "top_share", params={"q": 0.5}, n_boot=40, sample_size=1000, seed=1)
    median = np.median(scores)
    near = np.abs(scores - median) < 0.01
    far = np.abs(scores - median) > 2
    assert stability[far].min() == 1.0
    assert stability[near].mean() < 0.9


def test_different_seeds_can_differ_and_same_seed_does_not():
    scores = np.random.default_rng(0).normal(size=3000)
    a = label_stability(scores, "natural_break", params={}, n_boot=20, sample_size=500, seed=1)
    b = label_stability(scores, "natural_break", params={}, n_boot=20, sample_size=500, seed=2)
    c = label_stability(scores, "natural_break", params={}, n_boot=20, sample_size=500, seed=1)
    assert np.array_equal(a, c)
    assert not np.array_equal(a, b)


def test_capacity_with_per_client_costs_and_scaled_budget():
    rng = np.random.default_rng(5)
    scores = np.concatenate([rng.uniform(0, 1, 500), rng.uniform(100, 101, 50)])
    costs = np.full(scores.size, 1.0)
    stability = label_stability(scores, "capacity", params={"budget": 30.0}, costs=costs, n_boot=20,
                                sample_size=275)
    full = split("capacity", scores, costs=costs, budget=30.0)
    assert full.upper.sum() == 30 and np.all(scores[full.upper] > 100)
    assert np.all(stability[scores < 1] == 1.0)
    assert np.all((stability >= 0) & (stability <= 1))


def test_empty_and_bad_arguments():
    assert label_stability(np.zeros(0), "natural_break", params={}).shape == (0,)
    with pytest.raises(SplitError):
        label_stability(np.array([1.0, 2.0]), "natural_break", params={}, n_boot=0)
    with pytest.raises(SplitError):
        label_stability(np.array([1.0, 2.0]), "natural_break", params={}, sample_size=0)
    with pytest.raises(SplitError):
        label_stability(np.array([1.0, np.nan]), "natural_break", params={})
    with pytest.raises(SplitError):
        label_stability(np.array([1.0, 2.0]), "information_gain", params={})
