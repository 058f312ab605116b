"""The regression-discontinuity estimate at the line: local linear fits on each side, sharp or fuzzy (local
Wald) design, HC1 standard errors, and the verdict with the sentences that explain it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from bcrm.stats import ModelError, gettext_noop
from bcrm.stats.rdd.bandwidth import ik_bandwidth
from bcrm.stats.rdd.inputs import (
    EFFECT,
    NO_DETECTABLE_EFFECT,
    TOO_FEW,
    _check_alpha,
    _check_kernel,
    _check_threshold,
    _finite_or_none,
    _messages,
    _note,
    _paired_input,
    kernel_weights,
)


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
    kernel, alpha, threshold, bandwidth = _estimate_settings(kernel, alpha, threshold, min_per_side, bandwidth)
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
    chosen = _estimate_bandwidth(x, y, threshold, kernel, bandwidth, notes)
    if chosen is None:
        return result(TOO_FEW, n_left=below, n_right=above)
    h, method, steps = chosen

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
    effect, variance, rounding, first_stage, weak = _jump(fit_left, fit_right, y, t, n / (n - k), notes)
    if weak:
        return result(TOO_FEW, fit=fit, first_stage=first_stage, **common)
    figures = {**_inference(effect, variance, rounding, alpha), "fit": fit, "first_stage": first_stage, **common}
    if few:
        return result(TOO_FEW, **figures)
    return result(_conclusion(figures, alpha, n, fuzzy, notes), **figures)


def _estimate_settings(kernel: str, alpha: float, threshold: float, min_per_side: int, bandwidth: Any
                       ) -> tuple[str, float, float, float | None]:
    """:func:`estimate`'s settings checked: (kernel, alpha, threshold, bandwidth or None)."""
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
    return kernel, alpha, threshold, bandwidth


def _estimate_bandwidth(x: np.ndarray, y: np.ndarray, threshold: float, kernel: str, bandwidth: float | None,
                        notes: list[dict[str, Any]]) -> tuple[float, str, dict[str, float | None]] | None:
    """(h, how it was chosen, the IK steps): the given bandwidth, or the IK bandwidth of the outcome; ``None``
    when none can be found (the reason is in ``notes``)."""
    steps: dict[str, float | None] = {}
    if bandwidth is None:
        try:
            found = ik_bandwidth(x, y, threshold, kernel=kernel)
        except ModelError as exc:                  # cannot happen with clients on both sides; kept as a guard
            notes.append({"template": exc.template, "params": exc.params, "message": exc.message})
            return None
        h, method, steps = found.value, found.method, dict(found.steps)
        notes.extend(found.note_details)
    else:
        h, method = bandwidth, "given"
    return h, method, steps


def _jump(fit_left: _SideFit, fit_right: _SideFit, y: np.ndarray, t: np.ndarray | None, correction: float,
          notes: list[dict[str, Any]]
          ) -> tuple[float, float, float, dict[str, float | None] | None, bool]:
    """(effect, its HC1 variance, the float noise at the outcome's scale, the first stage of a fuzzy design,
    whether that first stage is too weak): the outcome's jump at the line (sharp), or that jump over the jump
    of the share served (fuzzy; a weak first stage is noted, and gives no effect)."""
    sides = (fit_left, fit_right)
    jump_y = fit_right.coef[0, 0] - fit_left.coef[0, 0]
    rounding = 1e-9 * max(float(np.ptp(y)), float(np.max(np.abs(y))))   # float noise at this scale
    first_stage: dict[str, float | None] | None = None
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
            notes.append(_note(gettext_noop("Crossing the line hardly changes who gets the dedicated tier (the "
                                            "share served jumps by %(jump).2g, F = %(f).3g, below %(min)g): the "
                                            "data cannot separate the tier's effect from chance."),
                               jump=jump_t, f=f_stat, min=MIN_FIRST_STAGE_F))
            return math.nan, math.nan, rounding, first_stage, True
        effect = float(jump_y) / jump_t
        variance = correction * sum(s.variance(np.array([1.0, -effect])) for s in sides) / jump_t ** 2
        rounding /= abs(jump_t)
    return effect, variance, rounding, first_stage, False


def _inference(effect: float, variance: float, rounding: float, alpha: float) -> dict[str, float]:
    """Effect, standard error, confidence interval and p-value; an exact fit (a standard error within float
    noise) knows its jump without error."""
    se = math.sqrt(max(variance, 0.0))
    z = float(stats.norm.ppf(1.0 - alpha / 2.0))
    if se > rounding:
        p_value = float(2.0 * stats.norm.sf(abs(effect) / se))
    else:                                          # an exact fit: the jump is known without error
        se = 0.0
        effect = 0.0 if abs(effect) <= rounding else effect
        p_value = 1.0 if effect == 0 else 0.0
    return {"effect": effect, "se": se, "ci_low": effect - z * se, "ci_high": effect + z * se, "p_value": p_value}


def _conclusion(figures: dict[str, Any], alpha: float, n: int, fuzzy: bool, notes: list[dict[str, Any]]) -> str:
    """The verdict of an estimate with enough clients on both sides, and the sentences that say it."""
    effect, p_value, first_stage = figures["effect"], figures["p_value"], figures["first_stage"]
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
        return EFFECT
    notes.append(_note(gettext_noop("No jump at the line can be told apart from chance (estimate %(effect).3g, "
                                    "%(level)g%% confidence interval %(low).3g to %(high).3g, p = %(p).3g, %(n)d "
                                    "clients near the line). Effects within that interval are consistent with "
                                    "the data."), **params))
    return NO_DETECTABLE_EFFECT
