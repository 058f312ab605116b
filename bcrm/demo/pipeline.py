"""How a demo participation travelled along the commitment ladder, and what it is worth.

The risk and value features read the dated status history (time in stage, fall-out), so the demo
invents a plausible path for each participation rather than only its end state.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from bcrm.financing.choices import COMMITMENT_LADDER, COMMITTED_STATUSES, ParticipationStatus

LADDER = [str(s) for s in COMMITMENT_LADDER]
DECLINED = str(ParticipationStatus.DECLINED)
WITHDRAWN = str(ParticipationStatus.WITHDRAWN)
COMMITTED = {str(s) for s in COMMITTED_STATUSES}
FINAL_STATES = [*LADDER, DECLINED, WITHDRAWN]

# The pipeline team's usual win probability per status; closed-out deals are worth nothing.
PROBABILITY: dict[str, Decimal] = {
    "prospect": Decimal("0.050"), "contacted": Decimal("0.100"), "soft_interest": Decimal("0.250"),
    "credit_approved": Decimal("0.500"), "term_sheet": Decimal("0.700"), "firm_commitment": Decimal("0.900"),
    "allocated": Decimal("0.950"), "funded": Decimal("1.000"), "declined": Decimal("0.000"),
    "withdrawn": Decimal("0.000"),
}

# Where participations stand depends on how far the project itself is: weights over FINAL_STATES
# (the eight rungs, then declined, withdrawn).
STAGE_OUTCOMES: dict[str, list[float]] = {
    "origination": [30, 30, 20, 6, 2, 0, 0, 0, 10, 2],
    "development": [15, 25, 25, 12, 6, 2, 0, 0, 12, 3],
    "structuring": [6, 14, 22, 20, 14, 6, 0, 0, 14, 4],
    "marketing": [3, 8, 14, 18, 18, 18, 4, 0, 12, 5],
    "financial_close": [0, 2, 4, 6, 8, 30, 30, 4, 10, 6],
    "construction": [0, 0, 2, 2, 2, 12, 28, 36, 10, 8],
    "operation": [0, 0, 1, 1, 1, 6, 12, 61, 10, 8],
}
# Anchor clients (core investors, strategic platform clients) stay in and sit high on the ladder.
ANCHOR_OUTCOMES: dict[str, list[float]] = {
    "origination": [5, 15, 40, 25, 10, 0, 0, 0, 3, 2],
    "development": [2, 8, 30, 30, 20, 5, 0, 0, 3, 2],
    "structuring": [0, 2, 10, 25, 35, 20, 0, 0, 4, 4],
    "marketing": [0, 0, 3, 10, 25, 50, 8, 0, 2, 2],
    "financial_close": [0, 0, 0, 2, 5, 40, 45, 4, 2, 2],
    "construction": [0, 0, 0, 0, 2, 10, 33, 50, 2, 3],
    "operation": [0, 0, 0, 0, 0, 4, 10, 80, 3, 3],
}


def final_status(rng: random.Random, stage: str, *, anchor: bool = False) -> str:
    weights = (ANCHOR_OUTCOMES if anchor else STAGE_OUTCOMES)[stage]
    return rng.choices(FINAL_STATES, weights=weights)[0]


def status_path(rng: random.Random, final: str) -> list[str]:
    """The statuses a participation went through to reach ``final``, starting at prospect."""
    if final == DECLINED:
        # Turned down early: somewhere between first approach and credit committee.
        return [*LADDER[: rng.randint(1, 4)], DECLINED]
    if final == WITHDRAWN:
        # Pulled out later, sometimes even after committing: the late fall-out risk scores read.
        return [*LADDER[: rng.randint(3, 7)], WITHDRAWN]
    return LADDER[: LADDER.index(final) + 1]


def path_dates(rng: random.Random, steps: int, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """``steps`` strictly increasing times from ``start`` to at most ``end``, uneven like real deal flow."""
    span = max((end - start).total_seconds(), steps * 3600.0)
    gaps = [rng.expovariate(1.0) + 0.15 for _ in range(steps)]
    scale = span * rng.uniform(0.55, 1.0) / sum(gaps)
    out: list[dt.datetime] = []
    at = start
    for i, gap in enumerate(gaps):
        at = start if i == 0 else at + dt.timedelta(seconds=max(3600.0, gap * scale))
        out.append(at.replace(microsecond=0))
    return out


def fee_for(rng: random.Random, status: str, ticket: float) -> float:
    """Arrangement fees are earned once a ticket is committed, at 20–120 basis points."""
    if status not in COMMITTED:
        return 0.0
    return ticket * rng.uniform(0.002, 0.012)


def money(value: float, step: int = 1000) -> Decimal:
    """Round to a ``step`` of the currency: tickets are quoted in round numbers."""
    if value <= 0:
        return Decimal("0.00")
    return Decimal(int(round(value / step)) * step).quantize(Decimal("0.01"))
