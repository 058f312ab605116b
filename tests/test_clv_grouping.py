"""Grouping identical customers (bcrm.stats.clv.group_rows) on any columns: each distinct row once, the rows
given back exactly by the inverse, the weights summed; by any of its paths (direct coding counted or sorted,
every row distinct, ties on the last column sorted by the others)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.stats import clv

values = st.sampled_from([0.0, -0.0, 1.0, 2.5, 3.000001, 1e9, 7.123456789, 0.1, 0.3, 5000.5, 20000.25])


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(values, values, values), min_size=1, max_size=60), width=st.integers(1, 3),
       weighted=st.booleans(), continuous=st.booleans(), data=st.data())
def test_grouping_gives_each_distinct_row_once_with_its_weight(rows, width, weighted, continuous, data):
    columns = [np.array([row[k] for row in rows]) for k in range(width)]
    if continuous:                                          # not codable directly: the sorting paths
        columns[-1] = columns[-1] + np.pi * 1e-7
    weights = np.array(data.draw(st.lists(st.floats(0, 5), min_size=len(rows), max_size=len(rows)))) \
        if weighted else None
    uniques, summed, inverse = clv.group_rows(*columns, weights=weights)
    for column, unique in zip(columns, uniques, strict=True):
        np.testing.assert_array_equal(unique[inverse], column)
    distinct = {tuple(float(v) + 0.0 for v in row) for row in zip(*columns, strict=True)}
    assert len(summed) == len(distinct) == len({tuple(float(v) + 0.0 for v in row) for row in zip(*uniques, strict=True)})
    expected = np.bincount(inverse, weights=weights, minlength=len(summed))
    np.testing.assert_allclose(summed, expected)
    if weights is None:
        assert summed.sum() == len(rows)
