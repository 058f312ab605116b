"""The capacity split: the clients worth the most within a budget of hours (a 0/1 knapsack), exact by dynamic
programming while it stays small enough, greedy beyond."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bcrm.segmentation.splits.base import (
    SplitError,
    SplitResult,
    _as_scores,
    _decimal,
    _finite_number,
    _min_where,
    _result,
    gettext_noop,
)

#: Exact capacity mode runs while (candidate clients) x (budget units + 1) stays at or below this many
#: dynamic-programming cells (one byte each); above it the greedy mode takes over.
EXACT_LIMIT = 20_000_000
#: Cost resolution of the exact capacity mode, in hours: costs are counted in 0.1-hour units.
COST_UNIT = 0.1


def _units(values: np.ndarray, unit: float, *, up: bool) -> tuple[np.ndarray, bool]:
    """Values in whole ``unit``s (rounded up for costs, down for the budget) and whether all were whole."""
    raw = values / unit
    nearest = np.rint(raw)
    whole = np.abs(raw - nearest) <= 1e-9 * np.maximum(1.0, np.abs(raw))
    if whole.all():
        return nearest.astype(np.int64), True
    rounded = np.where(whole, nearest, np.ceil(raw) if up else np.floor(raw))
    return rounded.astype(np.int64), False


def _best_first(candidates: np.ndarray, ratio: np.ndarray, values: np.ndarray, costs: np.ndarray,
                need: float) -> np.ndarray:
    """The best-ratio prefix of ``candidates`` whose costs sum past ``need`` (or all of them), ordered by
    ratio, then value (both descending), then input order. Sorts only that prefix: a partition finds
    the ratio it ends at, and every candidate tied at that ratio is included, so the prefix is exact."""
    size = min(candidates.size, 4096)
    while True:
        if size >= candidates.size:
            part = candidates
        else:
            keys = ratio[candidates]
            cut = float(np.partition(keys, candidates.size - size)[candidates.size - size])
            part = candidates[keys >= cut]
        ordered = part[np.lexsort((part, -values[part], -ratio[part]))]
        if part.size == candidates.size or float(costs[ordered].sum()) > need:
            return ordered
        size *= 4


def _greedy(values: np.ndarray, costs: np.ndarray, budget: float) -> tuple[np.ndarray, float]:
    """Greedy by score per hour (ties: higher score, then input order), filling on past clients that do
    not fit; the best single client instead if it is worth more (so ≥ ½ of the optimum).

    Returns the chosen indices into ``values`` and Dantzig's bound (the LP relaxation: the best-ratio
    prefix plus a fraction of the first client that does not fit), which is ≥ the optimum."""
    ratio = values / costs
    candidates = np.flatnonzero(costs <= budget)
    chosen: list[np.ndarray] = []
    remaining = budget
    bound: float | None = None
    for _ in range(1024):                                    # each round skips one client that did not fit
        candidates = candidates[costs[candidates] <= remaining]
        if candidates.size == 0:
            break
        ordered = _best_first(candidates, ratio, values, costs, remaining)
        cumulative = np.cumsum(costs[ordered])
        taken = int(np.searchsorted(cumulative, remaining, side="right"))
        room = remaining - (float(cumulative[taken - 1]) if taken else 0.0)
        if bound is None:
            bound = float(values[ordered[:taken]].sum())
            if taken < ordered.size:
                bound += room / float(costs[ordered[taken]]) * float(values[ordered[taken]])
        chosen.append(ordered[:taken])
        remaining = room
        if taken == ordered.size:
            break
        done = np.zeros(values.size, dtype=bool)
        done[ordered[: taken + 1]] = True
        candidates = candidates[~done[candidates]]
    selected = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    fitting = np.flatnonzero(costs <= budget)
    if fitting.size:
        best_single = int(fitting[np.argmax(values[fitting])])
        if float(values[best_single]) > float(values[selected].sum()):
            selected = np.array([best_single], dtype=np.int64)
    return selected, bound or 0.0


def _dominance_pool(values: np.ndarray, units: np.ndarray, capacity: int, exact_limit: int) -> np.ndarray | None:
    """Candidates for the exact mode: among clients of one cost (in units) only the best
    ``capacity // cost`` (ties: input order) can be in an optimal selection. ``None`` when even that pool
    needs more than ``exact_limit`` dynamic-programming cells."""
    fit = np.flatnonzero(units <= capacity)
    if fit.size == 0:
        return fit
    if capacity + 1 > exact_limit:                          # not even one client's row fits
        return None
    counts = np.bincount(units[fit], minlength=capacity + 1)
    limits = capacity // np.maximum(np.arange(capacity + 1), 1)
    if int(np.minimum(counts, limits).sum()) * (capacity + 1) > exact_limit:
        return None
    keys = units[fit].astype(np.uint16) if capacity < 65_536 else units[fit]   # uint16 sorts by radix
    by_cost = fit[np.argsort(keys, kind="stable")]          # grouped by cost, input order inside a group
    starts = np.r_[0, np.cumsum(counts)]
    pool = []
    for c in np.flatnonzero(counts):
        group = by_cost[starts[c]: starts[c + 1]]
        keep = int(limits[c])
        if group.size > keep:
            group_values = values[group]
            boundary = float(np.partition(group_values, group.size - keep)[group.size - keep])
            above = group[group_values > boundary]
            tied = group[group_values == boundary][: keep - above.size]
            group = np.sort(np.r_[above, tied])
        pool.append(group)
    return np.concatenate(pool)


def _knapsack_dp(values: np.ndarray, units: np.ndarray, capacity: int) -> np.ndarray:
    """Exact 0/1 knapsack by dynamic programming over ``capacity + 1`` cost units; indices chosen."""
    m = values.size
    best = np.zeros(capacity + 1, dtype=np.float64)
    keep = np.zeros((m, capacity + 1), dtype=bool)
    for j in range(m):
        c = int(units[j])
        if c > capacity:
            continue
        candidate = best[: capacity + 1 - c] + values[j]
        take = candidate > best[c:]
        keep[j, c:] = take
        np.maximum(best[c:], candidate, out=best[c:])
    selected = []
    w = capacity
    for j in range(m - 1, -1, -1):
        if keep[j, w]:
            selected.append(j)
            w -= int(units[j])
    return np.array(selected[::-1], dtype=np.int64)


def split_capacity(scores: Any, costs_or_cost: Any, budget: float, *, exact_limit: int = EXACT_LIMIT,
                   unit: float = COST_UNIT) -> SplitResult:
    """The clients with the largest total score that a budget of hours can serve (0/1 knapsack).

    ``costs_or_cost`` is one cost for every client (hours, > 0) or an array of per-client costs (> 0).
    Only clients with a positive score are ever selected (a zero or negative score adds nothing).

    * One cost for all: the best ``floor(budget / cost)`` clients (decimal division, so 10 h / 0.1 h is 100):
      always exact, O(n) (a partition). Ties at the boundary are broken by input order, so two clients with the
      same score can land on different sides (a selection, not a threshold set).
    * Per-client costs: costs are counted in whole ``unit``s (0.1 h; rounded up, the budget rounded down,
      so the selection never exceeds the true budget). Clients that can never be chosen are dropped first
      (cost above the budget; within one cost, those beyond the best budget/cost). If the remaining
      candidates × (budget units + 1) ≤ ``exact_limit`` (default 20 million cells, one byte each), dynamic
      programming finds the optimum — ``exact`` is true when every cost and the budget were whole units;
      otherwise that optimum of the rounded problem or the greedy selection, whichever is worth more, is
      reported as not exact. Above the limit (e.g. a budget of thousands of hours over 1,000,000 clients
      with varied costs) the greedy mode takes over: by score per hour (ties: higher score, then input
      order), filling on past clients that do not fit, or the best single client if that is worth more
      (so ≥ ½ of the optimum; in practice the gap to the LP bound is tiny). Greedy is O(n) plus sorting
      the best-ratio prefix that fills the budget.

    Diagnostics: ``exact``, ``algorithm``, ``value`` (sum of selected scores), ``upper_bound`` (= value when
    exact, else the LP-relaxation bound), ``gap`` ((upper_bound − value) / upper_bound), ``budget``,
    ``used`` (hours), ``cost`` (the scalar cost, if any), ``cost_unit``, ``n_excluded_nonpositive``, and
    ``unselected_at_or_above_threshold`` (how far the selection is from a threshold set).
    ``threshold`` is the lowest selected score.
    """
    s = _as_scores(scores)
    n = s.size
    budget = _finite_number(budget, "budget")
    if budget < 0:
        raise SplitError(gettext_noop("The budget must be zero or more hours."))
    if not (isinstance(unit, int | float) and math.isfinite(unit) and unit > 0):
        raise SplitError(gettext_noop("The cost unit must be a positive number of hours."))
    positive = s > 0
    specific: dict[str, Any] = {"budget": budget, "n_excluded_nonpositive": int(n - np.count_nonzero(positive))}
    costs: np.ndarray | None = None
    if np.ndim(costs_or_cost) == 0:
        cost = _finite_number(costs_or_cost, "cost")
        if cost <= 0:
            raise SplitError(gettext_noop("The cost per client must be above zero hours."))
        specific["cost"] = cost
        slots = math.floor(_decimal(budget) / _decimal(cost))
        candidates = np.flatnonzero(positive)
        if 0 < slots < candidates.size:                     # the best `slots`; ties: input order
            kept = s[candidates]
            boundary = float(np.partition(kept, kept.size - slots)[kept.size - slots])
            above = candidates[kept > boundary]
            candidates = np.sort(np.r_[above, candidates[kept == boundary][: slots - above.size]])
        elif slots <= 0:
            candidates = candidates[:0]
        upper = np.zeros(n, dtype=bool)
        upper[candidates] = True
        value = float(s[candidates].sum())
        specific.update({"exact": True, "algorithm": "top by score (one cost per client)", "value": value,
                         "upper_bound": value, "gap": 0.0, "used": float(candidates.size * cost),
                         "cost_unit": None})
    else:
        try:
            costs = np.asarray(costs_or_cost, dtype=np.float64)
        except (TypeError, ValueError):
            raise SplitError(gettext_noop("Costs must be numbers of hours, one per client.")) from None
        if costs.ndim != 1 or costs.size != n:
            raise SplitError(gettext_noop("There are %(got)d costs but %(n)d scores; give one cost per client."),
                             got=int(costs.size), n=n)
        bad = ~(np.isfinite(costs) & (costs > 0))
        if bad.any():
            raise SplitError(gettext_noop("Every cost must be a number of hours above zero; "
                                          "position %(position)d is not."), position=int(np.flatnonzero(bad)[0]))
        upper, details = _capacity_per_client(s, costs, budget, positive, exact_limit, unit)
        specific.update(details)
    threshold = _min_where(s, upper)
    specific["unselected_at_or_above_threshold"] = (
        int(np.count_nonzero((s >= threshold) & ~upper)) if threshold is not None else 0)
    return _result("capacity", s, upper, threshold, specific)


def _capacity_per_client(s: np.ndarray, costs: np.ndarray, budget: float, positive: np.ndarray,
                         exact_limit: int, unit: float) -> tuple[np.ndarray, dict[str, Any]]:
    n = s.size
    eligible = np.flatnonzero(positive & (costs <= budget))
    values, item_costs = s[eligible], costs[eligible]
    capacity_arr, budget_whole = _units(np.array([budget]), unit, up=False)
    capacity = int(capacity_arr[0])
    units, costs_whole = _units(item_costs, unit, up=True)
    greedy, bound = _greedy(values, item_costs, budget)
    selected, exact, algorithm = greedy, False, "greedy by score per hour"
    if eligible.size == 0:
        exact, algorithm = True, "nothing fits the budget"
    else:
        pool = _dominance_pool(values, units, capacity, exact_limit)
        if pool is not None and pool.size:
            dp = pool[_knapsack_dp(values[pool], units[pool], capacity)]
            whole = budget_whole and costs_whole
            if whole or float(values[dp].sum()) >= float(values[greedy].sum()):
                selected, exact = dp, whole
                algorithm = "dynamic programming" + ("" if whole else " on costs rounded up to whole units")
    value = float(values[selected].sum())
    bound = value if exact else max(value, bound)
    upper = np.zeros(n, dtype=bool)
    upper[eligible[selected]] = True
    return upper, {
        "cost": None, "cost_unit": unit, "exact": exact, "algorithm": algorithm, "value": value,
        "upper_bound": bound, "gap": (bound - value) / bound if bound > 0 else 0.0,
        "used": float(item_costs[selected].sum()),
    }
