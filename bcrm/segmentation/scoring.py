"""Scores from features: pure NumPy, no Django.

A criterion's score is a weighted sum of transformed features. Each transform maps the known values
of one feature onto a comparable scale; a "lower is better" feature is flipped so that a higher
score is always better (high value, low risk, strategic). A missing optional feature does not count
as zero: the client's score is the weighted mean over the features it has (weights renormalised),
and its *completeness* is the share of the total weight it has evidence for. Evidence rules then
decide who is classifiable at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

TRANSFORMS = ("raw", "log1p", "pct_rank", "minmax")
DIRECTIONS = ("higher", "lower")


def percentile_rank(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Rank of each known value among the known values, scaled to [0, 1] (ties share their mean rank);
    NaN where missing. One known value → 0.5."""
    out = np.full(values.shape, np.nan)
    known = ~missing
    x = values[known]
    m = x.size
    if m == 0:
        return out
    if m == 1:
        out[known] = 0.5
        return out
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # mean rank of each tie group: positions first..last → (first + last) / 2
    starts = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:] - 1, m - 1]
    mean_rank = (first + last) / 2.0
    ranks = np.empty(m)
    ranks[order] = mean_rank[group]
    out[known] = ranks / (m - 1)
    return out


def transform(values: np.ndarray, missing: np.ndarray, kind: str, direction: str = "higher") -> np.ndarray:
    """The transformed feature; NaN where missing. ``lower`` flips it so that higher is better."""
    if kind not in TRANSFORMS:
        raise ValueError(f"unknown transform {kind!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}")
    x = np.where(missing, np.nan, values.astype(np.float64))
    if kind == "raw":
        t = x
    elif kind == "log1p":
        t = np.log1p(np.maximum(x, 0.0))
    elif kind == "pct_rank":
        t = percentile_rank(x, missing)
    else:  # minmax
        known = x[~missing]
        t = np.full(x.shape, np.nan)
        if known.size:
            lo, hi = float(known.min()), float(known.max())
            t[~missing] = 0.5 if hi == lo else (known - lo) / (hi - lo)
    if direction == "lower":
        t = 1.0 - t if kind in ("pct_rank", "minmax") else -t
    return t


@dataclass
class ScoreResult:
    score: np.ndarray          # NaN where the client has none of the features
    completeness: np.ndarray   # share of the total weight with evidence, in [0, 1]
    transformed: dict[str, np.ndarray]
    weights: dict[str, float]
    weight_present: np.ndarray


def score(columns: Mapping[str, tuple[np.ndarray, np.ndarray]], terms: Sequence[Mapping]) -> ScoreResult:
    """Weighted mean of the transformed features over the ones each client has.

    ``columns``: feature → (values, missing). ``terms``: [{"feature", "transform", "direction", "weight"}].
    """
    if not terms:
        raise ValueError("a score needs at least one feature")
    n = len(next(iter(columns.values()))[0]) if columns else 0
    total = np.zeros(n)
    present_weight = np.zeros(n)
    transformed: dict[str, np.ndarray] = {}
    weights: dict[str, float] = {}
    for term in terms:
        name = term["feature"]
        weight = float(term.get("weight", 1.0))
        if weight < 0 or not np.isfinite(weight):
            raise ValueError(f"weight of {name} must be a non-negative number")
        values, missing = columns[name]
        t = transform(values, missing, term.get("transform", "raw"), term.get("direction", "higher"))
        transformed[name] = t
        weights[name] = weights.get(name, 0.0) + weight
        has = ~np.isnan(t)
        total += np.where(has, t * weight, 0.0)
        present_weight += np.where(has, weight, 0.0)
    weight_sum = sum(weights.values())
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(present_weight > 0, total / present_weight, np.nan)
        completeness = present_weight / weight_sum if weight_sum > 0 else np.zeros(n)
    return ScoreResult(s, completeness, transformed, weights, present_weight)


def contributions(result: ScoreResult, index: int, top: int = 3) -> list[tuple[str, float]]:
    """How much each feature moved client ``index``'s score away from the average client's, largest first.

    contribution_j = w_j (t_ij − mean_j) / W_i with W_i the client's present weight: the terms sum to
    the client's score minus the weighted population mean over the same features, so "why" reads as
    "what lifts or lowers this client compared with a typical one".
    """
    w_i = result.weight_present[index]
    if not w_i:
        return []
    parts = []
    for name, t in result.transformed.items():
        value = t[index]
        if np.isnan(value):
            continue
        mean = float(np.nanmean(t)) if np.any(~np.isnan(t)) else 0.0
        parts.append((name, float(result.weights[name] * (value - mean) / w_i)))
    parts.sort(key=lambda p: (-abs(p[1]), p[0]))
    return parts[:top]


def all_contributions(result: ScoreResult, top: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``contributions`` for every client at once: (feature index array n×top, value array n×top);
    index −1 where a client has fewer features. Feature order is ``list(result.transformed)``."""
    names = list(result.transformed)
    n = result.score.size
    k = len(names)
    if n == 0 or k == 0:
        return np.full((n, 0), -1), np.zeros((n, 0))
    matrix = np.zeros((n, k))
    has = np.zeros((n, k), dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j, name in enumerate(names):
            t = result.transformed[name]
            known = ~np.isnan(t)
            mean = float(t[known].mean()) if known.any() else 0.0
            matrix[:, j] = np.where(known, result.weights[name] * (t - mean), 0.0)
            has[:, j] = known
        matrix = np.where(result.weight_present[:, None] > 0, matrix / result.weight_present[:, None], 0.0)
    top = min(top, k)
    magnitude = np.where(has, np.abs(matrix), -1.0)
    # stable order: largest magnitude first, then feature order
    order = np.argsort(-magnitude, axis=1, kind="stable")[:, :top]
    picked = np.take_along_axis(matrix, order, axis=1)
    valid = np.take_along_axis(has, order, axis=1)
    return np.where(valid, order, -1), picked


OPS = {">=": np.greater_equal, "<=": np.less_equal, ">": np.greater, "<": np.less, "==": np.equal}


def rule_mask(values: np.ndarray, missing: np.ndarray, op: str, threshold: float) -> np.ndarray:
    """Clients a knock-out rule applies to; never a client whose feature is missing."""
    if op not in OPS:
        raise ValueError(f"unknown operator {op!r}")
    with np.errstate(invalid="ignore"):
        return (~missing) & OPS[op](values, threshold)


def evidence(
    columns: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    required: Sequence[str],
    completeness: np.ndarray,
    min_completeness: float,
    history_months: np.ndarray | None,
    min_history_months: float,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Who has enough evidence to be classified, and per reason the clients failing it.

    Returns (ok mask, {reason: mask}); reasons are "feature:<name>", "history", "completeness".
    """
    n = completeness.size
    ok = np.ones(n, dtype=bool)
    reasons: dict[str, np.ndarray] = {}
    for name in required:
        _values, missing = columns[name]
        if missing.any():
            reasons[f"feature:{name}"] = missing.copy()
            ok &= ~missing
    if min_history_months > 0:
        months = history_months if history_months is not None else np.full(n, np.nan)
        short = ~(np.nan_to_num(months, nan=-1.0) >= min_history_months)
        if short.any():
            reasons["history"] = short
            ok &= ~short
    if min_completeness > 0:
        thin = ~(completeness >= min_completeness - 1e-12)
        if thin.any():
            reasons["completeness"] = thin
            ok &= ~thin
    return ok, reasons
