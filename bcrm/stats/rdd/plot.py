"""The RD plot: mean outcome in bins of the running score on each side of the line."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bcrm.stats import ModelError, gettext_noop
from bcrm.stats.rdd.inputs import _check_threshold, _paired_input


@dataclass(frozen=True, eq=False)
class BinnedMeans:
    """Mean outcome per bin of scores, bins of equal width with an edge on the line; empty bins left out.
    ``above`` marks the bins at or above the line."""

    centres: np.ndarray
    means: np.ndarray
    counts: np.ndarray
    above: np.ndarray
    width: float

    def as_rows(self) -> list[dict[str, Any]]:
        return [{"centre": float(c), "mean": float(m), "count": int(k), "above": bool(s)}
                for c, m, k, s in zip(self.centres, self.means, self.counts, self.above, strict=True)]


def binned_means(running: Any, outcome: Any, threshold: float, bins: int = 20) -> BinnedMeans:
    """Bin means for the RD plot: the score range is cut into about ``bins`` bins of equal width
    (range / bins), aligned so that one edge is the line and no bin mixes the two sides. Bins are
    closed below and open above, but for the top bin, which holds the highest score."""
    threshold = _check_threshold(threshold)
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ModelError(gettext_noop("The number of bins must be a whole number of at least 2."))
    x, y, _, _, _ = _paired_input(running, outcome)
    if x.size == 0:
        empty = np.zeros(0)
        return BinnedMeans(empty, empty, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), 0.0)
    lo, hi = min(float(x.min()), threshold), max(float(x.max()), threshold)
    width = (hi - lo) / bins
    if not width > 0:
        width = 1.0
    # Bin index k: [θ + k·w, θ + (k+1)·w) above the line (k ≥ 0), the mirror image below (k < 0).
    index = np.floor((x - threshold) / width).astype(np.int64)
    last = max(math.ceil((hi - threshold) / width - 1e-9) - 1, 0)     # the top bin includes the maximum
    index = np.where(x >= threshold, np.clip(index, 0, last), np.minimum(index, -1))
    keys, inverse, counts = np.unique(index, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=y, minlength=keys.size)
    centres = threshold + (keys + 0.5) * width
    return BinnedMeans(centres=centres, means=sums / counts, counts=counts.astype(np.int64), above=keys >= 0,
                       width=width)
