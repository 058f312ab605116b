"""What every split method shares: the error and result types, the input checks, and the diagnostics each
method reports (and the information gain against a known outcome)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np


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
