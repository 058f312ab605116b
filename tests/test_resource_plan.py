"""The resource plan's pure arithmetic (bcrm/resources/planning.py): monthly hours of a step, demand per
team against hand computations, capacity, and the dedicated-tier what-if against brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.resources.planning import (
    DAYS_PER_MONTH,
    ClientGroup,
    ResourceError,
    StepSpec,
    dedicated_increment,
    demand_by_team,
    demand_lines,
    monthly_capacity,
    occurrences_per_month,
    step_monthly_hours,
    value_curve,
    what_if,
)

# The shipped playbooks (bcrm/playbooks/defaults.py), as the plan sees them.
STEPS = [
    StepSpec("dedicated", "contact", 1.5, cadence_count=2, cadence_unit="week"),
    StepSpec("dedicated", "plan_review", 4, cadence_count=3, cadence_unit="month"),
    StepSpec("dedicated", "senior_meeting", 3, cadence_count=3, cadence_unit="month",
             only_dimension="relationship", only_label="strategic"),
    StepSpec("standard", "progress_report", 0, cadence_count=1, cadence_unit="month"),
    StepSpec("standard", "contact", 0.5, cadence_count=3, cadence_unit="month"),
    StepSpec("enhanced_dd", "due_diligence", 6, trigger="new_participation", cadence_count=10, cadence_unit="day"),
    StepSpec("kyc_refresh", "kyc_refresh", 2, cadence_count=6, cadence_unit="month"),
    StepSpec("data_collection", "data_collection", 0.5, cadence_count=1, cadence_unit="month"),
]
FORTNIGHTLY = 1.5 * (365.25 / 12) / 14           # 3.2611…: a contact every two weeks, 1.5 h each
DEDICATED_ORDINARY = FORTNIGHTLY + 4 / 3          # + a plan review each quarter
DEDICATED_STRATEGIC = DEDICATED_ORDINARY + 3 / 3  # + a senior-level meeting each quarter
STANDARD = 0.5 / 3                                 # a call each quarter; the report is automated (0 h)


def test_occurrences_per_month_of_each_unit():
    assert occurrences_per_month(1, "month") == pytest.approx(1.0)
    assert occurrences_per_month(3, "month") == pytest.approx(1 / 3)
    assert occurrences_per_month(2, "week") == pytest.approx(30.4375 / 14)
    assert occurrences_per_month(1, "day") == pytest.approx(30.4375)
    assert pytest.approx(30.4375) == DAYS_PER_MONTH


def test_bad_cadences_are_refused():
    with pytest.raises(ResourceError):
        occurrences_per_month(1, "fortnight")
    with pytest.raises(ResourceError):
        occurrences_per_month(0, "week")


def test_a_new_participation_step_costs_its_hours_per_new_participation():
    dd = STEPS[5]
    assert step_monthly_hours(dd, new_per_month=0.25) == pytest.approx(1.5)
    assert step_monthly_hours(dd) == 0.0


def test_capacity_is_weekly_hours_times_52_over_12():
    assert monthly_capacity([40, 20]) == pytest.approx(60 * 52 / 12)
    assert monthly_capacity([]) == 0.0


def test_demand_per_team_against_a_hand_computation():
    groups = [
        ClientGroup("A", "dedicated", (), ("high", "low", "strategic"), clients=2),
        ClientGroup("A", "dedicated", (), ("high", "low", "ordinary"), clients=3),
        ClientGroup("A", "standard", ("enhanced_dd", "kyc_refresh"), ("general", "high", "ordinary"), clients=4,
                    new_per_month=0.5),
        ClientGroup("A", "standard", ("data_collection",), ("insufficient", "low", "ordinary"), clients=10),
        ClientGroup("B", "standard", (), ("general", "low", "ordinary"), clients=7),
    ]
    lines = demand_lines(groups, STEPS)
    by = {(x.team, x.playbook, x.action): x for x in lines}
    assert by[("A", "dedicated", "contact")].hours == pytest.approx(5 * FORTNIGHTLY)
    assert by[("A", "dedicated", "contact")].clients == 5
    assert by[("A", "dedicated", "senior_meeting")].hours == pytest.approx(2 * 1.0)   # strategic ones only
    assert by[("A", "dedicated", "senior_meeting")].clients == 2
    assert by[("A", "standard", "contact")].hours == pytest.approx(14 * STANDARD)
    assert by[("A", "enhanced_dd", "due_diligence")].hours == pytest.approx(0.5 * 6)
    assert by[("A", "kyc_refresh", "kyc_refresh")].hours == pytest.approx(4 * 2 / 6)
    assert by[("A", "data_collection", "data_collection")].hours == pytest.approx(10 * 0.5)
    totals = demand_by_team(lines)
    assert totals["A"] == pytest.approx(2 * DEDICATED_STRATEGIC + 3 * DEDICATED_ORDINARY + 14 * STANDARD
                                        + 3 + 4 / 3 + 5)
    assert totals["B"] == pytest.approx(7 * STANDARD)
    # Everybody on the standard tier (the what-if's baseline): add-ons stay, dedicated steps go.
    base = demand_by_team(demand_lines(groups, STEPS, tier="standard"))
    assert base["A"] == pytest.approx(19 * STANDARD + 3 + 4 / 3 + 5)


def test_the_dedicated_increment_follows_the_labels():
    costs = dedicated_increment(STEPS, [("high", "low", "strategic"), ("general", "low", "ordinary")], [0, 3])
    assert costs == pytest.approx([DEDICATED_STRATEGIC - STANDARD, DEDICATED_ORDINARY - STANDARD])


def test_a_new_participation_step_on_a_tier_makes_the_increment_depend_on_the_client():
    steps = [*STEPS, StepSpec("dedicated", "due_diligence", 2, trigger="new_participation")]
    costs = dedicated_increment(steps, [("high", "low", "ordinary")] * 2, [0.0, 1.5])
    assert costs[1] - costs[0] == pytest.approx(3.0)


# --- what-if ----------------------------------------------------------------------------------------------

def brute_force(scores, costs, budget):
    """The best total score of any set of clients with positive score whose costs fit the budget."""
    best = 0.0
    n = len(scores)
    for r in range(n + 1):
        for subset in itertools.combinations(range(n), r):
            if sum(costs[i] for i in subset) <= budget + 1e-9:
                best = max(best, sum(max(scores[i], 0.0) for i in subset))
    return best


def test_what_if_on_a_small_team_by_hand():
    scores = [10.0, 6.0, 5.0, 4.5, 1.0]
    costs = [DEDICATED_STRATEGIC - STANDARD] + [DEDICATED_ORDINARY - STANDARD] * 4
    result = what_if(scores, costs, capacity=4 * 52 / 12, base_hours=3.1667, current=[True, True, False, False, False])
    # 14.17 hours left: the strategic client (5.43 h) and the next best (4.43 h); a third would need 14.28 h.
    assert result.k == 2
    assert list(result.selected) == [True, True, False, False, False]
    assert result.value_covered == pytest.approx(16 / 26.5)
    assert result.hours_used == pytest.approx(costs[0] + costs[1])
    assert result.total_hours == pytest.approx(3.1667 + costs[0] + costs[1])
    assert result.budget == pytest.approx(4 * 52 / 12 - 3.1667)
    assert result.current_k == 2 and result.current_value_covered == pytest.approx(16 / 26.5)
    assert brute_force(scores, costs, result.budget) == pytest.approx(result.value_selected)


@settings(max_examples=150, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(-3, 40), st.integers(1, 80)), min_size=0, max_size=9),
    budget_tenths=st.integers(0, 250),
    base_tenths=st.integers(0, 50),
)
def test_what_if_finds_the_brute_force_optimum(data, budget_tenths, base_tenths):
    scores = [float(s) for s, _ in data]
    costs = [c / 10 for _, c in data]           # whole tenths of an hour: the knapsack is exact
    base = base_tenths / 10
    capacity = base + budget_tenths / 10
    result = what_if(scores, costs, capacity=capacity, base_hours=base)
    assert result.value_selected == pytest.approx(brute_force(scores, costs, capacity - base))
    assert result.hours_used <= result.budget + 1e-9
    assert result.k == int(np.count_nonzero(result.selected))
    assert all(scores[i] > 0 for i in np.flatnonzero(result.selected))


def test_no_spare_hours_means_nobody_is_moved_but_free_clients():
    result = what_if([5.0, 3.0, 2.0], [2.0, 0.0, 1.0], capacity=10, base_hours=12)
    assert result.budget == 0.0
    assert list(result.selected) == [False, True, False]   # costs nothing extra
    assert result.value_covered == pytest.approx(0.3)


def test_what_if_refuses_mismatched_arrays():
    with pytest.raises(ResourceError):
        what_if([1.0, 2.0], [1.0], capacity=5, base_hours=0)


def test_missing_scores_are_never_chosen_and_the_empty_team_works():
    result = what_if([math.nan, 2.0], [1.0, 1.0], capacity=5, base_hours=0)
    assert list(result.selected) == [False, True]
    empty = what_if([], [], capacity=5, base_hours=1)
    assert empty.k == 0 and empty.value_covered is None and empty.curve == [(1.0, 0.0)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 100), st.floats(0, 20)), min_size=1, max_size=400), st.floats(0, 500))
def test_the_value_curve_rises_from_the_baseline_to_all_the_value(data, base):
    scores = np.array([s for s, _ in data])
    costs = np.array([c for _, c in data])
    curve = value_curve(scores, costs, base_hours=base, points=50)
    assert curve[0] == (base, 0.0)
    assert len(curve) <= 51
    hours = [h for h, _ in curve]
    shares = [s for _, s in curve]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(hours))
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(shares))
    assert hours[-1] == pytest.approx(base + costs.sum())
    if np.clip(scores, 0, None).sum() > 0:
        assert shares[-1] == pytest.approx(1.0)
