"""The fitted models and the combined result: parameters, standard errors, fit details, and the methods that
predict from them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bcrm.stats import ModelError, gettext_noop
from bcrm.stats.clv.data import _array, _check_spend, check_rfm, group_rows
from bcrm.stats.clv.expectations import (
    _expected_conditional,
    _expected_counts,
    _expected_given_alive,
    _horizon,
    _p_alive,
)


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
    search_status: str = "converged"        # how the quasi-Newton search ended (optimiser.SEARCH_STATUSES)
    newton_steps: int = 0                   # Newton steps of the polish after it
    gradient_norm: float = 0.0              # largest |gradient| at the end, relative to the log-likelihood

    @property
    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> BGNBDFit:
        """A fit kept from earlier (its ``params`` only): predicts exactly as the fit that found them; it has no
        standard errors or log-likelihood of its own (NaN)."""
        r, alpha, a, b = _positive_params(params, ("r", "alpha", "a", "b"))
        return cls(r=r, alpha=alpha, a=a, b=b, se={}, covariance=np.full((4, 4), np.nan), log_likelihood=math.nan,
                   n_customers=0, n_distinct=0, converged=True, iterations=0, evaluations=0, message="kept")

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable summary (no arrays but the covariance as nested lists)."""
        return {
            "model": "bgnbd", "params": self.params, "se": dict(self.se),
            "log_likelihood": self.log_likelihood, "n_customers": _count(self.n_customers),
            "n_distinct": self.n_distinct, "converged": self.converged, "iterations": self.iterations,
            "evaluations": self.evaluations, "message": self.message, "search_status": self.search_status,
            "newton_steps": self.newton_steps, "gradient_norm": self.gradient_norm,
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
        expected = _expected_counts(self.params, uT, counts.astype(np.float64), max_frequency)
        return np.append(expected, counts.sum() - expected.sum())


def _positive_params(params: dict[str, Any], names: tuple[str, ...]) -> list[float]:
    values = []
    for name in names:
        try:
            value = float(params[name])
        except (KeyError, TypeError, ValueError):
            raise ModelError(gettext_noop("The kept model has no valid parameter %(name)s."), name=name) from None
        if not math.isfinite(value) or value <= 0:
            raise ModelError(gettext_noop("The kept model has no valid parameter %(name)s."), name=name)
        values.append(value)
    return values


def _count(n: float) -> int | float:
    return int(n) if float(n).is_integer() else float(n)


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


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
    search_status: str = "converged"     # how the quasi-Newton search ended (optimiser.SEARCH_STATUSES)
    newton_steps: int = 0                # Newton steps of the polish after it
    gradient_norm: float = 0.0           # largest |gradient| at the end, relative to the log-likelihood

    @property
    def params(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "gamma": self.gamma}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GammaGammaFit:
        """A fit kept from earlier (its ``params`` only), as :meth:`BGNBDFit.from_params`."""
        p, q, gamma = _positive_params(params, ("p", "q", "gamma"))
        return cls(p=p, q=q, gamma=gamma, se={}, covariance=np.full((3, 3), np.nan), log_likelihood=math.nan, n_customers=0,
                   n_excluded=0, frequency_spend_correlation=math.nan, converged=True, iterations=0,
                   evaluations=0, message="kept")

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
            "message": self.message, "search_status": self.search_status, "newton_steps": self.newton_steps,
            "gradient_norm": self.gradient_norm, "covariance": [[_finite(v) for v in row] for row in self.covariance.tolist()],
        }

    def conditional_expected_spend(self, frequency: Any, monetary_value: Any) -> np.ndarray:
        """E[M | x, z̄] = p(γ + x·z̄)/(px + q − 1); customers with x = 0, or whose repeat purchases had
        spend 0 (left out of the fit), get the population mean."""
        x, z, _ = _check_spend(frequency, monetary_value)
        with np.errstate(all="ignore"):
            own = self.p * (self.gamma + x * z) / (self.p * x + self.q - 1)
        return np.where((x > 0) & (z > 0), own, self.population_mean_spend)


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
