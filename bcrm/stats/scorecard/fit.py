"""The fitted scorecard: variable screening, cross-validated quality, the final fit as points, and scoring new
rows with a points table."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bcrm.stats import ModelError, gettext_noop
from bcrm.stats.scorecard.binning import PointsTable, VariablePoints, _fit_once, _note
from bcrm.stats.scorecard.data import (
    DEFAULT_MIN_IV,
    DEFAULT_SCALING,
    MIN_ROWS,
    _Column,
    _column,
    _columns,
    _distinct,
    _target,
)
from bcrm.stats.scorecard.metrics import _roc_points, classification_metrics


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
