"""McCrary's density test at a class line (issue 18, item 9): size under no manipulation, power against
bunching just above the line, placebo lines, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.stats import ModelError
from bcrm.stats.density import density_test, placebo_tests


def smooth_scores(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.clip(rng.normal(55, 15, n), 0, 100)


def bunched(rng: np.random.Generator, n: int, line: float = 60.0, share: float = 0.4) -> np.ndarray:
    """``share`` of the clients just below the line nudged to just above it, as a manager nudging inputs."""
    x = smooth_scores(rng, n)
    near = (x >= line - 5) & (x < line)
    moved = near & (rng.random(n) < share)
    x[moved] = line + rng.random(int(moved.sum())) * 1.0
    return x


def test_no_manipulation_rejects_at_about_the_nominal_rate():
    rng = np.random.default_rng(11)
    rejections = sum(density_test(smooth_scores(rng, 3000), 60.0).rejects(0.05) for _ in range(200))
    assert rejections <= 20                                   # 5 % of 200 is 10; well within chance


def test_bunching_just_above_the_line_is_detected():
    rng = np.random.default_rng(12)
    results = [density_test(bunched(rng, 3000), 60.0) for _ in range(50)]
    assert sum(r.rejects(0.05) for r in results) >= 48
    assert all(r.log_difference > 0 for r in results)           # more mass above: bunching, not a gap


def test_the_histogram_around_the_line_never_straddles_it():
    rng = np.random.default_rng(13)
    result = density_test(smooth_scores(rng, 2000), 60.0)
    mids = np.array(result.bins["midpoints"])
    edges_offset = (mids - 60.0) / result.bin_width - 0.5        # each bin starts at θ + k·b
    assert np.allclose(edges_offset, np.round(edges_offset))
    assert result.n_below > 0 and result.n_above > 0 and result.bandwidth >= 2 * result.bin_width


def test_placebo_lines_do_not_reject_where_nothing_happens_and_the_real_one_does():
    rng = np.random.default_rng(14)
    x = bunched(rng, 20000, share=0.5)
    assert density_test(x, 60.0).rejects(0.01)
    placebos = placebo_tests(x, 60.0)
    assert len(placebos) == 2 and all(p.threshold != 60.0 for p in placebos)
    assert not any(p.rejects(0.01) for p in placebos)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=10**6), st.floats(min_value=30, max_value=80))
def test_the_test_is_a_probability_and_symmetric_under_reflection(seed, line):
    rng = np.random.default_rng(seed)
    x = smooth_scores(rng, 1500)
    if min((x < line).sum(), (x >= line).sum()) < 10:
        return
    result = density_test(x, line)
    assert 0 <= result.p_value <= 1 and result.se > 0
    mirrored = density_test(-x, -line, bin_width=result.bin_width, bandwidth=result.bandwidth)
    # reflecting the scores swaps the sides (up to the one bin the line's own ties fall in)
    assert mirrored.log_difference == pytest.approx(-result.log_difference, abs=0.35)


def test_bad_input():
    with pytest.raises(ModelError, match="Too few scores"):
        density_test([1.0, 2.0, 3.0] * 5, 100.0)
    with pytest.raises(ModelError, match="must be numbers"):
        density_test(["a", "b"], 1.0)
    with pytest.raises(ModelError, match="0 below and 60 above"):
        density_test([5.0] * 60, 5.0)                             # all equal: everybody on one side
    with pytest.raises(ModelError, match="line must be a number"):
        density_test(np.arange(100.0), float("nan"))
