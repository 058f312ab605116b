"""Binning and weight of evidence: optbinning per variable, one logistic fit on the WoE columns, and the points
tables a fit becomes."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bcrm.stats import ModelError, gettext_noop
from bcrm.stats.scorecard.data import DEFAULT_BINNING, DEFAULT_SCALING, _Column


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
