"""The log-likelihoods of the BG/NBD and Gamma-Gamma models, their analytic gradients and Hessians (formulas
in the package docstring and beside each function), on data prepared once per fit."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import digamma, gammaln, polygamma

from bcrm.stats.clv.data import _check_spend, check_rfm

# --------------------------------------------------------------------------------------------------
# BG/NBD likelihood


def _distinct_counts(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``x`` (whole numbers of repeat purchases) and the weight of each, counted
    directly (no sort) when they are small non-negative whole numbers, as frequencies are."""
    if x.size and float(x.min()) >= 0 and float(x.max()) < 2**24:
        codes = x.astype(np.int64)
        if np.array_equal(codes, x):
            present = np.bincount(codes) > 0
            return np.flatnonzero(present).astype(np.float64), np.bincount(codes, weights=w)[present]
    ux, xi = np.unique(x, return_inverse=True)
    return ux, np.bincount(xi, weights=w, minlength=ux.size)


class _BGNBDData:
    """Grouped data with everything the likelihood needs that does not depend on the parameters.
    ``grouped``: the rows are distinct (x, t_x, T) triples already (:func:`group_rows`), so the ages of the
    customers without repeat purchases are distinct too and are not grouped again."""

    def __init__(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray, grouped: bool = False) -> None:
        keep = w > 0
        if not keep.all():
            x, tx, T, w = x[keep], tx[keep], T[keep], w[keep]
        self.n = float(w.sum())
        self.ux, self.wx = _distinct_counts(x, w)                          # customers per distinct x
        pos = x > 0
        # customers without repeat purchases: only T matters
        if grouped:
            self.T0, self.w0 = T[~pos], w[~pos]
        else:
            self.T0, inv0 = np.unique(T[~pos], return_inverse=True)
            self.w0 = np.bincount(inv0, weights=w[~pos], minlength=self.T0.size)
        # repeat buyers
        self.x1, self.tx1, self.T1, self.w1 = x[pos], tx[pos], T[pos], w[pos]
        self.xi1 = np.searchsorted(self.ux, self.x1)


def _bgnbd_value_grad(params: np.ndarray, d: _BGNBDData, want_grad: bool = True) -> tuple[float, np.ndarray]:
    """Log-likelihood and its gradient with respect to (r, α, a, b) at natural parameters."""
    r, al, a, b = (float(v) for v in params)
    ux, wx = d.ux, d.wx
    # terms depending on x only: lnΓ(r+x) − lnΓ(r) + r ln α + lnΓ(a+b) + lnΓ(b+x) − lnΓ(b) − lnΓ(a+b+x)
    const = float(wx @ (gammaln(r + ux) + gammaln(b + ux) - gammaln(a + b + ux)))
    const += d.n * (r * math.log(al) - gammaln(r) + gammaln(a + b) - gammaln(b))
    # x = 0: ln A3 = −r ln(α+T)
    log_aT0 = np.log(al + d.T0)
    ll = const - r * float(d.w0 @ log_aT0)
    # x > 0: logaddexp(ln A3, ln A4)
    x1, w1 = d.x1, d.w1
    log_aT = np.log(al + d.T1)
    log_atx = np.log(al + d.tx1)
    log_bx1 = np.log(b + np.maximum(d.ux, 1.0) - 1.0)[d.xi1]
    rx = r + x1
    l3 = -rx * log_aT
    l4 = math.log(a) - log_bx1 - rx * log_atx
    m = np.logaddexp(l3, l4)
    ll += float(w1 @ m)
    if not want_grad:
        return ll, np.zeros(4)
    pi = np.exp(l4 - m)                     # share of the A4 term: P(dropped out after the last purchase)
    wpi = w1 * pi
    psi_common = digamma(a + b) - digamma(a + b + ux)
    g_r = float(wx @ digamma(r + ux)) + d.n * (math.log(al) - digamma(r))
    g_r -= float(d.w0 @ log_aT0) + float(w1 @ ((1 - pi) * log_aT + pi * log_atx))
    g_al = d.n * r / al - r * float(d.w0 @ (1.0 / (al + d.T0)))
    g_al -= float(w1 @ (rx * ((1 - pi) / (al + d.T1) + pi / (al + d.tx1))))
    g_a = float(wx @ psi_common) + float(wpi.sum()) / a
    g_b = float(wx @ (psi_common + digamma(b + ux))) - d.n * digamma(b)
    g_b -= float(wpi @ np.exp(-log_bx1))
    return ll, np.array([g_r, g_al, g_a, g_b])


def _trigamma(v: Any) -> Any:
    return polygamma(1, v)


def _bgnbd_value_grad_hess(params: np.ndarray, d: _BGNBDData) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, gradient and exact Hessian with respect to (r, α, a, b) at natural parameters, in one
    pass over the customers (about the cost of two gradient evaluations; a central-difference Hessian of
    the gradient costs eight).

    Each repeat buyer contributes m = logaddexp(l3, l4), whose Hessian is the mixture of the two terms'
    Hessians plus the spread between their gradients: with π = e^(l4 − m) and D = ∇l4 − ∇l3,

        ∇²m = (1 − π)·∇²l3 + π·∇²l4 + π(1 − π)·D Dᵀ

    where ∇l3 = (−ln(α+T), −(r+x)/(α+T), 0, 0) and ∇l4 = (−ln(α+t_x), −(r+x)/(α+t_x), 1/a, −1/(b+x−1));
    the terms in x only and the customers without repeat purchases are sums of trigamma values and of
    powers of 1/(α+T)."""
    r, al, a, b = (float(v) for v in params)
    ll, grad = _bgnbd_value_grad(params, d)
    ux, wx, n = d.ux, d.wx, d.n
    hess = np.zeros((4, 4))
    # terms in x only (and the population terms)
    tri_abx = float(wx @ _trigamma(a + b + ux))
    tri_ab = float(_trigamma(a + b))
    hess[0, 0] = float(wx @ _trigamma(r + ux)) - n * float(_trigamma(r))
    hess[0, 1] = n / al
    hess[1, 1] = -n * r / al**2
    hess[2, 2] = hess[2, 3] = n * tri_ab - tri_abx
    hess[3, 3] = float(wx @ _trigamma(b + ux)) - tri_abx + n * (tri_ab - float(_trigamma(b)))
    # customers without repeat purchases: −r ln(α+T)
    inv0 = 1.0 / (al + d.T0)
    hess[0, 1] -= float(d.w0 @ inv0)
    hess[1, 1] += r * float(d.w0 @ (inv0 * inv0))
    # repeat buyers: the logaddexp mixture
    x1, w1 = d.x1, d.w1
    rx = r + x1
    inv_T = 1.0 / (al + d.T1)
    inv_t = 1.0 / (al + d.tx1)
    inv_b = 1.0 / (b + np.maximum(d.ux, 1.0) - 1.0)[d.xi1]
    l3 = -rx * np.log(al + d.T1)
    l4 = math.log(a) + np.log(inv_b) - rx * np.log(al + d.tx1)
    pi = np.exp(l4 - np.logaddexp(l3, l4))
    wpi = w1 * pi
    wqi = w1 - wpi                                           # w·(1 − π)
    hess[0, 1] -= float(wqi @ inv_T) + float(wpi @ inv_t)
    hess[1, 1] += float(wqi @ (rx * inv_T * inv_T)) + float(wpi @ (rx * inv_t * inv_t))
    hess[2, 2] -= float(wpi.sum()) / a**2
    hess[3, 3] += float(wpi @ (inv_b * inv_b))
    spread = np.empty((x1.size, 4))
    spread[:, 0] = np.log((al + d.T1) * inv_t)
    spread[:, 1] = rx * (inv_T - inv_t)
    spread[:, 2] = 1.0 / a
    spread[:, 3] = -inv_b
    hess += spread.T @ (spread * (wpi * (1.0 - pi))[:, None])
    upper = np.triu(hess, 1)
    return ll, grad, np.triu(hess) + upper.T


def bgnbd_log_likelihood(params: Sequence[float], frequency: Any, recency: Any, T: Any, *,
                         weights: Any = None) -> float:
    """The BG/NBD log-likelihood of (r, α, a, b) on an RFM summary (sum over customers)."""
    x, tx, age, w = check_rfm(frequency, recency, T, weights)
    return _bgnbd_value_grad(np.asarray(params, dtype=np.float64), _BGNBDData(x, tx, age, w), False)[0]


def bgnbd_log_likelihood_gradient(params: Sequence[float], frequency: Any, recency: Any, T: Any, *,
                                  weights: Any = None) -> np.ndarray:
    """The analytic gradient of :func:`bgnbd_log_likelihood` with respect to (r, α, a, b)."""
    x, tx, age, w = check_rfm(frequency, recency, T, weights)
    return _bgnbd_value_grad(np.asarray(params, dtype=np.float64), _BGNBDData(x, tx, age, w))[1]


# --------------------------------------------------------------------------------------------------
# Gamma-Gamma likelihood


class _GGData:
    def __init__(self, x: np.ndarray, z: np.ndarray, w: np.ndarray) -> None:
        self.x, self.z, self.w = x, z, w
        self.n = float(w.sum())
        self.ux, self.wx = _distinct_counts(x, w)
        log_z = np.log(z)
        self.sum_log_z = float(w @ log_z)
        self.sum_x_log_xz = float(w @ (x * (log_z + np.log(x))))
        self.wxz = w * x
        self.xz = x * z


def _gg_value_grad(params: np.ndarray, d: _GGData, want_grad: bool = True) -> tuple[float, np.ndarray]:
    p, q, g = (float(v) for v in params)
    ux, wx = d.ux, d.wx
    pxq = p * ux + q
    log_gz = np.log(g + d.xz)
    ll = float(wx @ (gammaln(pxq) - gammaln(p * ux))) + d.n * (q * math.log(g) - gammaln(q))
    ll += p * d.sum_x_log_xz - d.sum_log_z - p * float(d.wxz @ log_gz) - q * float(d.w @ log_gz)
    if not want_grad:
        return ll, np.zeros(3)
    psi_pxq = digamma(pxq)
    g_p = float(wx @ (ux * (psi_pxq - digamma(p * ux)))) + d.sum_x_log_xz - float(d.wxz @ log_gz)
    g_q = float(wx @ psi_pxq) + d.n * (math.log(g) - digamma(q)) - float(d.w @ log_gz)
    inv = 1.0 / (g + d.xz)
    g_g = d.n * q / g - p * float(d.wxz @ inv) - q * float(d.w @ inv)
    return ll, np.array([g_p, g_q, g_g])


def _gg_value_grad_hess(params: np.ndarray, d: _GGData) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, gradient and exact Hessian with respect to (p, q, γ) at natural parameters:

        ∂²/∂p² = Σ x²(ψ'(px+q) − ψ'(px))     ∂²/∂p∂q = Σ x ψ'(px+q)     ∂²/∂q² = Σ ψ'(px+q) − n ψ'(q)
        ∂²/∂p∂γ = −Σ x/(γ+xz̄)                ∂²/∂q∂γ = n/γ − Σ 1/(γ+xz̄)
        ∂²/∂γ² = −nq/γ² + Σ (px+q)/(γ+xz̄)²"""
    p, q, g = (float(v) for v in params)
    ll, grad = _gg_value_grad(params, d)
    ux, wx = d.ux, d.wx
    tri_pxq = _trigamma(p * ux + q)
    inv = 1.0 / (g + d.xz)
    w_inv = d.w * inv
    h_pp = float(wx @ (ux * ux * (tri_pxq - _trigamma(p * ux))))
    h_pq = float(wx @ (ux * tri_pxq))
    h_qq = float(wx @ tri_pxq) - d.n * float(_trigamma(q))
    h_pg = -float(d.wxz @ inv)
    h_qg = d.n / g - float(w_inv.sum())
    h_gg = -d.n * q / g**2 + float(w_inv @ ((p * d.x + q) * inv))
    hess = np.array([[h_pp, h_pq, h_pg], [h_pq, h_qq, h_qg], [h_pg, h_qg, h_gg]])
    return ll, grad, hess


def gamma_gamma_log_likelihood(params: Sequence[float], frequency: Any, monetary_value: Any, *,
                               weights: Any = None) -> float:
    """The Gamma-Gamma log-likelihood of (p, q, γ) on the customers with frequency > 0."""
    x, z, w = _check_spend(frequency, monetary_value, weights)
    pos = x > 0
    return _gg_value_grad(np.asarray(params, dtype=np.float64), _GGData(x[pos], z[pos], w[pos]), False)[0]


def gamma_gamma_log_likelihood_gradient(params: Sequence[float], frequency: Any, monetary_value: Any, *,
                                        weights: Any = None) -> np.ndarray:
    """The analytic gradient of :func:`gamma_gamma_log_likelihood` with respect to (p, q, γ)."""
    x, z, w = _check_spend(frequency, monetary_value, weights)
    pos = x > 0
    return _gg_value_grad(np.asarray(params, dtype=np.float64), _GGData(x[pos], z[pos], w[pos]))[1]
