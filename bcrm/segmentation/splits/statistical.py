"""Split methods that draw the line where an objective is best: the natural break (least within-class squared
error) and the information gain against a known 0/1 outcome."""

from __future__ import annotations

from typing import Any

import numpy as np

from bcrm.segmentation.splits.base import SplitResult, _as_outcome, _as_scores, _result, outcome_diagnostics

#: Objective values closer than this (relative for the squared error, absolute bits for the
#: information gain) count as tied, so the documented tie-break holds despite float rounding.
_TIE_TOLERANCE = 1e-12


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
