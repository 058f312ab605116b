"""Allocation of an oversubscribed book: pure functions, exact Decimal, no Django.

Input: the book's lines (a stable ``key``, the firm ``ask`` in the book's currency, and a ``rank``: the
priority class, a sortable tuple, lower first), the ``target``, the ``lot`` size and the ``min_ticket``.

The rules, the same for every policy:

- Everything is counted in whole lots: a line can get at most ``floor(ask / lot)`` lots (its *cap*), the
  amount to allocate is ``A = min(floor(target / lot), Σ caps)`` lots. An allocation is a whole number of
  lots, never more than the ask, and either zero or at least the minimum ticket (``m = ceil(min_ticket /
  lot)`` lots). A line whose ask is below the minimum ticket gets zero.
- ``pro_rata``: each line's quota is ``A · cap / Σ caps`` lots (an exact fraction). Every line gets the
  whole lots of its quota; the lots left over (fewer than the lines) go one each to the lines with the
  **largest remainders**, ties broken by the larger ask, then by the key (a stable order): so the sum is
  exactly ``A``. A line that ends below the minimum ticket gets zero and drops out; the quotas are computed
  again over the others (its share is redistributed), until no line is below the minimum. If the lines left
  can absorb less than ``A`` they all get their caps, and the dropped lines are taken back, largest first,
  with what is left if that reaches the minimum ticket. So the sum is ``A`` exactly unless the minimum ticket
  forbids it (then less, never more).
- ``priority``: the classes in rank order; each class is allocated pro rata (as above) from what the classes
  before it left, so a lower class gets something only once every line of the higher classes has its cap
  (up to what the minimum ticket leaves over).
- ``manual``: the amounts given are checked against the same rules (lots, caps, minimum, total ≤ target).

An undersubscribed book (firm demand below the target) is not allocated by ``pro_rata`` or ``priority``:
everyone simply gets their ask, which needs no policy. The result is deterministic: the same lines in any
order give the same allocation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

POLICIES = ("pro_rata", "priority", "manual")


class AllocationError(ValueError):
    """Bad input; ``code`` names the rule, ``params`` the numbers (the caller words the message)."""

    def __init__(self, code: str, **params: Any):
        super().__init__(f"{code}: {params}" if params else code)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Line:
    key: str
    ask: Decimal
    rank: tuple = ()


@dataclass(frozen=True)
class Allotted:
    key: str
    ask: Decimal
    amount: Decimal
    rank: tuple = ()


@dataclass
class Result:
    policy: str
    target: Decimal
    demand: Decimal
    to_allocate: Decimal
    lines: list[Allotted] = field(default_factory=list)

    @property
    def allocated(self) -> Decimal:
        return sum((a.amount for a in self.lines), Decimal(0))

    def by_key(self) -> dict[str, Decimal]:
        return {a.key: a.amount for a in self.lines}


def _lots(amount: Decimal, lot: Decimal, rounding: str = ROUND_FLOOR) -> int:
    return int((amount / lot).to_integral_value(rounding=rounding))


def _check(lines: list[Line], target: Decimal, lot: Decimal, min_ticket: Decimal) -> None:
    if not isinstance(target, Decimal) or not target.is_finite() or target <= 0:
        raise AllocationError("target_not_positive", target=target)
    if not isinstance(lot, Decimal) or not lot.is_finite() or lot <= 0:
        raise AllocationError("lot_not_positive", lot=lot)
    if not isinstance(min_ticket, Decimal) or not min_ticket.is_finite() or min_ticket < 0:
        raise AllocationError("min_ticket_negative", min_ticket=min_ticket)
    seen: set[str] = set()
    for line in lines:
        if not isinstance(line.ask, Decimal) or not line.ask.is_finite() or line.ask < 0:
            raise AllocationError("ask_negative", key=line.key, ask=line.ask)
        if line.key in seen:
            raise AllocationError("duplicate_key", key=line.key)
        seen.add(line.key)


def _pro_rata(members: list[int], caps: list[int], asks: list[Decimal], keys: list[str], total: int,
              minimum: int) -> dict[int, int]:
    """Lots per member index: largest remainder pro rata on the caps, below-minimum lines dropped and their
    share redistributed (the module docstring)."""
    eligible = [i for i in members if caps[i] > 0 and caps[i] >= minimum]
    active = eligible
    alloc: dict[int, int] = {}
    while True:
        denominator = sum(caps[i] for i in active)
        if denominator <= total:
            alloc = {i: caps[i] for i in active}
            break
        alloc = {}
        remainders = []
        for i in active:
            whole, rest = divmod(total * caps[i], denominator)
            alloc[i] = whole
            remainders.append((-rest, -caps[i], -asks[i], keys[i], i))
        left = total - sum(alloc.values())
        remainders.sort()
        for entry in remainders[:left]:
            alloc[entry[-1]] += 1
        below = [i for i in active if alloc[i] < minimum]
        if not below:
            break
        dropped = set(below)
        active = [i for i in active if i not in dropped]
    left = total - sum(alloc.values())
    if left > 0:
        kept = set(alloc)
        for i in sorted((i for i in eligible if i not in kept), key=lambda i: (-caps[i], -asks[i], keys[i])):
            give = min(caps[i], left)
            if give > 0 and give >= minimum:
                alloc[i] = give
                left -= give
    return alloc


def allocate(lines: Iterable[Line], *, target: Decimal, lot: Decimal = Decimal("0.01"),
             min_ticket: Decimal = Decimal(0), policy: str = "pro_rata",
             manual: Mapping[str, Decimal] | None = None) -> Result:
    """Allocate ``target`` over ``lines`` by ``policy`` (see the module docstring)."""
    lines = list(lines)
    _check(lines, target, lot, min_ticket)
    if policy not in POLICIES:
        raise AllocationError("unknown_policy", policy=policy)
    demand = sum((line.ask for line in lines), Decimal(0))
    if policy == "manual":
        return _manual(lines, target, lot, min_ticket, demand, manual or {})
    if demand < target:
        raise AllocationError("undersubscribed", demand=demand, target=target)
    order = sorted(range(len(lines)), key=lambda i: lines[i].key)
    caps = [_lots(line.ask, lot) for line in lines]
    asks = [line.ask for line in lines]
    keys = [line.key for line in lines]
    total = min(_lots(target, lot), sum(caps))
    minimum = _lots(min_ticket, lot, ROUND_CEILING)
    if policy == "pro_rata":
        alloc = _pro_rata(order, caps, asks, keys, total, minimum)
    else:
        alloc = {}
        remaining = total
        classes: dict[tuple, list[int]] = {}
        for i in order:
            classes.setdefault(tuple(lines[i].rank), []).append(i)
        for rank in sorted(classes):
            got = _pro_rata(classes[rank], caps, asks, keys, remaining, minimum) if remaining > 0 else {}
            alloc.update(got)
            remaining -= sum(got.values())
    result = Result(policy=policy, target=target, demand=demand, to_allocate=lot * total)
    result.lines = [Allotted(key=lines[i].key, ask=lines[i].ask, amount=lot * alloc.get(i, 0), rank=lines[i].rank)
                    for i in order]
    return result


def _manual(lines: list[Line], target: Decimal, lot: Decimal, min_ticket: Decimal, demand: Decimal,
            manual: Mapping[str, Decimal]) -> Result:
    known = {line.key for line in lines}
    unknown = sorted(set(manual) - known)
    if unknown:
        raise AllocationError("unknown_line", key=unknown[0])
    out = []
    for line in sorted(lines, key=lambda one: one.key):
        amount = manual.get(line.key, Decimal(0))
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
            raise AllocationError("amount_negative", key=line.key, amount=amount)
        if amount > line.ask:
            raise AllocationError("above_ask", key=line.key, amount=amount, ask=line.ask)
        if amount % lot:
            raise AllocationError("not_whole_lots", key=line.key, amount=amount, lot=lot)
        if 0 < amount < min_ticket:
            raise AllocationError("below_minimum", key=line.key, amount=amount, min_ticket=min_ticket)
        out.append(Allotted(key=line.key, ask=line.ask, amount=amount, rank=line.rank))
    total = sum((a.amount for a in out), Decimal(0))
    if total > target:
        raise AllocationError("above_target", total=total, target=target)
    return Result(policy="manual", target=target, demand=demand, to_allocate=total, lines=out)


def proportional_float_split(asks: list[float], target: float) -> list[float]:
    """The benchmark's baseline: a plain proportional split in floats (no lots, no minimum, no exact sum)."""
    demand = sum(asks)
    return [target * ask / demand for ask in asks]
