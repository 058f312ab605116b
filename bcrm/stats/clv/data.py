"""Lifetime-value data: the time units, the input checks of an RFM summary and of spend, and the grouping of
identical rows (customers with the same (x, t_x, T) count once, with a weight)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bcrm.stats import ModelError, gettext_noop

#: Model time units in one month, for the lifetime-value discretisation (a month is 365.25/12 days).
UNITS_PER_MONTH: dict[str, float] = {"day": 365.25 / 12, "week": 365.25 / 12 / 7, "month": 1.0}
#: Length in days of each time unit / period of :func:`rfm_summary`.
DAYS_PER_UNIT: dict[str, float] = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}
#: Fewest customers a fit accepts (the BG/NBD has four parameters, the Gamma-Gamma three).
MIN_CUSTOMERS = 10
#: Relative tolerance below which a rescaled quantity counts as a whole number.
_INTEGER_TOL = 1e-9


# --------------------------------------------------------------------------------------------------
# Input checks


def _array(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ModelError(gettext_noop("%(name)s must be numbers."), name=name) from None
    if arr.ndim != 1:
        raise ModelError(gettext_noop("%(name)s must be a flat list of numbers, one per customer."), name=name)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ModelError(gettext_noop("%(name)s has %(count)d missing or infinite values (the first at row "
                                      "%(row)d); fill or remove those customers first."),
                         name=name, count=int(bad.sum()), row=int(np.argmax(bad)) + 1)
    return arr


def _same_length(**arrays: np.ndarray) -> int:
    sizes = {name: arr.size for name, arr in arrays.items()}
    if len(set(sizes.values())) > 1:
        shown = ", ".join(f"{name}={size}" for name, size in sizes.items())
        raise ModelError(gettext_noop("The columns must have one value per customer; their lengths differ "
                                      "(%(lengths)s)."), lengths=shown)
    return next(iter(sizes.values()))


def _weights(weights: Any, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = _array(weights, "weights")
    if w.size != n:
        raise ModelError(gettext_noop("weights must have one value per customer (%(n)d), not %(got)d."),
                         n=n, got=int(w.size))
    if (w < 0).any():
        raise ModelError(gettext_noop("weights must not be negative."))
    return w


def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask)) + 1


def check_rfm(frequency: Any, recency: Any, T: Any, weights: Any = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate an RFM summary; returns float64 arrays ``(x, t_x, T, weights)``.

    Raises :class:`ModelError` for missing or infinite values, different lengths, negative values, a
    frequency that is not a whole number, a recency above T, or a recency for a customer with no repeat
    purchase (it must be 0: the age at the last *repeat* purchase)."""
    x = _array(frequency, "frequency")
    tx = _array(recency, "recency")
    age = _array(T, "T")
    n = _same_length(frequency=x, recency=tx, T=age)
    w = _weights(weights, n)
    for name, arr in (("frequency", x), ("recency", tx), ("T", age)):
        if (arr < 0).any():
            raise ModelError(gettext_noop("%(name)s must not be negative (row %(row)d is %(value)s)."),
                             name=name, row=_first(arr < 0), value=f"{arr[arr < 0][0]:g}")
    fractional = np.abs(x - np.round(x)) > _INTEGER_TOL
    if fractional.any():
        raise ModelError(gettext_noop("frequency counts repeat purchases and must be a whole number (row "
                                      "%(row)d is %(value)s)."), row=_first(fractional),
                         value=f"{x[fractional][0]:g}")
    x = np.round(x)
    late = tx > age * (1 + 1e-9) + 1e-12
    if late.any():
        i = int(np.argmax(late))
        raise ModelError(gettext_noop("recency cannot exceed T: row %(row)d has recency %(recency)s and T "
                                      "%(T)s (recency is the age at the last purchase, T the age at the end "
                                      "of the period)."), row=i + 1, recency=f"{tx[i]:g}", T=f"{age[i]:g}")
    tx = np.minimum(tx, age)
    stray = (x == 0) & (tx > 0)
    if stray.any():
        raise ModelError(gettext_noop("Row %(row)d has no repeat purchase (frequency 0) but a recency of "
                                      "%(recency)s: recency is the age at the last repeat purchase, 0 when "
                                      "there is none."), row=_first(stray), recency=f"{tx[stray][0]:g}")
    return x, tx, age, w


# --------------------------------------------------------------------------------------------------
# Grouping identical rows


def group_rows(*columns: np.ndarray, weights: np.ndarray | None = None
               ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Distinct rows of aligned columns: ``(unique_columns, summed_weights, inverse)``.

    ``unique_columns[k][inverse]`` gives back ``columns[k]`` exactly; ``summed_weights`` is the number of
    rows (or the sum of ``weights``) of each distinct row. Distinct rows come in lexicographic order when
    the columns are coded directly (below); otherwise in the order of the last column, rows tied on it in
    the order of the others: one sort of the last column, then a sort of the tied rows alone (few, with
    continuous ages) instead of a sort of every column.
    Columns of whole numbers or short decimals (ages in weeks, amounts in cents) over a modest range are
    coded directly into one integer key, counted with ``np.bincount`` when the key's range is not much
    larger than the rows (no sort, O(n)), else sorted once."""
    n = columns[0].size
    if n == 0:
        return [c[:0] for c in columns], np.zeros(0), np.zeros(0, dtype=np.intp)
    dense: list[tuple[np.ndarray, int, float, float] | None] = []
    for col in reversed(columns):                           # the last (ages) first: continuous ones stop here
        dense.insert(0, _dense_codes(col))
        if dense[0] is None:
            break
    sizes = [d[1] for d in dense if d is not None]
    cells = math.prod(sizes)
    if len(dense) == len(columns) and all(d is not None for d in dense) and cells < 2**62:
        key = np.zeros(n, dtype=np.int64)
        for d in dense:
            assert d is not None
            key = key * d[1] + d[0]
        if cells <= min(_DENSE_CELLS, 8 * n + 4096):        # counted directly
            present = np.flatnonzero(np.bincount(key, minlength=cells))
            lookup = np.empty(cells, dtype=np.intp)
            lookup[present] = np.arange(present.size)
            inverse = lookup[key]
        else:                                               # more cells than rows (spend in cents): one sort
            present, inverse = np.unique(key, return_inverse=True)
            inverse = inverse.reshape(-1)
        summed = np.bincount(inverse, weights=weights, minlength=present.size).astype(np.float64)
        uniques: list[np.ndarray] = []
        rest = present
        for d in reversed(dense):
            assert d is not None
            rest, code = np.divmod(rest, d[1])
            uniques.append((code + d[3]) / d[2])
        return uniques[::-1], summed, inverse
    order = np.argsort(columns[-1], kind="stable")
    ordered = columns[-1][order]
    if not (ordered[1:] == ordered[:-1]).any():             # every row distinct
        inverse = np.empty(n, dtype=np.intp)
        inverse[order] = np.arange(n)
        summed = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)[order]
        return [col[order] for col in columns], summed, inverse
    # Runs of rows tied on the last column, each sorted by the other columns (the last sort key is the run).
    tied = ordered[1:] == ordered[:-1]
    in_tie = np.zeros(n, dtype=bool)
    in_tie[1:] = tied
    in_tie[:-1] |= tied
    at = np.flatnonzero(in_tie)
    if len(columns) > 1:
        run = np.concatenate(([0], np.cumsum(~tied)))[at]  # the run each tied row belongs to
        rows = order[at]
        order[at] = rows[np.lexsort([col[rows] for col in reversed(columns[:-1])] + [run])]
    starts = np.ones(n, dtype=bool)                         # a row that differs from the one before it
    starts[1:] = ~tied
    for col in columns[:-1]:
        in_order = col[order]
        starts[1:] |= in_order[1:] != in_order[:-1]
    group = np.cumsum(starts) - 1
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = group
    first = order[starts]
    summed = np.bincount(inverse, weights=weights, minlength=first.size).astype(np.float64)
    return [col[first] for col in columns], summed, inverse


#: Largest number of cells (product of the columns' ranges) :func:`group_rows` counts directly.
_DENSE_CELLS = 1 << 26


def _dense_codes(col: np.ndarray) -> tuple[np.ndarray, int, float, float] | None:
    """(codes 0…size−1, size, scale, offset) when ``col`` is exactly (code + offset) / scale for a scale of
    1, 10, 100 or 1000 and a range under 2**24; ``None`` otherwise."""
    if col.dtype.kind != "f":
        col = col.astype(np.float64)
    for scale in (1.0, 10.0, 100.0, 1000.0):
        ints = np.round(col * scale)
        if np.array_equal(ints / scale, col):
            lo, hi = float(ints.min()), float(ints.max())
            if hi - lo >= 2**24:
                return None
            return (ints - lo).astype(np.int64), int(hi - lo) + 1, scale, lo
    return None


def _check_spend(frequency: Any, monetary_value: Any, weights: Any = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = _array(frequency, "frequency")
    z = _array(monetary_value, "monetary_value")
    n = _same_length(frequency=x, monetary_value=z)
    w = _weights(weights, n)
    if (x < 0).any():
        raise ModelError(gettext_noop("%(name)s must not be negative (row %(row)d is %(value)s)."),
                         name="frequency", row=_first(x < 0), value=f"{x[x < 0][0]:g}")
    fractional = np.abs(x - np.round(x)) > _INTEGER_TOL
    if fractional.any():
        raise ModelError(gettext_noop("frequency counts repeat purchases and must be a whole number (row "
                                      "%(row)d is %(value)s)."), row=_first(fractional),
                         value=f"{x[fractional][0]:g}")
    return np.round(x), z, w
