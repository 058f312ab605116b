"""From a transaction log to the RFM summary of each customer (as ``lifetimes``'
``summary_data_from_transaction_data``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from bcrm.stats import ModelError, gettext_noop
from bcrm.stats.clv.data import DAYS_PER_UNIT, _array, _first


@dataclass(frozen=True, eq=False)
class RFMSummary:
    """Per-customer calibration summary (sorted by customer id) built by :func:`rfm_summary`."""

    customers: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    monetary_value: np.ndarray | None          # mean value of the repeat periods; 0 when frequency is 0
    holdout_frequency: np.ndarray | None       # periods with a purchase after calibration_end
    holdout_length: float                      # in units; 0 when there is no hold-out period
    period: str
    unit: str
    calibration_end: dt.date
    observation_end: dt.date
    n_transactions: int                        # rows of the log up to observation_end
    n_late: int                                # customers first seen after calibration_end (left out)


def _buckets(days: np.ndarray, period: str) -> np.ndarray:
    """Period index of each date (days since 1970-01-01): days, Monday-based weeks, or calendar months."""
    if period == "day":
        return days
    if period == "week":
        return (days + 3) // 7                 # 1970-01-01 was a Thursday
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return months


def rfm_summary(customers: Any, dates: Any, amounts: Any = None, *, period: str = "day", unit: str = "week",
                calibration_end: dt.date | str | None = None, observation_end: dt.date | str | None = None
                ) -> RFMSummary:
    """The RFM summary of a transaction log, as ``lifetimes.utils.summary_data_from_transaction_data``.

    Purchases are collected into periods (``period``: day, week — Monday to Sunday — or calendar month;
    several purchases in one period count once and their amounts add up). Per customer, over the
    calibration period (up to and including ``calibration_end``, default the last date):

    * frequency = number of periods with a purchase, minus the first;
    * recency = time from the first to the last such period, T = from the first period to the period of
      ``calibration_end``, both in ``unit`` (day, week = 7 days, month = 365.25/12 days, or calendar months
      when period and unit are both ``month``);
    * monetary_value = mean amount of the repeat periods (0 without repeat purchases);
    * holdout_frequency = periods with a purchase after ``calibration_end`` up to ``observation_end``.

    Customers whose first purchase falls after ``calibration_end`` are left out (counted in ``n_late``)."""
    ids, days, value, cal_end, obs_end = _read_log(customers, dates, amounts, period, unit, calibration_end,
                                                   observation_end)
    epoch = dt.date(1970, 1, 1)
    cal_day = (cal_end - epoch).days
    obs_day = (obs_end - epoch).days
    inside = days <= obs_day
    ids, days = ids[inside], days[inside]
    value = value[inside] if value is not None else None
    uid, cust = np.unique(ids, return_inverse=True)
    cust = cust.reshape(-1)
    bucket = _buckets(days, period)
    cal_bucket = int(_buckets(np.array([cal_day]), period)[0])
    obs_bucket = int(_buckets(np.array([obs_day]), period)[0])
    # distinct (customer, bucket) pairs, with the amount spent in each
    span = int(bucket.max() - bucket.min()) + 1
    key = cust.astype(np.int64) * span + (bucket - bucket.min())
    upair, pair_inv = np.unique(key, return_inverse=True)
    pair_cust = upair // span
    pair_bucket = upair % span + bucket.min()
    pair_amount = np.bincount(pair_inv.reshape(-1), weights=value, minlength=upair.size) if value is not None else None
    calib = pair_bucket <= cal_bucket
    n_cust = uid.size
    counts = np.bincount(pair_cust[calib], minlength=n_cust)
    first = np.full(n_cust, np.iinfo(np.int64).max)
    np.minimum.at(first, pair_cust[calib], pair_bucket[calib])
    lastb = np.full(n_cust, np.iinfo(np.int64).min)
    np.maximum.at(lastb, pair_cust[calib], pair_bucket[calib])
    seen = counts > 0
    ratio = DAYS_PER_UNIT[period] / DAYS_PER_UNIT[unit] if period != unit else 1.0
    frequency = (counts - 1)[seen].astype(np.float64)
    recency = (lastb - first)[seen] * ratio
    age = (cal_bucket - first)[seen] * ratio
    monetary = None
    if pair_amount is not None:
        total = np.bincount(pair_cust[calib], weights=pair_amount[calib], minlength=n_cust)
        first_amount = np.zeros(n_cust)
        is_first = calib & (pair_bucket == first[pair_cust])
        first_amount[pair_cust[is_first]] = pair_amount[is_first]
        repeat_total = (total - first_amount)[seen]
        with np.errstate(invalid="ignore", divide="ignore"):
            monetary = np.where(frequency > 0, repeat_total / np.maximum(frequency, 1), 0.0)
    holdout = None
    holdout_length = (obs_bucket - cal_bucket) * ratio
    if obs_bucket > cal_bucket:
        later = ~calib
        holdout = np.bincount(pair_cust[later], minlength=n_cust)[seen].astype(np.float64)
    return RFMSummary(customers=uid[seen], frequency=frequency, recency=recency, T=age, monetary_value=monetary,
                      holdout_frequency=holdout, holdout_length=float(holdout_length), period=period, unit=unit,
                      calibration_end=cal_end, observation_end=obs_end, n_transactions=int(ids.size),
                      n_late=int((~seen).sum()))


def _read_log(customers: Any, dates: Any, amounts: Any, period: str, unit: str,
              calibration_end: dt.date | str | None, observation_end: dt.date | str | None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dt.date, dt.date]:
    """The checked transaction log of :func:`rfm_summary`: ``(ids, day numbers, amounts or None, calibration
    end, observation end)``."""
    if period not in DAYS_PER_UNIT or unit not in DAYS_PER_UNIT:
        raise ModelError(gettext_noop("period and unit must each be one of day, week or month."))
    ids = np.asarray(customers)
    try:
        when = np.asarray(dates, dtype="datetime64[D]")
    except (TypeError, ValueError):
        raise ModelError(gettext_noop("The dates must be calendar dates.")) from None
    if ids.ndim != 1 or when.ndim != 1 or ids.size != when.size:
        raise ModelError(gettext_noop("Customers and dates must be two lists of the same length."))
    if np.isnat(when).any():
        raise ModelError(gettext_noop("%(count)d transactions have no date (the first at row %(row)d)."),
                         count=int(np.isnat(when).sum()), row=_first(np.isnat(when)))
    value = None if amounts is None else _array(amounts, "amount")
    if value is not None and value.size != ids.size:
        raise ModelError(gettext_noop("Each transaction needs one amount."))
    if ids.size == 0:
        raise ModelError(gettext_noop("The transaction log is empty."))
    days = when.astype(np.int64)
    last = dt.date(1970, 1, 1) + dt.timedelta(days=int(days.max()))
    cal_end = _as_date(calibration_end) if calibration_end is not None else last
    obs_end = _as_date(observation_end) if observation_end is not None else max(last, cal_end)
    if obs_end < cal_end:
        raise ModelError(gettext_noop("The observation end (%(obs)s) is before the calibration end (%(cal)s)."),
                         obs=obs_end.isoformat(), cal=cal_end.isoformat())
    return ids, days, value, cal_end, obs_end


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ModelError(gettext_noop("%(value)s is not a date (use YYYY-MM-DD)."), value=repr(text))
