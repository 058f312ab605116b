"""Split methods: draw one line through a score vector and put every client on one side of it.

Pure NumPy, no Django: every function takes plain arrays and returns plain arrays and plain Python
values, so the engine, the ``bcrm analyse split`` command, the tests and the benchmark all call the same
code.

Conventions shared by every method:

* Scores are float64, higher is better: the **upper class** (high value / low risk / strategic) is the
  high end. NaN or infinite scores are refused (:class:`SplitError`); the caller removes clients whose
  score cannot be computed (they are "insufficient", never silently put on a side).
* A client's label is ``score >= threshold`` for every method except ``capacity`` (a knapsack selection,
  which need not be a threshold set when costs differ). Equal scores therefore always get equal labels;
  each method's docstring says on which side boundary ties land.
* ``threshold`` is the line, ``None`` when the upper class is empty or there are no scores. Except for
  ``fixed`` (where the line is given) it is the smallest score in the upper class.
* ``diagnostics`` is JSON-serialisable plain Python. Every method reports the same common set (see
  :func:`common_diagnostics`) plus its own; when an ``outcome`` is given to :func:`split` the
  information gain of the split against it is added as well (:func:`outcome_diagnostics`).

Methods and their cost for n clients: ``fixed`` O(n), ``top_k``/``top_share`` O(n) (partition),
``pareto``/``natural_break``/``information_gain`` O(n log n) (one sort), ``capacity`` O(n log n) for one
cost per client or the greedy mode, and dynamic programming bounded by ``exact_limit`` cells in exact mode.
"""


from bcrm.segmentation.splits.base import (
    SplitError,
    SplitResult,
    common_diagnostics,
    gettext_noop,
    outcome_diagnostics,
)
from bcrm.segmentation.splits.capacity import COST_UNIT, EXACT_LIMIT, split_capacity
from bcrm.segmentation.splits.dispatch import (
    DEFAULT_PARAMS,
    METHODS,
    PARAMS,
    REQUIRED,
    compare_methods,
    parse_params,
    split,
)
from bcrm.segmentation.splits.hysteresis import apply_hysteresis
from bcrm.segmentation.splits.statistical import split_information_gain, split_natural_break
from bcrm.segmentation.splits.thresholds import split_fixed, split_pareto, split_top_k, split_top_share

# The package's public names; its modules by family: base (errors, result, input checks, the diagnostics every
# method reports), thresholds (fixed, top_k, top_share, pareto: a line by rule or by rank), statistical
# (natural_break, information_gain: a line by an objective), capacity (the knapsack), dispatch (a method by
# name, its parameters, the comparison of all), hysteresis.
__all__ = [
    "METHODS", "PARAMS", "DEFAULT_PARAMS", "EXACT_LIMIT", "SplitError", "SplitResult", "split", "split_fixed",
    "split_top_share", "split_top_k", "split_pareto", "split_natural_break", "split_capacity",
    "split_information_gain", "parse_params", "compare_methods", "apply_hysteresis", "common_diagnostics",
    "outcome_diagnostics", "REQUIRED", "COST_UNIT", "gettext_noop",
]
