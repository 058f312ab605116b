"""Regression discontinuity: the kernels, the verdicts, and the checks of the inputs every estimate shares."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from bcrm.stats import ModelError, gettext_noop

#: Kernels on u = (x − θ)/h, zero outside |u| < 1 (the uniform kernel includes |u| = 1).
KERNELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "triangular": lambda u: np.clip(1.0 - np.abs(u), 0.0, None),
    "uniform": lambda u: (np.abs(u) <= 1.0).astype(np.float64),
    "epanechnikov": lambda u: np.clip(0.75 * (1.0 - u * u), 0.0, None),
}
#: IK's C_K per kernel: (C₂ / (4·C₁))^(1/5) for local linear regression at a boundary.
IK_CONSTANT = {"triangular": 3.4375, "uniform": 2.7020, "epanechnikov": 3.1999}

EFFECT = "effect"
NO_DETECTABLE_EFFECT = "no_detectable_effect"
TOO_FEW = "too_few"
#: Paired comparisons need at least this many clients who migrated.
MIN_PAIRS = 10


def _note(template: str, **params: Any) -> dict[str, Any]:
    return {"template": template, "params": params, "message": template % params}


def _messages(details: list[dict[str, Any]]) -> list[str]:
    return [note["message"] for note in details]


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


# --------------------------------------------------------------------------------------------------
# Input checks


def _as_vector(values: Any, not_numbers: str) -> np.ndarray:
    """A flat float array; ``not_numbers`` is the (marked) message when the values are not numbers."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ModelError(not_numbers) from None
    if arr.ndim != 1:
        raise ModelError(gettext_noop("Expected a flat list of numbers, one per client."))
    return arr


def _check_alpha(alpha: float) -> float:
    if not isinstance(alpha, int | float) or not 0.0 < float(alpha) < 1.0:
        raise ModelError(gettext_noop("The significance level must be between 0 and 1 (e.g. 0.05), not "
                                      "%(alpha)s."), alpha=alpha)
    return float(alpha)


def _check_kernel(kernel: str) -> str:
    if kernel not in KERNELS:
        raise ModelError(gettext_noop("Unknown kernel %(kernel)s: use one of %(known)s."),
                         kernel=kernel, known=", ".join(KERNELS))
    return kernel


def _check_threshold(threshold: float) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise ModelError(gettext_noop("The threshold must be a finite number."))
    return value


def _paired_input(running: Any, outcome: Any, treated: Any = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int, int]:
    """Scores, outcomes (and tier flags) of the clients that have all of them; returns the counts left
    out for want of a score, and for want of an outcome (or a tier flag)."""
    x = _as_vector(running, gettext_noop("Every score must be a number (or empty)."))
    y = _as_vector(outcome, gettext_noop("Every outcome must be a number (or empty)."))
    if x.shape != y.shape:
        raise ModelError(gettext_noop("The scores and the outcomes must have one value per client; there "
                                      "are %(nx)d scores and %(ny)d outcomes."), nx=x.size, ny=y.size)
    no_score = ~np.isfinite(x)
    missing = ~np.isfinite(y)
    t = None
    if treated is not None:
        t = _as_vector(treated, gettext_noop("Every tier flag must be 1 (dedicated), 0 (standard) or empty."))
        if t.shape != x.shape:
            raise ModelError(gettext_noop("The tier flags must have one value per client; there are %(nt)d "
                                          "flags for %(n)d clients."), nt=t.size, n=x.size)
        if not np.isin(t[np.isfinite(t)], (0.0, 1.0)).all():
            raise ModelError(gettext_noop("Every tier flag must be 1 (dedicated), 0 (standard) or empty."))
        missing |= ~np.isfinite(t)
    no_outcome = ~no_score & missing
    keep = ~(no_score | missing)
    return (x[keep], y[keep], None if t is None else t[keep], int(no_score.sum()), int(no_outcome.sum()))


def kernel_weights(u: np.ndarray, kernel: str = "triangular") -> np.ndarray:
    """Kernel weights at u = (x − θ)/h."""
    return KERNELS[_check_kernel(kernel)](np.asarray(u, dtype=np.float64))
