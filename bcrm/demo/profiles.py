"""What a demo client looks like: kind, country, rating, KYC, relationship, contacts.

Shared by the rich demo (a few hundred clients) and the scale data set (a million), so both
portfolios have the same shape and the classification engine sees the same kinds of evidence.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from bisect import bisect
from collections.abc import Sequence
from typing import TypeVar

from bcrm.demo.names import COUNTRY_WEIGHTS
from bcrm.parties.ratings import LETTER_SCALE, MOODYS_SCALE, rating_score

T = TypeVar("T")


class Picker:
    """Weighted choice with the cumulative weights computed once: ``random.choices`` redoes that per
    call, which shows up when a million clients are drawn."""

    def __init__(self, weighted: dict[T, float] | Sequence[tuple[T, float]]):
        items = list(weighted.items()) if isinstance(weighted, dict) else list(weighted)
        self.values = [value for value, _ in items]
        self.cumulative = list(itertools.accumulate(weight for _, weight in items))
        self.total = self.cumulative[-1]

    def __call__(self, rng: random.Random):
        return self.values[bisect(self.cumulative, rng.random() * self.total)]


KIND_WEIGHTS: dict[str, float] = {
    "equity_investor": 14, "commercial_bank": 14, "dfi": 4, "eca": 3, "fund": 14, "institutional_investor": 11,
    "sponsor": 8, "strategic_partner": 8, "offtaker": 5, "contractor": 5, "government": 3, "advisor": 6,
    "other": 5,
}
pick_kind = Picker(KIND_WEIGHTS)
pick_country = Picker(COUNTRY_WEIGHTS)

# Kinds that put money into projects, and the roles they take.
ROLES_BY_KIND: dict[str, Picker] = {
    "equity_investor": Picker({"equity": 8, "mezzanine": 2}),
    "commercial_bank": Picker({"senior_debt": 9, "guarantee": 1}),
    "dfi": Picker({"senior_debt": 6, "mezzanine": 2, "guarantee": 2}),
    "eca": Picker({"guarantee": 6, "senior_debt": 4}),
    "fund": Picker({"equity": 6, "mezzanine": 4}),
    "institutional_investor": Picker({"senior_debt": 5, "equity": 3, "mezzanine": 2}),
    "strategic_partner": Picker({"equity": 10}),
    "sponsor": Picker({"equity": 10}),
    "offtaker": Picker({"offtake": 10}),
    "advisor": Picker({"advisory": 10}),
}
INVESTOR_KINDS = ("equity_investor", "commercial_bank", "dfi", "eca", "fund", "institutional_investor",
                  "strategic_partner")
FINANCE_KINDS = ("commercial_bank", "fund", "institutional_investor", "strategic_partner", "equity_investor")

SECTOR_BY_KIND: dict[str, Picker] = {
    "sponsor": Picker({"energy": 5, "transport": 2, "water": 1, "digital": 2}),
    "offtaker": Picker({"energy": 6, "water": 3, "digital": 1}),
    "contractor": Picker({"energy": 3, "transport": 3, "water": 2, "industry": 2}),
    "strategic_partner": Picker({"industry": 3, "energy": 3, "digital": 2, "transport": 1, "finance": 1}),
    "government": Picker({"energy": 2, "transport": 2, "water": 2, "social": 1, "other": 1}),
    "advisor": Picker({"finance": 6, "other": 2, "energy": 1}),
    "other": Picker({"other": 4, "industry": 2, "digital": 2, "social": 1}),
}
INFRA_FUND_SECTOR = Picker({"finance": 6, "energy": 2, "transport": 1, "digital": 1})

# The team that owns a kind of client; None means nobody has picked the client up yet.
TEAM_BY_KIND: dict[str, Picker] = {
    **{k: Picker({"core": 70, "platform": 20, None: 10}) for k in
       ("equity_investor", "fund", "institutional_investor", "sponsor", "strategic_partner")},
    **{k: Picker({"fi": 85, "platform": 10, None: 5}) for k in ("commercial_bank", "dfi", "eca")},
}
OTHER_TEAMS = Picker({"platform": 50, "core": 20, None: 30})


def team_shares() -> dict[str, float]:
    """The share of clients each team looks after (``team_for``, or ``default_team`` when it gives none)."""
    def weights(picker: Picker) -> dict:
        steps = [b - a for a, b in zip([0.0, *picker.cumulative[:-1]], picker.cumulative, strict=True)]
        return {value: w / picker.total for value, w in zip(picker.values, steps, strict=True)}

    shares: dict[str, float] = {}
    for kind, kind_share in weights(pick_kind).items():
        for team, team_share in weights(TEAM_BY_KIND.get(kind) or OTHER_TEAMS).items():
            team = team or default_team(kind)
            shares[team] = shares.get(team, 0.0) + kind_share * team_share
    return shares


def default_team(kind: str) -> str:
    """The team that looks after a client of ``kind`` when no other team took it on."""
    if kind in ("commercial_bank", "dfi", "eca"):
        return "fi"
    if kind in ("equity_investor", "fund", "institutional_investor", "sponsor", "strategic_partner"):
        return "core"
    return "platform"

# Typical credit quality on the 1 (AAA) … 22 (D) scale.
RATING_CENTRE: dict[str, tuple[float, float]] = {
    "dfi": (2.0, 1.2), "eca": (3.0, 1.5), "commercial_bank": (6.5, 2.5), "institutional_investor": (6.0, 2.5),
    "government": (8.0, 3.5), "fund": (9.5, 3.0), "equity_investor": (10.0, 3.0), "strategic_partner": (9.0, 3.0),
    "sponsor": (11.0, 3.0), "offtaker": (9.0, 3.0), "contractor": (11.5, 3.0), "advisor": (10.0, 3.0),
    "other": (12.0, 3.5),
}
AGENCIES_CN = Picker({"domestic": 50, "sp": 15, "moodys": 12, "fitch": 13, "internal": 10})
AGENCIES_INTL = Picker({"sp": 35, "moodys": 30, "fitch": 25, "internal": 10})
KYC = Picker({"verified": 62, "expired": 8, "pending": 12, "not_started": 14, "rejected": 4})
SENIORITY = Picker({"board": 5, "c_level": 15, "senior": 25, "middle": 35, "staff": 20})
SENIORITY_BIG = Picker({"board": 15, "c_level": 30, "senior": 30, "middle": 20, "staff": 5})


def sector_for(rng: random.Random, kind: str) -> str:
    picker = SECTOR_BY_KIND.get(kind)
    if picker is not None:
        return picker(rng)
    return "finance" if kind != "fund" else INFRA_FUND_SECTOR(rng)


def team_for(rng: random.Random, kind: str) -> str | None:
    return (TEAM_BY_KIND.get(kind) or OTHER_TEAMS)(rng)


def rating_for(rng: random.Random, kind: str, country: str, *, sanctioned: bool = False) -> tuple[str, str, int | None]:
    """(agency, grade, score); about a quarter of clients are unrated."""
    if rng.random() < 0.25:
        return "", "", None
    agency = (AGENCIES_CN if country == "CN" else AGENCIES_INTL)(rng)
    centre, spread = RATING_CENTRE[kind]
    if sanctioned:
        centre += 5
    score = min(22, max(1, round(rng.gauss(centre, spread))))
    if agency == "internal":
        grade = str(score)
    elif agency == "moodys":
        grade = MOODYS_SCALE[score - 1]
    else:
        grade = LETTER_SCALE[score - 1]
    return agency, grade, rating_score(agency, grade)


def kyc_for(rng: random.Random, as_of: dt.date, *, sanctioned: bool = False) -> tuple[str, dt.date | None]:
    """A verified KYC always has its expiry; a few expire within the month, which compliance sees first."""
    status = KYC(rng) if not sanctioned else rng.choice(["rejected", "pending", "verified"])
    if status == "verified":
        days = rng.randint(5, 30) if rng.random() < 0.08 else rng.randint(31, 730)
        return status, as_of + dt.timedelta(days=days)
    if status == "expired":
        return status, as_of - dt.timedelta(days=rng.randint(1, 400))
    return status, None


def relationship_since(rng: random.Random, as_of: dt.date, *, big: bool = False) -> dt.date:
    years = min(20.0, rng.expovariate(1 / 4.0) + (3.0 if big else 0.2))
    return as_of - dt.timedelta(days=int(years * 365))


def reference_time(as_of: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """Midnight at the start of ``as_of``: every demo event happened before it."""
    return dt.datetime.combine(as_of, dt.time(0, 0), tzinfo=tz)


def business_time(rng: random.Random, ref: dt.datetime, max_days: int, min_days: int = 1) -> dt.datetime:
    """A weekday office-hours moment between ``max_days`` and ``min_days`` days before ``ref``."""
    day = ref - dt.timedelta(days=rng.randint(min_days, max(min_days, max_days)))
    if day.weekday() >= 5:
        day -= dt.timedelta(days=day.weekday() - 4)
    return day.replace(hour=rng.randint(8, 18), minute=rng.choice((0, 15, 30, 45)))


def phone_for(rng: random.Random, prefix: str) -> str:
    return f"{prefix} {rng.randint(100, 999)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"


MINUTES: dict[str, tuple[int, int]] = {
    "call": (15, 45), "email": (5, 20), "meeting": (45, 120), "visit": (240, 600), "event": (120, 480),
    "report_sent": (30, 90), "senior_meeting": (60, 180),
}
INTERACTIONS_GENERAL = Picker({"meeting": 20, "call": 25, "email": 30, "visit": 3, "event": 7, "report_sent": 13,
                               "senior_meeting": 2})
INTERACTIONS_BIG = Picker({"meeting": 25, "call": 20, "email": 15, "visit": 8, "event": 7, "report_sent": 10,
                           "senior_meeting": 15})
PRIORITY = Picker({"low": 20, "normal": 55, "high": 20, "urgent": 5})
