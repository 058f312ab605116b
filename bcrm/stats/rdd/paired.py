"""Clients who migrated across the line: the paired before/after comparison of their outcome."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from bcrm.stats import ModelError, gettext_noop
from bcrm.stats.rdd.inputs import (
    EFFECT,
    MIN_PAIRS,
    NO_DETECTABLE_EFFECT,
    TOO_FEW,
    _as_vector,
    _check_alpha,
    _messages,
    _note,
)


@dataclass(frozen=True, eq=False)
class PairedResult:
    """Mean change (after − before) over clients measured twice, with a paired t interval."""

    mean_difference: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n: int
    mean_before: float | None
    mean_after: float | None
    verdict: str
    alpha: float
    n_dropped: int
    note_details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        return _messages(self.note_details)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mean_difference": self.mean_difference, "se": self.se, "ci_low": self.ci_low,
            "ci_high": self.ci_high, "p_value": self.p_value, "n": self.n, "mean_before": self.mean_before,
            "mean_after": self.mean_after, "verdict": self.verdict, "alpha": self.alpha,
            "n_dropped": self.n_dropped, "notes": self.notes,
        }


def before_after(before: Any, after: Any, alpha: float = 0.05, *, min_pairs: int = MIN_PAIRS) -> PairedResult:
    """Paired comparison of the outcome of the same clients before and after they migrated.

    Pairs with a missing value are left out and counted. Fewer than ``min_pairs`` pairs (10) give verdict
    "too_few". Without a comparison group this shows change, not its cause: notes say so."""
    alpha = _check_alpha(alpha)
    if isinstance(min_pairs, bool) or not isinstance(min_pairs, int) or min_pairs < 2:
        raise ModelError(gettext_noop("The minimum number of pairs must be a whole number of at least 2."))
    b = _as_vector(before, gettext_noop("Every value before must be a number (or empty)."))
    a = _as_vector(after, gettext_noop("Every value after must be a number (or empty)."))
    if a.shape != b.shape:
        raise ModelError(gettext_noop("The values before and after must come in pairs, one per client; there "
                                      "are %(nb)d before and %(na)d after."), nb=b.size, na=a.size)
    keep = np.isfinite(a) & np.isfinite(b)
    dropped = int((~keep).sum())
    a, b = a[keep], b[keep]
    n = int(a.size)
    notes: list[dict[str, Any]] = []
    if dropped:
        notes.append(_note(gettext_noop("%(count)d clients without both values were left out."), count=dropped))
    means = {"mean_before": float(b.mean()) if n else None, "mean_after": float(a.mean()) if n else None}
    empty: dict[str, float | None] = {"mean_difference": None, "se": None, "ci_low": None, "ci_high": None,
                                      "p_value": None}
    if n < min_pairs:
        notes.append(_note(gettext_noop("Only %(n)d clients were measured before and after (at least %(min)d are "
                                        "needed); nothing can be said yet."), n=n, min=min_pairs))
        if n >= 1:
            empty["mean_difference"] = float((a - b).mean())
        return PairedResult(n=n, verdict=TOO_FEW, alpha=alpha, n_dropped=dropped, note_details=notes,
                            **means, **empty)
    d = a - b
    mean = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n))
    t = float(stats.t.ppf(1.0 - alpha / 2.0, n - 1))
    if se > 0:
        p_value = float(2.0 * stats.t.sf(abs(mean) / se, n - 1))
    else:
        p_value = 1.0 if mean == 0 else 0.0
    low, high = mean - t * se, mean + t * se
    verdict = EFFECT if p_value < alpha else NO_DETECTABLE_EFFECT
    params = {"diff": mean, "low": low, "high": high, "level": round(100 * (1 - alpha), 1), "p": p_value, "n": n}
    if verdict == EFFECT:
        notes.append(_note(gettext_noop("After migrating, the outcome changed by %(diff).3g on average "
                                        "(%(level)g%% confidence interval %(low).3g to %(high).3g, p = %(p).3g, "
                                        "%(n)d clients)."), **params))
    else:
        notes.append(_note(gettext_noop("The change after migrating (%(diff).3g on average, %(level)g%% "
                                        "confidence interval %(low).3g to %(high).3g, p = %(p).3g, %(n)d clients) "
                                        "cannot be told apart from chance."), **params))
    notes.append(_note(gettext_noop("Before/after shows change, not its cause: anything else that changed over "
                                    "the same time also counts.")))
    return PairedResult(mean_difference=mean, se=se, ci_low=low, ci_high=high, p_value=p_value, n=n,
                        verdict=verdict, alpha=alpha, n_dropped=dropped, note_details=notes, **means)
