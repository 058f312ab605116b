"""Split methods: draw one line through a score vector and put every client on one side of it.

Pure NumPy, no Django: every function takes plain arrays and returns plain arrays and plain Python
values, so the engine, the ``bcrm analyse split`` command, the tests and the benchmark all call the same
code.

Conventions shared by every method:

* Scores are float64, higher is better: the **upper class** (high value / low risk / strategic) is the
  high end. NaN or infinite scores are refused (:class:`SplitError`); the caller removes clients whose
  score cannot be computed (they are "insufficient", never silently put on a side).
* A client's label is ``score >= threshold`` for every method except ``capacity`` (a knapsack selection,
  which need not be a threshold set when costs differ). Equal scores therefore always get equal labels;
  each method's docstring says on which side boundary ties land.
* ``threshold`` is the line, ``None`` when the upper class is empty or there are no scores. Except for
  ``fixed`` (where the line is given) it is the smallest score in the upper class.
* ``diagnostics`` is JSON-serialisable plain Python. Every method reports the same common set (see
  :func:`common_diagnostics`) plus its own; when an ``outcome`` is given to :func:`split` the
  information gain of the split against it is added as well (:func:`outcome_diagnostics`).

Methods and their cost for n clients: ``fixed`` O(n), ``top_k``/``top_share`` O(n) (partition),
``pareto``/``natural_break``/``information_gain`` O(n log n) (one sort), ``capacity`` O(n log n) for one
cost per client or the greedy mode, and dynamic programming bounded by ``exact_limit`` cells in exact mode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = [
    "METHODS", "PARAMS", "DEFAULT_PARAMS", "EXACT_LIMIT", "SplitError", "SplitResult", "split", "split_fixed",
    "split_top_share", "split_top_k", "split_pareto", "split_natural_break", "split_capacity",
    "split_information_gain", "parse_params", "compare_methods", "apply_hysteresis", "common_diagnostics",
    "outcome_diagnostics",
]

METHODS: tuple[str, ...] = (
    "fixed", "top_share", "top_k", "pareto", "natural_break", "capacity", "information_gain",
)

#: Declared parameters of each method and their types (what :func:`parse_params` accepts).
PARAMS: dict[str, dict[str, type]] = {
    "fixed": {"threshold": float},
    "top_share": {"q": float},
    "top_k": {"k": int},
    "pareto": {"p": float},
    "natural_break": {},
    "capacity": {"budget": float, "cost": float},
    "information_gain": {},
}

#: Parameters each method needs; the others have defaults (pareto ``p`` = 0.8; capacity ``cost`` may
#: come as a per-client ``costs`` array instead).
REQUIRED: dict[str, tuple[str, ...]] = {
    "fixed": ("threshold",), "top_share": ("q",), "top_k": ("k",), "pareto": (), "natural_break": (),
    "capacity": ("budget",), "information_gain": (),
}

#: Parameters :func:`compare_methods` uses when the caller gives none. ``fixed``, ``top_k`` and
#: ``capacity`` have no neutral default and are compared only when their parameters are given.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "top_share": {"q": 0.2},
    "pareto": {"p": 0.8},
    "natural_break": {},
    "information_gain": {},
}

#: Exact capacity mode runs while (candidate clients) x (budget units + 1) stays at or below this many
#: dynamic-programming cells (one byte each); above it the greedy mode takes over.
EXACT_LIMIT = 20_000_000
#: Cost resolution of the exact capacity mode, in hours: costs are counted in 0.1-hour units.
COST_UNIT = 0.1
#: Objective values closer than this (relative for the squared error, absolute bits for the
#: information gain) count as tied, so the documented tie-break holds despite float rounding.
_TIE_TOLERANCE = 1e-12


def gettext_noop(message: str) -> str:
    """Mark ``message`` for translation without translating it (this module must not import Django).

    The doors (API, UI, CLI) translate ``SplitError.template`` and format it with ``SplitError.params``.
    """
    return message


class SplitError(ValueError):
    """Bad parameters or input for a split; ``str(exc)`` is a sentence an end user can act on (English).

    ``template`` (a ``%(name)s`` format string, marked for translation) and ``params`` let a door show
    the message in the user's language: ``gettext(exc.template) % exc.params``.
    """

    def __init__(self, template: str, **params: Any) -> None:
        self.template = template
        self.params = params
        self.message = template % params
        super().__init__(self.message)


@dataclass(frozen=True, eq=False)
class SplitResult:
    """What a split method found.

    ``upper`` is a bool mask aligned with the input scores (True = upper class); ``threshold`` the
    line (``None`` when the upper class is empty); ``diagnostics`` plain JSON-serialisable values.
    """

    method: str
    threshold: float | None
    upper: np.ndarray
    diagnostics: dict = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The result without the per-client mask: method, threshold and diagnostics."""
        return {"method": self.method, "threshold": self.threshold, "diagnostics": dict(self.diagnostics)}


# --------------------------------------------------------------------------------------------------
# Input checks and shared pieces


def _as_scores(scores: Any) -> np.ndarray:
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise SplitError(gettext_noop("Scores must be numbers.")) from None
    if arr.ndim != 1:
        raise SplitError(gettext_noop("Scores must be a flat list of numbers, one per client."))
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise SplitError(
            gettext_noop("%(count)d scores are missing or infinite (the first at position %(position)d); "
                         "remove clients without a score before splitting."),
            count=int(bad.size), position=int(bad[0]))
    return arr


def _finite_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise SplitError(gettext_noop("Parameter %(name)s must be a number."), name=name)
    number = float(value)
    if not math.isfinite(number):
        raise SplitError(gettext_noop("Parameter %(name)s must be a finite number."), name=name)
    return number


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise SplitError(gettext_noop("Parameter %(name)s must be a whole number."), name=name)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    raise SplitError(gettext_noop("Parameter %(name)s must be a whole number."), name=name)


def _decimal(value: float) -> Fraction:
    """The decimal number a person wrote, not its binary approximation: 0.29 is 29/100 exactly."""
    return Fraction(repr(float(value)))


def _plain(value: Any) -> Any:
    """NumPy scalars and non-finite floats → JSON-safe Python values."""
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def _min_where(scores: np.ndarray, mask: np.ndarray) -> float | None:
    if not mask.any():
        return None
    return float(np.min(scores, where=mask, initial=np.inf))


def common_diagnostics(scores: np.ndarray, upper: np.ndarray, threshold: float | None) -> dict[str, Any]:
    """The diagnostics every method reports, in O(n) with one temporary array.

    ``n``, ``n_upper``, ``n_lower``, ``share_upper`` (of clients), ``value_share_upper`` (of the sum of
    scores; ``None`` when that sum is ≤ 0), ``mean_upper``/``mean_lower`` (``None`` for an empty class),
    ``within_ss``/``between_ss`` (the variance decomposition: total squared deviation from the mean =
    within + between), and ``tied_at_threshold`` (clients whose score equals the threshold).
    """
    n = int(scores.size)
    n_upper = int(np.count_nonzero(upper))
    n_lower = n - n_upper
    total = float(scores.sum()) if n else 0.0
    sum_upper = float(np.einsum("i,i->", scores, upper)) if n_upper else 0.0
    sum_lower = total - sum_upper
    mean_upper = sum_upper / n_upper if n_upper else None
    mean_lower = sum_lower / n_lower if n_lower else None
    within = between = 0.0
    if n:
        # deviation from the own class mean, built in one buffer (einsum: no BLAS threads, no copies)
        deviation = np.subtract(scores, mean_lower or 0.0)
        if mean_upper is not None:
            np.subtract(scores, float(mean_upper), out=deviation, where=upper)
        within = float(np.einsum("i,i->", deviation, deviation))
        mean = total / n
        if mean_upper is not None:
            between += n_upper * (mean_upper - mean) ** 2
        if mean_lower is not None:
            between += n_lower * (mean_lower - mean) ** 2
    tied = int(np.count_nonzero(scores == threshold)) if threshold is not None and n else 0
    return {
        "n": n,
        "n_upper": n_upper,
        "n_lower": n_lower,
        "share_upper": _plain(n_upper / n) if n else None,
        "value_share_upper": _plain(sum_upper / total) if total > 0 else None,
        "mean_upper": _plain(mean_upper),
        "mean_lower": _plain(mean_lower),
        "within_ss": _plain(within),
        "between_ss": _plain(between),
        "tied_at_threshold": tied,
    }


def _result(method: str, scores: np.ndarray, upper: np.ndarray, threshold: float | None,
            specific: Mapping[str, Any]) -> SplitResult:
    if not upper.any():
        threshold = None
    diagnostics = common_diagnostics(scores, upper, threshold)
    diagnostics.update({key: _plain(value) for key, value in specific.items()})
    return SplitResult(method=method, threshold=None if threshold is None else float(threshold),
                       upper=upper, diagnostics=diagnostics)


def _entropy_sum(positive: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``count · H(positive / count)`` in bits, elementwise, with 0·log 0 = 0 (zero for an empty class).

    Symmetric in positive ↔ negative (the two terms are added, and float addition commutes), so two
    splits with mirrored counts get bit-identical values and the tie-break stays deterministic.
    """
    positive = positive.astype(np.float64)
    count = count.astype(np.float64)
    negative = count - positive
    safe = np.where(count > 0, count, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(positive > 0, positive * np.log2(np.where(positive > 0, positive, 1.0) / safe), 0.0)
        b = np.where(negative > 0, negative * np.log2(np.where(negative > 0, negative, 1.0) / safe), 0.0)
    return -(a + b)


def _as_outcome(outcome: Any, n: int) -> np.ndarray:
    if outcome is None:
        raise SplitError(gettext_noop("This method needs a known outcome (0/1) for every client."))
    arr = np.asarray(outcome)
    if arr.ndim != 1 or arr.size != n:
        raise SplitError(gettext_noop("The outcome has %(got)d values but there are %(n)d scores; "
                                      "give one outcome per client."), got=int(arr.size), n=n)
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind not in "iuf":
        raise SplitError(gettext_noop("The outcome must be 0/1 (or true/false) for every client."))
    binary = (arr == 0) | (arr == 1)
    if not binary.all():
        bad = int(np.flatnonzero(~binary)[0])
        raise SplitError(gettext_noop("The outcome must be 0 or 1; position %(position)d holds %(value)s."),
                         position=bad, value=repr(_plain(arr[bad])))
    return arr == 1


def outcome_diagnostics(upper: np.ndarray, outcome: Any) -> dict[str, Any]:
    """How well a split separates a known 0/1 outcome: entropy before, information gain (bits), rates.

    ``information_gain`` = H(outcome) − weighted H(outcome | class); ``outcome_rate_upper`` /
    ``outcome_rate_lower`` are the share of 1s in each class (``None`` for an empty class).
    """
    y = _as_outcome(outcome, int(upper.size))
    n = int(y.size)
    positives = int(np.count_nonzero(y))
    n_upper = int(np.count_nonzero(upper))
    pos_upper = int(np.count_nonzero(y & upper))
    n_lower, pos_lower = n - n_upper, positives - pos_upper
    if n == 0:
        return {"entropy_before": None, "information_gain": None, "outcome_rate": None,
                "outcome_rate_upper": None, "outcome_rate_lower": None}
    before = float(_entropy_sum(np.array([positives]), np.array([n]))[0]) / n
    after = float(_entropy_sum(np.array([pos_upper, pos_lower]), np.array([n_upper, n_lower])).sum()) / n
    return {
        "entropy_before": before,
        "information_gain": max(0.0, before - after),
        "outcome_rate": positives / n,
        "outcome_rate_upper": pos_upper / n_upper if n_upper else None,
        "outcome_rate_lower": pos_lower / n_lower if n_lower else None,
    }


# --------------------------------------------------------------------------------------------------
# The methods


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


def split_natural_break(scores: Any) -> SplitResult:
    """The exact two-class optimum: least within-class sum of squared errors (Otsu / 2-class Fisher–Jenks).

    Sort once; for every cut between two distinct values the between-class sum of squares of the
    centred scores c is ``S² · n / (i · (n − i))`` with S the sum of the i lowest c, so minimising the
    within-class error is maximising ``S² / (i(n − i))`` over the cuts, read off prefix sums: O(n log n).
    The line falls between distinct values (no tie is cut); ``threshold`` is the smallest upper score.
    Ties between cuts (objective equal within 1e-12 relative): the highest threshold wins (smallest upper
    class). Fewer than two distinct values: no split, empty upper class, with a note.
    Extra diagnostics: ``n_distinct``, ``goodness_of_variance_fit`` (between / total sum of squares).
    """
    s = _as_scores(scores)
    n = s.size
    ordered = np.sort(s)
    n_distinct = int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1 if n else 0
    if n_distinct < 2:
        upper = np.zeros(n, dtype=bool)
        note = "no scores" if n == 0 else "all scores are equal: there is no break"
        return _result("natural_break", s, upper, None, {"n_distinct": n_distinct,
                                                        "goodness_of_variance_fit": None, "note": note})
    centred = ordered - ordered.mean()
    prefix = np.cumsum(centred[:-1])                    # prefix[i-1]: sum of the i lowest, i = 1..n-1
    i = np.arange(1, n, dtype=np.float64)
    objective = prefix * prefix / (i * (n - i))
    objective[ordered[1:] == ordered[:-1]] = -1.0       # a cut must fall between distinct values
    best = float(objective.max())
    candidates = np.flatnonzero(objective >= best * (1 - _TIE_TOLERANCE))
    cut = int(candidates[-1]) + 1                       # highest threshold among tied cuts
    threshold = float(ordered[cut])
    upper = s >= threshold
    result = _result("natural_break", s, upper, threshold, {"n_distinct": n_distinct})
    within, between = result.diagnostics["within_ss"], result.diagnostics["between_ss"]
    total_ss = (within or 0.0) + (between or 0.0)
    result.diagnostics["goodness_of_variance_fit"] = between / total_ss if total_ss > 0 else None
    return result


def split_information_gain(scores: Any, outcome: Any) -> SplitResult:
    """The threshold with the largest entropy reduction (bits) of a known 0/1 outcome.

    Every distinct score above the lowest is tried as ``score >= θ`` in one pass (sort + cumulative counts
    of 1s): O(n log n). Ties between thresholds (gain equal within 1e-12 bits): the highest threshold wins
    (smallest upper class). When no threshold reduces the entropy (constant outcome, one distinct score,
    or identical outcome rates on both sides of every cut) there is no split: empty upper class and a note.
    Diagnostics: ``information_gain``, ``entropy_before``, ``outcome_rate``, ``outcome_rate_upper``,
    ``outcome_rate_lower``, ``n_candidates`` (thresholds tried).
    """
    s = _as_scores(scores)
    y = _as_outcome(outcome, s.size)
    n = s.size
    order = np.argsort(s)
    ordered = s[order]
    cut_ok = ordered[1:] != ordered[:-1]
    cuts = np.flatnonzero(cut_ok) + 1                   # i: the lower class is the i lowest
    threshold: float | None = None
    note = None
    if cuts.size:
        positives_below = np.cumsum(y[order], dtype=np.int64)[cuts - 1]
        positives = int(np.count_nonzero(y))
        # count · H(pos / count) = T[count] − (T[pos] + T[count − pos]) with T[k] = k log2 k, a table
        # read by index; the sum in brackets commutes, so mirrored counts give bit-identical gains.
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.arange(n + 1, dtype=np.float64)
            table = np.where(k > 0, k * np.log2(np.where(k > 0, k, 1.0)), 0.0)
        positives_above, above = positives - positives_below, n - cuts
        after = (table[cuts] - (table[positives_below] + table[cuts - positives_below])
                 + table[above] - (table[positives_above] + table[above - positives_above]))
        before = table[n] - (table[positives] + table[n - positives])
        gains = (before - after) / n
        best = float(gains.max())
        if best > _TIE_TOLERANCE:
            chosen = int(np.flatnonzero(gains >= best - _TIE_TOLERANCE)[-1])
            threshold = float(ordered[cuts[chosen]])
        else:
            note = "no threshold reduces the entropy of the outcome"
    else:
        note = "no scores" if n == 0 else "all scores are equal: there is no threshold to try"
    upper = s >= threshold if threshold is not None else np.zeros(n, dtype=bool)
    specific: dict[str, Any] = {"n_candidates": int(cuts.size), **outcome_diagnostics(upper, y)}
    if note:
        specific["note"] = note
    return _result("information_gain", s, upper, threshold, specific)


# ----- capacity (0/1 knapsack) -------------------------------------------------------------------


def _units(values: np.ndarray, unit: float, *, up: bool) -> tuple[np.ndarray, bool]:
    """Values in whole ``unit``s (rounded up for costs, down for the budget) and whether all were whole."""
    raw = values / unit
    nearest = np.rint(raw)
    whole = np.abs(raw - nearest) <= 1e-9 * np.maximum(1.0, np.abs(raw))
    if whole.all():
        return nearest.astype(np.int64), True
    rounded = np.where(whole, nearest, np.ceil(raw) if up else np.floor(raw))
    return rounded.astype(np.int64), False


def _best_first(candidates: np.ndarray, ratio: np.ndarray, values: np.ndarray, costs: np.ndarray,
                need: float) -> np.ndarray:
    """The best-ratio prefix of ``candidates`` whose costs sum past ``need`` (or all of them), ordered by
    ratio, then value (both descending), then input order. Sorts only that prefix: a partition finds
    the ratio it ends at, and every candidate tied at that ratio is included, so the prefix is exact."""
    size = min(candidates.size, 4096)
    while True:
        if size >= candidates.size:
            part = candidates
        else:
            keys = ratio[candidates]
            cut = float(np.partition(keys, candidates.size - size)[candidates.size - size])
            part = candidates[keys >= cut]
        ordered = part[np.lexsort((part, -values[part], -ratio[part]))]
        if part.size == candidates.size or float(costs[ordered].sum()) > need:
            return ordered
        size *= 4


def _greedy(values: np.ndarray, costs: np.ndarray, budget: float) -> tuple[np.ndarray, float]:
    """Greedy by score per hour (ties: higher score, then input order), filling on past clients that do
    not fit; the best single client instead if it is worth more (so ≥ ½ of the optimum).

    Returns the chosen indices into ``values`` and Dantzig's bound (the LP relaxation: the best-ratio
    prefix plus a fraction of the first client that does not fit), which is ≥ the optimum."""
    ratio = values / costs
    candidates = np.flatnonzero(costs <= budget)
    chosen: list[np.ndarray] = []
    remaining = budget
    bound: float | None = None
    for _ in range(1024):                                    # each round skips one client that did not fit
        candidates = candidates[costs[candidates] <= remaining]
        if candidates.size == 0:
            break
        ordered = _best_first(candidates, ratio, values, costs, remaining)
        cumulative = np.cumsum(costs[ordered])
        taken = int(np.searchsorted(cumulative, remaining, side="right"))
        room = remaining - (float(cumulative[taken - 1]) if taken else 0.0)
        if bound is None:
            bound = float(values[ordered[:taken]].sum())
            if taken < ordered.size:
                bound += room / float(costs[ordered[taken]]) * float(values[ordered[taken]])
        chosen.append(ordered[:taken])
        remaining = room
        if taken == ordered.size:
            break
        done = np.zeros(values.size, dtype=bool)
        done[ordered[: taken + 1]] = True
        candidates = candidates[~done[candidates]]
    selected = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    fitting = np.flatnonzero(costs <= budget)
    if fitting.size:
        best_single = int(fitting[np.argmax(values[fitting])])
        if float(values[best_single]) > float(values[selected].sum()):
            selected = np.array([best_single], dtype=np.int64)
    return selected, bound or 0.0


def _dominance_pool(values: np.ndarray, units: np.ndarray, capacity: int, exact_limit: int) -> np.ndarray | None:
    """Candidates for the exact mode: among clients of one cost (in units) only the best
    ``capacity // cost`` (ties: input order) can be in an optimal selection. ``None`` when even that pool
    needs more than ``exact_limit`` dynamic-programming cells."""
    fit = np.flatnonzero(units <= capacity)
    if fit.size == 0:
        return fit
    if capacity + 1 > exact_limit:                          # not even one client's row fits
        return None
    counts = np.bincount(units[fit], minlength=capacity + 1)
    limits = capacity // np.maximum(np.arange(capacity + 1), 1)
    if int(np.minimum(counts, limits).sum()) * (capacity + 1) > exact_limit:
        return None
    keys = units[fit].astype(np.uint16) if capacity < 65_536 else units[fit]   # uint16 sorts by radix
    by_cost = fit[np.argsort(keys, kind="stable")]          # grouped by cost, input order inside a group
    starts = np.r_[0, np.cumsum(counts)]
    pool = []
    for c in np.flatnonzero(counts):
        group = by_cost[starts[c]: starts[c + 1]]
        keep = int(limits[c])
        if group.size > keep:
            group_values = values[group]
            boundary = float(np.partition(group_values, group.size - keep)[group.size - keep])
            above = group[group_values > boundary]
            tied = group[group_values == boundary][: keep - above.size]
            group = np.sort(np.r_[above, tied])
        pool.append(group)
    return np.concatenate(pool)


def _knapsack_dp(values: np.ndarray, units: np.ndarray, capacity: int) -> np.ndarray:
    """Exact 0/1 knapsack by dynamic programming over ``capacity + 1`` cost units; indices chosen."""
    m = values.size
    best = np.zeros(capacity + 1, dtype=np.float64)
    keep = np.zeros((m, capacity + 1), dtype=bool)
    for j in range(m):
        c = int(units[j])
        if c > capacity:
            continue
        candidate = best[: capacity + 1 - c] + values[j]
        take = candidate > best[c:]
        keep[j, c:] = take
        np.maximum(best[c:], candidate, out=best[c:])
    selected = []
    w = capacity
    for j in range(m - 1, -1, -1):
        if keep[j, w]:
            selected.append(j)
            w -= int(units[j])
    return np.array(selected[::-1], dtype=np.int64)


def split_capacity(scores: Any, costs_or_cost: Any, budget: float, *, exact_limit: int = EXACT_LIMIT,
                   unit: float = COST_UNIT) -> SplitResult:
    """The clients with the largest total score that a budget of hours can serve (0/1 knapsack).

    ``costs_or_cost`` is one cost for every client (hours, > 0) or an array of per-client costs (> 0).
    Only clients with a positive score are ever selected (a zero or negative score adds nothing).

    * One cost for all: the best ``floor(budget / cost)`` clients (decimal division, so 10 h / 0.1 h is 100):
      always exact, O(n) (a partition). Ties at the boundary are broken by input order, so two clients with the
      same score can land on different sides (a selection, not a threshold set).
    * Per-client costs: costs are counted in whole ``unit``s (0.1 h; rounded up, the budget rounded down,
      so the selection never exceeds the true budget). Clients that can never be chosen are dropped first
      (cost above the budget; within one cost, those beyond the best budget/cost). If the remaining
      candidates × (budget units + 1) ≤ ``exact_limit`` (default 20 million cells, one byte each), dynamic
      programming finds the optimum — ``exact`` is true when every cost and the budget were whole units;
      otherwise that optimum of the rounded problem or the greedy selection, whichever is worth more, is
      reported as not exact. Above the limit (e.g. a budget of thousands of hours over 1,000,000 clients
      with varied costs) the greedy mode takes over: by score per hour (ties: higher score, then input
      order), filling on past clients that do not fit, or the best single client if that is worth more
      (so ≥ ½ of the optimum; in practice the gap to the LP bound is tiny). Greedy is O(n) plus sorting
      the best-ratio prefix that fills the budget.

    Diagnostics: ``exact``, ``algorithm``, ``value`` (sum of selected scores), ``upper_bound`` (= value when
    exact, else the LP-relaxation bound), ``gap`` ((upper_bound − value) / upper_bound), ``budget``,
    ``used`` (hours), ``cost`` (the scalar cost, if any), ``cost_unit``, ``n_excluded_nonpositive``, and
    ``unselected_at_or_above_threshold`` (how far the selection is from a threshold set).
    ``threshold`` is the lowest selected score.
    """
    s = _as_scores(scores)
    n = s.size
    budget = _finite_number(budget, "budget")
    if budget < 0:
        raise SplitError(gettext_noop("The budget must be zero or more hours."))
    if not (isinstance(unit, int | float) and math.isfinite(unit) and unit > 0):
        raise SplitError(gettext_noop("The cost unit must be a positive number of hours."))
    positive = s > 0
    specific: dict[str, Any] = {"budget": budget, "n_excluded_nonpositive": int(n - np.count_nonzero(positive))}
    costs: np.ndarray | None = None
    if np.ndim(costs_or_cost) == 0:
        cost = _finite_number(costs_or_cost, "cost")
        if cost <= 0:
            raise SplitError(gettext_noop("The cost per client must be above zero hours."))
        specific["cost"] = cost
        slots = math.floor(_decimal(budget) / _decimal(cost))
        candidates = np.flatnonzero(positive)
        if 0 < slots < candidates.size:                     # the best `slots`; ties: input order
            kept = s[candidates]
            boundary = float(np.partition(kept, kept.size - slots)[kept.size - slots])
            above = candidates[kept > boundary]
            candidates = np.sort(np.r_[above, candidates[kept == boundary][: slots - above.size]])
        elif slots <= 0:
            candidates = candidates[:0]
        upper = np.zeros(n, dtype=bool)
        upper[candidates] = True
        value = float(s[candidates].sum())
        specific.update({"exact": True, "algorithm": "top by score (one cost per client)", "value": value,
                         "upper_bound": value, "gap": 0.0, "used": float(candidates.size * cost),
                         "cost_unit": None})
    else:
        try:
            costs = np.asarray(costs_or_cost, dtype=np.float64)
        except (TypeError, ValueError):
            raise SplitError(gettext_noop("Costs must be numbers of hours, one per client.")) from None
        if costs.ndim != 1 or costs.size != n:
            raise SplitError(gettext_noop("There are %(got)d costs but %(n)d scores; give one cost per client."),
                             got=int(costs.size), n=n)
        bad = ~(np.isfinite(costs) & (costs > 0))
        if bad.any():
            raise SplitError(gettext_noop("Every cost must be a number of hours above zero; "
                                          "position %(position)d is not."), position=int(np.flatnonzero(bad)[0]))
        upper, details = _capacity_per_client(s, costs, budget, positive, exact_limit, unit)
        specific.update(details)
    threshold = _min_where(s, upper)
    specific["unselected_at_or_above_threshold"] = (
        int(np.count_nonzero((s >= threshold) & ~upper)) if threshold is not None else 0)
    return _result("capacity", s, upper, threshold, specific)


def _capacity_per_client(s: np.ndarray, costs: np.ndarray, budget: float, positive: np.ndarray,
                         exact_limit: int, unit: float) -> tuple[np.ndarray, dict[str, Any]]:
    n = s.size
    eligible = np.flatnonzero(positive & (costs <= budget))
    values, item_costs = s[eligible], costs[eligible]
    capacity_arr, budget_whole = _units(np.array([budget]), unit, up=False)
    capacity = int(capacity_arr[0])
    units, costs_whole = _units(item_costs, unit, up=True)
    greedy, bound = _greedy(values, item_costs, budget)
    selected, exact, algorithm = greedy, False, "greedy by score per hour"
    if eligible.size == 0:
        exact, algorithm = True, "nothing fits the budget"
    else:
        pool = _dominance_pool(values, units, capacity, exact_limit)
        if pool is not None and pool.size:
            dp = pool[_knapsack_dp(values[pool], units[pool], capacity)]
            whole = budget_whole and costs_whole
            if whole or float(values[dp].sum()) >= float(values[greedy].sum()):
                selected, exact = dp, whole
                algorithm = "dynamic programming" + ("" if whole else " on costs rounded up to whole units")
    value = float(values[selected].sum())
    bound = value if exact else max(value, bound)
    upper = np.zeros(n, dtype=bool)
    upper[eligible[selected]] = True
    return upper, {
        "cost": None, "cost_unit": unit, "exact": exact, "algorithm": algorithm, "value": value,
        "upper_bound": bound, "gap": (bound - value) / bound if bound > 0 else 0.0,
        "used": float(item_costs[selected].sum()),
    }


# --------------------------------------------------------------------------------------------------
# Dispatch, parameters, comparison


def _check_params(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if method not in PARAMS:
        raise SplitError(gettext_noop("Unknown split method %(method)s; choose one of %(choices)s."),
                         method=repr(method), choices=", ".join(METHODS))
    declared = PARAMS[method]
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise SplitError(gettext_noop("Method %(method)s has no parameter %(name)s; it takes %(accepted)s."),
                         method=method, name=", ".join(unknown), accepted=", ".join(declared) or "none")
    missing = [name for name in REQUIRED[method] if params.get(name) is None]
    if missing:
        raise SplitError(gettext_noop("Method %(method)s needs the parameter %(name)s."),
                         method=method, name=", ".join(missing))
    return {key: value for key, value in params.items() if value is not None}


def split(method: str, scores: Any, *, outcome: Any = None, costs: Any = None, **params: Any) -> SplitResult:
    """Run one split method by name with its parameters (see :data:`PARAMS`).

    ``outcome`` (0/1 per client) is required by ``information_gain``; for every other method, when
    given, the information gain of the split against it is added to the diagnostics. ``costs`` (hours
    per client) is read by ``capacity`` only, instead of the scalar ``cost`` parameter.
    """
    params = _check_params(method, params)
    if method == "fixed":
        result = split_fixed(scores, params["threshold"])
    elif method == "top_share":
        result = split_top_share(scores, params["q"])
    elif method == "top_k":
        result = split_top_k(scores, params["k"])
    elif method == "pareto":
        result = split_pareto(scores, params.get("p", 0.8))
    elif method == "natural_break":
        result = split_natural_break(scores)
    elif method == "capacity":
        if costs is not None and "cost" in params:
            raise SplitError(gettext_noop("Give either one cost per client or a cost for each client, not both."))
        if costs is None and "cost" not in params:
            raise SplitError(gettext_noop("The capacity method needs the hours each client costs (cost)."))
        result = split_capacity(scores, costs if costs is not None else params["cost"], params["budget"])
    else:
        return split_information_gain(scores, outcome)
    if outcome is not None:
        result.diagnostics.update(outcome_diagnostics(result.upper, outcome))
    return result


def _parse_number(text: str, name: str) -> float:
    cleaned = text.strip().replace("_", "")
    share = cleaned.endswith("%")
    try:
        number = float(cleaned[:-1] if share else cleaned)
    except ValueError:
        raise SplitError(gettext_noop("Parameter %(name)s must be a number, not %(value)s."),
                         name=name, value=repr(text)) from None
    if not math.isfinite(number):
        raise SplitError(gettext_noop("Parameter %(name)s must be a finite number, not %(value)s."),
                         name=name, value=repr(text))
    return number / 100 if share else number


def parse_params(method: str, raw: Mapping[str, str]) -> dict[str, Any]:
    """``{"q": "0.2"}`` as typed in a form, the API or ``--param q=0.2`` → ``{"q": 0.2}``.

    Unknown method or parameter names and values that are not numbers raise :class:`SplitError`;
    ``20%`` means 0.2; a whole-number parameter accepts ``10`` or ``10.0``. Range checks (q in (0, 1] …)
    happen when the method runs, and required parameters are checked then too.
    """
    if method not in PARAMS:
        raise SplitError(gettext_noop("Unknown split method %(method)s; choose one of %(choices)s."),
                         method=repr(method), choices=", ".join(METHODS))
    declared = PARAMS[method]
    typed: dict[str, Any] = {}
    for name, text in raw.items():
        key = str(name).strip()
        if key not in declared:
            raise SplitError(gettext_noop("Method %(method)s has no parameter %(name)s; it takes %(accepted)s."),
                             method=method, name=repr(key), accepted=", ".join(declared) or "none")
        number = _parse_number(str(text), key)
        if declared[key] is int:
            if not number.is_integer():
                raise SplitError(gettext_noop("Parameter %(name)s must be a whole number, not %(value)s."),
                                 name=key, value=repr(text))
            typed[key] = int(number)
        else:
            typed[key] = number
    return typed


def compare_methods(scores: Any, *, outcome: Any = None, costs: Any = None,
                    params_by_method: Mapping[str, Mapping[str, Any]] | None = None) -> list[SplitResult]:
    """Every method that can run on this input, in :data:`METHODS` order: where would the line fall?

    Defaults: :data:`DEFAULT_PARAMS` (top_share q = 0.2, pareto p = 0.8, natural_break,
    information_gain). ``params_by_method`` adds or overrides methods (``fixed``, ``top_k`` and
    ``capacity`` run only when given there; capacity also takes ``costs``). Skipped: information_gain
    without an outcome, capacity without a budget, and a default method the input does not allow (pareto
    on negative scores). Errors in parameters the caller gave are raised, not skipped.
    """
    s = _as_scores(scores)
    given = {method: dict(params) for method, params in (params_by_method or {}).items()}
    for method in given:
        if method not in PARAMS:
            raise SplitError(gettext_noop("Unknown split method %(method)s; choose one of %(choices)s."),
                             method=repr(method), choices=", ".join(METHODS))
    if outcome is not None:
        outcome = _as_outcome(outcome, s.size)               # a bad outcome is an error, not a skip
    results = []
    for method in METHODS:
        if method == "information_gain" and outcome is None:
            continue
        if method == "capacity" and given.get(method, {}).get("budget") is None:
            continue
        if method not in given and method not in DEFAULT_PARAMS:
            continue
        params = given.get(method, DEFAULT_PARAMS.get(method, {}))
        try:
            results.append(split(method, s, outcome=outcome, costs=costs if method == "capacity" else None,
                                 **params))
        except SplitError:
            if method in given:
                raise
    return results


# --------------------------------------------------------------------------------------------------
# Hysteresis


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

