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
    """Σ_i [E[Y(i·u)] − E[Y((i−1)·u)]] / (1+d)^i per distinct (x, t_x, T): lifetime value per unit of spend."""
    alive = _p_alive(bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b, ux, utx, uT)
    base = bgnbd.alpha + uT
    previous = np.zeros(ux.size)
    factor = np.zeros(ux.size)
    for i in range(1, months + 1):
        cumulative = alive * _expected_given_alive(bgnbd.params, i * unit, ux, base)
        factor += (cumulative - previous) / (1.0 + rate) ** i
        previous = cumulative
    return factor


# --------------------------------------------------------------------------------------------------
# Both models at once (what the segmentation engine and the doors call)


@_one_blas_thread
def predict_clv(frequency: Any, recency: Any, T: Any, monetary_value: Any = None, *,
                horizon_months: int = 12, discount_rate: float = 0.01,
                units_per_month: float = UNITS_PER_MONTH["week"], weights: Any = None) -> CLVResult:
    """Fit the BG/NBD (and, with ``monetary_value``, the Gamma-Gamma) model and predict per customer:
    expected repeat transactions in the next ``horizon_months`` months, P(alive), expected spend per
    transaction and discounted lifetime value over the same horizon.

    A failure of the spend model (e.g. too few repeat buyers) does not stop the transaction model: it is
    reported in ``notes``. A failure of the BG/NBD model raises :class:`ModelError`."""
    months, rate, unit = _clv_settings(horizon_months, discount_rate, units_per_month)
    x, tx, age, w = check_rfm(frequency, recency, T, weights)
    _require_fit_data(x, age, w)
    (ux, utx, uT), uw, inverse = group_rows(x, tx, age, weights=w)   # grouped once for fit and predictions
    bg = _fit_bgnbd_groups(ux, utx, uT, uw)
    horizon = months * unit
    expected = _expected_conditional(bg.params, horizon, ux, utx, uT)[inverse]
    alive = _p_alive(bg.r, bg.alpha, bg.a, bg.b, ux, utx, uT)[inverse]
    notes: list[dict[str, Any]] = list(bg.warnings)
    gg: GammaGammaFit | None = None
    spend = clv = None
    if monetary_value is not None:
        try:
            gg = fit_gamma_gamma(x, monetary_value, weights=weights)
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
