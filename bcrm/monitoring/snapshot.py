"""The KPI snapshot of one month, computed in bulk (reads only; ``services.compute_snapshot`` writes it).

Every fact is one aggregate query grouped by the client's *cell*: (owning team, value label, risk label,
relationship label, tier), joined from the client's current labels and tier. A portfolio of a million
clients has a few hundred cells, so each query returns a few hundred rows, whatever the history's size.
The cells are then rolled up into the stored rows: every breakdown (value, risk, relationship, tier) ×
segment (each label or tier, and "all") × team (each team, and all teams).

Definitions (a period is a calendar month in the display time zone, ``settings.TIME_ZONE``):

* **clients** — organisations now; their labels and tiers are the current ones when the snapshot is
  computed (``ClientLabels``, ``ClientTier``); a client without a label or tier is "unclassified";
  the team is the client's owning team (a client without one counts in the all-teams rows only).
* **commitments** — participations at firm commitment or later whose status was reached before the end of
  the period (the date of reaching the status dates a commitment, as in the feature ``committed_amount``),
  converted into the reporting currency at the latest rate on or before the period's last day; amounts in a
  currency without a rate are left out and counted in ``unconverted``. ``fee_income`` is the fee income of
  the same participations; ``committed_in_period`` those whose status was reached in the period. Shares are
  of the same team scope's total of the breakdown ("all" row). Money is stored as Decimal strings.
* **pipeline** — every participation by its current status (reached before the end of the period).
* **cadence** — playbook tasks for a client due in the period (cancelled ones left out): on time when done on or before
  the local due date plus a grace of :data:`CADENCE_GRACE_DAYS` (0) days; late when done after; missed when
  not done and the due date has passed when the snapshot is computed; pending (not judged) otherwise.
* **SLA** — service requests opened in the period: first response met when ``first_response_at ≤
  response_due_at``, breached when later or still missing after the due time; pending when missing and
  not yet due; requests without a due time are counted as ``no_sla`` and not judged. Resolution likewise.
* **hours** — interaction minutes in the period / 60; **hours per million** — hours per 1,000,000 of
  commitments in the reporting currency (cost to serve per unit of value); ``None`` without commitments.
* **NPS / CSAT** — survey responses in the period, with counts and 95 % intervals (``kpistats``).
* **repeat** — clients committed to two or more distinct projects, as a share of clients committed to at
  least one (Wilson interval).
* **insufficient** — label breakdowns only: clients whose current label in that dimension is
  "insufficient" (the data-collection queue); ``None`` for the tier breakdown.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Case, Count, ExpressionWrapper, F, FloatField, Q, Sum, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from bcrm.accounts.models import Team
from bcrm.engagement.choices import TaskSource, TaskStatus
from bcrm.engagement.models import Interaction, ServiceRequest, SurveyResponse, Task
from bcrm.financing.choices import COMMITTED_STATUSES, ParticipationStatus
from bcrm.financing.models import Participation
from bcrm.financing.selectors import rates_to_reporting
from bcrm.financing.walls import unwalled
from bcrm.monitoring.choices import ALL, LABEL_BREAKDOWNS, UNCLASSIFIED, Breakdown
from bcrm.parties.models import Organization
from bcrm.segmentation.choices import INSUFFICIENT, labels_for
from bcrm.segmentation.features import fetch, to_float
from bcrm.stats import kpistats

#: Days after the due date a playbook contact still counts as on time.
CADENCE_GRACE_DAYS = 0
#: Cost to serve is hours per this much of commitments (reporting currency).
VALUE_UNIT = Decimal("1000000")
LORENZ_POINTS = 101
CENT = Decimal("0.01")

BREAKDOWNS = [Breakdown.VALUE.value, Breakdown.RISK.value, Breakdown.RELATIONSHIP.value, Breakdown.TIER.value]
COMMITTED = {str(s) for s in COMMITTED_STATUSES}

Cell = tuple[int | None, str, str, str, str]
Target = tuple[str, str, int | None]          # (breakdown, segment, team id or None for all teams)


def cell_fields(prefix: str = "") -> list[str]:
    """The grouping columns of a query on a model whose client is reached through ``prefix``."""
    return [f"{prefix}team_id", f"{prefix}labels__value", f"{prefix}labels__risk", f"{prefix}labels__relationship",
            f"{prefix}service_tier__tier"]


def _cell(row: dict[str, Any], names: list[str]) -> Cell:
    team = row[names[0]]
    return (team, row[names[1]] or UNCLASSIFIED, row[names[2]] or UNCLASSIFIED, row[names[3]] or UNCLASSIFIED,
            row[names[4]] or UNCLASSIFIED)


def targets(cell: Cell, breakdown: str | None = None) -> Iterator[Target]:
    """The stored rows a cell's figures add up into (one breakdown's, or all four's)."""
    teams = (cell[0], None) if cell[0] is not None else (None,)
    labels: tuple[str, ...] = cell[1:]
    for index, name in enumerate(BREAKDOWNS):
        if breakdown is not None and name != breakdown:
            continue
        for segment in (labels[index], ALL):
            for team in teams:
                yield (name, segment, team)


@dataclass
class Period:
    code: str
    first: dt.date
    last: dt.date
    start: dt.datetime
    end: dt.datetime

    @classmethod
    def of(cls, code: str, first: dt.date, last: dt.date) -> Period:
        tz = timezone.get_default_timezone()
        start = timezone.make_aware(dt.datetime.combine(first, dt.time()), tz)
        end = timezone.make_aware(dt.datetime.combine(last + dt.timedelta(days=1), dt.time()), tz)
        return cls(code, first, last, start, end)

    def within(self, field_name: str) -> Q:
        return Q(**{f"{field_name}__gte": self.start, f"{field_name}__lt": self.end})


@dataclass
class Snapshot:
    """What one computation produced: the rows' figures, the Lorenz curve, timings of each fact."""

    period: str
    rows: dict[Target, dict[str, Any]]
    lorenz: dict[str, Any]
    timings: dict[str, int] = field(default_factory=dict)
    queries: int = 0


class _Tally:
    """Sums per target; Decimal stays Decimal (0 + Decimal is Decimal)."""

    def __init__(self) -> None:
        self.sums: dict[Target, dict[str, Any]] = defaultdict(dict)

    def add(self, cell: Cell, name: str, value: Any, breakdown: str | None = None) -> None:
        if not value:
            return
        for target in targets(cell, breakdown):
            bucket = self.sums[target]
            bucket[name] = bucket.get(name, 0) + value

    def get(self, target: Target, name: str, default: Any = 0) -> Any:
        return self.sums.get(target, {}).get(name, default)


def _money(value: Any) -> str:
    return str(Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP))


def _ratio(part: Any, whole: Any) -> float | None:
    return float(Decimal(part) / Decimal(whole)) if whole else None


class _Reads:
    """The snapshot's reads: grouped aggregates by cell (one query each, counted), timed section by section."""

    def __init__(self) -> None:
        self.queries = 0
        self.timings: dict[str, int] = {}
        self.clock = time.perf_counter()

    def lap(self, name: str) -> None:
        t = time.perf_counter()
        self.timings[name] = int((t - self.clock) * 1000)
        self.clock = t

    def cube(self, queryset, names: list[str], extra: tuple[str, ...] = (), **aggregates):
        self.queries += 1
        return [(_cell(row, names), row) for row in queryset.order_by().values(*names, *extra).annotate(**aggregates)]


def compute(period_code: str, first: dt.date, last: dt.date, now: dt.datetime) -> Snapshot:
    """Every figure of the period for every stored row; see the module's docstring for definitions."""
    period = Period.of(period_code, first, last)
    tally = _Tally()
    reads = _Reads()
    own = cell_fields()
    via = cell_fields("organization__")
    total_clients = _read_clients(reads, tally, own)
    reads.lap("clients")
    rates = rates_to_reporting(period.last)
    unconverted = _read_commitments(reads, tally, via, period, rates)
    reads.lap("commitments")
    _read_repeat(reads, tally, own, period)
    reads.lap("repeat")
    _read_cadence(reads, tally, via, period, now)
    reads.lap("cadence")
    _read_sla(reads, tally, via, period, now)
    reads.lap("sla")
    _read_hours(reads, tally, via, period)
    reads.lap("hours")
    _read_satisfaction(reads, tally, via, period)
    reads.lap("surveys")

    lorenz = _lorenz(period, rates, total_clients)
    reads.queries += 1
    reads.lap("lorenz")

    rows = _every_row(tally, unconverted)
    reads.queries += 1
    reads.lap("rollup")
    return Snapshot(period=period.code, rows=rows, lorenz=lorenz, timings=reads.timings, queries=reads.queries)


def _read_clients(reads: _Reads, tally: _Tally, own: list[str]) -> int:
    """Clients and the insufficient-data queue; returns the number of clients."""

    total_clients = 0
    for cell, row in reads.cube(Organization.objects.all(), own, clients=Count("id")):
        tally.add(cell, "clients", row["clients"])
        total_clients += row["clients"]
        for index, name in enumerate(BREAKDOWNS[:3]):
            if cell[1 + index] == INSUFFICIENT:
                tally.add(cell, "insufficient", row["clients"], breakdown=name)
    return total_clients


def _read_commitments(reads: _Reads, tally: _Tally, via: list[str], period: Period,
                      rates: dict[str, Decimal]) -> set[str]:
    """Commitments, fee income, pipeline — exact sums per currency, converted once per cell; returns the
    currencies without a rate."""
    from bcrm.financing.models import Participation

    unconverted: set[str] = set()
    for cell, row in reads.cube(unwalled(Participation.objects.filter(status_changed_at__lt=period.end)), via,
                                ("currency", "status"), n=Count("id"), c_amount=Sum("amount"),
                                c_fees=Sum("fee_income"),
                                c_recent=Sum("amount", filter=Q(status_changed_at__gte=period.start))):
        rate = rates.get(row["currency"])
        if rate is None:
            unconverted.add(row["currency"])
            tally.add(cell, "unconverted", row["n"])
            continue
        amount = Decimal(row["c_amount"] or 0) * rate
        status = row["status"]
        tally.add(cell, f"pipeline_amount:{status}", amount)
        tally.add(cell, f"pipeline_count:{status}", row["n"])
        if status in COMMITTED:
            tally.add(cell, "committed", amount)
            tally.add(cell, "commitments", row["n"])
            tally.add(cell, "fee_income", Decimal(row["c_fees"] or 0) * rate)
            tally.add(cell, "committed_in_period", Decimal(row["c_recent"] or 0) * rate)
    return unconverted


def _read_repeat(reads: _Reads, tally: _Tally, own: list[str], period: Period) -> None:
    """Repeat participation: clients with at least one, and at least two, committed projects."""
    from bcrm.financing.models import Participation

    committed = unwalled(Participation.objects.filter(status__in=COMMITTED_STATUSES, status_changed_at__lt=period.end))
    for minimum, name in ((1, "committed_clients"), (2, "repeat_clients")):
        ids = (committed.order_by().values("organization_id").annotate(deals=Count("project_id", distinct=True))
               .filter(deals__gte=minimum).values("organization_id"))
        for cell, row in reads.cube(Organization.objects.filter(pk__in=ids), own, n=Count("id")):
            tally.add(cell, name, row["n"])


def _read_cadence(reads: _Reads, tally: _Tally, via: list[str], period: Period, now: dt.datetime) -> None:
    """Cadence adherence: playbook tasks due in the period, judged on local calendar dates."""

    tz = timezone.get_default_timezone()
    today = timezone.localtime(now, tz).date()
    due_rows: dict[Cell, list[tuple[dt.date, dt.date | None, int]]] = defaultdict(list)
    tasks = (Task.objects.filter(period.within("due_at"), source=TaskSource.PLAYBOOK, organization__isnull=False)
             .exclude(status=TaskStatus.CANCELLED))
    for cell, row in reads.cube(tasks, via, ("status",), due=TruncDate("due_at", tzinfo=tz),
                                done=TruncDate("completed_at", tzinfo=tz), n=Count("id")):
        done = row["done"] if row["status"] == TaskStatus.DONE else None
        due_rows[cell].append((row["due"], done, row["n"]))
    for cell, items in due_rows.items():
        counts = np.array([n for _, _, n in items])
        due = np.repeat(np.array([d for d, _, _ in items], dtype="datetime64[D]"), counts)
        done = np.repeat(np.array([np.datetime64("NaT") if d is None else d for _, d, _ in items],
                                  dtype="datetime64[D]"), counts)
        result = kpistats.cadence_adherence(due, done, CADENCE_GRACE_DAYS, as_of=today)
        for key in ("on_time", "late", "missed", "pending"):
            tally.add(cell, f"cadence_{key}", getattr(result, key))


def _read_sla(reads: _Reads, tally: _Tally, via: list[str], period: Period, now: dt.datetime) -> None:
    """SLA compliance of requests opened in the period."""

    def sla(done: str, due: str) -> dict[str, Any]:
        has_due = Q(**{f"{due}__isnull": False})
        return {
            "met": Count("id", filter=has_due & Q(**{f"{done}__isnull": False, f"{done}__lte": F(due)})),
            "breached": Count("id", filter=has_due & (Q(**{f"{done}__gt": F(due)})
                                                      | Q(**{f"{done}__isnull": True, f"{due}__lt": now}))),
            "pending": Count("id", filter=Q(**{f"{done}__isnull": True, f"{due}__gte": now})),
            "no_sla": Count("id", filter=Q(**{f"{due}__isnull": True})),
        }

    aggregates: dict[str, Any] = {"requests": Count("id")}
    for prefix, (done_at, due_at) in (("response", ("first_response_at", "response_due_at")),
                                      ("resolution", ("resolved_at", "resolution_due_at"))):
        aggregates.update({f"{prefix}_{k}": v for k, v in sla(done_at, due_at).items()})
    for cell, row in reads.cube(ServiceRequest.objects.filter(period.within("opened_at")), via, **aggregates):
        for key in aggregates:
            tally.add(cell, key, row[key])


def _read_hours(reads: _Reads, tally: _Tally, via: list[str], period: Period) -> None:
    """Interactions and hours logged in the period."""

    for cell, row in reads.cube(Interaction.objects.filter(period.within("occurred_at")), via,
                                interactions=Count("id"), minutes=Sum("minutes_spent")):
        tally.add(cell, "interactions", row["interactions"])
        tally.add(cell, "minutes", row["minutes"] or 0)


def _read_satisfaction(reads: _Reads, tally: _Tally, via: list[str], period: Period) -> None:
    """Survey answers of the period: NPS classes and CSAT sums."""

    for cell, row in reads.cube(
        SurveyResponse.objects.filter(period.within("responded_at")), via,
        promoters=Count("id", filter=Q(nps__gte=kpistats.PROMOTER_MIN)),
        passives=Count("id", filter=Q(nps__gte=kpistats.PASSIVE_MIN, nps__lt=kpistats.PROMOTER_MIN)),
        detractors=Count("id", filter=Q(nps__lt=kpistats.PASSIVE_MIN)),
        csat_n=Count("csat"), csat_sum=Sum("csat"),
        csat_squares=Sum(ExpressionWrapper(F("csat") * F("csat"), output_field=FloatField())),
        satisfied=Count("id", filter=Q(csat__gte=kpistats.SATISFIED_MIN)),
    ):
        for key in ("promoters", "passives", "detractors", "csat_n", "satisfied"):
            tally.add(cell, key, row[key])
        tally.add(cell, "csat_sum", float(row["csat_sum"] or 0))
        tally.add(cell, "csat_squares", float(row["csat_squares"] or 0))


def _every_row(tally: _Tally, unconverted: set[str]) -> dict[Target, dict[str, Any]]:
    """Every segment a breakdown can have gets a row (0 clients shows as 0, not as a missing row)."""

    team_ids: list[int | None] = [None, *Team.objects.order_by("id").values_list("id", flat=True)]
    wanted: set[Target] = set(tally.sums)
    for name in BREAKDOWNS:
        segments = [*labels_for(name), ALL] if name != Breakdown.TIER else ["dedicated", "standard", ALL]
        wanted.update((name, segment, team) for segment in segments for team in team_ids)
    return {target: _figures(target, tally, unconverted) for target in wanted}


def _figures(target: Target, tally: _Tally, unconverted: set[str]) -> dict[str, Any]:
    breakdown, _segment, team = target
    whole = (breakdown, ALL, team)

    def get(name: str) -> Any:
        return tally.get(target, name)

    committed = Decimal(get("committed"))
    minutes = int(get("minutes"))
    hours = minutes / 60.0
    response_judged = get("response_met") + get("response_breached")
    resolution_judged = get("resolution_met") + get("resolution_breached")
    cadence_judged = get("cadence_on_time") + get("cadence_late") + get("cadence_missed")
    nps = kpistats.nps_from_counts(get("promoters"), get("passives"), get("detractors"))
    csat_mean = kpistats.mean_ci_from_sums(get("csat_n"), get("csat_sum"), get("csat_squares"))
    csat_share = kpistats.proportion_ci(get("satisfied"), get("csat_n"))
    repeat = kpistats.proportion_ci(get("repeat_clients"), get("committed_clients"))
    cadence = kpistats.proportion_ci(get("cadence_on_time"), cadence_judged)
    response = kpistats.proportion_ci(get("response_met"), response_judged)
    resolution = kpistats.proportion_ci(get("resolution_met"), resolution_judged)
    statuses = [s.value for s in ParticipationStatus]
    return {
        "clients": int(get("clients")),
        "currency": settings.BCRM_REPORTING_CURRENCY,
        "committed": _money(committed),
        "committed_share": _ratio(committed, tally.get(whole, "committed")),
        "commitments": int(get("commitments")),
        "committed_in_period": _money(get("committed_in_period")),
        "fee_income": _money(get("fee_income")),
        "fee_income_share": _ratio(get("fee_income"), tally.get(whole, "fee_income")),
        "pipeline": {s: {"amount": _money(get(f"pipeline_amount:{s}")), "count": int(get(f"pipeline_count:{s}"))}
                     for s in statuses},
        "unconverted": int(get("unconverted")),
        "unconverted_currencies": sorted(unconverted),
        "cadence": {"share": cadence.share, "ci_low": cadence.ci_low, "ci_high": cadence.ci_high,
                    "judged": cadence_judged, "on_time": int(get("cadence_on_time")),
                    "late": int(get("cadence_late")), "missed": int(get("cadence_missed")),
                    "pending": int(get("cadence_pending")), "grace_days": CADENCE_GRACE_DAYS},
        "requests": int(get("requests")),
        "sla_response": _sla(response, get, "response"),
        "sla_resolution": _sla(resolution, get, "resolution"),
        "interactions": int(get("interactions")),
        "minutes": minutes,
        "hours": round(hours, 2),
        "hours_per_million": (round(float(Decimal(minutes) / 60 / committed * VALUE_UNIT), 4)
                              if committed > 0 else None),
        "nps": nps._asdict(),
        "csat": {"mean": csat_mean.mean, "ci_low": csat_mean.ci_low, "ci_high": csat_mean.ci_high,
                 "n": csat_mean.n, "satisfied": csat_share.successes, "share_satisfied": csat_share.share,
                 "share_ci_low": csat_share.ci_low, "share_ci_high": csat_share.ci_high},
        "repeat": {"share": repeat.share, "ci_low": repeat.ci_low, "ci_high": repeat.ci_high,
                   "repeat_clients": repeat.successes, "committed_clients": repeat.n},
        "insufficient": int(get("insufficient")) if breakdown in LABEL_BREAKDOWNS else None,
    }


def _sla(ci: kpistats.ProportionCI, get, prefix: str) -> dict[str, Any]:
    return {"share": ci.share, "ci_low": ci.ci_low, "ci_high": ci.ci_high, "judged": ci.n,
            "met": int(get(f"{prefix}_met")), "breached": int(get(f"{prefix}_breached")),
            "pending": int(get(f"{prefix}_pending")), "no_sla": int(get(f"{prefix}_no_sla"))}


def _lorenz(period: Period, rates: dict[str, Decimal], total_clients: int) -> dict[str, Any]:
    """The Lorenz curve of commitments over every client (clients without any hold 0), thinned to
    :data:`LORENZ_POINTS` points; a chart's figure, so float is fine here (the stored sums are Decimal)."""
    fx = Case(*[When(currency=code, then=Value(float(rate))) for code, rate in rates.items()],
              default=Value(None), output_field=FloatField())
    rows = fetch(unwalled(Participation.objects.filter(status__in=COMMITTED_STATUSES,
                                                       status_changed_at__lt=period.end))
                 .order_by().values("organization_id")
                 .annotate(total=Sum(ExpressionWrapper(F("amount") * fx, output_field=FloatField())))
                 .values_list("total"))
    amounts = np.nan_to_num(to_float([r[0] for r in rows]))
    amounts = np.concatenate([amounts, np.zeros(max(total_clients - amounts.size, 0))])
    x, y = kpistats.lorenz(amounts, points=LORENZ_POINTS)
    return {"x": [round(float(v), 6) for v in x], "y": [round(float(v), 6) for v in y],
            "clients": int(amounts.size), "gini": kpistats.gini(amounts),
            "top_20_share": kpistats.top_share(amounts, 0.2)}
