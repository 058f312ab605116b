"""The BG/NBD's predictions per customer: P(alive), expected transactions in a horizon (₂F₁, or quadrature where
SciPy's ₂F₁ cannot deliver, or the concentrated expansion of a degenerate fit) and the count distribution."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy.special import betainc, betaln, gammaln, hyp1f1, hyp2f1

from bcrm.stats import ModelError, gettext_noop
from bcrm.stats.clv.optimiser import _DEGENERATE


def _horizon(t: Any) -> float:
    try:
        horizon = float(t)
    except (TypeError, ValueError):
        raise ModelError(gettext_noop("The horizon must be a number of time units, 0 or more.")) from None
    if not math.isfinite(horizon) or horizon < 0:
        raise ModelError(gettext_noop("The horizon must be a number of time units, 0 or more."))
    return horizon


def _p_alive(r: float, al: float, a: float, b: float, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    pos = x > 0
    out = np.ones(x.size)
    xp = x[pos]
    # log((α+T)/(α+tx)) as log1p: exact where α dwarfs T (one purchase rate for all, r and α without bound)
    log_odds = math.log(a) - np.log(b + xp - 1) + (r + xp) * np.log1p((T[pos] - tx[pos]) / (al + tx[pos]))
    out[pos] = np.exp(-np.logaddexp(0.0, log_odds))
    return out


def _expected_given_alive(params: dict[str, float], t: np.ndarray | float, x: np.ndarray,
                          base: np.ndarray) -> np.ndarray:
    """E_p[(1 − (1 + p·t/base)^−(r+x)) / p], p ~ Beta(a, b+x): expected transactions in ``t`` of a customer
    known to be active, whose rate has posterior Gamma(r+x, base). ``base`` = α+T (or α for a new one).

    Computed as (a+b+x−1)/(a−1)·[1 − ₂F₁(r+x, a−1; a+b+x−1; −t/base)]; where SciPy's ₂F₁ is not finite or
    falls outside the bounds 0 ≤ E ≤ (r+x)·t/base: the concentrated expansion when a and b are without bound,
    the Kummer limit when r is (one purchase rate for all), else the integral itself by quadrature."""
    r, a, b = params["r"], params["a"], params["b"]
    t_arr = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
    s = t_arr / base
    big_a = r + x
    c = a + b + x - 1
    with np.errstate(all="ignore"):
        value = c / (a - 1) * (1 - hyp2f1(big_a, a - 1, c, -s))
    upper = big_a * s
    bad = ~np.isfinite(value) | (value < -1e-12 * upper) | (value > upper * (1 + 1e-9) + 1e-300)
    if abs(a - 1) < 1e-6:
        bad[:] = True
    value = np.where(s == 0, 0.0, value)
    bad &= s > 0
    if bad.any():
        rows = np.flatnonzero(bad)
        if min(a, b) > math.exp(_DEGENERATE):
            # The degenerate fit (a, b without bound): p ~ Beta(a, b+x) is concentrated within about
            # 1/√a of its mean, so E[f(p)] = f(m) + ½·f''(m)·Var(p) + O(a^−2), evaluated for all rows at once
            # instead of one quadrature per customer.
            value[rows] = _expected_concentrated(big_a[rows], s[rows], a, b + x[rows])
            rows = rows[:0]
        elif r > math.exp(_DEGENERATE) and abs(a - 1) >= 1e-6:
            # One purchase rate for all (r, α without bound; SciPy's ₂F₁ returns NaN there): (1 + p·s)^−(r+x) is
            # e^−(r+x)·p·log1p(s) to within (r+x)·s²/8 in the exponent, and the Beta mean of (1 − e^−kp)/p is
            # (a+b+x−1)/(a−1)·[1 − ₁F₁(a−1; a+b+x−1; −k)]: all rows at once, not one quadrature each.
            with np.errstate(all="ignore"):
                kummer = c[rows] / (a - 1) * (1 - hyp1f1(a - 1, c[rows], -big_a[rows] * np.log1p(s[rows])))
            fine = np.isfinite(kummer) & (kummer >= -1e-12 * upper[rows]) & (kummer <= upper[rows] * (1 + 1e-9))
            value[rows[fine]] = kummer[fine]
            rows = rows[~fine]
        for i in rows:
            value[i] = _expected_quadrature(float(big_a[i]), float(s[i]), a, float(b + x[i]))
    return np.clip(value, 0.0, None)


def _expected_concentrated(big_a: np.ndarray, s: np.ndarray, a: float, beta: np.ndarray) -> np.ndarray:
    """E_p[(1 − (1+p·s)^−A)/p] for p ~ Beta(a, beta) with a and beta very large: the second-order expansion
    around the mean (the third central moment of such a Beta is O(a^−2) relative to the mean cubed)."""
    total = a + beta
    mean = a / total
    var = a * beta / (total * total * (total + 1))

    def f(p: np.ndarray) -> np.ndarray:
        return -np.expm1(-big_a * np.log1p(p * s)) / p

    h = mean * 1e-3
    second = (f(mean + h) - 2 * f(mean) + f(mean - h)) / (h * h)
    return f(mean) + 0.5 * second * var


def _expected_quadrature(big_a: float, s: float, a: float, beta: float) -> float:
    """∫ (1 − (1+p·s)^−A)/p · Beta(p; a, beta) dp in log p, split where the integrand changes shape."""
    from scipy import integrate  # rarely needed: kept off every start-up (75 ms)

    log_beta = float(betaln(a, beta))

    def integrand(y: float) -> float:
        p = math.exp(y)
        if p >= 1.0:
            return 0.0
        h = big_a * s if p * s < 1e-300 else -math.expm1(-big_a * math.log1p(p * s)) / p
        return h * math.exp(a * y + (beta - 1) * math.log1p(-p) - log_beta)

    knots = sorted([-math.log(big_a * s), -math.log(beta)])
    hi = min(knots[1], -1e-12)
    lo = min(knots[0], hi)
    total = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)     # 1e-11 asked; ~1e-13 reached
        for start, stop in ((-math.inf, lo), (lo, hi), (hi, 0.0)):
            if stop > start:
                total += integrate.quad(integrand, start, stop, limit=200, epsabs=0.0, epsrel=1e-11)[0]
    return total


def _expected_conditional(params: dict[str, float], t: float, x: np.ndarray, tx: np.ndarray,
                          T: np.ndarray) -> np.ndarray:
    r, al, a, b = params["r"], params["alpha"], params["a"], params["b"]
    return _p_alive(r, al, a, b, x, tx, T) * _expected_given_alive(params, t, x, al + T)


def _prob_count(params: dict[str, float], t: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """P(X(t) = x) for each t (rows) and x (columns), FHL eq. 8."""
    r, al, a, b = params["r"], params["alpha"], params["a"], params["b"]
    tt = t[:, None]
    xx = counts[None, :].astype(np.float64)
    log_nb = (gammaln(r + xx) - gammaln(r) - gammaln(xx + 1) + r * np.log(al / (al + tt))
              + xx * np.log(np.where(tt > 0, tt / (al + tt), 1.0)))
    log_nb = np.where((tt == 0) & (xx > 0), -np.inf, log_nb)
    first = np.exp(betaln(a, b + xx) - betaln(a, b) + log_nb)
    with np.errstate(all="ignore"):
        tail = np.where(xx > 0, betainc(np.maximum(xx, 1), r, tt / (al + tt)), 0.0)   # P(NB(r, α/(α+t)) ≥ x)
    second = np.where(xx > 0, np.exp(betaln(a + 1, b + xx - 1) - betaln(a, b)), 0.0) * tail
    return first + second


_EPS = float(np.finfo(np.float64).eps)


def _expected_counts(params: dict[str, float], t: np.ndarray, weights: np.ndarray, max_count: int) -> np.ndarray:
    """Σ_rows weight · P(X(t) = x) for x = 0 … ``max_count``−1 (FHL eq. 8): what :func:`_prob_count` gives
    summed over rows, for a million distinct ages at once. The negative binomial probabilities of 0 … x−1
    come from their recurrence and its tail P(NB ≥ x) from their sum, instead of one incomplete beta
    function per row and count. The subtraction loses digits where a row's tail is tiny, but what is
    returned is the weighted sum: each row's error is at most about 4·x²·ε (the recurrence's rounding), so
    when those errors together are below 10⁻¹² of the sum, the sum stands; otherwise the rows whose tail is
    below 10⁻³ take the incomplete beta function."""
    r, al, a, b = params["r"], params["alpha"], params["a"], params["b"]
    total = np.zeros(max_count)
    if t.size == 0 or max_count == 0:
        return total
    odds = t / (al + t)                                                       # 1 − the NB's p
    nb = np.exp(r * (np.log(al) - np.log(al + t)))                            # P(NB = 0)
    cumulative = np.zeros(t.size)
    weight = float(np.abs(weights).sum())
    for x in range(max_count):
        if x > 0:
            with np.errstate(all="ignore"):
                tail = 1.0 - cumulative                                       # P(NB ≥ x)
            summed = float(weights @ tail)
            if not summed * 1e-12 >= weight * 4.0 * x * x * _EPS:      # not accurate enough as it is
                small = tail < 1e-3
                if small.any():
                    tail[small] = betainc(x, r, odds[small])
                summed = float(weights @ tail)
            second = summed * math.exp(betaln(a + 1, b + x - 1) - betaln(a, b))
        else:
            second = 0.0
        total[x] = float(weights @ nb) * math.exp(betaln(a, b + x) - betaln(a, b)) + second
        cumulative += nb
        nb = nb * ((r + x) / (x + 1)) * odds
    return total
