"""The beta-geometric/beta-binomial (BG/BB) model of discrete-time repeat business.

Many financing relationships recur at fixed opportunities — an annual bond programme, a yearly fund close,
a semi-annual refinancing window — where a continuous-time model such as the BG/NBD is the wrong tool. The
BG/BB (Fader, Hardie & Shang 2010, "Customer-Base Analysis in a Discrete-Time Noncontractual Setting",
Marketing Science 29(6)) describes a client who, at each of ``n`` opportunities,

* while "alive" transacts with probability p, p ~ Beta(α, β) across clients, and
* after each opportunity dies (for good) with probability θ, θ ~ Beta(γ, δ) across clients.

A client's history is (x, t_x, n): the number of opportunities with a transaction, the last one that had a
transaction (0 when none) and the number of opportunities observed. Clients with the same history are
compressed into one row with a weight (a count), as the paper's data are published; the fit is by maximum
likelihood on the weighted rows.

Pure NumPy/SciPy; the maximiser, its convergence guards and the standard errors are the ones the
lifetime-value models use (:func:`bcrm.stats.clv.optimiser._maximise`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.utils.translation import gettext_noop
from scipy.special import betaln, gammaln

from bcrm.stats import ModelError
from bcrm.stats.clv.data import MIN_CUSTOMERS, _array
from bcrm.stats.clv.optimiser import _maximise, _se

PARAMS = ("alpha", "beta", "gamma", "delta")
#: Opportunities one history may span: the likelihood sums over the opportunities after the last
#: transaction, so a longer history costs more; a thousand is far beyond any financing calendar.
MAX_OPPORTUNITIES = 1000


def _ints(values: Any, name: str) -> np.ndarray:
    arr = _array(values, name)          # numbers, one flat list, no missing or infinite value
    if (arr < 0).any():
        raise ModelError(gettext_noop("%(name)s must not be negative (row %(row)d is %(value)s)."),
                         name=name, row=int(np.argmax(arr < 0)) + 1, value=f"{arr[arr < 0][0]:g}")
    fractional = np.abs(arr - np.round(arr)) > 1e-9
    if fractional.any():
        raise ModelError(gettext_noop("%(name)s counts opportunities and must be a whole number (row %(row)d is "
                                      "%(value)s)."), name=name, row=int(np.argmax(fractional)) + 1,
                         value=f"{arr[fractional][0]:g}")
    return np.round(arr).astype(np.int64)


def check_histories(frequency: Any, recency: Any, periods: Any, weights: Any = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, n, weights) as arrays, or :class:`ModelError` naming the first bad row: whole numbers,
    0 ≤ x ≤ t_x ≤ n, t_x = 0 exactly when x = 0, x ≥ 1 implies t_x ≥ x, weights ≥ 0."""
    x, tx, n = _ints(frequency, "frequency"), _ints(recency, "recency"), _ints(periods, "periods")
    if not (x.size == tx.size == n.size):
        raise ModelError(gettext_noop("frequency, recency and periods have different lengths (%(sizes)s)."),
                         sizes=f"{x.size}, {tx.size}, {n.size}")
    if weights is None:
        w = np.ones(x.size)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != x.shape or not np.all(np.isfinite(w)) or (w < 0).any():
            raise ModelError(gettext_noop("The weights must be one count of 0 or more per row."))
    checks = (
        (tx > n, gettext_noop("Row %(row)d: the last opportunity with a transaction (recency) cannot be after "
                              "the last one observed (periods).")),
        (x > tx, gettext_noop("Row %(row)d: frequency cannot exceed recency (x transactions need at least x "
                              "opportunities, the last of them at recency).")),
        ((x == 0) != (tx == 0), gettext_noop("Row %(row)d: recency is 0 exactly when there is no transaction "
                                             "(frequency 0).")),
        (n > MAX_OPPORTUNITIES, gettext_noop("Row %(row)d has more opportunities than the model takes.")),
    )
    for bad, template in checks:
        if bad.any():
            raise ModelError(template, row=int(np.argmax(bad)) + 1)
    return x, tx, n, w


def _log_likelihood_rows(params: np.ndarray, x: np.ndarray, tx: np.ndarray, n: np.ndarray) -> np.ndarray:
    """ln L(α, β, γ, δ | x, t_x, n) for each row (Fader, Hardie & Shang 2010, eq. 5)."""
    alpha, beta, gamma, delta = params
    base_p = betaln(alpha, beta)
    base_t = betaln(gamma, delta)
    # alive through all n opportunities
    terms = [betaln(alpha + x, beta + n - x) - base_p + betaln(gamma, delta + n) - base_t]
    # or died after opportunity t_x + i, i = 0 … n − t_x − 1
    gap = n - tx
    width = int(gap.max()) if gap.size else 0
    if width > 0:
        i = np.arange(width)[None, :]
        mask = i < gap[:, None]
        with np.errstate(invalid="ignore"):
            dead = (betaln(alpha + x[:, None], beta + tx[:, None] - x[:, None] + i) - base_p
                    + betaln(gamma + 1, delta + tx[:, None] + i) - base_t)
        dead = np.where(mask, dead, -np.inf)
        terms.append(np.logaddexp.reduce(dead, axis=1))
    return np.logaddexp.reduce(np.vstack(terms), axis=0)


def log_likelihood(params: Any, frequency: Any, recency: Any, periods: Any, *, weights: Any = None) -> float:
    """The weighted log-likelihood of the BG/BB at ``params`` (α, β, γ, δ)."""
    x, tx, n, w = check_histories(frequency, recency, periods, weights)
    return float(np.dot(w, _log_likelihood_rows(np.asarray(params, dtype=np.float64), x, tx, n)))


@dataclass(frozen=True, eq=False)
class BGBBFit:
    """A fitted BG/BB model."""

    alpha: float
    beta: float
    gamma: float
    delta: float
    se: dict[str, float]
    covariance: np.ndarray
    log_likelihood: float
    n_customers: float
    converged: bool
    iterations: int

    @property
    def params(self) -> dict[str, float]:
        return {"alpha": self.alpha, "beta": self.beta, "gamma": self.gamma, "delta": self.delta}

    def _vector(self) -> np.ndarray:
        return np.array([self.alpha, self.beta, self.gamma, self.delta])

    def p_alive(self, frequency: Any, recency: Any, periods: Any) -> np.ndarray:
        """P(alive at opportunity n + 1 | x, t_x, n) (eq. 11)."""
        x, tx, n, _ = check_histories(frequency, recency, periods)
        a, b, g, d = self._vector()
        alive = betaln(a + x, b + n - x) - betaln(a, b) + betaln(g, d + n + 1) - betaln(g, d)
        return np.exp(alive - _log_likelihood_rows(self._vector(), x, tx, n))

    def expected_transactions(self, horizon: int, frequency: Any, recency: Any, periods: Any) -> np.ndarray:
        """Expected transactions in the next ``horizon`` opportunities, n + 1 … n + horizon, given the
        history (eq. 13)."""
        if not isinstance(horizon, int | np.integer) or horizon < 0:
            raise ModelError(gettext_noop("The horizon must be a whole number of opportunities, 0 or more."))
        x, tx, n, _ = check_histories(frequency, recency, periods)
        a, b, g, d = self._vector()
        ll = _log_likelihood_rows(self._vector(), x, tx, n)
        lead = np.exp(betaln(a + x + 1, b + n - x) - betaln(a, b) - ll)
        if abs(g - 1) < 1e-12:
            raise ModelError(gettext_noop("γ = 1: the expected number of transactions has no closed form here."))
        scale = d / (g - 1) * np.exp(gammaln(g + d) - gammaln(1 + d))
        tail = np.exp(gammaln(1 + d + n) - gammaln(g + d + n)) - \
            np.exp(gammaln(1 + d + n + horizon) - gammaln(g + d + n + horizon))
        return lead * scale * tail

    def as_dict(self) -> dict[str, Any]:
        return {"model": "bgbb", "params": self.params, "se": dict(self.se), "log_likelihood": self.log_likelihood,
                "n_customers": self.n_customers, "converged": self.converged, "iterations": self.iterations}


def fit_bgbb(frequency: Any, recency: Any, periods: Any, *, weights: Any = None) -> BGBBFit:
    """Fit the BG/BB by maximum likelihood on (x, t_x, n) histories, each row weighted by ``weights`` (the
    number of clients with that history; 1 each by default). Raises :class:`ModelError` on bad input,
    fewer than :data:`MIN_CUSTOMERS` clients, no transaction at all, or a fit that does not converge."""
    x, tx, n, w = check_histories(frequency, recency, periods, weights)
    total = float(w.sum())
    if total < MIN_CUSTOMERS:
        raise ModelError(gettext_noop("Too few customers to fit the BG/BB model: %(n)s, at least %(min)d are "
                                      "needed."), n=f"{total:g}", min=MIN_CUSTOMERS)
    if not (x[w > 0] > 0).any():
        raise ModelError(gettext_noop("No customer made a transaction: the BG/BB model needs some."))
    keep = w > 0
    x, tx, n, w = x[keep], tx[keep], n[keep], w[keep]

    def value(params: np.ndarray) -> float:
        return float(np.dot(w, _log_likelihood_rows(params, x, tx, n)))

    def value_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        ll = value(params)
        grad = np.empty(4)
        for k in range(4):                       # central differences in log space, mapped back
            step = 1e-6 * params[k]
            up, down = params.copy(), params.copy()
            up[k] += step
            down[k] -= step
            grad[k] = (value(up) - value(down)) / (2 * step)
        return ll, grad

    theta, cov, info = _maximise(value_grad, np.zeros(4), PARAMS, "BG/BB")
    params = np.exp(theta)
    se = {name: _se(cov, i) for i, name in enumerate(PARAMS)}
    return BGBBFit(alpha=float(params[0]), beta=float(params[1]), gamma=float(params[2]), delta=float(params[3]),
                   se=se, covariance=cov, log_likelihood=value(params), n_customers=total,
                   converged=bool(info["converged"]), iterations=int(info["iterations"]))


def expected_transactions_unconditional(fit: BGBBFit, periods: int) -> float:
    """E[X(n)]: expected transactions of a new client over its first ``periods`` opportunities (eq. 7)."""
    a, b, g, d = fit._vector()
    if abs(g - 1) < 1e-12:
        raise ModelError(gettext_noop("γ = 1: the expected number of transactions has no closed form here."))
    return float(a / (a + b) * d / (g - 1)
                 * (1 - math.exp(gammaln(g + d) - gammaln(1 + d) + gammaln(1 + d + periods) - gammaln(g + d + periods))))
