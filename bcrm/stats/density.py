"""Manipulation at the line: is the density of the scores continuous at a class line?

A regression discontinuity assumes clients cannot place themselves on their side of the line. Research on
tiered loyalty programmes finds customers — and, here, relationship managers nudging inputs — bunch just
above a threshold, which biases the estimate. McCrary's (2008) test ("Manipulation of the running
variable in the regression discontinuity design: A density test", Journal of Econometrics 142(2),
698–714) checks for it:

1. a fine histogram whose bins never straddle the line: bin width b = 2·σ̂·n^(−1/2), edges at θ + k·b,
   each bin's height its count / (n·b) (a density);
2. the bandwidth h: on each side a quartic in (x − θ) fitted to the bin heights gives the residual
   variance σ̃² and the second derivative f̃''; h± = 3.348·(σ̃²·(R − L) / Σ f̃''(X_j)²)^(1/5) over that side's
   support [L, R], and h = their mean;
3. a local linear regression of the bin heights on (X_j − θ) on each side, triangular weights
   K((X_j − θ)/h), gives the densities just below and just above the line, f̂₋ and f̂₊;
4. θ̂ = ln f̂₊ − ln f̂₋, with standard error √((1/(n·h))·(24/5)·(1/f̂₊ + 1/f̂₋)); z = θ̂ / se and a two-sided
   normal p-value. A positive θ̂ that the test rejects means more clients just above the line than the
   scores below it would lead one to expect: bunching.

:func:`placebo_tests` runs the same test at fake lines (the median of each side, so the real line stays
outside their windows): a test that rejects there too is reacting to the shape of the scores, not to the
line. Pure NumPy/SciPy, no Django.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.utils.translation import gettext_noop
from scipy.stats import norm

from bcrm.stats import ModelError

#: Fewest scores on each side of the line the test accepts.
MIN_PER_SIDE = 10


@dataclass(frozen=True)
class DensityTest:
    """McCrary's density test at one line."""

    threshold: float
    log_difference: float          # θ̂ = ln f̂₊ − ln f̂₋ (positive: more mass just above the line)
    se: float
    z: float
    p_value: float
    density_below: float           # f̂₋
    density_above: float           # f̂₊
    bandwidth: float
    bin_width: float
    n_below: int                   # scores within the bandwidth below the line
    n_above: int
    bins: dict[str, list[float]] = field(default_factory=dict)   # midpoints and heights near the line

    def rejects(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha

    def as_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "log_difference": self.log_difference, "se": self.se, "z": self.z,
                "p_value": self.p_value, "density_below": self.density_below,
                "density_above": self.density_above, "bandwidth": self.bandwidth, "bin_width": self.bin_width,
                "n_below": self.n_below, "n_above": self.n_above, "bins": dict(self.bins)}


def _scores(values: Any) -> np.ndarray:
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ModelError(gettext_noop("Scores must be numbers.")) from None
    if x.ndim != 1:
        raise ModelError(gettext_noop("Scores must be a flat list of numbers."))
    return x[np.isfinite(x)]


def _histogram(x: np.ndarray, threshold: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Bin midpoints and heights (count / (n·b)) on a grid of width ``b`` with an edge at the line."""
    k = np.floor((x - threshold) / b).astype(np.int64)           # bin k covers [θ + k·b, θ + (k+1)·b)
    lo, hi = int(k.min()), int(k.max())
    counts = np.bincount(k - lo, minlength=hi - lo + 1).astype(np.float64)
    mid = threshold + (np.arange(lo, hi + 1) + 0.5) * b
    return mid, counts / (x.size * b)


def _side_bandwidth(u: np.ndarray, y: np.ndarray) -> float | None:
    """McCrary's h for one side: quartic fit to the bin heights, 3.348·(σ̃²·(R − L)/Σ f̃''²)^(1/5)."""
    if u.size < 6:
        return None
    design = np.vander(u, 5, increasing=True)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    sigma2 = float(resid @ resid) / max(u.size - 5, 1)
    second = 2 * coef[2] + 6 * coef[3] * u + 12 * coef[4] * u ** 2
    curvature = float(second @ second)
    span = float(u.max() - u.min())
    if curvature <= 0 or sigma2 <= 0 or span <= 0:
        return None
    return 3.348 * (sigma2 * span / curvature) ** 0.2


def _local_linear_intercept(u: np.ndarray, y: np.ndarray, h: float) -> float | None:
    w = np.clip(1 - np.abs(u) / h, 0, None)
    keep = w > 0
    if np.count_nonzero(keep) < 2 or np.ptp(u[keep]) == 0:
        return None
    design = np.column_stack([np.ones(int(keep.sum())), u[keep]])
    sw = np.sqrt(w[keep])
    coef, *_ = np.linalg.lstsq(design * sw[:, None], y[keep] * sw, rcond=None)
    return float(coef[0])


def density_test(scores: Any, threshold: float, *, bin_width: float | None = None,
                 bandwidth: float | None = None, window: float = 3.0) -> DensityTest:
    """McCrary's test of a jump in the density of ``scores`` at ``threshold`` (see the module docstring).

    ``bin_width`` and ``bandwidth`` override the rules above; ``window`` (in bandwidths) is how much of the
    histogram around the line :attr:`DensityTest.bins` keeps for a plot. Raises :class:`ModelError` when
    fewer than :data:`MIN_PER_SIDE` scores lie on either side, or the scores do not vary."""
    x = _scores(scores)
    try:
        theta = float(threshold)
    except (TypeError, ValueError):
        raise ModelError(gettext_noop("The line must be a number.")) from None
    if not math.isfinite(theta):
        raise ModelError(gettext_noop("The line must be a number."))
    below, above = int(np.count_nonzero(x < theta)), int(np.count_nonzero(x >= theta))
    if min(below, above) < MIN_PER_SIDE:
        raise ModelError(gettext_noop("Too few scores on one side of the line to test the density there: %(below)d "
                                      "below and %(above)d above, at least %(min)d each are needed."),
                         below=below, above=above, min=MIN_PER_SIDE)
    n = x.size
    sd = float(np.std(x, ddof=1))               # > 0: there are scores on both sides of the line
    b = float(bin_width) if bin_width else 2 * sd / math.sqrt(n)
    mid, height = _histogram(x, theta, b)
    u = mid - theta
    left, right = u < 0, u > 0
    if bandwidth:
        h = float(bandwidth)
    else:
        sides = [hb for hb in (_side_bandwidth(u[left], height[left]), _side_bandwidth(u[right], height[right]))
                 if hb is not None]
        h = float(np.mean(sides)) if sides else 10 * b
    h = max(h, 2 * b)                                  # at least two bins on each side
    f_below = _local_linear_intercept(u[left], height[left], h)
    f_above = _local_linear_intercept(u[right], height[right], h)
    if not f_below or not f_above or f_below <= 0 or f_above <= 0:
        raise ModelError(gettext_noop("The density near the line is zero on one side: the scores leave a gap "
                                      "at the line, so there is nothing to compare."))
    log_difference = math.log(f_above) - math.log(f_below)
    se = math.sqrt((1 / (n * h)) * (24 / 5) * (1 / f_above + 1 / f_below))
    z = log_difference / se
    near = np.abs(u) <= window * h
    return DensityTest(
        threshold=theta, log_difference=log_difference, se=se, z=z, p_value=float(2 * norm.sf(abs(z))),
        density_below=f_below, density_above=f_above, bandwidth=h, bin_width=b,
        n_below=int(np.count_nonzero((x < theta) & (x >= theta - h))),
        n_above=int(np.count_nonzero((x >= theta) & (x < theta + h))),
        bins={"midpoints": mid[near].tolist(), "heights": height[near].tolist()})


def placebo_tests(scores: Any, threshold: float) -> list[DensityTest]:
    """The same test at fake lines: the median of the scores below the real line, using only those, and the
    median of the scores above it, using only those (so the real line is never inside a window). Sides
    with too few scores are left out."""
    x = _scores(scores)
    out = []
    for side in (x[x < threshold], x[x >= threshold]):
        if side.size < 2 * MIN_PER_SIDE:
            continue
        fake = float(np.median(side))
        try:
            out.append(density_test(side, fake))
        except ModelError:
            continue
    return out
