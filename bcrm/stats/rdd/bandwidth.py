"""The Imbens–Kalyanaraman (2012) bandwidth for a sharp RD at the line (steps in the package docstring)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bcrm.stats import ModelError, gettext_noop
from bcrm.stats.rdd.inputs import (
    IK_CONSTANT,
    _check_kernel,
    _check_threshold,
    _finite_or_none,
    _messages,
    _note,
    _paired_input,
)


@dataclass(frozen=True, eq=False)
class Bandwidth:
    """A bandwidth and how it was found: ``method`` is "ik" or "rule_of_thumb" (a degenerate IK step,
    said in ``notes``); ``steps`` the intermediate figures of the IK procedure (JSON-serialisable)."""

    value: float
    method: str
    steps: dict[str, float | None] = field(default_factory=dict)
    note_details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        return _messages(self.note_details)


def _quadratic_curvature(u: np.ndarray, y: np.ndarray) -> float | None:
    """2 × the quadratic coefficient of an OLS fit y ~ 1 + u + u², or None when it cannot be fitted."""
    if np.unique(u).size < 3:
        return None
    design = np.column_stack([np.ones_like(u), u, u * u])
    coef, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    if rank < 3 or not np.isfinite(coef[2]):
        return None
    return 2.0 * float(coef[2])


def _third_derivative(x: np.ndarray, y: np.ndarray, threshold: float) -> float:
    """6 × the cubic coefficient of the global cubic with a jump at the line (NaN when not estimable)."""
    u = x - threshold
    scale = float(np.max(np.abs(u))) or 1.0
    v = u / scale                                   # conditioning: fit on [−1, 1], scale back
    design = np.column_stack([np.ones_like(v), (x >= threshold).astype(np.float64), v, v * v, v ** 3])
    coef, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    if rank < 5:
        return math.nan
    return 6.0 * float(coef[4]) / scale ** 3


def ik_bandwidth(running: Any, outcome: Any, threshold: float, *, kernel: str = "triangular") -> Bandwidth:
    """The Imbens–Kalyanaraman (2012) MSE-optimal bandwidth of the sharp design (see the module text).

    Clients without a score or an outcome are left out. Needs at least one client on each side of the
    line; raises :class:`ModelError` otherwise."""
    kernel = _check_kernel(kernel)
    threshold = _check_threshold(threshold)
    x, y, _, _, _ = _paired_input(running, outcome)
    left, right = x < threshold, x >= threshold
    n, n_left, n_right = x.size, int(left.sum()), int(right.sum())
    if n_left == 0 or n_right == 0:
        raise ModelError(gettext_noop("A bandwidth needs clients on both sides of the line."))
    s_x = float(np.std(x, ddof=1))                  # > 0: there are clients on both sides
    u = x - threshold
    spread = float(np.ptp(y))
    tiny = (1e-9 * spread) ** 2

    h1 = 1.84 * s_x * n ** (-0.2)
    steps: dict[str, float | None] = {"h1": h1}

    def fallback(template: str, **params: Any) -> Bandwidth:
        reason = _note(template, **params)
        return Bandwidth(value=h1, method="rule_of_thumb", steps=steps, note_details=[reason, _note(
            gettext_noop("The rule-of-thumb bandwidth 1.84 × the spread of the scores × N^(−1/5) = %(h).4g was "
                         "used instead of the data-driven one."), h=h1)])

    # Step 1: density and conditional variances at the line.
    in_h1_left = left & (u >= -h1)
    in_h1_right = right & (u <= h1)
    k_left, k_right = int(in_h1_left.sum()), int(in_h1_right.sum())
    steps.update(n_h1_left=k_left, n_h1_right=k_right)
    if k_left < 2 or k_right < 2:
        return fallback(gettext_noop("Too few clients near the line (%(left)d below, %(right)d at or above "
                                     "within the pilot bandwidth) to estimate the outcome's variance there."),
                        left=k_left, right=k_right)
    density = (k_left + k_right) / (2.0 * n * h1)
    var_left = float(np.var(y[in_h1_left], ddof=1))
    var_right = float(np.var(y[in_h1_right], ddof=1))
    steps.update(density=density, var_left=var_left, var_right=var_right)
    if var_left + var_right <= tiny:
        return fallback(gettext_noop("The outcome does not vary near the line."))

    # Step 2: second derivatives on each side, from pilot bandwidths based on the global third derivative.
    m3 = _third_derivative(x, y, threshold)
    steps["m3"] = _finite_or_none(m3)
    curvature: dict[str, float] = {}
    reg = 0.0
    for side, mask, var, n_side in (("left", left, var_left, n_left), ("right", right, var_right, n_right)):
        reach = float(np.max(np.abs(u[mask])))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            h2 = 3.56 * (var / (density * m3 * m3)) ** (1.0 / 7.0) * n_side ** (-1.0 / 7.0)
        if not math.isfinite(h2) or h2 >= reach:
            h2 = reach                                # m3 ≈ 0: the curvature is read from the whole side
        window = mask & (np.abs(u) <= h2)
        m2 = _quadratic_curvature(u[window], y[window])
        if m2 is None and h2 < reach:
            h2, window = reach, mask
            m2 = _quadratic_curvature(u[window], y[window])
        if m2 is None:
            return fallback(gettext_noop("Too few different scores below the line to estimate the outcome's "
                                         "curvature.") if side == "left" else
                            gettext_noop("Too few different scores at or above the line to estimate the "
                                         "outcome's curvature."))
        n2 = int(window.sum())
        r = 2160.0 * var / (n2 * h2 ** 4) if h2 > 0 else math.inf
        steps.update({f"h2_{side}": h2, f"n_h2_{side}": n2, f"m2_{side}": m2, f"r_{side}": _finite_or_none(r)})
        curvature[side] = m2
        reg += r

    # Step 3: the regularised MSE-optimal bandwidth.
    denominator = density * ((curvature["right"] - curvature["left"]) ** 2 + reg)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        h = IK_CONSTANT[kernel] * float(((var_left + var_right) / denominator) ** 0.2) * n ** (-0.2)
    if not (math.isfinite(h) and h > 0):
        return fallback(gettext_noop("The data-driven bandwidth could not be computed (a degenerate step)."))
    return Bandwidth(value=h, method="ik", steps=steps)
