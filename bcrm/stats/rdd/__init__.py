"""What the dedicated tier achieves: a regression discontinuity at the value line.

Pure NumPy/SciPy (no Django). The value dimension draws a line (the threshold θ) through the clients'
scores; clients at or above it are high-value and, by the tier policy, get the dedicated tier. If nothing
else changes at the line, clients just above and just below it are alike but for the tier, so the jump
of an outcome (satisfaction, later commitments) at the line estimates the effect of the dedicated tier
*for clients near the line*. :func:`before_after` is the second view (clients who migrated, measured
twice) and :func:`binned_means` the points of the RD plot.

Estimator
---------
:func:`estimate` fits a straight line on each side of θ to the clients within the bandwidth h, by
weighted least squares with kernel weights K((x − θ)/h) (triangular by default), and reports

    effect = α̂₊ − α̂₋        (the two fitted lines' values at θ)

When not everybody above the line gets the dedicated tier, or some below it do (the tier policy reads
other dimensions too; overrides and hysteresis blur the line), pass ``treated`` for the fuzzy design:
the jump of the outcome is divided by the jump of the share served (see :func:`estimate`).

The standard error is heteroskedasticity-robust (HC1) from the interacted regression
y = α₋ + τ·D + β₋(x − θ) + (β₊ − β₋)·D·(x − θ), D = 1[x ≥ θ], estimated by WLS (k = 4 coefficients):

    V = n/(n − k) · (X′WX)⁻¹ (Σᵢ wᵢ² êᵢ² xᵢxᵢ′) (X′WX)⁻¹,     se(τ̂) = √V_ττ

with n the clients of positive weight. The interval is normal, τ̂ ± z₁₋α/₂·se, and the p-value two-sided.
The design is block-diagonal (the sides share no coefficient), so this is computed side by side.

The interval is the conventional one: it ignores the smoothing bias of the local linear fit. Where the
outcome is straight near the line it covers the truth at the nominal rate (94 % of 95 % intervals in
the tests' simulations); where the curvature changes at the line it covers a little less (about 90 % in
a simulation with a curvature jump of 3). Calonico, Cattaneo & Titiunik's robust bias-corrected interval
would be the remedy if that ever matters more than simplicity.

Bandwidth (Imbens & Kalyanaraman 2012, "Optimal bandwidth choice for the regression discontinuity
estimator", Review of Economic Studies 79(3), 933–959, section 4.2)
------------------------------------------------------------------------------------------------
With N clients, N₋/N₊ of them below/above the line and S_X the standard deviation of the scores:

1. *Density and conditional variances at θ.* Pilot h₁ = 1.84·S_X·N^(−1/5); N_{h₁,±} clients within h₁
   on each side; f̂(θ) = (N_{h₁,−} + N_{h₁,+}) / (2·N·h₁); σ̂²₋(θ), σ̂²₊(θ) the sample variances (ddof 1)
   of the outcome within h₁ on each side.
2. *Second derivatives.* A global cubic with a jump, y = γ₀ + γ₁D + γ₂(x−θ) + γ₃(x−θ)² + γ₄(x−θ)³,
   gives m̂₃ = 6γ̂₄; pilot bandwidths h₂,± = 3.56·(σ̂²±(θ) / (f̂(θ)·m̂₃²))^(1/7)·N±^(−1/7); a quadratic
   fitted on each side within h₂,± gives m̂₂,± = 2·(its quadratic coefficient).
3. *Regularisation and the bandwidth.* r̂± = 2160·σ̂²±(θ) / (N₂,±·h₂,±⁴) (N₂,± clients within h₂,±), and

       ĥ = C_K · ( (σ̂²₋(θ) + σ̂²₊(θ)) / ( f̂(θ)·((m̂₂,₊ − m̂₂,₋)² + r̂₊ + r̂₋) ) )^(1/5) · N^(−1/5)

   with C_K = 3.4375 (triangular), 2.7020 (uniform), 3.1999 (Epanechnikov) — (C₂/(4C₁))^(1/5) from the
   kernel's moments in their eq. (5).

The regularisation keeps ĥ finite when the curvatures on both sides agree. In the fuzzy design the
outcome's bandwidth serves both jumps. Degenerate steps are handled so the bandwidth is always positive
and finite:

* m̂₃ = 0 or h₂,± wider than the data on that side → the whole side fits the quadratic (what an infinite
  h₂ means); likewise when fewer than 3 distinct scores lie within h₂,±;
* fewer than 2 clients within h₁ on a side, a constant outcome near the line, fewer than 3 distinct
  scores on a whole side, or a non-finite ĥ → the rule-of-thumb pilot h₁ itself, and ``notes`` says
  which step failed.

Every result carries ``notes``: plain English sentences a page can show as they are; ``note_details``
hold the same as ``{"template", "params", "message"}`` so a door can translate them:
``gettext(note["template"]) % note["params"]``.
"""

from bcrm.stats.rdd.bandwidth import Bandwidth, ik_bandwidth
from bcrm.stats.rdd.discontinuity import MIN_FIRST_STAGE_F, RDResult, estimate
from bcrm.stats.rdd.inputs import (
    EFFECT,
    IK_CONSTANT,
    KERNELS,
    MIN_PAIRS,
    NO_DETECTABLE_EFFECT,
    TOO_FEW,
    kernel_weights,
)
from bcrm.stats.rdd.paired import PairedResult, before_after
from bcrm.stats.rdd.plot import BinnedMeans, binned_means

# The package's public names; its modules: inputs (kernels, verdicts, input checks), bandwidth (IK), discontinuity
# (the estimate), paired (clients who migrated, before and after), plot (binned means for the RD plot).
__all__ = [
    "KERNELS", "Bandwidth", "BinnedMeans", "PairedResult", "RDResult",
    "before_after", "binned_means", "estimate", "ik_bandwidth", "kernel_weights", "IK_CONSTANT", "EFFECT",
    "NO_DETECTABLE_EFFECT", "TOO_FEW", "MIN_PAIRS", "MIN_FIRST_STAGE_F",
]
