"""The resource plan (资源分配计划): hours per month the playbooks ask of each team against the hours its
members have, and how many clients the team could serve on the dedicated tier. Pure Python and NumPy.

Clients arrive in *groups* — one per (team, tier, add-ons, value, risk, relationship label), with the
number of clients and their expected new participations per month — so a million clients cost a few
hundred rows here. The what-if works per client (score, extra hours) and uses the segmentation engine's
``capacity`` split (a knapsack).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bcrm.segmentation.splits import split_capacity

DAYS_PER_MONTH = 365.25 / 12
WEEKS_PER_MONTH = 52 / 12
CADENCE_DAYS = {"day": 1.0, "week": 7.0, "month": DAYS_PER_MONTH}
CADENCE = "cadence"
NEW_PARTICIPATION = "new_participation"
DEDICATED, STANDARD = "dedicated", "standard"
DIMENSIONS = ("value", "risk", "relationship")
CURVE_POINTS = 200


class ResourceError(ValueError):
    pass


@dataclass(frozen=True)
class StepSpec:
    """What the plan needs of a playbook step."""

    playbook: str                 # the tier or add-on code whose playbook holds the step
    action: str
    hours: float                  # each time
    trigger: str = CADENCE
    cadence_count: int = 1
    cadence_unit: str = "month"
    only_dimension: str = ""
    only_label: str = ""

    def applies(self, labels: Mapping[str, str]) -> bool:
        """A step with a label condition counts only for clients that have the label."""
        return not self.only_dimension or labels.get(self.only_dimension, "") == self.only_label


@dataclass(frozen=True)
class ClientGroup:
    """Clients alike for the plan: same team, tier, add-ons and labels."""

    team: Hashable
    tier: str
    addons: tuple[str, ...]
    labels: tuple[str, str, str]  # value, risk, relationship ("" = never classified)
    clients: int
    new_per_month: float = 0.0    # expected new participations per month, summed over the group's clients

    @property
    def label_map(self) -> dict[str, str]:
        return dict(zip(DIMENSIONS, self.labels, strict=True))


def occurrences_per_month(count: int, unit: str) -> float:
    """How many times a month a cadence of ``count`` ``unit``s comes round (a month is 365.25 / 12 days)."""
    if unit not in CADENCE_DAYS:
        raise ResourceError(f"Unknown cadence unit {unit!r}.")
    if count < 1:
        raise ResourceError("A cadence is at least 1.")
    return DAYS_PER_MONTH / (count * CADENCE_DAYS[unit])


def step_monthly_hours(step: StepSpec, *, new_per_month: float = 0.0) -> float:
    """Hours a month one client costs for ``step``: hours × occurrences per month; a new-participation step
    occurs once per new participation, so its rate is the client's expected new participations a month."""
    if step.trigger == NEW_PARTICIPATION:
        return float(step.hours) * float(new_per_month)
    return float(step.hours) * occurrences_per_month(step.cadence_count, step.cadence_unit)


def monthly_capacity(weekly_hours: Sequence[float]) -> float:
    """Members' weekly hours as hours per month (52 weeks / 12 months)."""
    return float(np.sum(np.asarray(weekly_hours, dtype=np.float64))) * WEEKS_PER_MONTH


# --- demand ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DemandLine:
    team: Hashable
    playbook: str
    action: str
    clients: int
    hours: float


def _group_arrays(groups: Sequence[ClientGroup]) -> tuple[list[Hashable], np.ndarray, np.ndarray, np.ndarray]:
    teams: list[Hashable] = list(dict.fromkeys(g.team for g in groups))
    index = {t: i for i, t in enumerate(teams)}
    team_idx = np.fromiter((index[g.team] for g in groups), dtype=np.int64, count=len(groups))
    clients = np.fromiter((g.clients for g in groups), dtype=np.float64, count=len(groups))
    new = np.fromiter((g.new_per_month for g in groups), dtype=np.float64, count=len(groups))
    return teams, team_idx, clients, new


def demand_lines(groups: Sequence[ClientGroup], steps: Sequence[StepSpec], *,
                 tier: str | None = None) -> list[DemandLine]:
    """Hours a month per team, playbook and action: Σ over the groups whose tier or add-ons hold the step
    (and whose labels meet its condition) of clients × hours × occurrences (or hours × new participations).
    ``tier`` serves every client on that tier instead of its own (add-ons kept): the what-if's baseline."""
    if not groups:
        return []
    teams, team_idx, clients, new = _group_arrays(groups)
    out: dict[tuple[int, str, str], list[float]] = {}
    for step in steps:
        if step.trigger == NEW_PARTICIPATION:
            per = None
        else:
            per = float(step.hours) * occurrences_per_month(step.cadence_count, step.cadence_unit)
        mask = np.fromiter(
            ((step.playbook == (tier or g.tier) or step.playbook in g.addons) and step.applies(g.label_map)
             for g in groups), dtype=bool, count=len(groups))
        if not mask.any():
            continue
        hours = clients * per if per is not None else new * float(step.hours)
        hours_by_team = np.bincount(team_idx, weights=np.where(mask, hours, 0.0), minlength=len(teams))
        clients_by_team = np.bincount(team_idx, weights=np.where(mask, clients, 0.0), minlength=len(teams))
        for t in np.flatnonzero(clients_by_team):
            key = (int(t), step.playbook, step.action)
            acc = out.setdefault(key, [0.0, 0.0])
            acc[0] = max(acc[0], float(clients_by_team[t]))   # clients the line serves (not summed over steps)
            acc[1] += float(hours_by_team[t])
    return [DemandLine(team=teams[t], playbook=p, action=a, clients=int(v[0]), hours=v[1])
            for (t, p, a), v in out.items()]


def demand_by_team(lines: Sequence[DemandLine]) -> dict[Hashable, float]:
    totals: dict[Hashable, float] = {}
    for line in lines:
        totals[line.team] = totals.get(line.team, 0.0) + line.hours
    return totals


def client_monthly_hours(steps: Sequence[StepSpec], playbook: str, labels: Mapping[str, str],
                         new_per_month: float = 0.0) -> float:
    """One client's hours a month under one playbook (its tier's or an add-on's)."""
    return sum(step_monthly_hours(s, new_per_month=new_per_month) for s in steps
               if s.playbook == playbook and s.applies(labels))


def increment_by_labels(steps: Sequence[StepSpec], combos: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """For each (value, risk, relationship) combination: the fixed extra hours a month of the dedicated tier
    over the standard one, and the extra hours per expected new participation a month."""
    fixed = np.zeros(len(combos))
    per_new = np.zeros(len(combos))
    for i, combo in enumerate(combos):
        lab = dict(zip(DIMENSIONS, combo, strict=True))
        for step in steps:
            sign = 1.0 if step.playbook == DEDICATED else -1.0 if step.playbook == STANDARD else 0.0
            if not sign or not step.applies(lab):
                continue
            if step.trigger == NEW_PARTICIPATION:
                per_new[i] += sign * float(step.hours)
            else:
                fixed[i] += sign * step_monthly_hours(step)
    return fixed, per_new


def dedicated_increment(steps: Sequence[StepSpec], labels: Sequence[Sequence[str]],
                        new_per_month: Sequence[float] | np.ndarray) -> np.ndarray:
    """Extra hours a month each client costs on the dedicated tier rather than the standard one.

    ``labels`` = one (value, risk, relationship) per client, ``new_per_month`` its expected new
    participations a month (add-ons cost the same on either tier, so they do not count)."""
    combos: dict[tuple[str, ...], int] = {}
    combo_idx = np.fromiter((combos.setdefault(tuple(lab), len(combos)) for lab in labels), dtype=np.int64,
                            count=len(labels))
    fixed, per_new = increment_by_labels(steps, list(combos))
    return fixed[combo_idx] + per_new[combo_idx] * np.asarray(new_per_month, dtype=np.float64)


# --- what-if --------------------------------------------------------------------------------------------

@dataclass
class WhatIf:
    """How many clients the team can serve as dedicated with its hours, and which value that covers."""

    capacity: float            # hours a month
    base_hours: float          # the demand with every client on the standard tier (add-ons kept)
    budget: float              # capacity − base_hours (hours left for dedicated service), never below 0
    clients: int               # candidates: the team's clients with a value score
    k: int                     # clients the plan would serve as dedicated
    value_selected: float      # Σ their scores
    value_total: float         # Σ positive scores of the team's clients
    value_covered: float | None  # value_selected / value_total
    hours_used: float          # their extra hours a month
    total_hours: float         # base_hours + hours_used
    exact: bool
    algorithm: str
    current_k: int = 0         # clients on the dedicated tier now, and what they cover and cost
    current_value_covered: float | None = None
    current_hours: float = 0.0
    selected: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)
    curve: list[tuple[float, float]] = field(default_factory=list)   # (total hours, value share), by score

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "capacity", "base_hours", "budget", "clients", "k", "value_selected", "value_total", "value_covered",
            "hours_used", "total_hours", "exact", "algorithm", "current_k", "current_value_covered",
            "current_hours")} | {"curve": [list(p) for p in self.curve]}


def value_curve(scores: np.ndarray, costs: np.ndarray, *, base_hours: float, points: int = CURVE_POINTS
                ) -> list[tuple[float, float]]:
    """Clients by score, best first: team hours a month when the first n are dedicated against the share
    of the team's value they hold; at most ``points`` + 1 points (from (base, 0) to every client)."""
    s = np.clip(np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0), 0.0, None)
    c = np.clip(np.asarray(costs, dtype=np.float64), 0.0, None)
    total = float(s.sum())
    order = np.argsort(-s, kind="stable")
    hours = base_hours + np.cumsum(c[order])
    share = np.cumsum(s[order]) / total if total > 0 else np.zeros(s.size)
    curve = [(float(base_hours), 0.0)]
    if s.size:
        picks = np.unique(np.linspace(0, s.size - 1, num=min(points, s.size)).round().astype(np.int64))
        curve += [(float(hours[i]), float(share[i])) for i in picks]
    return curve


def what_if(scores: Sequence[float] | np.ndarray, costs: Sequence[float] | np.ndarray, *, capacity: float,
            base_hours: float, current: Sequence[bool] | np.ndarray | None = None,
            points: int = CURVE_POINTS) -> WhatIf:
    """The clients with the most value the team's spare hours can serve as dedicated (0/1 knapsack over
    their value scores and extra hours; budget = capacity − base_hours).

    Scores that are missing (NaN) or not positive add no value and are never chosen. A client whose extra
    cost is zero or less is served at no cost and always chosen when its score is positive."""
    s = np.asarray(scores, dtype=np.float64)
    c = np.asarray(costs, dtype=np.float64)
    if s.shape != c.shape or s.ndim != 1:
        raise ResourceError("Give one score and one cost per client.")
    valued = np.nan_to_num(s, nan=0.0)
    positive = valued > 0
    total = float(valued[positive].sum())
    budget = max(0.0, round(float(capacity) - float(base_hours), 6))   # no float dust: 0.5 − 0.4 is 0.1 h
    free = positive & (c <= 0)
    paid = np.flatnonzero(positive & (c > 0))
    selected = free.copy()
    exact, algorithm = True, "nothing to choose"
    if paid.size:
        result = split_capacity(valued[paid], c[paid], budget)
        selected[paid[result.upper]] = True
        exact, algorithm = bool(result.diagnostics["exact"]), str(result.diagnostics["algorithm"])
    value_selected = float(valued[selected].sum())
    hours_used = float(np.clip(c[selected], 0.0, None).sum())
    out = WhatIf(
        capacity=float(capacity), base_hours=float(base_hours), budget=budget, clients=int(s.size),
        k=int(np.count_nonzero(selected)), value_selected=value_selected, value_total=total,
        value_covered=value_selected / total if total > 0 else None, hours_used=hours_used,
        total_hours=float(base_hours) + hours_used, exact=exact, algorithm=algorithm, selected=selected,
        curve=value_curve(valued, c, base_hours=base_hours, points=points),
    )
    if current is not None:
        now = np.asarray(current, dtype=bool)
        out.current_k = int(np.count_nonzero(now))
        out.current_value_covered = float(np.clip(valued[now], 0.0, None).sum()) / total if total > 0 else None
        out.current_hours = float(np.clip(c[now], 0.0, None).sum())
    return out
