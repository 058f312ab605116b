"""Hysteresis: a dead band around the line, so clients near it do not flip-flop between runs."""

from __future__ import annotations

from typing import Any

import numpy as np

from bcrm.segmentation.splits.base import SplitError, _as_scores, _finite_number, gettext_noop


def apply_hysteresis(scores: Any, upper: np.ndarray, threshold: float | None, margin: float,
                     previous: np.ndarray) -> np.ndarray:
    """Labels with a dead band of ``margin`` around the line, so clients do not flip-flop.

    ``previous``: 1 = upper last time, 0 = lower last time, −1 = no previous label. A previously-upper
    client stays upper while ``score >= threshold − margin``; a previously-lower client rises only when
    ``score >= threshold + margin``; without a previous label the raw ``upper`` label stands. Outside the
    band ``[threshold − margin, threshold + margin)`` the raw label always stands (so for ``capacity``,
    whose selection is not a threshold set, only the band is sticky). Margin 0 returns the raw labels;
    ``threshold`` ``None`` returns ``upper`` unchanged (a copy). Vectorised, pure.
    """
    raw = np.asarray(upper, dtype=bool)
    if threshold is None:
        return raw.copy()
    s = _as_scores(scores)
    m = _finite_number(margin, "margin")
    if m < 0:
        raise SplitError(gettext_noop("The hysteresis margin must be zero or more."))
    prev = np.asarray(previous)
    if s.size != raw.size or prev.shape != raw.shape:
        raise SplitError(gettext_noop("Scores, labels and previous labels must have the same length."))
    theta = float(threshold)
    held_up = (prev == 1) & (s >= theta - m) & (s < theta)
    held_down = (prev == 0) & (s >= theta) & (s < theta + m)
    return (raw | held_up) & ~held_down
