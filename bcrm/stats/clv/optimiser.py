"""Maximum likelihood in log space, shared by both lifetime-value models (and the BG/BB model): L-BFGS-B,
Newton polish, covariance by the delta method, and the guards that refuse a fit the data do not identify."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import optimize

from bcrm.stats import ModelError, gettext_noop

#: Log-parameter bounds of the optimiser (after time/spend rescaling); an optimum on a bound means the
#: data do not identify the model.
_LOG_BOUND = 18.0
#: Above this log value both BG/NBD a and b count as "without bound" (Beta(a, b) is then a point mass).
_DEGENERATE = 9.0


#: How the quasi-Newton search ended, as a code the doors translate: it met its tolerance; its line search
#: could not improve the likelihood any further (L-BFGS-B's "ABNORMAL"); it ran out of iterations; else.
SEARCH_STATUSES = ("converged", "line_search", "iteration_limit", "stopped")


def _ftol(terms: int) -> float:
    """L-BFGS-B's relative tolerance on the (normalised) objective: what a sum of ``terms`` rounded terms can
    resolve, about eps*sqrt(terms), with a margin. Asking for less (it was 1e-15 whatever the size) makes the
    line search fail near the optimum of a large sample ("ABNORMAL"), where rounding hides any decrease."""
    return max(1e-15, 10.0 * float(np.finfo(np.float64).eps) * math.sqrt(max(terms, 1)))


def _search_status(res: Any) -> str:
    if res.success:
        return "converged"
    if "ABNORMAL" in str(res.message).upper():
        return "line_search"
    return "iteration_limit" if int(res.status) == 1 else "stopped"


def _maximise(value_grad, start: np.ndarray, names: Sequence[str], model: str,
              unbounded_pair: tuple[int, int] | None = None, terms: int = 1,
              value_grad_hess=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Maximise ``value_grad`` (natural params → (ll, grad)) over log-parameters.

    Returns (log θ, covariance of θ, info). L-BFGS-B with the analytic gradient, then Newton steps until
    the gradient vanishes to rounding; the Hessian gives the covariance. ``value_grad_hess`` (natural
    params → (ll, grad, Hessian)) gives the exact Hessian, evaluated at every Newton point and so at the
    final one; without it the Hessian is a central difference of the gradient (eight evaluations for four
    parameters), recomputed after a step longer than 1e-4. Raises :class:`ModelError` when a parameter
    runs to its bound or the gradient does not vanish.

    ``unbounded_pair``: two parameters that may legitimately grow together without bound (the BG/NBD's a
    and b when the drop-out probability is the same for everyone): then the fit is accepted, their
    gradient is not checked and ``info["degenerate"]`` is set. ``terms``: how many rows the log-likelihood
    sums (it sets the tolerance the search can meet, see :func:`_ftol`).

    ``info["search_status"]`` (one of :data:`SEARCH_STATUSES`) and ``info["message"]`` say how the
    quasi-Newton search ended, ``info["newton_steps"]`` and ``info["gradient_norm"]`` what the polish did;
    ``converged`` means the gradient vanished at the end, whatever the search reported."""
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
                            options={"maxiter": 2000, "ftol": _ftol(terms), "gtol": 1e-10, "maxcor": 20})
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
    if value_grad_hess is not None:
        ll, glog, hess = _value_grad_hess_log(value_grad_hess, theta)
    else:
        ll, glog = _value_grad_log(value_grad, theta)
        hess = _hessian_log(value_grad, theta)
    newton_steps = 0
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
        if value_grad_hess is not None:
            ll_new, g_new, h_new = _value_grad_hess_log(value_grad_hess, candidate)
        else:
            ll_new, g_new = _value_grad_log(value_grad, candidate)
        if not (math.isfinite(ll_new) and ll_new >= ll - 1e-12 * scale):
            break
        theta, ll, glog = candidate, ll_new, g_new
        newton_steps += 1
        if value_grad_hess is not None:
            hess = h_new
        elif float(np.max(np.abs(step))) > 1e-4:
            hess = _hessian_log(value_grad, theta)
    gnorm = float(np.max(np.abs(glog[free]))) / scale
    cov = _covariance(hess, theta)
    # A free parameter whose standard error in log space exceeds the whole allowed range (±_LOG_BOUND) is not
    # identified either: its likelihood is flat to rounding along some direction. (A central-difference
    # Hessian there is noise and usually not even negative definite; the exact one is, but barely.)
    with np.errstate(all="ignore"):
        log_variance = np.diag(cov) / np.exp(2 * theta)
    flat = bool(np.any(log_variance[free] > _LOG_BOUND**2))
    if not math.isfinite(ll) or gnorm > 1e-5 or flat or not (degenerate or np.all(np.isfinite(cov))):
        raise ModelError(gettext_noop("The %(model)s fit did not converge: the likelihood has no clear maximum, "
                                      "so the data do not identify the model (too few customers, or too "
                                      "little variation)."), model=model)
    status = _search_status(res)
    info = {"converged": True, "iterations": int(res.nit), "evaluations": evaluations,
            "message": str(res.message), "search_status": status, "newton_steps": newton_steps,
            "gradient_norm": gnorm, "degenerate": degenerate,
            "notes": [] if status == "converged" else [_search_note(status, model, gnorm, str(res.message))]}
    return theta, cov, info


def _search_note(status: str, model: str, gradient: float, message: str) -> dict[str, Any]:
    """What the search did, in words; the estimates stand (the gradient check after the polish passed)."""
    params = {"model": model, "message": message.strip() or status, "gradient": f"{gradient:.1e}"}
    if status == "line_search":
        return _note(gettext_noop("The %(model)s fit's quasi-Newton search (L-BFGS-B) ended early: its line search "
                                  "could not improve the likelihood any further (%(message)s). Newton steps then "
                                  "brought the gradient to %(gradient)s, so the estimates are at the maximum."),
                     **params)
    if status == "iteration_limit":
        return _note(gettext_noop("The %(model)s fit's quasi-Newton search (L-BFGS-B) ended early: it reached its "
                                  "iteration limit (%(message)s). Newton steps then brought the gradient to "
                                  "%(gradient)s, so the estimates are at the maximum."), **params)
    return _note(gettext_noop("The %(model)s fit's quasi-Newton search (L-BFGS-B) ended early: it stopped before "
                              "meeting its tolerance (%(message)s). Newton steps then brought the gradient to "
                              "%(gradient)s, so the estimates are at the maximum."), **params)


def _value_grad_log(value_grad, theta: np.ndarray) -> tuple[float, np.ndarray]:
    params = np.exp(theta)
    with np.errstate(all="ignore"):
        ll, grad = value_grad(params)
    return float(ll), grad * params


def _value_grad_hess_log(value_grad_hess, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, gradient and Hessian in log-parameter space from the natural ones (θ = e^φ):
    ∂²ℓ/∂φi∂φj = θi θj ∂²ℓ/∂θi∂θj + δij θi ∂ℓ/∂θi."""
    params = np.exp(theta)
    with np.errstate(all="ignore"):
        ll, grad, hess = value_grad_hess(params)
    glog = grad * params
    return float(ll), glog, hess * np.outer(params, params) + np.diag(glog)


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


def _info_fields(info: dict) -> dict[str, Any]:
    return {"converged": info["converged"], "iterations": info["iterations"],
            "evaluations": info["evaluations"], "message": info["message"], "search_status": info["search_status"],
            "newton_steps": info["newton_steps"], "gradient_norm": info["gradient_norm"]}


def _se(cov: np.ndarray, i: int) -> float:
    v = float(cov[i, i])
    return math.sqrt(v) if math.isfinite(v) and v > 0 else math.nan


def _note(template: str, **params: Any) -> dict[str, Any]:
    return {"template": template, "params": params, "message": template % params}
