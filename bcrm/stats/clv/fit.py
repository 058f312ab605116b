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


#: The size of r and α (and of a and b) in the BG/NBD's limits: one purchase rate for every active customer
#: (the Gamma of rates a point mass: r, α without bound, r/α the rate) and one drop-out probability for every
#: customer (the Beta a point mass: a, b without bound, a/(a+b) the probability). At this size the
#: distributions' coefficient of variation is about 0.25 %, and the likelihood keeps its digits (at e^16 it
#: lost them and the limits' own searches stopped short).
LIMIT_SIZE = math.exp(12.0)


def _fit_bgnbd_groups(ux: np.ndarray, utx: np.ndarray, uT: np.ndarray, uw: np.ndarray) -> BGNBDFit:
    """The fit itself, on checked, grouped rows with their weights. Where the data show one purchase rate for
    every active customer, or one drop-out probability for all, the likelihood rises without end along a ridge
    (r, α → ∞ with r/α fixed; a, b → ∞ with a/(a+b) fixed) and no point of the four parameters is its
    maximum; the search then stops short of it or runs to the edge. So when the four-parameter fit fails or
    ends on such a ridge, each limit (one rate, one drop-out probability, both) is fitted as a model of its own,
    and the most likely fit that succeeded is kept."""
    n = float(uw.sum())
    scale = float(np.max(uT)) / 10.0                         # time rescaled so the longest T is 10
    data = _BGNBDData(ux, utx / scale, uT / scale, uw, grouped=True)

    def value_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        return _bgnbd_value_grad(params, data)

    mean_x = float(uw @ ux) / n
    mean_T = float(uw @ (uT / scale)) / n
    start = np.log(np.array([1.0, max(mean_T / max(mean_x, 1e-3), 1e-3), 1.0, 1.0]))
    fits: list[tuple[float, np.ndarray, np.ndarray, dict]] = []
    failure: ModelError | None = None
    try:
        theta, cov, info = _maximise(value_grad, start, BGNBD_PARAMS, "BG/NBD", unbounded_pair=(2, 3),
                                     terms=int(ux.size),
                                     value_grad_hess=lambda params: _bgnbd_value_grad_hess(params, data))
        info = {**info, "one_rate": min(theta[0], theta[1]) > _DEGENERATE}
        fits.append((_bgnbd_value_grad(np.exp(theta), data, False)[0], theta, cov, info))
    except ModelError as exc:
        failure = exc
    if failure is not None or fits[0][3]["one_rate"] or fits[0][3]["degenerate"]:
        for rate, drop in ((True, False), (False, True), (True, True)):
            limit = _fit_limit(data, start, int(ux.size), rate=rate, drop=drop)
            if limit is not None:
                fits.append(limit)
    if not fits:
        assert failure is not None
        raise failure
    _ll, theta, cov, info = max(fits, key=lambda fit: fit[0])
    params = np.exp(theta)
    params[1] *= scale                                         # α back in the data's time unit
    cov[1, :] *= scale
    cov[:, 1] *= scale
    with np.errstate(all="ignore"):
        ll = _bgnbd_value_grad(params, _BGNBDData(ux, utx, uT, uw, grouped=True), False)[0]
    se = {name: _se(cov, i) for i, name in enumerate(BGNBD_PARAMS)}
    notes = list(info["notes"])
    if info["one_rate"]:
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


def _fit_limit(data: _BGNBDData, start: np.ndarray, terms: int, *, rate: bool, drop: bool
               ) -> tuple[float, np.ndarray, np.ndarray, dict] | None:
    """The BG/NBD in a limit: with ``rate``, one purchase rate λ for every active customer (r =
    :data:`LIMIT_SIZE`, α = r/λ); with ``drop``, one drop-out probability for all (a = :data:`LIMIT_SIZE`,
    b = a·o, o the odds of staying). The other parameters by maximum likelihood. Returns the log-likelihood,
    the four log-parameters, their covariance (not a number in the limit's rows), the optimiser's info
    (``one_rate``/``degenerate`` saying which limit); None when the limit does not fit either."""
    big = LIMIT_SIZE
    names = (["rate"] if rate else ["r", "alpha"]) + (["odds"] if drop else ["a", "b"])

    def four(free: np.ndarray) -> np.ndarray:
        head = [big, big / free[0]] if rate else [free[0], free[1]]
        tail = [big, big * free[-1]] if drop else [free[-2], free[-1]]
        return np.array(head + tail)

    def value_grad(free: np.ndarray) -> tuple[float, np.ndarray]:
        ll, g = _bgnbd_value_grad(four(free), data)
        head = [g[1] * (-big / free[0] ** 2)] if rate else [g[0], g[1]]
        tail = [g[3] * big] if drop else [g[2], g[3]]
        return ll, np.array(head + tail)

    start_free = np.array(([-start[1]] if rate else [start[0], start[1]]) + ([0.0] if drop else [start[2], start[3]]))
    try:
        theta_free, cov_free, info = _maximise(value_grad, start_free, names, "BG/NBD", terms=terms,
                                               unbounded_pair=None if drop else (len(names) - 2, len(names) - 1))
    except ModelError:
        return None
    limits = ([0] if rate else []) + ([len(names) - 1] if drop else [])
    if any(abs(theta_free[i]) > _DEGENERATE for i in limits):
        return None  # the limit's own parameter running away (no one ever drops out, say): no fit either
    theta = np.log(four(np.exp(theta_free)))
    cov = np.full((4, 4), np.nan)
    kept = ([] if rate else [0, 1]) + ([] if drop else [2, 3])
    free_kept = ([] if rate else [0, 1]) + ([] if drop else [len(names) - 2, len(names) - 1])
    cov[np.ix_(kept, kept)] = cov_free[np.ix_(free_kept, free_kept)]
    ll = float(_bgnbd_value_grad(np.exp(theta), data, False)[0])
    return ll, theta, cov, {**info, "one_rate": rate, "degenerate": drop or info["degenerate"]}


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
