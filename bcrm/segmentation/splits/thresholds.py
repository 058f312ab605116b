"""Split methods that draw the line by rule or by rank: a fixed threshold, the top k, the top share, and the
Pareto (80/20) line."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bcrm.segmentation.splits.base import (
    SplitError,
    SplitResult,
    _as_scores,
    _decimal,
    _finite_number,
    _integer,
    _min_where,
    _result,
    gettext_noop,
)


def split_fixed(scores: Any, threshold: float) -> SplitResult:
    """Upper class: ``score >= threshold`` (the line is given).

    Ties: clients exactly at the threshold are upper. ``diagnostics["threshold"]`` is the threshold asked
    for; the result's ``threshold`` is ``None`` when nobody reaches it (the upper class is empty).
    """
    s = _as_scores(scores)
    theta = _finite_number(threshold, "threshold")
    upper = s >= theta
    return _result("fixed", s, upper, theta, {"threshold": theta})


def _top(method: str, s: np.ndarray, k: int, specific: dict[str, Any]) -> SplitResult:
    """The best ``k`` or fewer: all clients tied at the boundary go below (never more than ``k`` upper)."""
    n = s.size
    specific = {**specific, "requested": k}
    if k <= 0 or n == 0:
        upper = np.zeros(n, dtype=bool)
        return _result(method, s, upper, None, {**specific, "boundary_score": None, "tied_at_boundary": 0,
                                                "excluded_by_ties": 0})
    if k >= n:
        upper = np.ones(n, dtype=bool)
        boundary = float(s.min())
        return _result(method, s, upper, boundary, {**specific, "boundary_score": boundary,
                                                    "tied_at_boundary": int(np.count_nonzero(s == boundary)),
                                                    "excluded_by_ties": 0})
    boundary = float(np.partition(s, n - k)[n - k])        # the k-th best score
    upper = s >= boundary
    if int(np.count_nonzero(upper)) > k:                     # ties straddle the boundary: all go below
        upper = s > boundary
    threshold = _min_where(s, upper)
    n_upper = int(np.count_nonzero(upper))
    return _result(method, s, upper, threshold, {
        **specific, "boundary_score": boundary, "tied_at_boundary": int(np.count_nonzero(s == boundary)),
        "excluded_by_ties": k - n_upper,
    })


def split_top_k(scores: Any, k: int) -> SplitResult:
    """The ``k`` best clients, never more (capacity-safe).

    Ties: when clients tied at the k-th best score would push the upper class past ``k``, all of them go
    below, so the class can be smaller than ``k``. Diagnostics: ``requested`` (= ``k``), ``n_upper``
    (actual), ``boundary_score`` (the k-th best score), ``tied_at_boundary`` (clients with that score) and
    ``excluded_by_ties`` (``requested − n_upper`` when k ≤ n). ``k`` ≥ n puts everybody above; O(n).
    """
    s = _as_scores(scores)
    k = _integer(k, "k")
    if k < 0:
        raise SplitError(gettext_noop("k must be zero or more (it is the number of clients in the upper class)."))
    return _top("top_k", s, k, {"k": k})


def split_top_share(scores: Any, q: float) -> SplitResult:
    """The top share ``q`` of clients: ``k = floor(q · n)`` of them, never more.

    ``q`` is in (0, 1]; ``floor`` is taken on the decimal value of ``q`` as written, so ``q = 0.29`` of 100
    clients is 29 (not 28 by binary rounding). Ties at the boundary all go below, exactly as in
    :func:`split_top_k`, whose diagnostics it reports, plus ``q``.
    """
    s = _as_scores(scores)
    q = _finite_number(q, "q")
    if not 0 < q <= 1:
        raise SplitError(gettext_noop("q must be a share above 0 and at most 1 (for example 0.2 for the top 20%%)."))
    k = math.floor(_decimal(q) * s.size)
    return _top("top_share", s, k, {"q": q})


def split_pareto(scores: Any, p: float = 0.8) -> SplitResult:
    """The fewest top clients whose scores sum to at least ``p`` of the total (the 80/20 line).

    Scores must be ≥ 0. Sorting descending, the minimal set is the top ``minimal_count`` clients; if the
    last of them is tied with clients further down, the tied clients are included too (the set must reach
    ``p`` and equal scores get equal labels): ``added_by_ties`` says how many. A total of 0 gives an
    empty upper class with a note. Sums are float64 prefix sums; O(n log n).
    """
    s = _as_scores(scores)
    p = _finite_number(p, "p")
    if not 0 < p <= 1:
        raise SplitError(gettext_noop("p must be a share above 0 and at most 1 (for example 0.8)."))
    if s.size and float(s.min()) < 0:
        raise SplitError(gettext_noop("The pareto method needs scores of zero or more; "
                                      "%(count)d scores are negative."), count=int(np.count_nonzero(s < 0)))
    specific: dict[str, Any] = {"p": p}
    desc = np.sort(s)[::-1]
    cumulative = np.cumsum(desc)
    total = float(cumulative[-1]) if s.size else 0.0
    if total <= 0:
        upper = np.zeros(s.size, dtype=bool)
        note = "no scores" if s.size == 0 else "all scores are zero: there is no value to concentrate"
        return _result("pareto", s, upper, None, {**specific, "target_value": 0.0, "minimal_count": 0,
                                                  "tied_at_boundary": 0, "added_by_ties": 0, "note": note})
    target = p * total
    index = int(np.searchsorted(cumulative, target, side="left"))
    index = min(index, s.size - 1)
    boundary = float(desc[index])
    upper = s >= boundary
    n_upper = int(np.count_nonzero(upper))
    return _result("pareto", s, upper, boundary, {
        **specific, "target_value": target, "minimal_count": index + 1,
        "tied_at_boundary": int(np.count_nonzero(s == boundary)), "added_by_ties": n_upper - (index + 1),
    })
