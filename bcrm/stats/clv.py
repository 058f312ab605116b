"""Customer lifetime value: the BG/NBD model of repeat transactions and the Gamma-Gamma model of their value.

Pure NumPy/SciPy (no Django). Everything takes plain arrays, one entry per customer, and returns plain
arrays aligned with them.

Data
----
Per customer, the RFM summary of a calibration period (Fader, Hardie & Lee's notation in brackets):

* ``frequency`` (x) — number of *repeat* transactions: periods with a purchase after the first one;
* ``recency`` (t_x) — the customer's age at the last purchase (time from the first purchase to the
  last; 0 when ``frequency`` is 0);
* ``T`` — the customer's age at the end of the calibration period (time since the first purchase);
* ``monetary_value`` (z̄) — the mean value of the repeat transactions (0 or anything when x = 0: unused).

Time is in any unit (days, weeks, months): parameters α of the BG/NBD model and every horizon ``t`` are
in the same unit. :func:`rfm_summary` builds these columns from a transaction log, as ``lifetimes``'
``summary_data_from_transaction_data`` does.

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way")
-------------------------------------------------------------------------
While active a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each purchase they
drop out with probability p ~ Beta(a, b). The likelihood of one customer (their eq. 6) is
``A1·A2·(A3 + δ(x>0)·A4)`` with

    ln A1 = lnΓ(r+x) − lnΓ(r) + r ln α          ln A3 = −(r+x) ln(α+T)
    ln A2 = lnΓ(a+b) + lnΓ(b+x) − lnΓ(b) − lnΓ(a+b+x)
    ln A4 = ln a − ln(b+x−1) − (r+x) ln(α+t_x)

evaluated in log space (``logaddexp`` for the sum of the last two terms), so it neither overflows nor
underflows for large x or T. The fit maximises the weighted sum over customers with L-BFGS-B on the
logarithms of the four parameters, using the analytic gradient, then polishes the optimum with Newton
steps; standard errors come from the inverse of the (numerical) Hessian of the log-likelihood in log
space, carried to the natural parameters by the delta method (se(θ) = θ·se(ln θ)). Customers with the same
(x, t_x, T) are grouped and weighted first: with ages in whole weeks or months a million customers have
only tens of thousands of distinct triples.

Predictions (FHL eq. 10, 11 and 9): expected transactions in the next ``t``, P(alive) and the expected
transactions of a new customer. Eq. 10 needs the Gauss hypergeometric function; this module uses its
Pfaff transform, which keeps the SciPy call in a well-conditioned region:

    E[Y(t) | x, t_x, T] = P(alive) · (a+b+x−1)/(a−1) · [1 − ₂F₁(r+x, a−1; a+b+x−1; −t/(α+T))]

and, where SciPy's ``hyp2f1`` cannot deliver (very long horizons for very frequent buyers, or a ≈ 1),
evaluates the same quantity as the integral it equals, ``P(alive)·E_p[(1 − (1 + p·t/(α+T))^−(r+x))/p]``
with p ~ Beta(a, b+x), by adaptive quadrature.

Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999)
---------------------------------------------------------------------------
Each transaction value is Gamma(p, ν) with ν ~ Gamma(q, γ) across customers. On customers with x > 0 the
likelihood of the mean value z̄ of their x transactions is

    Γ(px+q) / (Γ(px)·Γ(q)) · γ^q · x^{px} · z̄^{px−1} / (γ + x·z̄)^{px+q}

and the conditional expected value of a customer's transactions is p(γ + x·z̄)/(px + q − 1) — a weighted
mean of the population mean pγ/(q−1) and the customer's own mean z̄. The model assumes spend does not
depend on frequency; the fit reports their correlation among repeat buyers so a user can check.

Lifetime value
--------------
Discretised as ``lifetimes`` does: for months i = 1 … H, the increment of the cumulative expected number of
transactions over month i times the expected value, discounted at the monthly rate d:

    CLV = Σ_{i=1..H} [E[Y(i·u)] − E[Y((i−1)·u)]] · E[M] / (1+d)^i

where ``u`` is the number of model time units in a month (:data:`UNITS_PER_MONTH`: 30.4375 days,
4.348 weeks, 1 month — ``lifetimes`` uses 30 and 4.345).
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import integrate, optimize
from scipy.special import betainc, betaln, digamma, gammaln, hyp2f1
from threadpoolctl import threadpool_limits

from bcrm.stats import ModelError, gettext_noop


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

__all__ = [
    "UNITS_PER_MONTH", "DAYS_PER_UNIT", "MIN_CUSTOMERS", "BGNBDFit", "GammaGammaFit", "RFMSummary", "CLVResult",
    "fit_bgnbd", "fit_gamma_gamma", "bgnbd_log_likelihood", "bgnbd_log_likelihood_gradient",
    "gamma_gamma_log_likelihood", "gamma_gamma_log_likelihood_gradient", "customer_lifetime_value",
    "rfm_summary", "predict_clv", "group_rows",
]

#: Model time units in one month, for the lifetime-value discretisation (a month is 365.25/12 days).
UNITS_PER_MONTH: dict[str, float] = {"day": 365.25 / 12, "week": 365.25 / 12 / 7, "month": 1.0}
#: Length in days of each time unit / period of :func:`rfm_summary`.
DAYS_PER_UNIT: dict[str, float] = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}
#: Fewest customers a fit accepts (the BG/NBD has four parameters, the Gamma-Gamma three).
MIN_CUSTOMERS = 10
#: Log-parameter bounds of the optimiser (after time/spend rescaling); an optimum on a bound means the
#: data do not identify the model.
_LOG_BOUND = 18.0
#: Above this log value both BG/NBD a and b count as "without bound" (Beta(a, b) is then a point mass).
_DEGENERATE = 9.0
#: Relative tolerance below which a rescaled quantity counts as a whole number.
_INTEGER_TOL = 1e-9

BGNBD_PARAMS = ("r", "alpha", "a", "b")
GG_PARAMS = ("p", "q", "gamma")


# --------------------------------------------------------------------------------------------------
# Input checks


def _array(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ModelError(gettext_noop("%(name)s must be numbers."), name=name) from None
    if arr.ndim != 1:
        raise ModelError(gettext_noop("%(name)s must be a flat list of numbers, one per customer."), name=name)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ModelError(gettext_noop("%(name)s has %(count)d missing or infinite values (the first at row "
                                      "%(row)d); fill or remove those customers first."),
                         name=name, count=int(bad.sum()), row=int(np.argmax(bad)) + 1)
    return arr


def _same_length(**arrays: np.ndarray) -> int:
    sizes = {name: arr.size for name, arr in arrays.items()}
    if len(set(sizes.values())) > 1:
        shown = ", ".join(f"{name}={size}" for name, size in sizes.items())
        raise ModelError(gettext_noop("The columns must have one value per customer; their lengths differ "
                                      "(%(lengths)s)."), lengths=shown)
    return next(iter(sizes.values()))


def _weights(weights: Any, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = _array(weights, "weights")
    if w.size != n:
        raise ModelError(gettext_noop("weights must have one value per customer (%(n)d), not %(got)d."),
                         n=n, got=int(w.size))
    if (w < 0).any():
        raise ModelError(gettext_noop("weights must not be negative."))
    return w


def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask)) + 1


def check_rfm(frequency: Any, recency: Any, T: Any, weights: Any = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate an RFM summary; returns float64 arrays ``(x, t_x, T, weights)``.

    Raises :class:`ModelError` for missing or infinite values, different lengths, negative values, a
    frequency that is not a whole number, a recency above T, or a recency for a customer with no repeat
    purchase (it must be 0: the age at the last *repeat* purchase)."""
    x = _array(frequency, "frequency")
    tx = _array(recency, "recency")
    age = _array(T, "T")
    n = _same_length(frequency=x, recency=tx, T=age)
    w = _weights(weights, n)
    for name, arr in (("frequency", x), ("recency", tx), ("T", age)):
        if (arr < 0).any():
            raise ModelError(gettext_noop("%(name)s must not be negative (row %(row)d is %(value)s)."),
                             name=name, row=_first(arr < 0), value=f"{arr[arr < 0][0]:g}")
    fractional = np.abs(x - np.round(x)) > _INTEGER_TOL
    if fractional.any():
        raise ModelError(gettext_noop("frequency counts repeat purchases and must be a whole number (row "
                                      "%(row)d is %(value)s)."), row=_first(fractional),
                         value=f"{x[fractional][0]:g}")
    x = np.round(x)
    late = tx > age * (1 + 1e-9) + 1e-12
    if late.any():
        i = int(np.argmax(late))
        raise ModelError(gettext_noop("recency cannot exceed T: row %(row)d has recency %(recency)s and T "
                                      "%(T)s (recency is the age at the last purchase, T the age at the end "
                                      "of the period)."), row=i + 1, recency=f"{tx[i]:g}", T=f"{age[i]:g}")
    tx = np.minimum(tx, age)
    stray = (x == 0) & (tx > 0)
    if stray.any():
        raise ModelError(gettext_noop("Row %(row)d has no repeat purchase (frequency 0) but a recency of "
                                      "%(recency)s: recency is the age at the last repeat purchase, 0 when "
                                      "there is none."), row=_first(stray), recency=f"{tx[stray][0]:g}")
    return x, tx, age, w


# --------------------------------------------------------------------------------------------------
# Grouping identical rows


def group_rows(*columns: np.ndarray, weights: np.ndarray | None = None
               ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Distinct rows of aligned columns: ``(unique_columns, summed_weights, inverse)``.

    ``unique_columns[k][inverse]`` gives back ``columns[k]`` exactly; ``summed_weights`` is the number of
    rows (or the sum of ``weights``) of each distinct row; distinct rows come in lexicographic order.
    Columns of whole numbers or short decimals (ages in weeks, amounts in cents) over a modest range are
    coded directly and counted with ``np.bincount`` — no sort, O(n); anything else is coded by ``np.unique``
    and the codes combined into one integer key (a few sorts)."""
    n = columns[0].size
    if n == 0:
        return [c[:0] for c in columns], np.zeros(0), np.zeros(0, dtype=np.intp)
    dense = [_dense_codes(col) for col in columns]
    sizes = [d[1] for d in dense if d is not None]
    if all(d is not None for d in dense) and math.prod(sizes) <= _DENSE_CELLS:
        key = np.zeros(n, dtype=np.int64)
        for d in dense:
            assert d is not None
            key = key * d[1] + d[0]
        present = np.flatnonzero(np.bincount(key, minlength=math.prod(sizes)))
        lookup = np.empty(math.prod(sizes), dtype=np.intp)
        lookup[present] = np.arange(present.size)
        inverse = lookup[key]
        summed = np.bincount(inverse, weights=weights, minlength=present.size).astype(np.float64)
        uniques: list[np.ndarray] = []
        rest = present
        for d in reversed(dense):
            assert d is not None
            rest, code = np.divmod(rest, d[1])
            uniques.append((code + d[3]) / d[2])
        return uniques[::-1], summed, inverse
    key = np.zeros(n, dtype=np.int64)
    span = 1
    for col in columns:
        uniq, inv = np.unique(col, return_inverse=True)
        if span * uniq.size >= 2**62:                       # keep the combined key within int64
            _, key = np.unique(key, return_inverse=True)
            key = key.astype(np.int64)
            span = int(key.max()) + 1
        key = key * uniq.size + inv
        span *= uniq.size
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    summed = np.bincount(inverse, weights=weights, minlength=first.size).astype(np.float64)
    return [col[first] for col in columns], summed, inverse.reshape(-1)


#: Largest number of cells (product of the columns' ranges) :func:`group_rows` counts directly.
_DENSE_CELLS = 1 << 26


def _dense_codes(col: np.ndarray) -> tuple[np.ndarray, int, float, float] | None:
    """(codes 0…size−1, size, scale, offset) when ``col`` is exactly (code + offset) / scale for a scale of
    1, 10, 100 or 1000 and a range under 2**24; ``None`` otherwise."""
    if col.dtype.kind != "f":
        col = col.astype(np.float64)
    for scale in (1.0, 10.0, 100.0, 1000.0):
        ints = np.round(col * scale)
        if np.array_equal(ints / scale, col):
            lo, hi = float(ints.min()), float(ints.max())
            if hi - lo >= 2**24:
                return None
            return (ints - lo).astype(np.int64), int(hi - lo) + 1, scale, lo
    return None


# --------------------------------------------------------------------------------------------------
# BG/NBD likelihood


class _BGNBDData:
    """Grouped data with everything the likelihood needs that does not depend on the parameters."""

    def __init__(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray) -> None:
        keep = w > 0
        x, tx, T, w = x[keep], tx[keep], T[keep], w[keep]
        self.n = float(w.sum())
        self.ux, xi = np.unique(x, return_inverse=True)
        self.wx = np.bincount(xi, weights=w, minlength=self.ux.size)       # customers per distinct x
        pos = x > 0
        # customers without repeat purchases: only T matters
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
# Maximum likelihood in log space, shared by both models


def _maximise(value_grad, start: np.ndarray, names: Sequence[str], model: str,
              unbounded_pair: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Maximise ``value_grad`` (natural params → (ll, grad)) over log-parameters.

    Returns (log θ, covariance of θ, info). L-BFGS-B with the analytic gradient, then Newton steps on a
    central-difference Hessian until the gradient vanishes to rounding; the last Hessian gives the
    covariance. Raises :class:`ModelError` when a parameter runs to its bound or the gradient does not
    vanish.

    ``unbounded_pair``: two parameters that may legitimately grow together without bound (the BG/NBD's a
    and b when the drop-out probability is the same for everyone): then the fit is accepted, their
    gradient is not checked and ``info["degenerate"]`` is set."""
    evaluations = 0
    scale = 1.0

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal evaluations
        evaluations += 1
        params = np.exp(theta)
        with np.errstate(all="ignore"):
            ll, grad = value_grad(params)
        if not math.isfinite(ll) or not np.all(np.isfinite(grad)):
            return 1e300, np.zeros_like(theta)
        return -ll / scale, -(grad * params) / scale

    with np.errstate(all="ignore"):
        ll0, _ = value_grad(np.exp(start))
    scale = max(abs(ll0), 1.0) if math.isfinite(ll0) else 1.0
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * start.size
    res = optimize.minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20})
    theta = np.asarray(res.x, dtype=np.float64)
    degenerate = unbounded_pair is not None and min(theta[list(unbounded_pair)]) > _DEGENERATE
    free = [i for i in range(theta.size) if not (degenerate and unbounded_pair and i in unbounded_pair)]
    at_bound = [names[i] for i in free if abs(theta[i]) >= _LOG_BOUND - 1e-3]
    if at_bound:
        raise ModelError(gettext_noop("The %(model)s fit did not converge: %(params)s ran to the edge of the "
                                      "allowed range, so the data do not identify the model (too few "
                                      "customers, or too little variation)."),
                         model=model, params=", ".join(at_bound))
    # Newton polish: the quasi-Newton optimum is good to ~1e-7; one or two exact steps finish the job.
    ll, glog = _value_grad_log(value_grad, theta)
    hess = _hessian_log(value_grad, theta)
    for _ in range(4):
        if not math.isfinite(ll) or float(np.max(np.abs(glog))) <= 1e-9 * scale:
            break
        try:
            step = np.linalg.solve(hess, -glog)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or float(np.max(np.abs(step))) > 0.5:
            break
        candidate = theta + step
        ll_new, g_new = _value_grad_log(value_grad, candidate)
        if not (math.isfinite(ll_new) and ll_new >= ll - 1e-12 * scale):
            break
        theta, ll, glog = candidate, ll_new, g_new
        if float(np.max(np.abs(step))) > 1e-4:
            hess = _hessian_log(value_grad, theta)
    gnorm = float(np.max(np.abs(glog[free]))) / scale
    cov = _covariance(hess, theta)
    if not math.isfinite(ll) or gnorm > 1e-5 or not (degenerate or np.all(np.isfinite(cov))):
        raise ModelError(gettext_noop("The %(model)s fit did not converge: the likelihood has no clear maximum, "
                                      "so the data do not identify the model (too few customers, or too "
                                      "little variation)."), model=model)
    info = {"converged": True, "iterations": int(res.nit), "evaluations": evaluations,
            "message": str(res.message), "gradient_norm": gnorm, "degenerate": degenerate,
            "notes": [] if res.success else [_note(
                gettext_noop("The %(model)s fit's quasi-Newton search stopped early (%(reason)s); Newton steps then "
                             "brought the gradient to %(gradient)s, so the estimates are at the maximum."),
                model=model, reason=str(res.message), gradient=f"{gnorm:.1e}")]}
    return theta, cov, info


def _value_grad_log(value_grad, theta: np.ndarray) -> tuple[float, np.ndarray]:
    params = np.exp(theta)
    with np.errstate(all="ignore"):
        ll, grad = value_grad(params)
    return float(ll), grad * params


def _hessian_log(value_grad, theta: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Hessian of the log-likelihood in log-parameter space, by central differences of the gradient."""
    k = theta.size
    hess = np.empty((k, k))
    for j in range(k):
        step = np.zeros(k)
        step[j] = h
        up = _value_grad_log(value_grad, theta + step)[1]
        down = _value_grad_log(value_grad, theta - step)[1]
        hess[:, j] = (up - down) / (2 * h)
    return (hess + hess.T) / 2


def _covariance(hess: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Covariance of the natural parameters: −H⁻¹ in log space, then the delta method θ_i θ_j cov_ij
    (exact at the optimum, where the gradient term of the change of variables vanishes)."""
    try:
        cov_log = np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        return np.full_like(hess, np.nan)
    if not np.all(np.isfinite(cov_log)) or np.any(np.diag(cov_log) <= 0):
        return np.full_like(hess, np.nan)
    scale = np.exp(theta)
    return cov_log * np.outer(scale, scale)


# --------------------------------------------------------------------------------------------------
# BG/NBD fit and predictions


@dataclass(frozen=True, eq=False)
class BGNBDFit:
    """A fitted BG/NBD model: parameters, standard errors, log-likelihood and convergence.

    Time is in the unit of the data it was fitted on (α and every horizon ``t``)."""

    r: float
    alpha: float
    a: float
    b: float
    se: dict[str, float]
    covariance: np.ndarray
    log_likelihood: float
    n_customers: float
    n_distinct: int
    converged: bool
    iterations: int
    evaluations: int
    message: str
    warnings: list[dict[str, Any]] = field(default_factory=list)   # {"template", "params", "message"}

    @property
    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable summary (no arrays but the covariance as nested lists)."""
        return {
            "model": "bgnbd", "params": self.params, "se": dict(self.se),
            "log_likelihood": self.log_likelihood, "n_customers": _count(self.n_customers),
            "n_distinct": self.n_distinct, "converged": self.converged, "iterations": self.iterations,
            "evaluations": self.evaluations, "message": self.message,
            "warnings": [w["message"] for w in self.warnings],
            "covariance": [[_finite(v) for v in row] for row in self.covariance.tolist()],
        }

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(still active at T | x, t_x, T) (FHL eq. 11 / their note): 1 for a customer with no repeat
        purchase, since in the BG/NBD a customer can only drop out right after a purchase."""
        x, tx, age, _ = check_rfm(frequency, recency, T)
        return _p_alive(self.r, self.alpha, self.a, self.b, x, tx, age)

    def expected_transactions(self, t: float, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Expected number of repeat transactions in the next ``t`` time units, per customer (FHL eq. 10)."""
        horizon = _horizon(t)
        x, tx, age, _ = check_rfm(frequency, recency, T)
        (ux, utx, uT), _, inverse = group_rows(x, tx, age)
        return _expected_conditional(self.params, horizon, ux, utx, uT)[inverse]

    def expected_transactions_new(self, t: float | Sequence[float]) -> np.ndarray:
        """Expected repeat transactions of a new customer in their first ``t`` time units (FHL eq. 9)."""
        horizons = np.atleast_1d(np.asarray(t, dtype=np.float64))
        if not np.all(np.isfinite(horizons)) or (horizons < 0).any():
            raise ModelError(gettext_noop("The horizon must be a number of time units, 0 or more."))
        zero = np.zeros(horizons.size)
        return _expected_given_alive(self.params, horizons, zero, self.alpha + zero)

    def frequency_distribution(self, T: Any, max_frequency: int = 7) -> np.ndarray:
        """Expected number of customers with 0, 1, …, ``max_frequency``−1 and ``max_frequency`` or more
        repeat transactions, given each customer's T (FHL eq. 8): the model's side of the calibration
        histogram."""
        age = _array(T, "T")
        uT, counts = np.unique(age, return_counts=True)
        probs = _prob_count(self.params, uT, np.arange(max_frequency))          # (len uT, max_frequency)
        expected = counts @ probs
        return np.append(expected, counts.sum() - expected.sum())


def _count(n: float) -> int | float:
    return int(n) if float(n).is_integer() else float(n)


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


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
    log_odds = math.log(a) - np.log(b + xp - 1) + (r + xp) * (np.log(al + T[pos]) - np.log(al + tx[pos]))
    out[pos] = np.exp(-np.logaddexp(0.0, log_odds))
    return out


def _expected_given_alive(params: dict[str, float], t: np.ndarray | float, x: np.ndarray,
                          base: np.ndarray) -> np.ndarray:
    """E_p[(1 − (1 + p·t/base)^−(r+x)) / p], p ~ Beta(a, b+x): expected transactions in ``t`` of a customer
    known to be active, whose rate has posterior Gamma(r+x, base). ``base`` = α+T (or α for a new one).

    Computed as (a+b+x−1)/(a−1)·[1 − ₂F₁(r+x, a−1; a+b+x−1; −t/base)]; where SciPy's ₂F₁ is not finite or
    falls outside the bounds 0 ≤ E ≤ (r+x)·t/base, the integral itself is evaluated by quadrature."""
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
        else:
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


def _fit_bgnbd_groups(ux: np.ndarray, utx: np.ndarray, uT: np.ndarray, uw: np.ndarray) -> BGNBDFit:
    """The fit itself, on checked, grouped rows with their weights."""
    n = float(uw.sum())
    scale = float(np.max(uT)) / 10.0                         # time rescaled so the longest T is 10
    data = _BGNBDData(ux, utx / scale, uT / scale, uw)

    def value_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        return _bgnbd_value_grad(params, data)

    mean_x = float(uw @ ux) / n
    mean_T = float(uw @ (uT / scale)) / n
    start = np.log(np.array([1.0, max(mean_T / max(mean_x, 1e-3), 1e-3), 1.0, 1.0]))
    theta, cov, info = _maximise(value_grad, start, BGNBD_PARAMS, "BG/NBD", unbounded_pair=(2, 3))
    params = np.exp(theta)
    params[1] *= scale                                         # α back in the data's time unit
    cov[1, :] *= scale
    cov[:, 1] *= scale
    with np.errstate(all="ignore"):
        ll = _bgnbd_value_grad(params, _BGNBDData(ux, utx, uT, uw), False)[0]
    se = {name: _se(cov, i) for i, name in enumerate(BGNBD_PARAMS)}
    notes = list(info["notes"])
    if info["degenerate"]:
        notes.append(_note(gettext_noop("a and b are very large: the data show the same drop-out probability "
                                           "for every customer (about %(p)s after each purchase), so a and b "
                                           "have no meaningful standard errors; the predictions stand."),
                              p=f"{params[2] / (params[2] + params[3]):.3f}"))
    return BGNBDFit(r=float(params[0]), alpha=float(params[1]), a=float(params[2]), b=float(params[3]),
                    se=se, covariance=cov, log_likelihood=float(ll), n_customers=n, n_distinct=int(ux.size),
                    warnings=notes, **_info_fields(info))


def _info_fields(info: dict) -> dict[str, Any]:
    return {"converged": info["converged"], "iterations": info["iterations"],
            "evaluations": info["evaluations"], "message": info["message"]}


def _se(cov: np.ndarray, i: int) -> float:
    v = float(cov[i, i])
    return math.sqrt(v) if math.isfinite(v) and v > 0 else math.nan


# --------------------------------------------------------------------------------------------------
# Gamma-Gamma


class _GGData:
    def __init__(self, x: np.ndarray, z: np.ndarray, w: np.ndarray) -> None:
        self.x, self.z, self.w = x, z, w
        self.n = float(w.sum())
        self.ux, xi = np.unique(x, return_inverse=True)
        self.wx = np.bincount(xi, weights=w, minlength=self.ux.size)
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


def _check_spend(frequency: Any, monetary_value: Any, weights: Any = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = _array(frequency, "frequency")
    z = _array(monetary_value, "monetary_value")
    n = _same_length(frequency=x, monetary_value=z)
    w = _weights(weights, n)
    if (x < 0).any():
        raise ModelError(gettext_noop("%(name)s must not be negative (row %(row)d is %(value)s)."),
                         name="frequency", row=_first(x < 0), value=f"{x[x < 0][0]:g}")
    fractional = np.abs(x - np.round(x)) > _INTEGER_TOL
    if fractional.any():
        raise ModelError(gettext_noop("frequency counts repeat purchases and must be a whole number (row "
                                      "%(row)d is %(value)s)."), row=_first(fractional),
                         value=f"{x[fractional][0]:g}")
    return np.round(x), z, w


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


@dataclass(frozen=True, eq=False)
class GammaGammaFit:
    """A fitted Gamma-Gamma spend model: p, q, γ (in the data's currency), errors and fit details."""

    p: float
    q: float
    gamma: float
    se: dict[str, float]
    covariance: np.ndarray
    log_likelihood: float
    n_customers: float                 # repeat buyers the fit used
    n_excluded: int                    # rows left out (no repeat purchase)
    frequency_spend_correlation: float
    converged: bool
    iterations: int
    evaluations: int
    message: str
    n_zero_spend: int = 0              # repeat buyers with spend 0, left out of the fit (in n_excluded)
    warnings: list[dict[str, Any]] = field(default_factory=list)   # {"template", "params", "message"}
    first_zero_spend: int | None = None  # the row (1-based) of the first of them

    @property
    def params(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "gamma": self.gamma}

    @property
    def population_mean_spend(self) -> float:
        """E[M] = pγ/(q−1) for a customer with no history; infinite (NaN here) when q ≤ 1."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": "gamma_gamma", "params": self.params, "se": dict(self.se),
            "log_likelihood": self.log_likelihood, "n_customers": _count(self.n_customers),
            "n_excluded": self.n_excluded, "n_zero_spend": self.n_zero_spend,
            "population_mean_spend": _finite(self.population_mean_spend),
            "frequency_spend_correlation": _finite(self.frequency_spend_correlation),
            "converged": self.converged, "iterations": self.iterations, "evaluations": self.evaluations,
            "message": self.message, "covariance": [[_finite(v) for v in row] for row in self.covariance.tolist()],
        }

    def conditional_expected_spend(self, frequency: Any, monetary_value: Any) -> np.ndarray:
        """E[M | x, z̄] = p(γ + x·z̄)/(px + q − 1); customers with x = 0, or whose repeat purchases had
        spend 0 (left out of the fit), get the population mean."""
        x, z, _ = _check_spend(frequency, monetary_value)
        with np.errstate(all="ignore"):
            own = self.p * (self.gamma + x * z) / (self.p * x + self.q - 1)
        return np.where((x > 0) & (z > 0), own, self.population_mean_spend)


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

    theta, cov, info = _maximise(value_grad, np.zeros(3), GG_PARAMS, "Gamma-Gamma")
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


# --------------------------------------------------------------------------------------------------
# Lifetime value


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


@dataclass(frozen=True, eq=False)
class CLVResult:
    """Fits and per-customer predictions, aligned with the input rows.

    ``gamma_gamma`` is ``None`` (and ``expected_spend``/``clv`` are ``None``) when no spend was given, or
    when the spend model could not be fitted — ``notes`` then says why."""

    bgnbd: BGNBDFit
    gamma_gamma: GammaGammaFit | None
    horizon: float                          # in model time units
    expected_transactions: np.ndarray
    p_alive: np.ndarray
    expected_spend: np.ndarray | None
    clv: np.ndarray | None
    notes: list[dict[str, Any]] = field(default_factory=list)   # {"template", "params", "message"}


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


def _note(template: str, **params: Any) -> dict[str, Any]:
    return {"template": template, "params": params, "message": template % params}


# --------------------------------------------------------------------------------------------------
# From a transaction log to the RFM summary


@dataclass(frozen=True, eq=False)
class RFMSummary:
    """Per-customer calibration summary (sorted by customer id) built by :func:`rfm_summary`."""

    customers: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    monetary_value: np.ndarray | None          # mean value of the repeat periods; 0 when frequency is 0
    holdout_frequency: np.ndarray | None       # periods with a purchase after calibration_end
    holdout_length: float                      # in units; 0 when there is no hold-out period
    period: str
    unit: str
    calibration_end: dt.date
    observation_end: dt.date
    n_transactions: int                        # rows of the log up to observation_end
    n_late: int                                # customers first seen after calibration_end (left out)


def _buckets(days: np.ndarray, period: str) -> np.ndarray:
    """Period index of each date (days since 1970-01-01): days, Monday-based weeks, or calendar months."""
    if period == "day":
        return days
    if period == "week":
        return (days + 3) // 7                 # 1970-01-01 was a Thursday
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return months


def rfm_summary(customers: Any, dates: Any, amounts: Any = None, *, period: str = "day", unit: str = "week",
                calibration_end: dt.date | str | None = None, observation_end: dt.date | str | None = None
                ) -> RFMSummary:
    """The RFM summary of a transaction log, as ``lifetimes.utils.summary_data_from_transaction_data``.

    Purchases are collected into periods (``period``: day, week — Monday to Sunday — or calendar month;
    several purchases in one period count once and their amounts add up). Per customer, over the
    calibration period (up to and including ``calibration_end``, default the last date):

    * frequency = number of periods with a purchase, minus the first;
    * recency = time from the first to the last such period, T = from the first period to the period of
      ``calibration_end``, both in ``unit`` (day, week = 7 days, month = 365.25/12 days, or calendar months
      when period and unit are both ``month``);
    * monetary_value = mean amount of the repeat periods (0 without repeat purchases);
    * holdout_frequency = periods with a purchase after ``calibration_end`` up to ``observation_end``.

    Customers whose first purchase falls after ``calibration_end`` are left out (counted in ``n_late``)."""
    if period not in DAYS_PER_UNIT or unit not in DAYS_PER_UNIT:
        raise ModelError(gettext_noop("period and unit must each be one of day, week or month."))
    ids = np.asarray(customers)
    try:
        when = np.asarray(dates, dtype="datetime64[D]")
    except (TypeError, ValueError):
        raise ModelError(gettext_noop("The dates must be calendar dates.")) from None
    if ids.ndim != 1 or when.ndim != 1 or ids.size != when.size:
        raise ModelError(gettext_noop("Customers and dates must be two lists of the same length."))
    if np.isnat(when).any():
        raise ModelError(gettext_noop("%(count)d transactions have no date (the first at row %(row)d)."),
                         count=int(np.isnat(when).sum()), row=_first(np.isnat(when)))
    value = None if amounts is None else _array(amounts, "amount")
    if value is not None and value.size != ids.size:
        raise ModelError(gettext_noop("Each transaction needs one amount."))
    if ids.size == 0:
        raise ModelError(gettext_noop("The transaction log is empty."))
    days = when.astype(np.int64)
    last = dt.date(1970, 1, 1) + dt.timedelta(days=int(days.max()))
    cal_end = _as_date(calibration_end) if calibration_end is not None else last
    obs_end = _as_date(observation_end) if observation_end is not None else max(last, cal_end)
    if obs_end < cal_end:
        raise ModelError(gettext_noop("The observation end (%(obs)s) is before the calibration end (%(cal)s)."),
                         obs=obs_end.isoformat(), cal=cal_end.isoformat())
    epoch = dt.date(1970, 1, 1)
    cal_day = (cal_end - epoch).days
    obs_day = (obs_end - epoch).days
    inside = days <= obs_day
    ids, days = ids[inside], days[inside]
    value = value[inside] if value is not None else None
    uid, cust = np.unique(ids, return_inverse=True)
    cust = cust.reshape(-1)
    bucket = _buckets(days, period)
    cal_bucket = int(_buckets(np.array([cal_day]), period)[0])
    obs_bucket = int(_buckets(np.array([obs_day]), period)[0])
    # distinct (customer, bucket) pairs, with the amount spent in each
    span = int(bucket.max() - bucket.min()) + 1
    key = cust.astype(np.int64) * span + (bucket - bucket.min())
    upair, pair_inv = np.unique(key, return_inverse=True)
    pair_cust = upair // span
    pair_bucket = upair % span + bucket.min()
    pair_amount = np.bincount(pair_inv.reshape(-1), weights=value, minlength=upair.size) if value is not None else None
    calib = pair_bucket <= cal_bucket
    n_cust = uid.size
    counts = np.bincount(pair_cust[calib], minlength=n_cust)
    first = np.full(n_cust, np.iinfo(np.int64).max)
    np.minimum.at(first, pair_cust[calib], pair_bucket[calib])
    lastb = np.full(n_cust, np.iinfo(np.int64).min)
    np.maximum.at(lastb, pair_cust[calib], pair_bucket[calib])
    seen = counts > 0
    ratio = DAYS_PER_UNIT[period] / DAYS_PER_UNIT[unit] if period != unit else 1.0
    frequency = (counts - 1)[seen].astype(np.float64)
    recency = (lastb - first)[seen] * ratio
    age = (cal_bucket - first)[seen] * ratio
    monetary = None
    if pair_amount is not None:
        total = np.bincount(pair_cust[calib], weights=pair_amount[calib], minlength=n_cust)
        first_amount = np.zeros(n_cust)
        is_first = calib & (pair_bucket == first[pair_cust])
        first_amount[pair_cust[is_first]] = pair_amount[is_first]
        repeat_total = (total - first_amount)[seen]
        with np.errstate(invalid="ignore", divide="ignore"):
            monetary = np.where(frequency > 0, repeat_total / np.maximum(frequency, 1), 0.0)
    holdout = None
    holdout_length = (obs_bucket - cal_bucket) * ratio
    if obs_bucket > cal_bucket:
        later = ~calib
        holdout = np.bincount(pair_cust[later], minlength=n_cust)[seen].astype(np.float64)
    return RFMSummary(customers=uid[seen], frequency=frequency, recency=recency, T=age, monetary_value=monetary,
                      holdout_frequency=holdout, holdout_length=float(holdout_length), period=period, unit=unit,
                      calibration_end=cal_end, observation_end=obs_end, n_transactions=int(ids.size),
                      n_late=int((~seen).sum()))


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ModelError(gettext_noop("%(value)s is not a date (use YYYY-MM-DD)."), value=repr(text))
