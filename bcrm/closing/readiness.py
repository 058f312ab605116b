"""Closing readiness as pure arithmetic over (status, due date) pairs: the share satisfied or waived, what is
overdue and what still blocks close. No database here (property-tested with hypothesis)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

OPEN = "open"
SUBMITTED = "submitted"
SATISFIED = "satisfied"
WAIVED = "waived"
DONE = (SATISFIED, WAIVED)


@dataclass(frozen=True)
class Readiness:
    total: int
    satisfied: int
    waived: int
    submitted: int
    open: int
    overdue: int
    #: indexes (in the order given) of the items that block close: neither satisfied nor waived
    blocking: tuple[int, ...] = field(default=())

    @property
    def done(self) -> int:
        return self.satisfied + self.waived

    @property
    def share_done(self) -> Decimal:
        """Satisfied or waived ÷ all items, 0–1 with four decimals (an empty checklist is not ready: 0)."""
        if not self.total:
            return Decimal("0")
        return (Decimal(self.done) / Decimal(self.total)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)

    @property
    def percent(self) -> int:
        return int((self.share_done * 100).to_integral_value(rounding=ROUND_HALF_UP))

    @property
    def ready(self) -> bool:
        return self.total > 0 and not self.blocking

    def as_dict(self) -> dict:
        return {"total": self.total, "satisfied": self.satisfied, "waived": self.waived, "submitted": self.submitted,
                "open": self.open, "overdue": self.overdue, "share_done": str(self.share_done),
                "percent": self.percent, "ready": self.ready, "blocking": len(self.blocking)}


def readiness(items: Iterable[tuple[str, dt.date | None]], today: dt.date) -> Readiness:
    """``items``: (status, due date or None). Overdue: not done and due before ``today``."""
    counts = {OPEN: 0, SUBMITTED: 0, SATISFIED: 0, WAIVED: 0}
    blocking: list[int] = []
    overdue = 0
    total = 0
    for index, (status, due) in enumerate(items):
        total += 1
        counts[status] += 1
        if status not in DONE:
            blocking.append(index)
            if due is not None and due < today:
                overdue += 1
    return Readiness(total=total, satisfied=counts[SATISFIED], waived=counts[WAIVED], submitted=counts[SUBMITTED],
                     open=counts[OPEN], overdue=overdue, blocking=tuple(blocking))
