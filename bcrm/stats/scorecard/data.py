"""Scorecard settings and input: the columns of ``X`` (numerical or categorical, missing values kept) and the
0/1 target."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bcrm.stats import ModelError, gettext_noop

#: Points scaling: ``base_score`` points at good:bad odds of ``base_odds``; ``pdo`` points double the odds.
DEFAULT_SCALING: dict[str, float] = {"base_score": 600.0, "base_odds": 50.0, "pdo": 20.0}
#: Variables with an information value below this are left out (IV < 0.02: not predictive).
DEFAULT_MIN_IV = 0.02
MIN_ROWS = 20
#: optbinning settings: adjacent bins must differ significantly (p < 0.05), which keeps a noise variable
#: in one or two bins; numerical bins have a monotone or single-peaked bad rate.
DEFAULT_BINNING: dict[str, Any] = {"solver": "cp", "time_limit": 30, "max_pvalue": 0.05}


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
