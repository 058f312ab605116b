"""Monthly exchange rates for the demo: every currency the generator can use, into the reporting currency.

Rates are a random walk around today's rough levels (pegged currencies barely move), so sums in
the reporting currency come out at sensible magnitudes and drift a little over the two years.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

# Rough US dollars per unit; only the order of magnitude matters for fictional data.
USD_PER_UNIT: dict[str, float] = {
    "USD": 1.0, "EUR": 1.08, "CNY": 0.138, "HKD": 0.128, "GBP": 1.27, "JPY": 0.0067, "SGD": 0.74,
    "AED": 0.2723, "SAR": 0.2667, "KZT": 0.0021, "IDR": 0.000063, "VND": 0.00004, "PKR": 0.0036,
    "EGP": 0.021, "KES": 0.0072, "ZAR": 0.054, "BRL": 0.19, "CLP": 0.00105, "MYR": 0.21, "THB": 0.028,
    "AUD": 0.66,
}
PEGGED = {"USD", "HKD", "AED", "SAR"}
MONTHS = 24


def month_starts(as_of: dt.date, months: int = MONTHS) -> list[dt.date]:
    """The first day of each of the last ``months`` months, the latest on or before ``as_of``."""
    year, month = as_of.year, as_of.month
    out = []
    for _ in range(months):
        out.append(dt.date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return sorted(out)


def monthly_usd_rates(rng: random.Random, as_of: dt.date) -> dict[str, list[tuple[dt.date, float]]]:
    """US dollars per unit of each currency, per month, ending at ``USD_PER_UNIT``."""
    dates = month_starts(as_of)
    out: dict[str, list[tuple[dt.date, float]]] = {}
    for currency, level in USD_PER_UNIT.items():
        volatility = 0.0005 if currency in PEGGED else 0.018
        series = [level]
        for _ in dates[1:]:
            series.append(series[-1] * (1 + rng.gauss(0, volatility)))
        series.reverse()  # walk backwards from today's level
        out[currency] = list(zip(dates, series, strict=True))
    out["USD"] = [(d, 1.0) for d in dates]
    return out


def rate_rows(usd_rates: dict[str, list[tuple[dt.date, float]]], reporting: str) -> list[tuple[str, dt.date, Decimal]]:
    """(currency, as_of, units of ``reporting`` per unit) for every currency except the reporting one."""
    if reporting not in usd_rates:
        raise ValueError(f"The demo has no exchange rates for the reporting currency {reporting}.")
    reporting_usd = dict(usd_rates[reporting])
    rows = []
    for currency, series in usd_rates.items():
        if currency == reporting:
            continue
        for as_of, usd in series:
            rate = Decimal(repr(usd / reporting_usd[as_of])).quantize(Decimal("0.0000000001"))
            rows.append((currency, as_of, max(rate, Decimal("0.0000000001"))))
    return rows
