"""Relationship strength (0–100) from interactions: pure functions, no database.

    strength = 100 × (0.30·R + 0.25·F + 0.20·B + 0.10·D + 0.15·S)

R recency
    2^(−d / H): d days since the latest interaction, half-life H = 90 days (a relationship last touched a
    quarter ago is worth half of one touched today).
F frequency
    1 − e^(−W/12), W the interactions weighted by the same decay (each one counts 2^(−age/H); a meeting counts
    twice an e-mail): about a dozen recent touches make F ≈ 0.63, two dozen ≈ 0.86.
B two-way balance
    (min(in, out) + m) / (max(in, out) + m) with in/out the e-mails received from and sent to the client and m
    the meetings (a meeting is two-way): mail that is never answered counts little; 0 without any.
D breadth
    1 − e^(−(c + u − 1)/3), c distinct client people, u distinct people on our side: one person each gives
    0.28, three each 0.81.
S seniority of meetings
    the mean over meetings of the most senior client attendee's weight (board and C-level 1, senior 0.75,
    middle 0.5, junior 0.25); 0 without meetings.

Each component lies in [0, 1], so the score lies in [0, 100].
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

HALF_LIFE_DAYS = 90.0
WEIGHTS = {"recency": 0.30, "frequency": 0.25, "balance": 0.20, "breadth": 0.10, "seniority": 0.15}
SENIORITY_WEIGHT = {"board": 1.0, "c_level": 1.0, "senior": 0.75, "middle": 0.5, "junior": 0.25}
MEETING_WEIGHT = 2.0
FREQUENCY_SCALE = 12.0
BREADTH_SCALE = 3.0


@dataclass(frozen=True)
class Touch:
    """One interaction as the formula sees it."""

    age_days: float  # ≥ 0: days before the moment the strength is computed for
    kind: str  # "email" or "meeting" (any other logged kind counts as a meeting: it was two-way)
    direction: str = "both"  # e-mail: "in" (from the client) or "out" (from us); meetings: "both"
    seniority: str = "middle"  # the most senior client person present


@dataclass(frozen=True)
class Strength:
    score: float
    recency: float
    frequency: float
    balance: float
    breadth: float
    seniority: float
    touches: int

    def components(self) -> dict[str, float]:
        return {"recency": self.recency, "frequency": self.frequency, "balance": self.balance,
                "breadth": self.breadth, "seniority": self.seniority}


def decay(age_days: float, half_life: float = HALF_LIFE_DAYS) -> float:
    return 2.0 ** (-max(age_days, 0.0) / half_life)


def strength(touches: Iterable[Touch], *, client_people: int = 1, our_people: int = 1,
             half_life: float = HALF_LIFE_DAYS) -> Strength:
    items = list(touches)
    if not items:
        return Strength(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0)
    recency = decay(min(t.age_days for t in items), half_life)
    weighted = sum(decay(t.age_days, half_life) * (1.0 if t.kind == "email" else MEETING_WEIGHT) for t in items)
    frequency = 1.0 - math.exp(-weighted / FREQUENCY_SCALE)
    inbound = sum(1 for t in items if t.kind == "email" and t.direction == "in")
    outbound = sum(1 for t in items if t.kind == "email" and t.direction != "in")
    meetings = [t for t in items if t.kind != "email"]
    top = max(inbound, outbound) + len(meetings)
    balance = (min(inbound, outbound) + len(meetings)) / top if top else 0.0
    people = max(client_people, 1) + max(our_people, 1) - 1
    breadth = 1.0 - math.exp(-people / BREADTH_SCALE)
    seniority = (sum(SENIORITY_WEIGHT.get(t.seniority, 0.5) for t in meetings) / len(meetings)) if meetings else 0.0
    parts = {"recency": recency, "frequency": frequency, "balance": balance, "breadth": breadth,
             "seniority": seniority}
    score = 100.0 * sum(WEIGHTS[name] * value for name, value in parts.items())
    return Strength(round(min(max(score, 0.0), 100.0), 1), recency, frequency, balance, breadth, seniority,
                    len(items))
