"""Credit-risk scorecards for the risk dimension: a fitted one and an expert one.

Pure Python/NumPy (no Django). Higher points always mean **lower risk**.

Fitted scorecard (:func:`fit_scorecard`)
----------------------------------------
Where labelled outcomes exist (``y`` = 1 for a default / bad outcome, 0 for good):

1. each variable is binned by optbinning's :class:`~optbinning.OptimalBinning` (optimal binning against
   the target: numerical variables in intervals with a monotone or peaked event rate, categorical ones in
   groups of categories; adjacent bins must differ significantly, p < 0.05 — :data:`DEFAULT_BINNING`,
   overridable with ``binning_options``); **a missing value is its own bin** (optbinning's ``Missing`` bin, with its own
   weight of evidence learnt from the training rows; when no training row was missing its WoE is 0, i.e.
   neutral), and a category never seen in training gets WoE 0;
2. each value is replaced by the weight of evidence (WoE) of its bin — optbinning's convention,
   WoE = ln(share of goods in the bin / share of bads in the bin), so a positive WoE means safer than
   average — and the information value (IV) of each variable is reported; constant variables are dropped
   with a note, and so are variables whose IV is below ``min_iv`` (0.02 by default, the usual "not
   predictive" line);
3. a logistic regression (scikit-learn, L2 penalty ``C``) on the WoE columns gives
   logit P(bad) = β₀ + Σ βⱼ·WoEⱼ;
4. the model becomes points with the usual scaling: score = offset + factor·ln(odds of good), where
   factor = PDO / ln 2 and offset = base_score − factor·ln(base_odds). Defaults (:data:`DEFAULT_SCALING`):
   **600 points at good:bad odds of 50:1, and every 20 points double the odds** (PDO = 20). Hence

       base points = offset − factor·β₀            points of bin k of variable j = −factor·βⱼ·WoEⱼₖ

   and a client's score is the base points plus the points of its bin in every variable (:func:`score`).

Quality is measured out of sample: stratified K-fold cross-validation repeats steps 1–3 on each training
fold and scores the held-out fold; the report gives AUC, KS (the largest gap between the cumulative
distributions of goods and bads) and Gini (= 2·AUC − 1) per fold, their mean and standard deviation, and
the pooled out-of-fold ROC curve.

Expert scorecard (:func:`expert_points`)
----------------------------------------
Points from a configuration compliance can edit (:data:`DEFAULT_EXPERT_CONFIG`, checked by
:func:`validate_expert_config`): credit-rating grade bands (1 = AAA … 22 = D), KYC state and age, sanctions
screening, the declined-or-withdrawn share of commitments and the country-risk category (0–7), each
with points for a missing value.
"""


from bcrm.stats.scorecard.binning import PointsTable, VariablePoints
from bcrm.stats.scorecard.data import DEFAULT_BINNING, DEFAULT_MIN_IV, DEFAULT_SCALING, MIN_ROWS
from bcrm.stats.scorecard.expert import (
    DEFAULT_EXPERT_CONFIG,
    EXPERT_INPUTS,
    KYC_STATES,
    RATING_GRADES,
    ExpertResult,
    expert_points,
    validate_expert_config,
)
from bcrm.stats.scorecard.fit import LEAKAGE_AUC, ScorecardFit, fit_scorecard, score, single_variable_auc
from bcrm.stats.scorecard.metrics import classification_metrics

# The package's public names; its modules: data (settings, input columns), binning (optimal binning, weight of
# evidence, one logistic fit, the points tables), metrics, fit (cross-validated fit, scoring), expert.
__all__ = [
    "DEFAULT_SCALING", "DEFAULT_MIN_IV", "DEFAULT_BINNING", "DEFAULT_EXPERT_CONFIG", "RATING_GRADES", "KYC_STATES",
    "VariablePoints", "PointsTable", "ScorecardFit", "ExpertResult", "fit_scorecard", "score",
    "expert_points", "validate_expert_config", "classification_metrics", "MIN_ROWS", "EXPERT_INPUTS", "LEAKAGE_AUC",
    "single_variable_auc",
]
