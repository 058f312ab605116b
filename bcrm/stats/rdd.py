"""What the dedicated tier achieves: a regression discontinuity at the value line.

Pure NumPy/SciPy (no Django). The value dimension draws a line (the threshold θ) through the clients'
scores; clients at or above it are high-value and, by the tier policy, get the dedicated tier. If nothing
else changes at the line, clients just above and just below it are alike but for the tier, so the jump
of an outcome (satisfaction, later commitments) at the line estimates the effect of the dedicated tier
*for clients near the line*. :func:`before_after` is the second view (clients who migrated, measured
twice) and :func:`binned_means` the points of the RD plot.

Estimator
---------
:func:`estimate` fits a straight line on each side of θ to the clients within the bandwidth h, by
weighted least squares with kernel weights K((x − θ)/h) (triangular by default), and reports

    effect = α̂₊ − α̂₋        (the two fitted lines' values at θ)

When not everybody above the line gets the dedicated tier, or some below it do (the tier policy reads
other dimensions too; overrides and hysteresis blur the line), pass ``treated`` for the fuzzy design:
the jump of the outcome is divided by the jump of the share served (see :func:`estimate`).

The standard error is heteroskedasticity-robust (HC1) from the interacted regression
y = α₋ + τ·D + β₋(x − θ) + (β₊ − β₋)·D·(x − θ), D = 1[x ≥ θ], estimated by WLS (k = 4 coefficients):

    V = n/(n − k) · (X′WX)⁻¹ (Σᵢ wᵢ² êᵢ² xᵢxᵢ′) (X′WX)⁻¹,     se(τ̂) = √V_ττ

with n the clients of positive weight. The interval is normal, τ̂ ± z₁₋α/₂·se, and the p-value two-sided.
The design is block-diagonal (the sides share no coefficient), so this is computed side by side.

The interval is the conventional one: it ignores the smoothing bias of the local linear fit. Where the
outcome is straight near the line it covers the truth at the nominal rate (94 % of 95 % intervals in
the tests' simulations); where the curvature changes at the line it covers a little less (about 90 % in
a simulation with a curvature jump of 3). Calonico, Cattaneo & Titiunik's robust bias-corrected interval
would be the remedy if that ever matters more than simplicity.

Bandwidth (Imbens & Kalyanaraman 2012, "Optimal bandwidth choice for the regression discontinuity
estimator", Review of Economic Studies 79(3), 933–959, section 4.2)
------------------------------------------------------------------------------------------------
With N clients, N₋/N₊ of them below/above the line and S_X the standard deviation of the scores:

1. *Density and conditional variances at θ.* Pilot h₁ = 1.84·S_X·N^(−1/5); N_{h₁,±} clients within h₁
   on each side; f̂(θ) = (N_{h₁,−} + N_{h₁,+}) / (2·N·h₁); σ̂²₋(θ), σ̂²₊(θ) the sample variances (ddof 1)
   of the outcome within h₁ on each side.
2. *Second derivatives.* A global cubic with a jump, y = γ₀ + γ₁D + γ₂(x−θ) + γ₃(x−θ)² + γ₄(x−θ)³,
   gives m̂₃ = 6γ̂₄; pilot bandwidths h₂,± = 3.56·(σ̂²±(θ) / (f̂(θ)·m̂₃²))^(1/7)·N±^(−1/7); a quadratic
   fitted on each side within h₂,± gives m̂₂,± = 2·(its quadratic coefficient).
3. *Regularisation and the bandwidth.* r̂± = 2160·σ̂²±(θ) / (N₂,±·h₂,±⁴) (N₂,± clients within h₂,±), and

       ĥ = C_K · ( (σ̂²₋(θ) + σ̂²₊(θ)) / ( f̂(θ)·((m̂₂,₊ − m̂₂,₋)² + r̂₊ + r̂₋) ) )^(1/5) · N^(−1/5)

   with C_K = 3.4375 (triangular), 2.7020 (uniform), 3.1999 (Epanechnikov) — (C₂/(4C₁))^(1/5) from the
   kernel's moments in their eq. (5).

The regularisation keeps ĥ finite when the curvatures on both sides agree. In the fuzzy design the
outcome's bandwidth serves both jumps. Degenerate steps are handled so the bandwidth is always positive
and finite:

* m̂₃ = 0 or h₂,± wider than the data on that side → the whole side fits the quadratic (what an infinite
  h₂ means); likewise when fewer than 3 distinct scores lie within h₂,±;
* fewer than 2 clients within h₁ on a side, a constant outcome near the line, fewer than 3 distinct
  scores on a whole side, or a non-finite ĥ → the rule-of-thumb pilot h₁ itself, and ``notes`` says
  which step failed.

Every result carries ``notes``: plain English sentences a page can show as they are; ``note_details``
hold the same as ``{"template", "params", "message"}`` so a door can translate them:
``gettext(note["template"]) % note["params"]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from bcrm.stats import ModelError, gettext_noop

__all__ = [
    "KERNELS", "Bandwidth", "BinnedMeans", "PairedResult", "RDResult",
    "before_after", "binned_means", "estimate", "ik_bandwidth", "kernel_weights",
]

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


# --------------------------------------------------------------------------------------------------
# Imbens–Kalyanaraman bandwidth


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


# --------------------------------------------------------------------------------------------------
# The estimate


@dataclass(frozen=True, eq=False)
class RDResult:
    """The jump of the outcome at the line and how sure we can be of it.

    ``verdict`` is "effect" (the interval excludes 0), "no_detectable_effect" or "too_few" (fewer than
    ``min_per_side`` clients on a side within the bandwidth, a fit that is impossible, or — in the fuzzy
    design — a line that hardly changes who gets the tier). Figures are ``None`` when they cannot be
    computed; with "too_few" they may be present but are not reliable. ``fit`` holds the two fitted lines
    of the outcome (intercept at the line, slope) for the RD plot; ``first_stage`` (fuzzy design only)
    the jump in the share of clients served by the tier, its standard error and F statistic."""

    effect: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    bandwidth: float | None
    n_left: int
    n_right: int
    kernel: str
    verdict: str
    threshold: float
    alpha: float
    design: str                                 # "sharp" or "fuzzy"
    bandwidth_method: str                       # "given", "ik", "rule_of_thumb" or "none"
    n_used: int                                 # clients with a score and an outcome (and a tier, if fuzzy)
    n_no_outcome: int
    n_no_score: int
    fit: dict[str, float | None] = field(default_factory=dict)
    first_stage: dict[str, float | None] | None = None
    bandwidth_steps: dict[str, float | None] = field(default_factory=dict)
    note_details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        return _messages(self.note_details)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable summary."""
        return {
            "effect": self.effect, "se": self.se, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "p_value": self.p_value, "bandwidth": self.bandwidth, "bandwidth_method": self.bandwidth_method,
            "n_left": self.n_left, "n_right": self.n_right, "kernel": self.kernel, "verdict": self.verdict,
            "threshold": self.threshold, "alpha": self.alpha, "design": self.design, "n_used": self.n_used,
            "n_no_outcome": self.n_no_outcome, "n_no_score": self.n_no_score, "fit": dict(self.fit),
            "first_stage": None if self.first_stage is None else dict(self.first_stage),
            "bandwidth_steps": dict(self.bandwidth_steps), "notes": self.notes,
        }


#: Below this first-stage F statistic the fuzzy estimate is not trusted (Staiger & Stock's rule of thumb).
MIN_FIRST_STAGE_F = 10.0


@dataclass(frozen=True)
class _SideFit:
    """Weighted least squares of one or more responses on 1 + u, on one side of the line."""

    coef: np.ndarray           # 2 × responses: intercepts (at the line) and slopes
    design: np.ndarray
    weights: np.ndarray
    resid: np.ndarray          # n × responses
    bread: np.ndarray          # (X′WX)⁻¹

    def variance(self, combination: np.ndarray) -> float:
        """HC0 variance of the intercept of Σ_j c_j·response_j: (X′WX)⁻¹ Σ wᵢ²(êᵢ·c)² xᵢxᵢ′ (X′WX)⁻¹."""
        score = self.design * (self.weights * (self.resid @ combination))[:, None]
        return float((self.bread @ (score.T @ score) @ self.bread)[0, 0])


def _side_fit(u: np.ndarray, responses: np.ndarray, w: np.ndarray) -> _SideFit | None:
    """The fit, or None when the scores do not vary (fewer than 2 distinct values)."""
    if np.unique(u).size < 2:
        return None
    design = np.column_stack([np.ones_like(u), u])
    try:
        bread = np.linalg.inv(design.T @ (design * w[:, None]))
    except np.linalg.LinAlgError:
        return None
    coef = bread @ (design.T @ (w[:, None] * responses))
    if not np.all(np.isfinite(coef)):
        return None
    return _SideFit(coef=coef, design=design, weights=w, resid=responses - design @ coef, bread=bread)


def estimate(running: Any, outcome: Any, threshold: float, *, treated: Any = None,
             bandwidth: float | None = None, kernel: str = "triangular", alpha: float = 0.05,
             min_per_side: int = 20) -> RDResult:
    """Regression discontinuity at ``threshold``: clients with ``running ≥ threshold`` are above the line.

    ``running`` is the score the line was drawn on, ``outcome`` the figure the tier should move (NaN
    where unknown: those clients are left out and counted). Without ``bandwidth`` the IK bandwidth of the
    outcome is used. Raises :class:`ModelError` on malformed input; a sample too small gives "too_few".

    Sharp design (``treated`` omitted): the effect of being above the line — of the dedicated tier when
    everybody above gets it and nobody below does.

    Fuzzy design (``treated``: 1 where the client actually got the dedicated tier, 0 where not): when the
    tier policy also serves some clients below the line (another dimension's label, overrides,
    hysteresis), the jump of the outcome is divided by the jump of the share served, τ = Δy/Δt (local
    Wald estimator, the IV estimate with 1[x ≥ θ] as instrument): the effect of the tier for the clients
    whom crossing the line moves into it. Its HC1 variance is the delta-method one, with the residuals
    êᵢ = ê_y,ᵢ − τ·ê_t,ᵢ in the sandwich; a first-stage F below 10 gives "too_few"."""
    kernel = _check_kernel(kernel)
    alpha = _check_alpha(alpha)
    threshold = _check_threshold(threshold)
    if isinstance(min_per_side, bool) or not isinstance(min_per_side, int) or min_per_side < 3:
        raise ModelError(gettext_noop("The minimum number of clients per side must be a whole number of at "
                                      "least 3."))
    if bandwidth is not None:
        try:
            bandwidth = float(bandwidth)
        except (TypeError, ValueError):
            bandwidth = math.nan
        if not (math.isfinite(bandwidth) and bandwidth > 0):
            raise ModelError(gettext_noop("The bandwidth must be a positive number."))
    fuzzy = treated is not None
    x, y, t, no_score, no_outcome = _paired_input(running, outcome, treated)
    notes: list[dict[str, Any]] = []
    if no_score:
        notes.append(_note(gettext_noop("%(count)d clients without a score were left out."), count=no_score))
    if no_outcome:
        notes.append(_note(gettext_noop("%(count)d clients without an outcome were left out.") if not fuzzy else
                           gettext_noop("%(count)d clients without an outcome or a known tier were left out."),
                           count=no_outcome))
    design = "fuzzy" if fuzzy else "sharp"

    def result(verdict: str, **figures: Any) -> RDResult:
        base: dict[str, Any] = {"effect": None, "se": None, "ci_low": None, "ci_high": None, "p_value": None,
                                "bandwidth": None, "n_left": 0, "n_right": 0, "bandwidth_method": "none"}
        base.update(figures)
        return RDResult(kernel=kernel, verdict=verdict, threshold=threshold, alpha=alpha, design=design,
                        n_used=int(x.size), n_no_outcome=no_outcome, n_no_score=no_score, note_details=notes,
                        **base)

    below, above = int((x < threshold).sum()), int((x >= threshold).sum())
    if below == 0 or above == 0:
        notes.append(_note(gettext_noop("No client with an outcome is below the line, so there is nothing to "
                                        "compare.") if below == 0 else
                           gettext_noop("No client with an outcome is at or above the line, so there is nothing "
                                        "to compare.")))
        return result(TOO_FEW, n_left=below, n_right=above)

    steps: dict[str, float | None] = {}
    if bandwidth is None:
        try:
            found = ik_bandwidth(x, y, threshold, kernel=kernel)
        except ModelError as exc:                  # cannot happen with clients on both sides; kept as a guard
            notes.append({"template": exc.template, "params": exc.params, "message": exc.message})
            return result(TOO_FEW, n_left=below, n_right=above)
        h, method, steps = found.value, found.method, dict(found.steps)
        notes.extend(found.note_details)
    else:
        h, method = bandwidth, "given"

    u = x - threshold
    w = kernel_weights(u / h, kernel)
    use = w > 0
    left, right = use & (u < 0), use & (u >= 0)
    n_left, n_right = int(left.sum()), int(right.sum())
    common = {"bandwidth": h, "bandwidth_method": method, "n_left": n_left, "n_right": n_right,
              "bandwidth_steps": steps}
    if h >= float(np.max(np.abs(u))):
        notes.append(_note(gettext_noop("The bandwidth (%(h).4g) reaches past every client: the estimate relies "
                                        "on straight lines through the whole range of scores."), h=h))
    responses = np.column_stack([y, t]) if t is not None else y[:, None]
    fits = {side: _side_fit(u[mask], responses[mask], w[mask]) if mask.sum() >= 2 else None
            for side, mask in (("left", left), ("right", right))}
    few = [(side, count) for side, count in (("left", n_left), ("right", n_right)) if count < min_per_side]
    for side, count in few:
        notes.append(_note(gettext_noop("Only %(count)d clients below the line within the bandwidth (at least "
                                        "%(min)d are needed); the estimate is not reliable.") if side == "left" else
                           gettext_noop("Only %(count)d clients at or above the line within the bandwidth (at "
                                        "least %(min)d are needed); the estimate is not reliable."),
                           count=count, min=min_per_side))
    fit_left, fit_right = fits["left"], fits["right"]
    if fit_left is None or fit_right is None:
        if not few:
            notes.append(_note(gettext_noop("The scores within the bandwidth do not vary enough to fit a line on "
                                            "each side.")))
        return result(TOO_FEW, **common)

    n, k = n_left + n_right, 4
    fit = {"intercept_left": float(fit_left.coef[0, 0]), "slope_left": float(fit_left.coef[1, 0]),
           "intercept_right": float(fit_right.coef[0, 0]), "slope_right": float(fit_right.coef[1, 0])}
    if n <= k:
        return result(TOO_FEW, fit=fit, **common)
    correction = n / (n - k)
    sides = (fit_left, fit_right)
    jump_y = fit_right.coef[0, 0] - fit_left.coef[0, 0]
    rounding = 1e-9 * max(float(np.ptp(y)), float(np.max(np.abs(y))))   # float noise at this scale
    first_stage: dict[str, float | None] | None = None
    weak = False
    if t is None:
        effect = float(jump_y)
        variance = correction * sum(s.variance(np.array([1.0])) for s in sides)
    else:
        jump_t = float(fit_right.coef[0, 1] - fit_left.coef[0, 1])
        se_t = math.sqrt(max(correction * sum(s.variance(np.array([0.0, 1.0])) for s in sides), 0.0))
        f_stat = (jump_t / se_t) ** 2 if se_t > 1e-12 else (math.inf if abs(jump_t) > 1e-12 else 0.0)
        first_stage = {"jump": jump_t, "se": se_t, "f_stat": _finite_or_none(f_stat),
                       "share_left": float(fit_left.coef[0, 1]), "share_right": float(fit_right.coef[0, 1])}
        if abs(jump_t) <= 1e-12 or f_stat < MIN_FIRST_STAGE_F:
            weak = True
            notes.append(_note(gettext_noop("Crossing the line hardly changes who gets the dedicated tier (the "
                                            "share served jumps by %(jump).2g, F = %(f).3g, below %(min)g): the "
                                            "data cannot separate the tier's effect from chance."),
                               jump=jump_t, f=f_stat, min=MIN_FIRST_STAGE_F))
            return result(TOO_FEW, fit=fit, first_stage=first_stage, **common)
        effect = float(jump_y) / jump_t
        variance = correction * sum(s.variance(np.array([1.0, -effect])) for s in sides) / jump_t ** 2
        rounding /= abs(jump_t)
    se = math.sqrt(max(variance, 0.0))
    z = float(stats.norm.ppf(1.0 - alpha / 2.0))
    if se > rounding:
        p_value = float(2.0 * stats.norm.sf(abs(effect) / se))
    else:                                          # an exact fit: the jump is known without error
        se = 0.0
        effect = 0.0 if abs(effect) <= rounding else effect
        p_value = 1.0 if effect == 0 else 0.0
    figures = {"effect": effect, "se": se, "ci_low": effect - z * se, "ci_high": effect + z * se,
               "p_value": p_value, "fit": fit, "first_stage": first_stage, **common}
    if few or weak:
        return result(TOO_FEW, **figures)
    level = round(100 * (1 - alpha), 1)
    params = {"effect": effect, "low": figures["ci_low"], "high": figures["ci_high"], "level": level,
              "p": p_value, "n": n}
    if fuzzy:
        assert first_stage is not None
        notes.append(_note(gettext_noop("At the line the share of clients served by the dedicated tier rises "
                                        "from %(below).0f%% to %(above).0f%%; the estimate scales the outcome's "
                                        "jump by that rise."),
                           below=100 * float(first_stage["share_left"] or 0.0),
                           above=100 * float(first_stage["share_right"] or 0.0)))
    if p_value < alpha:
        notes.append(_note(gettext_noop("At the line the outcome jumps by %(effect).3g (%(level)g%% confidence "
                                        "interval %(low).3g to %(high).3g, p = %(p).3g, %(n)d clients near the "
                                        "line).") if not fuzzy else
                           gettext_noop("The dedicated tier changes the outcome by %(effect).3g for the clients "
                                        "near the line whose tier depends on it (%(level)g%% confidence interval "
                                        "%(low).3g to %(high).3g, p = %(p).3g, %(n)d clients near the line)."),
                           **params))
        notes.append(_note(gettext_noop("This is the effect of the dedicated tier for clients near the line, "
                                        "provided nothing else changes at the line and scores are not steered "
                                        "across it.")))
        return result(EFFECT, **figures)
    notes.append(_note(gettext_noop("No jump at the line can be told apart from chance (estimate %(effect).3g, "
                                    "%(level)g%% confidence interval %(low).3g to %(high).3g, p = %(p).3g, %(n)d "
                                    "clients near the line). Effects within that interval are consistent with "
                                    "the data."), **params))
    return result(NO_DETECTABLE_EFFECT, **figures)


# --------------------------------------------------------------------------------------------------
# Clients who migrated: before and after


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


# --------------------------------------------------------------------------------------------------
# The RD plot


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
