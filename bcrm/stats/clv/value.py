"""Lifetime value: the discounted expected value of each customer's transactions over the next months, and both
models fitted and predicted at once (what the segmentation engine and the doors call)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bcrm.stats import ModelError, gettext_noop
from bcrm.stats.clv.data import UNITS_PER_MONTH, _array, _same_length, check_rfm, group_rows
from bcrm.stats.clv.expectations import _expected_conditional, _expected_given_alive, _p_alive
from bcrm.stats.clv.fit import _fit_bgnbd_groups, _one_blas_thread, _require_fit_data, fit_gamma_gamma
from bcrm.stats.clv.optimiser import _note
from bcrm.stats.clv.results import BGNBDFit, CLVResult, GammaGammaFit


def customer_lifetime_value(bgnbd: BGNBDFit, frequency: Any, recency: Any, T: Any, expected_spend: Any, *,
                            months: int = 12, discount_rate: float = 0.01,
                            units_per_month: float = UNITS_PER_MONTH["week"]) -> np.ndarray:
    """Discounted expected value of each customer's transactions over the next ``months`` months.

    Σ_{i=1..months} [E[Y(i·u)] − E[Y((i−1)·u)]] · spend / (1 + discount_rate)^i, with ``u`` =
    ``units_per_month`` model time units per month (see :data:`UNITS_PER_MONTH`) and ``expected_spend``
    usually :meth:`GammaGammaFit.conditional_expected_spend`."""
    months, rate, unit = _clv_settings(months, discount_rate, units_per_month)
    x, tx, age, _ = check_rfm(frequency, recency, T)
    spend = _array(expected_spend, "expected_spend")
    _same_length(frequency=x, expected_spend=spend)
    (ux, utx, uT), _, inverse = group_rows(x, tx, age)
    return _discount_factor(bgnbd, ux, utx, uT, months, rate, unit)[inverse] * spend


def _clv_settings(months: Any, discount_rate: Any, units_per_month: Any) -> tuple[int, float, float]:
    if not isinstance(months, int | np.integer) or isinstance(months, bool) or months < 1:
        raise ModelError(gettext_noop("The lifetime-value horizon must be a whole number of months, 1 or more."))
    try:
        rate = float(discount_rate)
        unit = float(units_per_month)
    except (TypeError, ValueError):
        raise ModelError(gettext_noop("The discount rate must be a number from 0 to 1 (0.01 = 1%% a month).")) from None
    if not math.isfinite(rate) or not 0 <= rate < 1:
        raise ModelError(gettext_noop("The discount rate must be a number from 0 to 1 (0.01 = 1%% a month)."))
    if not math.isfinite(unit) or unit <= 0:
        raise ModelError(gettext_noop("units_per_month must be a positive number."))
    return int(months), rate, unit


def _discount_factor(bgnbd: BGNBDFit, ux: np.ndarray, utx: np.ndarray, uT: np.ndarray, months: int, rate: float,
                     unit: float) -> np.ndarray:
    """Σ_i [E[Y(i·u)] − E[Y((i−1)·u)]] / (1+d)^i per distinct (x, t_x, T): lifetime value per unit of spend.

    E[Y(t)] = P(alive)·g(t; x, α+T), so this is P(alive) times the discounted sum of the increments of g,
    which depends on x and T only. For each x shared by many customers that sum is a smooth function of
    y = 1/(α+T) (it is analytic but where 1 + p·i·u·y ≤ 0, i.e. for y < 0), so it is interpolated on
    Chebyshev points of the customers' range of y from exact evaluations at the points and used only when
    its coefficients have decayed below rounding and it agrees with exact evaluations at three customers;
    every other row is evaluated month by month (the hypergeometric function at each month's end)."""
    alive = _p_alive(bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b, ux, utx, uT)
    return alive * _discounted_given_alive(bgnbd, ux, bgnbd.alpha + uT, months, rate, unit)


#: Chebyshev points per distinct x; a group of customers with the same x is interpolated only when it has
#: several times as many customers (otherwise evaluating them month by month is cheaper).
_NODES = 40
_MIN_GROUP = 4 * _NODES
#: The interpolant is used when its last coefficients, and its error at three customers, are below this
#: (relative to the largest value).
_TOLERANCE = 1e-12


def _discounted_given_alive(bgnbd: BGNBDFit, x: np.ndarray, base: np.ndarray, months: int, rate: float,
                            unit: float) -> np.ndarray:
    """Σ_i [g(i·u) − g((i−1)·u)] / (1+d)^i per row, g = expected transactions of an active customer with
    repeat purchases x and base α+T (:func:`_expected_given_alive`)."""
    out = np.empty(x.size)
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    bounds = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1], True])
    exact: list[np.ndarray] = []
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        rows = order[lo:hi]
        fitted = _interpolated(bgnbd, float(sorted_x[lo]), base[rows], months, rate, unit) \
            if hi - lo >= _MIN_GROUP else None
        if fitted is None:
            exact.append(rows)
        else:
            out[rows] = fitted
    if exact:
        rows = np.concatenate(exact)
        out[rows] = _month_by_month(bgnbd, x[rows], base[rows], months, rate, unit)
    return out


def _month_by_month(bgnbd: BGNBDFit, x: np.ndarray, base: np.ndarray, months: int, rate: float,
                    unit: float) -> np.ndarray:
    previous = np.zeros(x.size)
    factor = np.zeros(x.size)
    for i in range(1, months + 1):
        cumulative = _expected_given_alive(bgnbd.params, i * unit, x, base)
        factor += (cumulative - previous) / (1.0 + rate) ** i
        previous = cumulative
    return factor


def _interpolated(bgnbd: BGNBDFit, x: float, base: np.ndarray, months: int, rate: float,
                  unit: float) -> np.ndarray | None:
    """The discounted sum for one x at each of ``base``, by Chebyshev interpolation in y = 1/base; ``None``
    when the interpolant cannot be trusted to :data:`_TOLERANCE` (then the caller evaluates month by month)."""
    y = 1.0 / base
    low, high = float(y.min()), float(y.max())
    if not (math.isfinite(low) and math.isfinite(high)) or high - low <= 1e-9 * high:
        return None
    middle, half = (high + low) / 2, (high - low) / 2
    theta = np.pi * (np.arange(_NODES) + 0.5) / _NODES
    nodes = middle + half * np.cos(theta)
    values = _month_by_month(bgnbd, np.full(_NODES, x), 1.0 / nodes, months, rate, unit)
    coefficients = (2.0 / _NODES) * (np.cos(np.outer(np.arange(_NODES), theta)) @ values)
    coefficients[0] /= 2
    scale = float(np.max(np.abs(values)))
    if not np.all(np.isfinite(coefficients)) or scale == 0 or \
            float(np.max(np.abs(coefficients[-4:]))) > _TOLERANCE * scale:
        return None
    # The coefficients past the last one above rounding add nothing: leave them out of the evaluation.
    keep = int(np.flatnonzero(np.abs(coefficients) > 1e-3 * _TOLERANCE * scale)[-1]) + 1
    t = np.clip((y - middle) / half, -1.0, 1.0)
    out = _clenshaw(coefficients[:max(keep, 2)], t)
    check = np.array([int(np.argmin(y)), int(np.argmax(y)), y.size // 2])
    exact = _month_by_month(bgnbd, np.full(check.size, x), base[check], months, rate, unit)
    if float(np.max(np.abs(out[check] - exact))) > _TOLERANCE * max(scale, float(np.max(np.abs(exact)))):
        return None
    return out


def _clenshaw(coefficients: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Σ_j c_j·T_j(t) by Clenshaw's recurrence."""
    b1 = np.zeros(t.size)
    b2 = np.zeros(t.size)
    twice = 2.0 * t
    for c in coefficients[:0:-1]:
        b1, b2 = c + twice * b1 - b2, b1
    return coefficients[0] + t * b1 - b2


# --------------------------------------------------------------------------------------------------
# Both models at once (what the segmentation engine and the doors call)


@_one_blas_thread
def predict_clv(frequency: Any, recency: Any, T: Any, monetary_value: Any = None, *,
                horizon_months: int = 12, discount_rate: float = 0.01,
                units_per_month: float = UNITS_PER_MONTH["week"], weights: Any = None,
                fitted: tuple[BGNBDFit, GammaGammaFit | None] | None = None) -> CLVResult:
    """Fit the BG/NBD (and, with ``monetary_value``, the Gamma-Gamma) model and predict per customer:
    expected repeat transactions in the next ``horizon_months`` months, P(alive), expected spend per
    transaction and discounted lifetime value over the same horizon.

    A failure of the spend model (e.g. too few repeat buyers) does not stop the transaction model: it is
    reported in ``notes``. A failure of the BG/NBD model raises :class:`ModelError`.

    ``fitted`` = (BG/NBD, Gamma-Gamma or None): predict with these fits instead of fitting (a model kept
    from an earlier fit, :meth:`BGNBDFit.from_params`); no spend is predicted when the second is None."""
    months, rate, unit = _clv_settings(horizon_months, discount_rate, units_per_month)
    x, tx, age, w = check_rfm(frequency, recency, T, weights)
    if fitted is None:
        _require_fit_data(x, age, w)
    (ux, utx, uT), uw, inverse = group_rows(x, tx, age, weights=w)   # grouped once for fit and predictions
    bg = _fit_bgnbd_groups(ux, utx, uT, uw) if fitted is None else fitted[0]
    horizon = months * unit
    expected = _expected_conditional(bg.params, horizon, ux, utx, uT)[inverse]
    alive = _p_alive(bg.r, bg.alpha, bg.a, bg.b, ux, utx, uT)[inverse]
    notes: list[dict[str, Any]] = list(bg.warnings)
    gg: GammaGammaFit | None = None
    spend = clv = None
    if monetary_value is not None:
        try:
            gg = fit_gamma_gamma(x, monetary_value, weights=weights) if fitted is None else fitted[1]
        except ModelError as exc:
            notes.append({"template": exc.template, "params": exc.params, "message": exc.message})
        if gg is not None:
            notes += gg.warnings
            spend = gg.conditional_expected_spend(x, monetary_value)
            if gg.n_zero_spend:
                notes.append(_note(gettext_noop("%(count)d repeat buyer(s) with spend 0 (the first at row %(row)d) "
                                                "were left out of the spend model and given the population's "
                                                "mean spend."), count=gg.n_zero_spend, row=gg.first_zero_spend))
            if gg.q <= 1:
                notes.append(_note(gettext_noop("q ≤ 1: the population mean spend is infinite, so customers "
                                                "without a repeat purchase get no expected spend.")))
            factor = _discount_factor(bg, ux, utx, uT, months, rate, unit)[inverse]
            clv = np.where(np.isnan(spend), np.nan, factor * np.nan_to_num(spend, nan=0.0))
    return CLVResult(bgnbd=bg, gamma_gamma=gg, horizon=horizon, expected_transactions=expected, p_alive=alive,
                     expected_spend=spend, clv=clv, notes=notes)
