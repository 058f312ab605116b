"""The pure allocation module (bcrm/book/allocation.py): examples and properties."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.book.allocation import AllocationError, Line, allocate

D = Decimal
SETTINGS = settings(max_examples=50, deadline=None)


@st.composite
def books(draw, *, ranks: bool = False, min_ticket: bool = True):
    lot = draw(st.sampled_from([D("0.01"), D(1), D(100), D(1000)]))
    n = draw(st.integers(1, 25))
    asks = [lot * draw(st.integers(0, 500)) + draw(st.sampled_from([D(0), lot / 2])) for _ in range(n)]
    demand = sum(asks)
    if demand <= 0:
        asks[0] = lot * 10
        demand = sum(asks)
    target = max(lot, (demand * D(draw(st.integers(5, 100))) / 100).quantize(D("0.01")))
    if target > demand:
        target = demand
    minimum = lot * draw(st.integers(0, 20)) if min_ticket else D(0)
    lines = [Line(key=f"{i:05d}", ask=ask, rank=(draw(st.integers(0, 2)),) if ranks else ())
             for i, ask in enumerate(asks)]
    return lines, target, lot, minimum


def _cap(ask: Decimal, lot: Decimal) -> Decimal:
    return (ask // lot) * lot


@SETTINGS
@given(books(min_ticket=False))
def test_conservation_without_minimum(book):
    lines, target, lot, _ = book
    result = allocate(lines, target=target, lot=lot, policy="pro_rata")
    wanted = min((target // lot) * lot, sum(_cap(line.ask, lot) for line in lines))
    assert result.allocated == wanted == result.to_allocate


@SETTINGS
@given(books(ranks=True))
def test_caps_lots_minimum_and_never_above_target(book):
    lines, target, lot, minimum = book
    for policy in ("pro_rata", "priority"):
        result = allocate(lines, target=target, lot=lot, min_ticket=minimum, policy=policy)
        assert result.allocated <= target
        for one in result.lines:
            assert D(0) <= one.amount <= one.ask
            assert one.amount % lot == 0
            assert one.amount == 0 or one.amount >= minimum


@SETTINGS
@given(books())
def test_larger_ask_never_gets_less(book):
    lines, target, lot, minimum = book
    result = allocate(lines, target=target, lot=lot, min_ticket=minimum)
    ordered = sorted(result.lines, key=lambda a: a.ask)
    for small, large in itertools.pairwise(ordered):
        if large.ask > small.ask:
            assert large.amount >= small.amount


@SETTINGS
@given(books(ranks=True))
def test_larger_ask_in_the_same_class_never_gets_less(book):
    lines, target, lot, minimum = book
    result = allocate(lines, target=target, lot=lot, min_ticket=minimum, policy="priority")
    for a in result.lines:
        for b in result.lines:
            if a.rank == b.rank and a.ask > b.ask:
                assert a.amount >= b.amount


@SETTINGS
@given(books(ranks=True), st.randoms(use_true_random=False))
def test_deterministic_in_any_order(book, rnd):
    lines, target, lot, minimum = book
    first = allocate(lines, target=target, lot=lot, min_ticket=minimum, policy="priority").by_key()
    shuffled = list(lines)
    rnd.shuffle(shuffled)
    assert allocate(shuffled, target=target, lot=lot, min_ticket=minimum, policy="priority").by_key() == first


@SETTINGS
@given(books(ranks=True, min_ticket=False))
def test_class_priority_honoured(book):
    lines, target, lot, _ = book
    result = allocate(lines, target=target, lot=lot, policy="priority")
    for low in result.lines:
        if low.amount > 0:
            for high in result.lines:
                if high.rank < low.rank:
                    assert high.amount == _cap(high.ask, lot)
    wanted = min((target // lot) * lot, sum(_cap(line.ask, lot) for line in lines))
    assert result.allocated == wanted


def test_largest_remainder_with_stable_ties():
    lines = [Line("a", D(100)), Line("b", D(100)), Line("c", D(100))]
    result = allocate(lines, target=D(200), lot=D(1))
    assert result.by_key() == {"a": D(67), "b": D(67), "c": D(66)}
    assert result.allocated == D(200)


def test_below_minimum_gets_zero_and_share_is_redistributed():
    lines = [Line("a", D(900)), Line("b", D(900)), Line("c", D(150))]
    result = allocate(lines, target=D(1000), lot=D(10), min_ticket=D(100))
    # c's quota (77.9) is below the minimum: it drops out, a and b share the 1000.
    assert result.by_key() == {"a": D(500), "b": D(500), "c": D(0)}


def test_priority_fills_the_first_class_first():
    lines = [Line("s", D(600), rank=(0,)), Line("o1", D(600), rank=(1,)), Line("o2", D(200), rank=(1,))]
    result = allocate(lines, target=D(1000), lot=D(1), policy="priority")
    assert result.by_key() == {"s": D(600), "o1": D(300), "o2": D(100)}


def test_undersubscribed_book_is_refused():
    with pytest.raises(AllocationError) as err:
        allocate([Line("a", D(10))], target=D(100))
    assert err.value.code == "undersubscribed"


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"target": D(-1)}, "target_not_positive"),
    ({"target": D(10), "lot": D(0)}, "lot_not_positive"),
    ({"target": D(10), "min_ticket": D(-5)}, "min_ticket_negative"),
    ({"target": D(10), "policy": "lottery"}, "unknown_policy"),
])
def test_bad_parameters(kwargs, code):
    with pytest.raises(AllocationError) as err:
        allocate([Line("a", D(100))], **kwargs)
    assert err.value.code == code


def test_negative_ask_is_refused():
    with pytest.raises(AllocationError) as err:
        allocate([Line("a", D(-100)), Line("b", D(500))], target=D(10))
    assert err.value.code == "ask_negative"


@pytest.mark.parametrize(("manual", "code"), [
    ({"a": D(600)}, "above_ask"),
    ({"a": D(55)}, "not_whole_lots"),
    ({"a": D(10)}, "below_minimum"),
    ({"a": D(500), "b": D(500)}, "above_target"),
    ({"zz": D(10)}, "unknown_line"),
])
def test_manual_checks(manual, code):
    lines = [Line("a", D(500)), Line("b", D(500))]
    with pytest.raises(AllocationError) as err:
        allocate(lines, target=D(800), lot=D(10), min_ticket=D(100), policy="manual", manual=manual)
    assert err.value.code == code


def test_manual_keeps_what_was_given():
    lines = [Line("a", D(500)), Line("b", D(500))]
    result = allocate(lines, target=D(800), lot=D(10), min_ticket=D(100), policy="manual",
                      manual={"a": D(500), "b": D(300)})
    assert result.by_key() == {"a": D(500), "b": D(300)}


def test_ten_thousand_lines_sum_exactly():
    rnd = random.Random(7)
    lines = [Line(f"{i:05d}", D(rnd.randint(1, 5000)) * 1000) for i in range(10_000)]
    result = allocate(lines, target=D(10_000_000_000), lot=D(1000), min_ticket=D(100_000))
    assert result.allocated == D(10_000_000_000)
