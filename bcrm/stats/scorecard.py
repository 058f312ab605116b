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

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bcrm.stats import ModelError, gettext_noop

__all__ = [
    "DEFAULT_SCALING", "DEFAULT_MIN_IV", "DEFAULT_BINNING", "DEFAULT_EXPERT_CONFIG", "RATING_GRADES", "KYC_STATES",
    "VariablePoints", "PointsTable", "ScorecardFit", "ExpertResult", "fit_scorecard", "score",
    "expert_points", "validate_expert_config", "classification_metrics",
]

#: Points scaling: ``base_score`` points at good:bad odds of ``base_odds``; ``pdo`` points double the odds.
DEFAULT_SCALING: dict[str, float] = {"base_score": 600.0, "base_odds": 50.0, "pdo": 20.0}
#: Variables with an information value below this are left out (IV < 0.02: not predictive).
DEFAULT_MIN_IV = 0.02
MIN_ROWS = 20
#: optbinning settings: adjacent bins must differ significantly (p < 0.05), which keeps a noise variable
#: in one or two bins; numerical bins have a monotone or single-peaked bad rate.
DEFAULT_BINNING: dict[str, Any] = {"solver": "cp", "time_limit": 30, "max_pvalue": 0.05}
#: The rating scale of bcrm: 1 = AAA … 22 = D.
RATING_GRADES = ("AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-", "BB+", "BB", "BB-",
                 "B+", "B", "B-", "CCC+", "CCC", "CCC-", "CC", "C", "D")
KYC_STATES = ("verified", "pending", "not_started", "expired", "rejected")


# --------------------------------------------------------------------------------------------------
# Input


@dataclass
class _Column:
    name: str
    kind: str                       # "numerical" or "categorical"
    values: np.ndarray              # float64 with NaN, or object array of str with None


def _column(name: str, values: Any) -> _Column:
    raw = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if raw.ndim != 1:
        raise ModelError(gettext_noop("Variable %(name)s must be a flat list of values, one per row."), name=name)
    if raw.dtype.kind in "fiub":
        return _Column(name, "numerical", raw.astype(np.float64))
    numbers = np.empty(raw.size)
    numeric = True
    for i, v in enumerate(raw):
        if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
            numbers[i] = np.nan
            continue
        try:
            numbers[i] = float(v)
        except (TypeError, ValueError):
            numeric = False
            break
    if numeric:
        return _Column(name, "numerical", numbers)
    text = np.array([None if v is None or (isinstance(v, float) and math.isnan(v)) or
                     (isinstance(v, str) and not v.strip()) else str(v).strip() for v in raw], dtype=object)
    return _Column(name, "categorical", text)


def _target(y: Any) -> np.ndarray:
    raw = np.asarray(y, dtype=object)
    if raw.ndim != 1:
        raise ModelError(gettext_noop("The target must be a flat list of 0/1 outcomes, one per row."))
    out = np.empty(raw.size, dtype=np.int8)
    for i, v in enumerate(raw):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            raise ModelError(gettext_noop("The target is missing on row %(row)d: every row needs an outcome "
                                          "(1 = default / bad, 0 = good)."), row=i + 1)
        if isinstance(v, bool | np.bool_):
            out[i] = int(v)
            continue
        try:
            number = float(v)
        except (TypeError, ValueError):
            raise ModelError(gettext_noop("The target must be binary (1 = default / bad, 0 = good); row "
                                          "%(row)d is %(value)s."), row=i + 1, value=repr(v)) from None
        if number not in (0.0, 1.0):
            raise ModelError(gettext_noop("The target must be binary (1 = default / bad, 0 = good); row "
                                          "%(row)d is %(value)s."), row=i + 1, value=repr(v))
        out[i] = int(number)
    return out


def _columns(X: Mapping[str, Any]) -> list[_Column]:
    if not isinstance(X, Mapping) or not X:
        raise ModelError(gettext_noop("Give the variables as named columns (a mapping of name to values)."))
    return [_column(str(name), values) for name, values in X.items()]


def _distinct(col: _Column) -> int:
    if col.kind == "numerical":
        present = col.values[~np.isnan(col.values)]
        missing = int(present.size < col.values.size)
        return int(np.unique(present).size) + missing
    present_text = [v for v in col.values if v is not None]
    return len(set(present_text)) + int(len(present_text) < col.values.size)


# --------------------------------------------------------------------------------------------------
# Binning and weight of evidence


@dataclass(frozen=True)
class VariablePoints:
    """One variable of a points table: its bins, their weight of evidence and points.

    Numerical bins are the intervals ``(-inf, s0)``, ``[s0, s1)``, …, ``[s_last, inf)`` of ``splits``;
    categorical bins are the groups of categories in ``groups``. ``missing_*`` is the bin of a missing
    value; a category never seen in training has WoE 0 and ``other_points`` (0)."""

    name: str
    kind: str
    splits: list[float]
    groups: list[list[str]]
    labels: list[str]
    counts: list[int]
    event_rates: list[float | None]
    woe: list[float]
    points: list[float]
    missing_count: int
    missing_event_rate: float | None
    missing_woe: float
    missing_points: float
    other_points: float
    iv: float
    coefficient: float

    def bin_index(self, values: np.ndarray) -> np.ndarray:
        """Bin of each value: 0 … len(bins)−1, −1 for missing, −2 for an unseen category."""
        if self.kind == "numerical":
            x = np.asarray(values, dtype=np.float64)
            out = np.searchsorted(np.asarray(self.splits, dtype=np.float64), x, side="right").astype(np.int64)
            out[np.isnan(x)] = -1
            return out
        lookup = {category: k for k, group in enumerate(self.groups) for category in group}
        return np.array([-1 if v is None else lookup.get(str(v), -2) for v in values], dtype=np.int64)

    def woe_of(self, values: np.ndarray) -> np.ndarray:
        idx = self.bin_index(values)
        table = np.append(np.asarray(self.woe, dtype=np.float64), [self.missing_woe, 0.0])
        return table[np.where(idx == -1, len(self.woe), np.where(idx == -2, len(self.woe) + 1, idx))]

    def points_of(self, values: np.ndarray) -> np.ndarray:
        idx = self.bin_index(values)
        table = np.append(np.asarray(self.points, dtype=np.float64), [self.missing_points, self.other_points])
        return table[np.where(idx == -1, len(self.points), np.where(idx == -2, len(self.points) + 1, idx))]

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class PointsTable:
    """What :func:`score` needs: base points and each variable's bins with their points."""

    base_points: float
    variables: list[VariablePoints]
    base_score: float = DEFAULT_SCALING["base_score"]
    base_odds: float = DEFAULT_SCALING["base_odds"]
    pdo: float = DEFAULT_SCALING["pdo"]
    intercept: float = 0.0

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def as_dict(self) -> dict[str, Any]:
        return {"base_points": self.base_points, "base_score": self.base_score, "base_odds": self.base_odds,
                "pdo": self.pdo, "intercept": self.intercept, "factor": self.factor, "offset": self.offset,
                "variables": [v.as_dict() for v in self.variables]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PointsTable:
        """Rebuild a table from :meth:`as_dict` (e.g. one stored as JSON)."""
        try:
            variables = [VariablePoints(**{k: item[k] for k in VariablePoints.__dataclass_fields__})
                         for item in data["variables"]]
            return cls(base_points=float(data["base_points"]), variables=variables,
                       base_score=float(data["base_score"]), base_odds=float(data["base_odds"]),
                       pdo=float(data["pdo"]), intercept=float(data.get("intercept", 0.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(gettext_noop("Not a points table: %(reason)s."), reason=str(exc)) from exc

    def rows(self) -> list[dict[str, Any]]:
        """One row per bin (and the base points first), as written to a points CSV."""
        out: list[dict[str, Any]] = [{"variable": "(base)", "bin": "", "count": None, "event_rate": None,
                                      "woe": None, "points": self.base_points}]
        for var in self.variables:
            for label, count, rate, woe, pts in zip(var.labels, var.counts, var.event_rates, var.woe, var.points,
                                                    strict=True):
                out.append({"variable": var.name, "bin": label, "count": count, "event_rate": rate,
                            "woe": woe, "points": pts})
            out.append({"variable": var.name, "bin": "Missing", "count": var.missing_count,
                        "event_rate": var.missing_event_rate, "woe": var.missing_woe, "points": var.missing_points})
        return out


def _binning(col: _Column, values: np.ndarray, y: np.ndarray, options: Mapping[str, Any]) -> Any:
    from optbinning import OptimalBinning

    settings: dict[str, Any] = dict(DEFAULT_BINNING)
    if col.kind == "numerical":
        settings["monotonic_trend"] = "auto_asc_desc"
    settings.update(options)
    binning = OptimalBinning(name=col.name, dtype=col.kind, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        binning.fit(values, y)                                # None / NaN: optbinning's Missing bin
    return binning


def _bins(col: _Column, binning: Any) -> dict[str, Any]:
    """Bins, counts, event rates, WoE and IV of a fitted OptimalBinning, without the Special bin."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                      # pandas deprecation notices inside optbinning
        table = binning.binning_table.build()
    labels_raw = [str(v) for v in table["Bin"].tolist()]
    body = table.iloc[:-1]                                      # drop "Totals"
    rows = [i for i, label in enumerate(labels_raw[:-1]) if label not in ("Special", "Missing")]
    missing = next(i for i, label in enumerate(labels_raw[:-1]) if label == "Missing")

    def rate(i: int) -> float | None:
        count = int(body["Count"].iloc[i])
        return float(body["Event"].iloc[i]) / count if count else None

    woe = [float(body["WoE"].iloc[i]) for i in rows]
    groups: list[list[str]] = []
    splits: list[float] = []
    if col.kind == "numerical":
        splits = [float(s) for s in binning.splits]
        labels = [labels_raw[i] for i in rows]
    else:
        groups = [[str(c) for c in group] for group in binning.splits]
        labels = [", ".join(group) for group in groups]
    return {
        "splits": splits, "groups": groups, "labels": labels,
        "counts": [int(body["Count"].iloc[i]) for i in rows], "event_rates": [rate(i) for i in rows], "woe": woe,
        "missing_count": int(body["Count"].iloc[missing]), "missing_event_rate": rate(missing),
        "missing_woe": float(body["WoE"].iloc[missing]),
        "iv": float(table["IV"].iloc[-1]),
    }


def _binning_reason(col: _Column, rows: np.ndarray, y: np.ndarray, exc: Exception) -> str:
    values = col.values[rows]
    present = ~np.isnan(values) if col.kind == "numerical" else np.array([v is not None for v in values])
    if present.any() and np.unique(y[present]).size < 2:
        return "every row with a value has the same outcome"
    return str(exc)


@dataclass
class _Fitted:
    variables: list[VariablePoints]
    intercept: float
    ivs: dict[str, float]
    notes: list[dict[str, Any]]


def _fit_once(columns: list[_Column], rows: np.ndarray, y: np.ndarray, *, min_iv: float, C: float,
              scaling: Mapping[str, float], options: Mapping[str, Any]) -> _Fitted:
    from sklearn.linear_model import LogisticRegression

    factor = scaling["pdo"] / math.log(2)
    yy = y[rows]
    binned: list[tuple[_Column, dict[str, Any]]] = []
    ivs: dict[str, float] = {}
    notes: list[dict[str, Any]] = []
    for col in columns:
        try:
            bins = _bins(col, _binning(col, col.values[rows], yy, options))
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            notes.append(_note(gettext_noop("%(name)s left out: it could not be binned (%(reason)s)."),
                               name=col.name, reason=_binning_reason(col, rows, yy, exc)))
            continue
        ivs[col.name] = bins["iv"]
        if bins["iv"] < min_iv:
            notes.append(_note(gettext_noop("%(name)s left out: information value %(iv)s is below %(min)s."),
                               name=col.name, iv=f"{bins['iv']:.4f}", min=f"{min_iv:g}"))
            continue
        binned.append((col, bins))
    if not binned:
        raise ModelError(gettext_noop("No variable predicts the target: every information value is below "
                                      "%(min)s."), min=f"{min_iv:g}")
    provisional = [VariablePoints(name=col.name, kind=col.kind, coefficient=0.0, points=[0.0] * len(b["woe"]),
                                  missing_points=0.0, other_points=0.0, **b) for col, b in binned]
    design = np.column_stack([var.woe_of(col.values[rows]) for var, (col, _) in zip(provisional, binned,
                                                                                         strict=True)])
    model = LogisticRegression(C=C, max_iter=1000)
    model.fit(design, yy)
    beta = model.coef_[0]
    variables = []
    for var, coef in zip(provisional, beta, strict=True):
        variables.append(VariablePoints(**{
            **var.as_dict(), "coefficient": float(coef),
            "points": [float(-factor * coef * w) for w in var.woe],
            "missing_points": float(-factor * coef * var.missing_woe), "other_points": 0.0}))
        if coef > 0:
            notes.append(_note(gettext_noop("%(name)s has a coefficient whose sign contradicts its weight of "
                                            "evidence (it is probably collinear with another variable)."),
                               name=var.name))
    return _Fitted(variables=variables, intercept=float(model.intercept_[0]), ivs=ivs, notes=notes)


def _note(template: str, **params: Any) -> dict[str, Any]:
    return {"template": template, "params": params, "message": template % params}


# --------------------------------------------------------------------------------------------------
# Metrics


def classification_metrics(y: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    """AUC, KS and Gini of a risk score (higher = more likely bad) against 0/1 outcomes."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(y, risk)
    auc = float(roc_auc_score(y, risk))
    return {"auc": auc, "ks": float(np.max(tpr - fpr)), "gini": 2 * auc - 1}


def _roc_points(y: np.ndarray, risk: np.ndarray, points: int = 101) -> dict[str, list[float]]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, risk)
    grid = np.linspace(0, 1, points)
    return {"fpr": grid.tolist(), "tpr": np.interp(grid, fpr, tpr).tolist()}


# --------------------------------------------------------------------------------------------------
# Fit and score


@dataclass(frozen=True, eq=False)
class ScorecardFit:
    """A fitted scorecard with its out-of-sample quality."""

    points_table: PointsTable
    information_value: dict[str, float]            # every usable variable, fitted on all rows
    dropped: dict[str, str]                        # variable → why it was left out
    cross_validation: dict[str, Any]               # folds, per_fold, mean and sd of auc/ks/gini, pooled, roc
    training: dict[str, float]                     # auc/ks/gini of the final model on its own rows (optimistic)
    n_rows: int
    n_events: int
    notes: list[dict[str, Any]] = field(default_factory=list)
    scores: np.ndarray | None = None               # points of each training row

    def as_dict(self) -> dict[str, Any]:
        return {"n_rows": self.n_rows, "n_events": self.n_events,
                "event_rate": self.n_events / self.n_rows if self.n_rows else None,
                "information_value": dict(self.information_value), "dropped": dict(self.dropped),
                "cross_validation": self.cross_validation, "training": self.training,
                "points_table": self.points_table.as_dict(), "notes": [n["message"] for n in self.notes]}


#: A variable that on its own separates the outcomes at least this well (AUC, or 1 − AUC) is probable
#: leakage — a copy of the outcome or something recorded after it — rather than a predictor.
LEAKAGE_AUC = 0.95


def single_variable_auc(col: _Column, target: np.ndarray) -> float | None:
    """How well ``col`` alone separates the outcomes, as max(AUC, 1 − AUC) over its non-missing rows:
    the values themselves for a number, each category's bad rate for text. ``None`` when the present
    rows hold one outcome only."""
    if col.kind == "numerical":
        present = ~np.isnan(col.values)
        score = col.values[present]
    else:
        present = np.array([v is not None for v in col.values], dtype=bool)
        labels = col.values[present]
        outcome = target[present]
        rates: dict[Any, list[int]] = {}
        for label, bad in zip(labels, outcome, strict=True):
            rates.setdefault(label, [0, 0])
            rates[label][0] += int(bad)
            rates[label][1] += 1
        score = np.array([rates[label][0] / rates[label][1] for label in labels])
    y = target[present]
    if y.size == 0 or y.min() == y.max():
        return None
    auc = classification_metrics(y, score)["auc"]
    return max(auc, 1 - auc)


def _screen(columns: Sequence[_Column], target: np.ndarray, allow: set[str], dropped: dict[str, str],
            notes: list[dict[str, Any]]) -> list[_Column]:
    """The columns worth fitting: not constant, not an identifier (text unique on every row), and not
    probable leakage (equal to the target, or separating it almost perfectly on its own) unless named in
    ``allow``. Each left out is in ``dropped`` with its reason and in ``notes`` in words."""
    usable = []
    n = target.size
    for col in columns:
        if _distinct(col) < 2:
            dropped[col.name] = "constant"
            notes.append(_note(gettext_noop("%(name)s left out: it has the same value on every row."),
                               name=col.name))
            continue
        if col.kind == "categorical" and n > MIN_ROWS and _distinct(col) == n:
            dropped[col.name] = "identifier"
            notes.append(_note(gettext_noop("%(name)s left out: it has a different value on every row, like an "
                                            "identifier, so it cannot generalise."), name=col.name))
            continue
        if col.name not in allow:
            auc = single_variable_auc(col, target)
            if auc is not None and auc >= LEAKAGE_AUC:
                copy = col.kind == "numerical" and np.array_equal(col.values, target.astype(np.float64))
                dropped[col.name] = "leakage"
                notes.append(_note(gettext_noop("%(name)s left out as probable leakage: it equals the target.")
                                   if copy else
                                   gettext_noop("%(name)s left out as probable leakage: on its own it separates "
                                                "the outcomes with an AUC of %(auc)s, which a real predictor "
                                                "rarely does (a copy of the outcome, or something recorded after "
                                                "it). Name it to keep it."),
                                   name=col.name, auc=f"{auc:.3f}"))
                continue
        usable.append(col)
    return usable


def fit_scorecard(X: Mapping[str, Any], y: Any, *, folds: int = 5, seed: int = 0, min_iv: float = DEFAULT_MIN_IV,
                  C: float = 1.0, scaling: Mapping[str, float] | None = None,
                  binning_options: Mapping[str, Any] | None = None,
                  allow_leakage: Sequence[str] = ()) -> ScorecardFit:
    """Fit a points scorecard on named columns ``X`` (name → values: numbers, or text for a categorical
    variable; ``None``/NaN/empty = missing) against ``y`` (1 = default / bad, 0 = good).

    Returns the points table fitted on all rows, the information value of each variable and the
    stratified ``folds``-fold cross-validated AUC, KS and Gini (shuffled with ``seed``). Raises
    :class:`ModelError` when the target is not binary, has one class only or too few of either class for
    the folds, when the columns have different lengths, or when no variable is left.

    Constant columns, identifiers and probable leakage (see :func:`_screen`) are left out first, each with
    a note; ``allow_leakage`` names columns to keep even so."""
    scale = dict(DEFAULT_SCALING)
    scale.update(scaling or {})
    if not (scale["pdo"] > 0 and scale["base_odds"] > 0 and math.isfinite(scale["base_score"])):
        raise ModelError(gettext_noop("The points scaling needs PDO and base odds above 0."))
    options = dict(binning_options or {})
    target = _target(y)
    columns = _columns(X)
    n = target.size
    for col in columns:
        if col.values.size != n:
            raise ModelError(gettext_noop("Variable %(name)s has %(got)d values but the target has %(n)d."),
                             name=col.name, got=int(col.values.size), n=n)
    if n < MIN_ROWS:
        raise ModelError(gettext_noop("Too few rows to fit a scorecard: %(n)d, at least %(min)d are needed."),
                         n=n, min=MIN_ROWS)
    events = int(target.sum())
    if events == 0 or events == n:
        raise ModelError(gettext_noop("The target has one class only (%(value)d on every row): a scorecard "
                                      "needs both good (0) and bad (1) outcomes."), value=int(target[0]))
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise ModelError(gettext_noop("The number of folds must be a whole number, 2 or more."))
    if min(events, n - events) < folds:
        raise ModelError(gettext_noop("Too few rows of the rarer outcome (%(count)d) for %(folds)d-fold "
                                      "cross-validation: use fewer folds or more data."),
                         count=min(events, n - events), folds=folds)
    dropped: dict[str, str] = {}
    notes: list[dict[str, Any]] = []
    usable = _screen(columns, target, set(allow_leakage), dropped, notes)
    if not usable:
        if set(dropped.values()) == {"constant"}:
            raise ModelError(gettext_noop("Every variable is constant: nothing can predict the target."))
        raise ModelError(gettext_noop("No variable is left to fit (left out: %(dropped)s)."),
                         dropped=", ".join(f"{name} ({why})" for name, why in dropped.items()))

    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    out_of_fold = np.full(n, np.nan)
    per_fold = []
    for k, (train, test) in enumerate(splitter.split(np.zeros(n), target)):
        fitted = _fit_once(usable, train, target, min_iv=min_iv, C=C, scaling=scale, options=options)
        risk = _risk(fitted.intercept, fitted.variables, usable, test)
        out_of_fold[test] = risk
        per_fold.append({"fold": k + 1, "rows": int(test.size), **classification_metrics(target[test], risk)})
    summary: dict[str, Any] = {"folds": folds, "seed": seed, "per_fold": per_fold}
    for metric in ("auc", "ks", "gini"):
        values = np.array([f[metric] for f in per_fold])
        summary[metric] = float(values.mean())
        summary[f"{metric}_sd"] = float(values.std(ddof=1))
    summary["pooled"] = classification_metrics(target, out_of_fold)
    summary["roc"] = _roc_points(target, out_of_fold)

    final = _fit_once(usable, np.arange(n), target, min_iv=min_iv, C=C, scaling=scale, options=options)
    for note in final.notes:
        name = note["params"].get("name")
        if name and name not in {v.name for v in final.variables}:
            dropped[name] = "low_iv" if "iv" in note["params"] else "not_binnable"
    notes += final.notes
    factor = scale["pdo"] / math.log(2)
    offset = scale["base_score"] - factor * math.log(scale["base_odds"])
    table = PointsTable(base_points=float(offset - factor * final.intercept), variables=final.variables,
                        base_score=scale["base_score"], base_odds=scale["base_odds"], pdo=scale["pdo"],
                        intercept=final.intercept)
    train_risk = _risk(final.intercept, final.variables, usable, np.arange(n))
    points = score(table, {c.name: c.values for c in usable})
    return ScorecardFit(points_table=table, information_value=final.ivs, dropped=dropped,
                        cross_validation=summary, training=classification_metrics(target, train_risk),
                        n_rows=n, n_events=events, notes=notes, scores=points)


def _risk(intercept: float, variables: Sequence[VariablePoints], columns: Sequence[_Column],
          rows: np.ndarray) -> np.ndarray:
    """The model's log-odds of a bad outcome for ``rows``: β₀ + Σ βⱼ·WoEⱼ."""
    risk = np.full(rows.size, intercept)
    for var in variables:
        risk += var.coefficient * var.woe_of(_col(columns, var.name).values[rows])
    return risk


def _col(columns: Sequence[_Column], name: str) -> _Column:
    return next(c for c in columns if c.name == name)


def score(points_table: PointsTable | Mapping[str, Any], X: Mapping[str, Any]) -> np.ndarray:
    """Points of each row of ``X`` (name → values): base points plus the points of the row's bin in every
    variable of the table (a missing value gets the Missing bin's points, an unseen category 0).
    Higher = lower risk. Columns of ``X`` the table does not use are ignored; a column it uses must be
    there."""
    table = points_table if isinstance(points_table, PointsTable) else PointsTable.from_dict(points_table)
    total: np.ndarray | None = None
    for var in table.variables:
        if var.name not in X:
            raise ModelError(gettext_noop("The scorecard needs column %(name)s."), name=var.name)
        col = _column(var.name, X[var.name])
        values = col.values if var.kind == col.kind else _as_kind(col, var.kind)
        pts = var.points_of(values)
        if total is None:
            total = np.full(pts.size, table.base_points)
        elif pts.size != total.size:
            raise ModelError(gettext_noop("Column %(name)s has a different number of rows."), name=var.name)
        total = total + pts
    if total is None:
        size = len(next(iter(X.values()))) if X else 0
        total = np.full(size, table.base_points)
    return total


def _as_kind(col: _Column, kind: str) -> np.ndarray:
    if kind == "categorical":
        return np.array([None if isinstance(v, float) and math.isnan(v) else
                         (str(int(v)) if float(v).is_integer() else str(v)) for v in col.values], dtype=object)
    raise ModelError(gettext_noop("Column %(name)s must hold numbers for this scorecard."), name=col.name)


# --------------------------------------------------------------------------------------------------
# Expert scorecard

#: The default expert configuration for project finance (higher points = lower risk). Bands of a numeric
#: input are ``[from, to)`` with ``to`` ``None`` for "and above"; rating bands are inclusive grade ranges
#: that must cover 1–22 once. ``missing`` is the points of a client without that input. A sanctions hit
#: scores ``sanctions.hit`` points; the risk criterion's knock-out rule puts such a client in high risk
#: whatever its points.
DEFAULT_EXPERT_CONFIG: dict[str, Any] = {
    "rating": {
        "bands": [
            {"from": 1, "to": 4, "points": 40},       # AAA … AA-
            {"from": 5, "to": 7, "points": 34},       # A+ … A-
            {"from": 8, "to": 10, "points": 26},      # BBB+ … BBB- (investment grade)
            {"from": 11, "to": 13, "points": 15},     # BB+ … BB-
            {"from": 14, "to": 16, "points": 6},      # B+ … B-
            {"from": 17, "to": 19, "points": 0},      # CCC+ … CCC-
            {"from": 20, "to": 22, "points": -20},    # CC, C, D
        ],
        "missing": 10,
    },
    "kyc_state": {
        "points": {"verified": 15, "pending": 5, "not_started": 0, "expired": -5, "rejected": -30},
        "missing": 0,
    },
    "kyc_age_months": {                                # months since the last KYC review
        "bands": [{"from": 0, "to": 12, "points": 5}, {"from": 12, "to": 24, "points": 0},
                  {"from": 24, "to": None, "points": -5}],
        "missing": -5,
    },
    "sanctions": {"hit": -100, "clear": 0, "missing": 0},
    "withdrawn_share": {                               # declined or withdrawn share of commitments, 0–1
        "bands": [{"from": 0, "to": 0.1, "points": 10}, {"from": 0.1, "to": 0.25, "points": 5},
                  {"from": 0.25, "to": 0.5, "points": 0}, {"from": 0.5, "to": None, "points": -10}],
        "missing": 0,
    },
    "country_risk": {                                  # OECD-style category 0 (lowest) … 7
        "points": {"0": 15, "1": 12, "2": 9, "3": 6, "4": 3, "5": 0, "6": -5, "7": -10},
        "missing": 0,
    },
}

#: Which input of ``features`` each component of the expert configuration reads.
EXPERT_INPUTS: dict[str, str] = {
    "rating": "rating_score", "kyc_state": "kyc_state", "kyc_age_months": "kyc_age_months",
    "sanctions": "sanctions_flag", "withdrawn_share": "withdrawn_share", "country_risk": "country_risk",
}


def _points_value(value: Any, where: str, path: str = "config") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise ModelError(gettext_noop("%(where)s must be a number of points."), where=where, path=path)
    return float(value)


def _numeric_bands(bands: Any, where: str, *, integer: bool = False,
                   path: str = "config") -> list[tuple[float, float, float]]:
    if not isinstance(bands, list) or not bands:
        raise ModelError(gettext_noop("%(where)s needs a list of bands with from, to and points."), where=where,
                         path=path)
    out = []
    for i, band in enumerate(bands):
        if not isinstance(band, Mapping) or set(band) != {"from", "to", "points"}:
            raise ModelError(gettext_noop("%(where)s band %(index)d needs exactly from, to and points."),
                             where=where, index=i + 1, path=f"{path}.{i}")
        lo = _points_value(band["from"], f"{where} band {i + 1} from", f"{path}.{i}.from")
        hi = math.inf if band["to"] is None else _points_value(band["to"], f"{where} band {i + 1} to",
                                                               f"{path}.{i}.to")
        if not hi > lo and not (integer and hi == lo):
            raise ModelError(gettext_noop("%(where)s band %(index)d must end after it starts."),
                             where=where, index=i + 1, path=f"{path}.{i}")
        out.append((lo, hi, _points_value(band["points"], f"{where} band {i + 1} points", f"{path}.{i}.points")))
    out.sort()
    for (_lo1, hi1, _), (lo2, _hi2, _) in itertools.pairwise(out):
        if (integer and lo2 != hi1 + 1) or (not integer and lo2 != hi1):
            raise ModelError(gettext_noop("%(where)s bands must follow each other without gaps or overlaps "
                                          "(one ends at %(end)s, the next starts at %(start)s)."),
                             where=where, end=f"{hi1:g}", start=f"{lo2:g}", path=path)
    return out


def validate_expert_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check an expert configuration; returns it normalised (bands sorted) or raises :class:`ModelError`,
    whose ``params["path"]`` names the field at fault (``config.rating.bands.2.points``).

    A table that cannot tell clients apart is refused: it needs at least one part, and sanctions screening
    in which a hit scores below a clear result (an empty table scored everyone, sanctioned or not, 50/100).
    """
    if not isinstance(config, Mapping):
        raise ModelError(gettext_noop("The expert scorecard configuration must be a mapping."), path="config")
    if not config:
        raise ModelError(gettext_noop("The expert scorecard needs at least one part (known: %(known)s)."),
                         known=", ".join(EXPERT_INPUTS), path="config")
    unknown = set(config) - set(EXPERT_INPUTS)
    if unknown:
        raise ModelError(gettext_noop("Unknown parts of the expert scorecard: %(names)s (known: %(known)s)."),
                         names=", ".join(sorted(unknown)), known=", ".join(EXPERT_INPUTS),
                         path=f"config.{sorted(unknown)[0]}")
    out: dict[str, Any] = {}
    for part, spec in config.items():
        at = f"config.{part}"
        if not isinstance(spec, Mapping):
            raise ModelError(gettext_noop("%(where)s must be a mapping."), where=part, path=at)
        missing = _points_value(spec.get("missing", 0), f"{part} missing", f"{at}.missing")
        if part == "rating":
            bands = _numeric_bands(spec.get("bands"), part, integer=True, path=f"{at}.bands")
            if bands[0][0] != 1 or bands[-1][1] != 22 or any(not float(v).is_integer()
                                                             for lo, hi, _ in bands for v in (lo, hi)):
                raise ModelError(gettext_noop("Rating bands must cover the whole grades 1 (AAA) to 22 (D)."),
                                 path=f"{at}.bands")
            out[part] = {"bands": bands, "missing": missing}
        elif part in ("kyc_age_months", "withdrawn_share"):
            bands = _numeric_bands(spec.get("bands"), part, path=f"{at}.bands")
            out[part] = {"bands": bands, "missing": missing}
        elif part == "sanctions":
            hit = _points_value(spec.get("hit"), "sanctions hit", f"{at}.hit")
            clear = _points_value(spec.get("clear", 0), "sanctions clear", f"{at}.clear")
            if not hit < clear:
                raise ModelError(gettext_noop("A sanctions hit must score fewer points (more risk) than a clear "
                                              "screening."), path=f"{at}.hit")
            out[part] = {"hit": hit, "clear": clear, "missing": missing}
        else:
            table = spec.get("points")
            if not isinstance(table, Mapping) or not table:
                raise ModelError(gettext_noop("%(where)s needs points per value."), where=part, path=f"{at}.points")
            if part == "kyc_state":
                bad = set(table) - set(KYC_STATES)
                if bad:
                    raise ModelError(gettext_noop("Unknown KYC states: %(names)s (known: %(known)s)."),
                                     names=", ".join(sorted(bad)), known=", ".join(KYC_STATES), path=f"{at}.points")
            else:
                if set(map(str, table)) != {str(i) for i in range(8)}:
                    raise ModelError(gettext_noop("Country risk points must be given for each category 0 to 7."),
                                     path=f"{at}.points")
            out[part] = {"points": {str(k): _points_value(v, f"{part} {k}", f"{at}.points.{k}")
                                    for k, v in table.items()},
                         "missing": missing}
    if "sanctions" not in out:
        raise ModelError(gettext_noop("The expert scorecard must score sanctions screening (the sanctions part)."),
                         path="config.sanctions")
    return out


@dataclass(frozen=True, eq=False)
class ExpertResult:
    """Per-client expert points: the total, each component's points and which inputs were missing."""

    points: np.ndarray
    components: dict[str, np.ndarray]
    missing: dict[str, np.ndarray]
    minimum: float                   # the lowest and highest total the configuration can give
    maximum: float

    @property
    def scaled(self) -> np.ndarray:
        """Points mapped to 0–100 between the configuration's lowest and highest possible total."""
        span = self.maximum - self.minimum
        return np.full(self.points.size, 50.0) if span <= 0 else 100 * (self.points - self.minimum) / span


def _band_points(values: np.ndarray, bands: list[tuple[float, float, float]], missing: float, *,
                 integer: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Points of the band holding each value; a missing value, or one outside every band, gets
    ``missing`` and is flagged in the returned mask."""
    out = np.full(values.size, missing)
    covered = np.zeros(values.size, dtype=bool)
    for lo, hi, pts in bands:
        inside = (values >= lo) & ((values <= hi) if integer else (values < hi))
        out[inside] = pts
        covered |= inside
    return out, ~covered


def _float_input(values: Any, n: int, name: str) -> np.ndarray:
    arr = np.array([np.nan if v is None else v for v in np.asarray(values, dtype=object)], dtype=np.float64) \
        if not isinstance(values, np.ndarray) or values.dtype == object else values.astype(np.float64)
    if arr.shape != (n,):
        raise ModelError(gettext_noop("Input %(name)s must have one value per client (%(n)d)."), name=name, n=n)
    return arr


def expert_points(config: Mapping[str, Any] | None, features: Mapping[str, Any]) -> ExpertResult:
    """Expert points of each client from ``features`` (name → one value per client):

    * ``rating_score`` — grade 1 (AAA) … 22 (D), NaN when unrated;
    * ``kyc_state`` — verified / pending / not_started / expired / rejected (None when unknown);
    * ``kyc_age_months`` — months since the last KYC review;
    * ``sanctions_flag`` — 1 for a screening hit, 0 clear;
    * ``withdrawn_share`` — declined or withdrawn share of commitments, 0–1;
    * ``country_risk`` — OECD-style category 0–7.

    An input absent from ``features`` counts as missing for every client. ``config`` defaults to
    :data:`DEFAULT_EXPERT_CONFIG`; only the parts it names are scored."""
    cfg = validate_expert_config(DEFAULT_EXPERT_CONFIG if config is None else config)
    sizes = {len(np.asarray(v, dtype=object)) for v in features.values()}
    if len(sizes) > 1:
        raise ModelError(gettext_noop("Every input must have one value per client; the lengths differ."))
    n = sizes.pop() if sizes else 0
    components: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    low = high = 0.0
    for part, spec in cfg.items():
        name = EXPERT_INPUTS[part]
        present = name in features
        if part in ("rating", "kyc_age_months", "withdrawn_share"):
            values = _float_input(features[name], n, name) if present else np.full(n, np.nan)
            pts, absent = _band_points(values, spec["bands"], spec["missing"], integer=part == "rating")
            options = [b[2] for b in spec["bands"]]
        elif part == "sanctions":
            values = _float_input(features[name], n, name) if present else np.full(n, np.nan)
            absent = np.isnan(values)
            pts = np.where(absent, spec["missing"], np.where(values > 0, spec["hit"], spec["clear"]))
            options = [spec["hit"], spec["clear"]]
        else:
            raw = np.asarray(features[name], dtype=object) if present else np.full(n, None, dtype=object)
            if raw.shape != (n,):
                raise ModelError(gettext_noop("Input %(name)s must have one value per client (%(n)d)."),
                                 name=name, n=n)
            table = spec["points"]
            keys = [_category_key(v) for v in raw]
            absent = np.array([k is None or k not in table for k in keys], dtype=bool)
            pts = np.array([spec["missing"] if a else table[k] for k, a in zip(keys, absent, strict=True)],
                           dtype=np.float64)
            options = list(table.values())
        options.append(spec["missing"])
        low += min(options)
        high += max(options)
        components[part] = pts.astype(np.float64)
        missing[part] = absent
    total = np.sum(list(components.values()), axis=0) if components else np.zeros(n)
    return ExpertResult(points=np.asarray(total, dtype=np.float64), components=components, missing=missing,
                        minimum=low, maximum=high)


def _category_key(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()
