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

from bcrm.stats.clv.data import DAYS_PER_UNIT, MIN_CUSTOMERS, UNITS_PER_MONTH, check_rfm, group_rows
from bcrm.stats.clv.fit import BGNBD_PARAMS, GG_PARAMS, fit_bgnbd, fit_gamma_gamma
from bcrm.stats.clv.likelihood import (
    bgnbd_log_likelihood,
    bgnbd_log_likelihood_gradient,
    gamma_gamma_log_likelihood,
    gamma_gamma_log_likelihood_gradient,
)
from bcrm.stats.clv.results import BGNBDFit, CLVResult, GammaGammaFit
from bcrm.stats.clv.summary import RFMSummary, rfm_summary
from bcrm.stats.clv.value import customer_lifetime_value, predict_clv

# The package's public names; its modules: data (input checks, grouping of identical rows), likelihood (both
# models' log-likelihoods and gradients), optimiser (maximum likelihood in log space and its guards), fit,
# expectations (the BG/NBD's per-customer predictions), value (lifetime value; both models at once), results
# (the fitted models), summary (from a transaction log to the RFM summary).
__all__ = [
    "UNITS_PER_MONTH", "DAYS_PER_UNIT", "MIN_CUSTOMERS", "BGNBDFit", "GammaGammaFit", "RFMSummary", "CLVResult",
    "fit_bgnbd", "fit_gamma_gamma", "bgnbd_log_likelihood", "bgnbd_log_likelihood_gradient",
    "gamma_gamma_log_likelihood", "gamma_gamma_log_likelihood_gradient", "customer_lifetime_value",
    "rfm_summary", "predict_clv", "group_rows", "check_rfm", "BGNBD_PARAMS", "GG_PARAMS",
]
