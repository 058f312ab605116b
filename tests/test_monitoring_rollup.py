"""The roll-up of cells into stored rows, property-tested: every breakdown's segments add up to its "all" row,
and the teams plus the clients without a team add up to the all-teams row."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.monitoring.choices import ALL
from bcrm.monitoring.snapshot import BREAKDOWNS, _Tally, targets

labels = st.sampled_from(["high", "general", "insufficient", "unclassified"])
tiers = st.sampled_from(["dedicated", "standard", "unclassified"])
cells = st.tuples(st.one_of(st.none(), st.integers(1, 3)), labels, labels, labels, tiers)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(cells, st.integers(1, 50)), max_size=30))
def test_segments_and_teams_add_up(rows):
    tally = _Tally()
    for cell, clients in rows:
        tally.add(cell, "clients", clients)
    total = sum(n for _cell, n in rows)
    for breakdown in BREAKDOWNS:
        assert tally.get((breakdown, ALL, None), "clients") == total
        segments = {s for (b, s, t) in tally.sums if b == breakdown and t is None and s != ALL}
        assert sum(tally.get((breakdown, s, None), "clients") for s in segments) == total
        for team in (1, 2, 3):
            mine = sum(n for cell, n in rows if cell[0] == team)
            assert tally.get((breakdown, ALL, team), "clients") == mine
        no_team = sum(n for cell, n in rows if cell[0] is None)
        assert sum(tally.get((breakdown, ALL, t), "clients") for t in (1, 2, 3)) + no_team == total


@given(cells)
def test_a_cell_lands_in_each_breakdown_once_per_scope(cell):
    found = list(targets(cell))
    scopes = 2 if cell[0] is not None else 1
    assert len(found) == len(BREAKDOWNS) * 2 * scopes
    assert len(set(found)) == len(found)
    assert all(t in (cell[0], None) for _b, _s, t in found)
