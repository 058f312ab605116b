"""Fitting the BG/NBD and Gamma-Gamma models by maximum likelihood."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from bcrm.stats import ModelError, gettext_noop
from bcrm.stats.clv.data import MIN_CUSTOMERS, _check_spend, _first, check_rfm, group_rows
from bcrm.stats.clv.likelihood import (
    _bgnbd_value_grad,
    _bgnbd_value_grad_hess,
    _BGNBDData,
    _gg_value_grad,
    _gg_value_grad_hess,
    _GGData,
)
from bcrm.stats.clv.optimiser import _DEGENERATE, _info_fields, _maximise, _note, _se
from bcrm.stats.clv.results import BGNBDFit, GammaGammaFit


def _one_blas_thread(fn):
    """Run ``fn`` with one BLAS thread. The fits' weighted sums are dot products over one vector each:
    memory-bound work that several OpenBLAS threads only slow down (they oversubscribe the cores and
    synchronise on every call; the Gamma-Gamma fit at a million customers took 8x longer with them)."""
    from functools import wraps

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


BGNBD_PARAMS = ("r", "alpha", "a", "b")
GG_PARAMS = ("p", "q", "gamma")


@_one_blas_thread
def fit_bgnbd(frequency: Any, recency: Any, T: Any, *, weights: Any = None) -> BGNBDFit:
    """Fit the BG/NBD model by maximum likelihood.

    ``frequency``, ``recency``, ``T``: one entry per customer (see the module docstring); ``weights``: an
    optional number of customers per row (for pre-grouped data). Rows with the same (x, t_x, T) are
    grouped before fitting. Raises :class:`ModelError` for bad input (see :func:`check_rfm`), fewer than
    :data:`MIN_CUSTOMERS` customers, no repeat buyers, or a fit that does not converge."""
    x, tx, age, w = check_rfm(frequency, recency, T, weights)
    _require_fit_data(x, age, w)
    (ux, utx, uT), uw, _ = group_rows(x, tx, age, weights=w)
    return _fit_bgnbd_groups(ux, utx, uT, uw)


def _require_fit_data(x: np.ndarray, age: np.ndarray, w: np.ndarray) -> None:
    n = float(w.sum())
    if n < MIN_CUSTOMERS:
        raise ModelError(gettext_noop("Too few customers to fit the BG/NBD model: %(n)s, at least %(min)d "
                                      "are needed."), n=f"{n:g}", min=MIN_CUSTOMERS)
    if float(w[x > 0].sum()) == 0:
        raise ModelError(gettext_noop("No customer made a repeat purchase (every frequency is 0): the BG/NBD "
                                      "model cannot be fitted."))
    if float(age.max()) <= 0:
        raise ModelError(gettext_noop("Every T is 0: customers must have been observed for some time."))


#: r of the limit the BG/NBD takes when every active customer buys at the same rate (the Gamma of rates a
#: point mass): r and α without bound, r/α the rate. At this r the rates' coefficient of variation is 1/√r,
#: about 3e-4, and the formulas stay within floating point.
RATE_LIMIT_R = math.exp(16.0)


def _fit_bgnbd_groups(ux: np.ndarray, utx: np.ndarray, uT: np.ndarray, uw: np.ndarray) -> BGNBDFit:
    """The fit itself, on checked, grouped rows with their weights. When the data show one purchase rate for
    every active customer, the likelihood rises along r, α → ∞ with r/α fixed, and no point of the four
    parameters is its maximum: that limit is then fitted as a model of its own (the rate, a and b) and kept
    when the four-parameter fit fails or the limit is at least as likely."""
    n = float(uw.sum())
    scale = float(np.max(uT)) / 10.0                         # time rescaled so the longest T is 10
    data = _BGNBDData(ux, utx / scale, uT / scale, uw, grouped=True)

    def value_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        return _bgnbd_value_grad(params, data)

    mean_x = float(uw @ ux) / n
    mean_T = float(uw @ (uT / scale)) / n
    start = np.log(np.array([1.0, max(mean_T / max(mean_x, 1e-3), 1e-3), 1.0, 1.0]))
    try:
        theta, cov, info = _maximise(value_grad, start, BGNBD_PARAMS, "BG/NBD", unbounded_pair=(2, 3),
                                     terms=int(ux.size),
                                     value_grad_hess=lambda params: _bgnbd_value_grad_hess(params, data))
        failure: ModelError | None = None
    except ModelError as exc:
        failure = exc
    if failure is not None or min(theta[0], theta[1]) > _DEGENERATE:
        limit = _fit_one_rate(data, start, int(ux.size))
        if limit is not None and (failure is not None or limit[3] >= _bgnbd_value_grad(np.exp(theta), data, False)[0]
                                  - 1e-9 * abs(limit[3])):
            theta, cov, info, _ll = limit
        elif failure is not None:
            raise failure
    params = np.exp(theta)
    params[1] *= scale                                         # α back in the data's time unit
    cov[1, :] *= scale
    cov[:, 1] *= scale
    with np.errstate(all="ignore"):
        ll = _bgnbd_value_grad(params, _BGNBDData(ux, utx, uT, uw, grouped=True), False)[0]
    se = {name: _se(cov, i) for i, name in enumerate(BGNBD_PARAMS)}
    notes = list(info["notes"])
    if info.get("one_rate"):
        notes.append(_note(gettext_noop("r and alpha are very large: the data show the same purchase rate for every "
                                           "active customer (about %(rate)s per unit of time), so r and alpha have "
                                           "no meaningful standard errors; the predictions stand."),
                              rate=f"{params[0] / params[1]:.3g}"))
    if info["degenerate"]:
        notes.append(_note(gettext_noop("a and b are very large: the data show the same drop-out probability "
                                           "for every customer (about %(p)s after each purchase), so a and b "
                                           "have no meaningful standard errors; the predictions stand."),
                              p=f"{params[2] / (params[2] + params[3]):.3f}"))
    return BGNBDFit(r=float(params[0]), alpha=float(params[1]), a=float(params[2]), b=float(params[3]),
                    se=se, covariance=cov, log_likelihood=float(ll), n_customers=n, n_distinct=int(ux.size),
                    warnings=notes, **_info_fields(info))


def _fit_one_rate(data: _BGNBDData, start: np.ndarray, terms: int
                  ) -> tuple[np.ndarray, np.ndarray, dict, float] | None:
    """The BG/NBD in its limit of one purchase rate λ for every active customer: r = :data:`RATE_LIMIT_R`,
    α = r/λ; λ, a and b by maximum likelihood. Returns the four log-parameters, their covariance (r's and α's
    rows not a number), the optimiser's info (``one_rate`` set) and the log-likelihood; None when even the
    limit does not fit."""
    big = RATE_LIMIT_R

    def value_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        rate, a, b = params
        ll, grad = _bgnbd_value_grad(np.array([big, big / rate, a, b]), data)
        return ll, np.array([grad[1] * (-big / rate ** 2), grad[2], grad[3]])

    start3 = np.array([-start[1], start[2], start[3]])  # the four-parameter start's rate is 1/α
    try:
        theta3, cov3, info = _maximise(value_grad, start3, ("rate", "a", "b"), "BG/NBD", unbounded_pair=(1, 2),
                                       terms=terms)
    except ModelError:
        return None
    theta = np.array([math.log(big), math.log(big) - theta3[0], theta3[1], theta3[2]])
    cov = np.full((4, 4), np.nan)
    cov[2:, 2:] = cov3[1:, 1:]
    ll = float(_bgnbd_value_grad(np.exp(theta), data, False)[0])
    return theta, cov, {**info, "one_rate": True}, ll


@_one_blas_thread
def fit_gamma_gamma(frequency: Any, monetary_value: Any, *, weights: Any = None) -> GammaGammaFit:
    """Fit the Gamma-Gamma model on the customers with ``frequency`` > 0 (the others are left out and
    counted in ``n_excluded``). Their ``monetary_value`` must be above 0. Raises :class:`ModelError` when
    fewer than :data:`MIN_CUSTOMERS` repeat buyers remain or the fit does not converge."""
    x, z, w = _check_spend(frequency, monetary_value, weights)
    pos = (x > 0) & (w > 0)
    if not pos.any():
        raise ModelError(gettext_noop("No customer made a repeat purchase (every frequency is 0): the "
                                      "Gamma-Gamma spend model needs customers with frequency above 0."))
    negative = pos & (z < 0)
    if negative.any():
        raise ModelError(gettext_noop("Spend cannot be negative: row %(row)d has frequency %(frequency)s and "
                                      "spend %(value)s."),
                         row=_first(negative), frequency=f"{x[negative][0]:g}", value=f"{z[negative][0]:g}")
    # A repeat buyer whose repeat purchases were free (or refunded) says nothing about spend per purchase
    # that the model can use (its likelihood is zero there): left out of the fit and counted, never a
    # reason to give up the spend model for everyone.
    zero = pos & (z == 0)
    pos &= ~zero
    if not pos.any():
        raise ModelError(gettext_noop("No repeat buyer has a spend above 0 (%(count)d have spend 0): the "
                                      "Gamma-Gamma spend model needs some."), count=int(zero.sum()))
    xp, zp, wp = x[pos], z[pos], w[pos]
    n = float(wp.sum())
    if n < MIN_CUSTOMERS:
        raise ModelError(gettext_noop("Too few repeat buyers to fit the Gamma-Gamma model: %(n)s, at least "
                                      "%(min)d are needed."), n=f"{n:g}", min=MIN_CUSTOMERS)
    if np.ptp(zp) == 0:
        raise ModelError(gettext_noop("Every repeat buyer has the same spend: the Gamma-Gamma model needs "
                                      "spend that varies."))
    scale = float(np.average(zp, weights=wp))
    (gx, gz), gw, _ = group_rows(xp, zp, weights=wp)            # spend in cents repeats a lot
    data = _GGData(gx, gz / scale, gw)

    def value_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        return _gg_value_grad(params, data)

    theta, cov, info = _maximise(value_grad, np.zeros(3), GG_PARAMS, "Gamma-Gamma", terms=int(gx.size),
                                 value_grad_hess=lambda params: _gg_value_grad_hess(params, data))
    params = np.exp(theta)
    params[2] *= scale
    cov[2, :] *= scale
    cov[:, 2] *= scale
    with np.errstate(all="ignore"):
        ll = _gg_value_grad(params, _GGData(gx, gz, gw), False)[0]
    corr = float(np.corrcoef(xp, zp)[0, 1]) if np.ptp(xp) > 0 else math.nan
    se = {name: _se(cov, i) for i, name in enumerate(GG_PARAMS)}
    return GammaGammaFit(p=float(params[0]), q=float(params[1]), gamma=float(params[2]), se=se, covariance=cov,
                         log_likelihood=float(ll), n_customers=n, n_excluded=int((~pos).sum()),
                         frequency_spend_correlation=corr, n_zero_spend=int(zero.sum()),
                         first_zero_spend=_first(zero) if zero.any() else None, warnings=list(info["notes"]),
                         **_info_fields(info))
