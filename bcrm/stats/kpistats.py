"""The statistics behind the KPI snapshot: NPS, means and shares with confidence intervals,
concentration (Lorenz curve, top share, Gini) and cadence adherence.

Pure NumPy/SciPy (no Django). Inputs are plain sequences or arrays; missing values (``None``/NaN) are
left out and counted where a function says so. Figures that cannot be computed (no data) are ``None``,
never 0, so a page can say "no data" instead of showing a false zero. Bad input raises
:class:`bcrm.stats.ModelError` with a translatable ``template``/``params`` pair.

Intervals (two-sided, level 1 − α, z = Φ⁻¹(1 − α/2)):

* **NPS** — promoters score 9–10, passives 7–8, detractors 0–6 (0–10 scale). With shares p₊ and p₋,
  NPS = 100·(p₊ − p₋). Treating (promoter, passive, detractor) as one multinomial draw per response,
  Var(p₊ − p₋) = (p₊ + p₋ − (p₊ − p₋)²)/n, so the interval is 100·[(p₊ − p₋) ± z·√Var], clipped to
  [−100, 100].
* **Mean** (CSAT, hours) — Student t: x̄ ± t₁₋α/₂,ₙ₋₁ · s/√n (s with n − 1 in the denominator); needs
  n ≥ 2. CSAT also reports the share satisfied (4 or 5 on 1–5) with a Wilson interval.
* **Proportion** — Wilson score interval:
  (p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n); it stays within [0, 1] and works for 0 or n.

The snapshot computes figures in bulk, so NPS and means also come from aggregates one query returns:
:func:`nps_from_counts` (the three counts) and :func:`mean_ci_from_sums` (COUNT, SUM, SUM of squares);
:func:`proportion_ci` already takes counts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy import stats

from bcrm.stats import ModelError, gettext_noop

__all__ = [
    "CSATResult", "CadenceResult", "MeanCI", "NPSResult", "ProportionCI",
    "cadence_adherence", "csat", "gini", "lorenz", "mean_ci", "mean_ci_from_sums", "nps", "nps_from_counts",
    "proportion_ci", "top_share",
]

PROMOTER_MIN = 9
PASSIVE_MIN = 7
#: CSAT answers at or above this (on 1–5) count as satisfied ("top-two box").
SATISFIED_MIN = 4


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 < float(alpha) < 1.0:
        raise ModelError(gettext_noop("The significance level must be between 0 and 1 (e.g. 0.05), not "
                                      "%(alpha)s."), alpha=alpha)
    return float(alpha)


def _z(alpha: float) -> float:
    return float(stats.norm.ppf(1.0 - alpha / 2.0))


def _numbers(values: Any, not_numbers: str) -> np.ndarray:
    """A flat float array with None as NaN; ``not_numbers`` is the (marked) message for non-numbers."""
    if isinstance(values, np.ndarray):
        raw = values
    else:
        raw = np.asarray([math.nan if v is None else v for v in values], dtype=object)
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ModelError(not_numbers) from None
    if arr.ndim != 1:
        raise ModelError(gettext_noop("Expected a flat list of numbers, one per client."))
    return arr


# --------------------------------------------------------------------------------------------------
# Net promoter score


class NPSResult(NamedTuple):
    """NPS in points (−100…100) with its interval; counts of each group; ``None`` figures when n = 0."""

    nps: float | None
    promoters: int
    passives: int
    detractors: int
    n: int
    ci_low: float | None
    ci_high: float | None


def _whole_scores(scores: Any, low: int, high: int, not_numbers: str, out_of_range: str) -> np.ndarray:
    """The answered scores (``None``/NaN left out), each a whole number from ``low`` to ``high``, or
    :class:`ModelError` naming the first that is not."""
    arr = _numbers(scores, not_numbers)
    arr = arr[~np.isnan(arr)]
    bad = (arr < low) | (arr > high) | (arr != np.round(arr))
    if bad.any():
        raise ModelError(out_of_range, value=float(arr[bad][0]))
    return arr


def nps(scores: Any, alpha: float = 0.05) -> NPSResult:
    """Net promoter score of 0–10 answers (``None``/NaN = no answer, left out).

    Raises :class:`ModelError` for a score outside 0–10 or not a whole number."""
    alpha = _check_alpha(alpha)
    arr = _whole_scores(scores, 0, 10, gettext_noop("A recommendation score must be a whole number from 0 to 10."),
                        gettext_noop("A recommendation score must be a whole number from 0 to 10, not %(value)s."))
    promoters = int((arr >= PROMOTER_MIN).sum())
    detractors = int((arr < PASSIVE_MIN).sum())
    return nps_from_counts(promoters, int(arr.size) - promoters - detractors, detractors, alpha)


def nps_from_counts(promoters: int, passives: int, detractors: int, alpha: float = 0.05) -> NPSResult:
    """The same from the three counts, as one ``GROUP BY`` query delivers them for a whole portfolio."""
    alpha = _check_alpha(alpha)
    counts = gettext_noop("The numbers of promoters, passives and detractors must be whole numbers, 0 or more.")
    promoters, passives, detractors = (_whole(c, counts) for c in (promoters, passives, detractors))
    n = promoters + passives + detractors
    if n == 0:
        return NPSResult(None, 0, 0, 0, 0, None, None)
    p_plus, p_minus = promoters / n, detractors / n
    diff = p_plus - p_minus
    variance = max(p_plus + p_minus - diff * diff, 0.0) / n
    half = _z(alpha) * math.sqrt(variance)
    return NPSResult(nps=100.0 * diff, promoters=promoters, passives=passives, detractors=detractors, n=n,
                     ci_low=max(-100.0, 100.0 * (diff - half)), ci_high=min(100.0, 100.0 * (diff + half)))


# --------------------------------------------------------------------------------------------------
# Means and proportions


class MeanCI(NamedTuple):
    """Mean with a Student t interval (``None`` when n < 2; the mean is ``None`` when n = 0)."""

    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    sd: float | None


def mean_ci(values: Any, alpha: float = 0.05) -> MeanCI:
    """Mean and t interval of ``values`` (``None``/NaN left out), e.g. CSAT answers or hours per client."""
    alpha = _check_alpha(alpha)
    arr = _numbers(values, gettext_noop("Every value must be a number (or empty)."))
    if np.isinf(arr).any():
        raise ModelError(gettext_noop("Every value must be a finite number (or empty)."))
    arr = arr[~np.isnan(arr)]
    n = int(arr.size)
    if n == 0:
        return MeanCI(None, None, None, 0, None)
    mean = float(arr.mean())
    return _t_interval(mean, float(arr.std(ddof=1)) if n > 1 else None, n, alpha)


def _t_interval(mean: float, sd: float | None, n: int, alpha: float) -> MeanCI:
    if n < 2 or sd is None:
        return MeanCI(mean, None, None, n, None)
    half = float(stats.t.ppf(1.0 - alpha / 2.0, n - 1)) * sd / math.sqrt(n)
    return MeanCI(mean, mean - half, mean + half, n, sd)


def mean_ci_from_sums(n: int, total: float, total_of_squares: float, alpha: float = 0.05) -> MeanCI:
    """The same from ``COUNT(x)``, ``SUM(x)`` and ``SUM(x*x)``, as a bulk aggregate query delivers them.

    s² = (Σx² − (Σx)²/n)/(n − 1), floored at 0 against rounding. Fine for bounded figures (CSAT, hours);
    for values with a large mean and a small spread prefer :func:`mean_ci` on the values."""
    alpha = _check_alpha(alpha)
    n = _whole(n, gettext_noop("The number of values must be a whole number, 0 or more."))
    try:
        total, squares = float(total), float(total_of_squares)
    except (TypeError, ValueError):
        total = squares = math.nan
    if not (math.isfinite(total) and math.isfinite(squares)) or squares < 0:
        raise ModelError(gettext_noop("The sum and the sum of squares must be finite numbers (the latter 0 or "
                                      "more)."))
    if n == 0:
        return MeanCI(None, None, None, 0, None)
    mean = total / n
    if n < 2:
        return MeanCI(mean, None, None, 1, None)
    variance = max(squares - total * total / n, 0.0) / (n - 1)
    return _t_interval(mean, math.sqrt(variance), n, alpha)


class CSATResult(NamedTuple):
    """CSAT (1–5): the mean with its t interval, and the share satisfied (4 or 5) with its Wilson
    interval; ``None`` figures when there are too few answers."""

    mean: float | None
    mean_ci_low: float | None
    mean_ci_high: float | None
    satisfied: int
    n: int
    share_satisfied: float | None
    share_ci_low: float | None
    share_ci_high: float | None


def csat(scores: Any, alpha: float = 0.05) -> CSATResult:
    """Customer satisfaction of 1–5 answers (``None``/NaN = no answer, left out).

    Raises :class:`ModelError` for a score outside 1–5 or not a whole number."""
    alpha = _check_alpha(alpha)
    arr = _whole_scores(scores, 1, 5, gettext_noop("A satisfaction score must be a whole number from 1 to 5."),
                        gettext_noop("A satisfaction score must be a whole number from 1 to 5, not %(value)s."))
    mean = mean_ci(arr, alpha)
    share = proportion_ci(int((arr >= SATISFIED_MIN).sum()), int(arr.size), alpha)
    return CSATResult(mean=mean.mean, mean_ci_low=mean.ci_low, mean_ci_high=mean.ci_high,
                      satisfied=share.successes, n=share.n, share_satisfied=share.share, share_ci_low=share.ci_low,
                      share_ci_high=share.ci_high)


class ProportionCI(NamedTuple):
    """Share with its Wilson interval; all ``None`` when n = 0."""

    share: float | None
    ci_low: float | None
    ci_high: float | None
    successes: int
    n: int


def _whole(value: Any, message: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ModelError(message)
    return int(value)


def proportion_ci(successes: int, n: int, alpha: float = 0.05) -> ProportionCI:
    """Share ``successes / n`` with the Wilson score interval (e.g. SLA compliance, retention)."""
    alpha = _check_alpha(alpha)
    counts = gettext_noop("The number of successes and of cases must be whole numbers, 0 or more.")
    k, n = _whole(successes, counts), _whole(n, counts)
    if k > n:
        raise ModelError(gettext_noop("The number of successes (%(k)d) cannot exceed the number of cases "
                                      "(%(n)d)."), k=k, n=n)
    if n == 0:
        return ProportionCI(None, None, None, 0, 0)
    z = _z(alpha)
    p = k / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denominator
    # At 0 and n the interval touches the bound exactly; rounding must not push it off.
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return ProportionCI(p, low, high, k, n)


# --------------------------------------------------------------------------------------------------
# Concentration


def _amounts(values: Any) -> np.ndarray:
    arr = _numbers(values, gettext_noop("The amounts must be numbers."))
    if not np.isfinite(arr).all():
        raise ModelError(gettext_noop("The amounts must be finite numbers (no missing values)."))
    if (arr < 0).any():
        raise ModelError(gettext_noop("The amounts must not be negative."))
    return arr


def lorenz(values: Any, points: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The Lorenz curve: ``x[i]`` the share of clients (smallest first), ``y[i]`` the share of the total
    they hold; n + 1 points from (0, 0) to (1, 1), non-decreasing and convex.

    With ``points`` (≥ 2) the curve is read at that many evenly spaced shares of clients instead, by
    linear interpolation — what a chart of a million clients needs. With no clients, or a total of 0,
    every client holds the same (nothing): the diagonal."""
    if points is not None and (isinstance(points, bool) or not isinstance(points, int) or points < 2):
        raise ModelError(gettext_noop("The number of points must be a whole number of at least 2."))
    arr = np.sort(_amounts(values))
    n = arr.size
    total = float(arr.sum())
    if n == 0 or total == 0:
        x = np.linspace(0.0, 1.0, points or (n + 1 if n else 2))
        return x, x.copy()
    x = np.arange(n + 1, dtype=np.float64) / n
    y = np.concatenate([[0.0], np.cumsum(arr) / total])
    y[-1] = 1.0                                   # exactly, whatever the rounding of the running sum
    y = np.clip(y, 0.0, 1.0)
    if points is None:
        return x, y
    grid = np.linspace(0.0, 1.0, points)
    return grid, np.interp(grid, x, y)


def top_share(values: Any, share: float) -> float | None:
    """Share of the total held by the top ``share`` (0…1) of clients: 1 − L(1 − share), reading the
    Lorenz curve L with linear interpolation (so a fraction of a client counts pro rata).
    ``None`` when there are no clients or the total is 0."""
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0.0 <= float(share) <= 1.0:
        raise ModelError(gettext_noop("The share of clients must be between 0 and 1, not %(share)s."),
                         share=share)
    arr = _amounts(values)
    if arr.size == 0 or float(arr.sum()) == 0:
        return None
    x, y = lorenz(arr)
    return float(min(1.0, max(0.0, 1.0 - np.interp(1.0 - float(share), x, y))))


def gini(values: Any) -> float | None:
    """Gini coefficient: 1 − 2·(area under the Lorenz curve); 0 when all hold the same, (n−1)/n when one
    client holds everything. ``None`` when there are no clients or the total is 0."""
    arr = _amounts(values)
    if arr.size == 0 or float(arr.sum()) == 0:
        return None
    x, y = lorenz(arr)
    area = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
    return max(0.0, 1.0 - 2.0 * area)


# --------------------------------------------------------------------------------------------------
# Cadence adherence


@dataclass(frozen=True)
class CadenceResult:
    """Due contacts judged, how many were on time, late or missed, and the on-time share (Wilson CI)."""

    share: float | None
    ci_low: float | None
    ci_high: float | None
    judged: int
    on_time: int
    late: int
    missed: int
    pending: int

    def as_dict(self) -> dict[str, Any]:
        return {"share": self.share, "ci_low": self.ci_low, "ci_high": self.ci_high, "judged": self.judged,
                "on_time": self.on_time, "late": self.late, "missed": self.missed, "pending": self.pending}


def _dates(values: Any) -> np.ndarray:
    """Calendar dates as datetime64[D], None/NaT kept as NaT; datetimes are refused (their date depends
    on the time zone, which the caller must choose)."""
    times = gettext_noop("Due and done dates must be calendar dates: convert times to the team's local date "
                         "first.")
    if isinstance(values, np.ndarray) and np.issubdtype(values.dtype, np.datetime64):
        if values.dtype != np.dtype("datetime64[D]"):
            raise ModelError(times)
        return values
    items: Sequence[Any] = list(values)
    for value in items:
        if isinstance(value, dt.datetime) or (isinstance(value, np.datetime64)
                                              and value.dtype != np.dtype("datetime64[D]")):
            raise ModelError(times)
        if value is not None and not isinstance(value, dt.date | np.datetime64):
            raise ModelError(gettext_noop("Due and done dates must be dates (or empty when not done)."))
    return np.array([np.datetime64("NaT") if v is None else v for v in items], dtype="datetime64[D]")


def cadence_adherence(due_dates: Any, done_dates: Any, grace_days: int = 0, *,
                      as_of: dt.date | None = None, alpha: float = 0.05) -> CadenceResult:
    """Share of due contacts done on time.

    ``due_dates[i]`` is the date a playbook step fell due for a client, ``done_dates[i]`` the local date of
    the contact that fulfilled it (``None`` if none did). A due contact is **on time** when it was done on
    or before ``due + grace_days`` (calendar days; done early counts as on time); **late** when it was
    done after that; **missed** when it was not done. With ``as_of`` (the reporting date), contacts due
    after ``as_of``, and contacts not yet done whose window ``due + grace_days`` has not ended by
    ``as_of``, are **pending**: not judged yet, so they count in neither the numerator nor the
    denominator. Without ``as_of`` every undone contact is missed.

    share = on time / (on time + late + missed), with a Wilson interval; ``None`` when nothing is judged.
    """
    alpha = _check_alpha(alpha)
    grace = _whole(grace_days, gettext_noop("The grace period must be a whole number of days, 0 or more."))
    due = _dates(due_dates)
    done = _dates(done_dates)
    if due.shape != done.shape:
        raise ModelError(gettext_noop("Each due contact needs one done date (or none); there are %(due)d due "
                                      "dates and %(done)d done dates."), due=due.size, done=done.size)
    if np.isnat(due).any():
        raise ModelError(gettext_noop("Every due contact needs a due date."))
    deadline = due + np.timedelta64(grace, "D")
    was_done = ~np.isnat(done)
    on_time_mask = was_done & (done <= deadline)
    late_mask = was_done & (done > deadline)
    missed_mask = ~was_done
    pending_mask = np.zeros(due.shape, dtype=bool)
    if as_of is not None:
        if isinstance(as_of, dt.datetime) or not isinstance(as_of, dt.date):
            raise ModelError(gettext_noop("The reporting date must be a calendar date."))
        today = np.datetime64(as_of, "D")
        pending_mask = (due > today) | (missed_mask & (deadline >= today))
    judged = ~pending_mask
    on_time = int((on_time_mask & judged).sum())
    late = int((late_mask & judged).sum())
    missed = int((missed_mask & judged).sum())
    total = on_time + late + missed
    ci = proportion_ci(on_time, total, alpha)
    return CadenceResult(share=ci.share, ci_low=ci.ci_low, ci_high=ci.ci_high, judged=total, on_time=on_time,
                         late=late, missed=missed, pending=int(pending_mask.sum()))
