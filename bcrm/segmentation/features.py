"""The feature registry: named per-client numbers the criteria score with.

Each feature belongs to a *family*: one aggregate query over one table, grouped by client, that
computes every feature of the family for the whole population at once (never a query per client).
A family returns, per feature, a float64 array aligned with the population's ids and a boolean
``missing`` mask: missing means "we do not know", which is not the same as zero. A client with no
participations has a committed amount of 0 (known); a client without a credit rating has a missing
rating score.

Time: ``as_of`` bounds the windows (trailing 12 months end on ``as_of``) and excludes events dated
after it. Statuses are the current ones: the participation's date of reaching its status
(``status_changed_at``) dates a commitment.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Power
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bcrm.core.errors import InvalidInput
from bcrm.core.fields import day_range_error
from bcrm.engagement.choices import InteractionKind
from bcrm.engagement.models import Interaction, SurveyResponse
from bcrm.financing.choices import COMMITTED_STATUSES, ParticipationStatus
from bcrm.financing.models import Participation, ParticipationStatusChange
from bcrm.financing.selectors import rates_to_reporting
from bcrm.parties.choices import KycStatus, Seniority
from bcrm.parties.models import Contact, Organization

logger = logging.getLogger(__name__)

SECONDS_PER_MONTH = 30.4375 * 86400
SENIOR = [Seniority.BOARD, Seniority.C_LEVEL, Seniority.SENIOR]
CLOSED = [ParticipationStatus.DECLINED, ParticipationStatus.WITHDRAWN]


@dataclass(frozen=True)
class Feature:
    name: str
    family: str
    label: object  # lazy translation
    unit: str = ""  # "money", "count", "years", "share", "flag", "grade", "score", "months"
    description: object = ""
    higher_is_better: bool = True
    #: Derived from KYC or sanctions fields: its values, rules and counts are shown only to the roles that
    #: may see those fields (``bcrm.segmentation.compliance``).
    compliance: bool = False


def check_as_of(as_of: dt.date) -> dt.date:
    """``as_of`` if features can be computed as of it (their windows reach years back from it and a day past
    it); InvalidInput (field ``as_of``) otherwise."""
    if (error := day_range_error(as_of)) is not None:
        raise InvalidInput(fields={"as_of": [error]})
    return as_of


@dataclass
class Population:
    """The clients being classified: ids ascending, and the date the features are computed as of (checked:
    :func:`check_as_of`)."""

    ids: np.ndarray
    as_of: dt.date
    #: Only some of the clients (the incremental run's changed ones): queries are restricted to ``ids``.
    subset: bool = False

    def __post_init__(self) -> None:
        check_as_of(self.as_of)

    @property
    def size(self) -> int:
        return int(self.ids.size)

    @property
    def end(self) -> dt.datetime:
        """The first instant after ``as_of`` in the display time zone: events before it count."""
        midnight = dt.datetime.combine(self.as_of + dt.timedelta(days=1), dt.time())
        return timezone.make_aware(midnight)

    @property
    def year_ago(self) -> dt.datetime:
        return self.end - dt.timedelta(days=365)

    def positions(self, ids: Iterable[int] | np.ndarray) -> np.ndarray:
        arr = np.asarray(ids, dtype=np.int64)
        pos = np.searchsorted(self.ids, arr)
        pos = np.clip(pos, 0, max(self.size - 1, 0))
        if self.size and not np.array_equal(self.ids[pos], arr):
            raise ValueError("ids outside the population")
        return pos


@dataclass
class FeatureValues:
    values: np.ndarray
    missing: np.ndarray

    @classmethod
    def empty(cls, n: int, *, missing: bool = True, fill: float = np.nan) -> FeatureValues:
        return cls(np.full(n, fill, dtype=np.float64), np.full(n, missing, dtype=bool))


@dataclass
class FeatureMatrix:
    population: Population
    columns: dict[str, FeatureValues] = field(default_factory=dict)
    queries: int = 0

    def __getitem__(self, name: str) -> FeatureValues:
        return self.columns[name]

    def row(self, index: int) -> dict[str, float | None]:
        return {name: (None if fv.missing[index] else float(fv.values[index])) for name, fv in self.columns.items()}


FEATURES: dict[str, Feature] = {}
FAMILIES: dict[str, Callable[[Population], dict[str, FeatureValues]]] = {}


def feature(*specs: Feature):
    def register(func):
        FAMILIES[specs[0].family] = func
        for spec in specs:
            FEATURES[spec.name] = spec
        return func
    return register


def fetch(queryset) -> list[tuple]:
    """The queryset's rows straight from the database cursor: the SQL Django compiled, without its
    per-value converters (Decimal, aware datetimes), which cost more than the query at a million rows.
    Numbers come back as int/float/Decimal/str, dates and times as the driver gives them; the
    ``to_float``/``to_epoch`` helpers below turn whole columns into arrays."""
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:  # e.g. ``id IN ()`` for an empty population: no rows, not a server error
        return []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def fetch_chunks(queryset, size: int = 200_000):
    """``fetch`` in pieces of at most ``size`` rows (``fetchmany``), for results too big to hold at once."""
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:
        return
    # a server-side cursor on PostgreSQL (psycopg's plain cursor would load the whole result)
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(size):
            yield rows


def column(rows: list[tuple], index: int) -> list:
    return [r[index] for r in rows]


def to_float(values: list) -> np.ndarray:
    """Numbers (int, float, Decimal, numeric text) and None → float64 with NaN for None."""
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def to_epoch(values: list) -> np.ndarray:
    """Datetimes (aware from PostgreSQL, naive UTC from SQLite columns) or ``YYYY-MM-DD HH:MM:SS`` text in
    UTC (SQLite expressions) or dates →
    seconds since the epoch as float64, NaN for None."""
    out = np.full(len(values), np.nan)
    present = [i for i, v in enumerate(values) if v is not None]
    if not present:
        return out
    sample = values[present[0]]
    picked = [values[i] for i in present]
    if isinstance(sample, str):
        stamps = np.array([v.replace(" ", "T")[:26].rstrip("Z").split("+")[0] for v in picked],
                          dtype="datetime64[us]")
        out[present] = stamps.astype("int64") / 1e6
    elif isinstance(sample, dt.datetime):
        # SQLite's converter gives naive datetimes for plain columns: Django stores them in UTC.
        out[present] = [(v if v.tzinfo else v.replace(tzinfo=dt.UTC)).timestamp() for v in picked]
    else:  # dates
        out[present] = np.array(picked, dtype="datetime64[D]").astype("int64") * 86400.0
    return out


def _scatter(pop: Population, ids: np.ndarray, columns: list[np.ndarray], *, fill: float = 0.0
             ) -> tuple[np.ndarray, np.ndarray]:
    """Per-client rows (ids, one array per column) → a (columns × n) array aligned with the population,
    and the mask of clients that had a row."""
    out = np.full((len(columns), pop.size), fill, dtype=np.float64)
    present = np.zeros(pop.size, dtype=bool)
    if ids.size:
        inside = np.isin(ids, pop.ids)
        pos = np.searchsorted(pop.ids, ids[inside])
        for c, col in enumerate(columns):
            out[c, pos] = col[inside]
        present[pos] = True
    return out, present


def _ids(rows: list[tuple], index: int = 0) -> np.ndarray:
    return np.fromiter((r[index] for r in rows), dtype=np.int64, count=len(rows))


# --- incremental families: raw aggregates per client, and the cheap transform of the as-of date ---------
#
# The families below are computed in two steps: ``raw`` aggregates the client's rows into numbers that do not
# depend on the as-of date except through the cut-offs (events before the end of ``as_of``, windows of 12
# months), and ``derive`` turns them into features for ``as_of`` (months since a date, KYC still valid…) with
# array arithmetic. The full computation is ``derive(raw(population))``; the incremental one
# (``bcrm.segmentation.feature_store``) keeps the raw numbers per client, recomputes them only for the clients
# whose rows changed (or whose rows crossed a cut-off since the stored date: ``bands``) and derives every
# client's features from the stored numbers again.

Raw = dict[str, np.ndarray]  # raw column name → float64 array aligned with the population (NaN: none)


@dataclass(frozen=True)
class Band:
    """Rows whose ``date_field`` crosses a cut-off when the as-of date moves: their clients are recomputed.
    ``window`` also counts the 12-month window's start; ``org`` is the path to the client's id."""

    model: Any
    date_field: str
    org: str = "organization_id"
    window: bool = False


@dataclass(frozen=True)
class IncrementalFamily:
    columns: tuple[str, ...]
    raw: Callable[[Population], Raw]
    derive: Callable[[Population, Raw], dict[str, FeatureValues]]
    bands: tuple[Band, ...] = ()
    #: What else the raw numbers depend on (e.g. the exchange rates on ``as_of``): when it differs from the
    #: stored one, the family is recomputed for everyone.
    context: Callable[[Population], Any] | None = None
    #: Raw columns of other incremental families ("family:column") that ``derive`` also reads (under those
    #: keys): a model computed from numbers another family aggregates already costs no query of its own.
    uses: tuple[str, ...] = ()


INCREMENTAL: dict[str, IncrementalFamily] = {}


def no_raw(pop: Population) -> Raw:
    """The raw aggregate of a family computed only from other families' raw numbers (``uses``)."""
    return {}


def incremental(family: str, columns: tuple[str, ...], raw: Callable[[Population], Raw], *,
                bands: tuple[Band, ...] = (), context: Callable[[Population], Any] | None = None,
                uses: tuple[str, ...] = ()):
    """Register ``derive`` (the decorated function) with its ``raw`` aggregate; returns the full family,
    ``derive(raw(population))``, for ``@feature`` to register."""
    def register(derive):
        INCREMENTAL[family] = IncrementalFamily(columns, raw, derive, bands, context, uses)

        def full(pop: Population) -> dict[str, FeatureValues]:
            raws = raw_numbers([family], pop)
            return derive_family(family, pop, raws)
        full.__name__ = f"{family}_family"
        return full
    return register


def raw_dependencies(families: Iterable[str]) -> list[str]:
    """The incremental families whose raw numbers ``families`` need: themselves and what they use."""
    out: list[str] = []
    for family in families:
        for dep in [family, *(u.split(":", 1)[0] for u in INCREMENTAL[family].uses)]:
            if dep not in out:
                out.append(dep)
    return out


def raw_numbers(families: Iterable[str], pop: Population) -> dict[str, Raw]:
    """Each needed family's raw aggregate (``raw_dependencies``), computed once for all of ``families``."""
    return {family: INCREMENTAL[family].raw(pop) for family in raw_dependencies(families)}


def derive_family(family: str, pop: Population, raws: dict[str, Raw]) -> dict[str, FeatureValues]:
    """``family``'s features from the raw numbers of every family (family → column → array)."""
    spec = INCREMENTAL[family]
    raw = dict(raws.get(family, {}))
    for use in spec.uses:
        dep, col = use.split(":", 1)
        raw[use] = raws[dep][col]
    return spec.derive(pop, raw)


class Epoch(Func):
    """Seconds since 1970-01-01 UTC of a time (or of a date's midnight), computed by the database: no
    per-row parsing of times in Python."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::float8", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores SQLite times as UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]", and dates as "YYYY-MM-DD".
        # julianday() of the whole text is a double of days, 13 µs off at today's dates: a time at midnight
        # fell on the day before, where PostgreSQL's EXTRACT is exact. The date's days (exact) and the time of
        # day read from the text instead.
        sql, params = compiler.compile(self.source_expressions[0])
        if params:  # not a column: the approximate form, which names the expression once
            return self.as_sql(compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)",
                               **extra)
        day = f"(julianday(substr({sql}, 1, 10)) - 2440587.5) * 86400.0"
        clock = (f"CAST(substr({sql}, 12, 2) AS INTEGER) * 3600 + CAST(substr({sql}, 15, 2) AS INTEGER) * 60 "
                 f"+ CAST(substr({sql}, 18) AS REAL)")
        return f"({day} + {clock})", []


ID_CHUNK = 5000  # ids per ``IN (…)`` list when a population is a subset (one query per chunk)
#: Ids per array parameter on PostgreSQL (``= ANY(%s)``): one query for a daily run's changed clients. With
#: lists of 5,000 each family asked four queries for 18,000 clients, each paying to bind and plan 5,000
#: parameters (issue 19).
ARRAY_CHUNK = 100_000


class AmongIds(Func):
    """``column = ANY(ids)`` on PostgreSQL (one array parameter), ``column IN (…)`` elsewhere: a filter
    (``queryset.filter(AmongIds("organization_id", ids))``)."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, column: str, ids: list[int]) -> None:
        super().__init__(F(column))
        self.ids = ids

    def _column(self, compiler) -> tuple[str, list]:
        if not self.ids:
            raise EmptyResultSet
        sql, params = compiler.compile(self.source_expressions[0])
        return sql, list(params)

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = self._column(compiler)
        return f"{sql} = ANY(%s::bigint[])", [*params, self.ids]

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = self._column(compiler)
        return f"{sql} IN ({', '.join(['%s'] * len(self.ids))})", [*params, *self.ids]


def _id_chunks(pop: Population) -> Iterable[list[int]]:
    size = ARRAY_CHUNK if connection.vendor == "postgresql" else ID_CHUNK
    for start in range(0, pop.size, size):
        yield pop.ids[start:start + size].tolist()


def fetch_for(queryset, pop: Population, org: str = "organization_id") -> list[tuple]:
    """``fetch`` for the whole table, or restricted to the population's ids when it is a subset of the
    clients (the incremental run's changed clients), chunk by chunk."""
    if not pop.subset:
        return fetch(queryset)
    return [row for rows in _row_chunks(queryset, pop, org) for row in rows]


def _row_chunks(queryset, pop: Population, org: str):
    """The queryset's rows in pieces: whole-table queries through a cursor read ``fetchmany`` at a time (a
    server-side cursor on PostgreSQL), a subset's queries one id chunk at a time."""
    if pop.subset:
        for ids in _id_chunks(pop):
            rows = fetch(queryset.filter(AmongIds(org, ids)))
            if rows:
                yield rows
        return
    yield from fetch_chunks(queryset, ROW_CHUNK)


ROW_CHUNK = 100_000  # rows turned into arrays at a time: the Python objects of one piece, not of a million rows


def scatter_query(queryset, pop: Population, width: int, *, org: str = "organization_id", fill: float = 0.0,
                  converters: dict[int, Callable[[list], np.ndarray]] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Rows (client id, ``width`` numbers) of ``queryset`` → a (width × n) float array aligned with the
    population (``fill`` for clients without a row) and the mask of clients with a row. Read piece by piece
    into the arrays, so memory holds the arrays and one piece of rows. ``converters`` turn a column's values
    into floats (default ``to_float``)."""
    out = np.full((width, pop.size), fill, dtype=np.float64)
    present = np.zeros(pop.size, dtype=bool)
    converters = converters or {}
    for rows in _row_chunks(queryset, pop, org):
        ids = _ids(rows)
        inside = np.isin(ids, pop.ids)
        pos = np.searchsorted(pop.ids, ids[inside])
        for c in range(width):
            out[c, pos] = converters.get(c, to_float)(column(rows, c + 1))[inside]
        present[pos] = True
        del rows
    return out, present


def _day_epoch(day: dt.date) -> float:
    return (day - dt.date(1970, 1, 1)).days * 86400.0


# --- profile: the organisation row itself -----------------------------------------------------

@cache
def country_risk_table() -> dict[str, int]:
    path = settings.BCRM_COUNTRY_RISK_FILE or str(Path(__file__).parent / "data" / "country_risk.json")
    with open(path, encoding="utf-8") as fh:
        return {k.upper(): int(v) for k, v in json.load(fh)["categories"].items()}


#: The organisation's fields the profile reads, in ``profile_raw_from_rows``'s order (dates as given by the
#: driver or as seconds since the epoch).
PROFILE_COLUMNS = ("id", "rating_score", "kyc_status", "kyc_expires_on", "sanctions_flag", "country",
                   "relationship_since")


def profile_raw(pop: Population) -> Raw:
    risk = {c: float(v) for c, v in country_risk_table().items()}
    values, _present = scatter_query(Organization.objects.order_by().annotate(
        e_expires=Epoch("kyc_expires_on"), e_since=Epoch("relationship_since")).values_list(
        "id", "rating_score", "kyc_status", "e_expires", "sanctions_flag", "country", "e_since"), pop, 6, org="id",
        fill=np.nan, converters={
            1: lambda v: _codes(v, {code: float(i) for i, code in enumerate(KYC_CODES)}),
            3: lambda v: np.array([bool(x) for x in v], dtype=np.float64),
            4: lambda v: _codes(v, risk, upper=True)})
    return dict(zip(PROFILE_RAW, values, strict=True))


PROFILE_RAW = ("rating_score", "kyc_status", "kyc_expires", "sanctions", "country_risk", "since")


def profile_raw_from_rows(pop: Population, rows: list[tuple]) -> Raw:
    """The profile's raw numbers from organisation rows (``PROFILE_COLUMNS``; the dates may be dates)."""
    def epoch(values: list) -> np.ndarray:
        return to_epoch(values) if any(isinstance(v, dt.date) for v in values) else to_float(values)

    risk_table = country_risk_table()
    status = _codes(column(rows, 2), {code: float(i) for i, code in enumerate(KYC_CODES)})
    hit = np.array([bool(v) for v in column(rows, 4)], dtype=np.float64)
    category = _codes(column(rows, 5), {c: float(v) for c, v in risk_table.items()}, upper=True)
    values, _present = _scatter(pop, _ids(rows), [
        to_float(column(rows, 1)), status, epoch(column(rows, 3)), hit, category, epoch(column(rows, 6))],
        fill=np.nan)
    return dict(zip(PROFILE_RAW, values, strict=True))


#: KYC states as numbers in the store (their position here); NaN for none.
KYC_CODES = tuple(KycStatus.values)
KYC_VERIFIED = float(KYC_CODES.index(KycStatus.VERIFIED.value))


def _codes(values: list, table: dict[str, float], *, upper: bool = False) -> np.ndarray:
    """Text codes → the table's numbers (NaN for empty or unknown), looked up once per distinct code."""
    if not values:
        return np.zeros(0)
    distinct, inverse = np.unique(np.array(["" if v is None else str(v) for v in values], dtype=object)
                                  .astype(str), return_inverse=True)
    mapped = np.array([table.get(d.upper() if upper else d, np.nan) if d else np.nan for d in distinct.tolist()],
                      dtype=np.float64)
    return mapped[inverse.reshape(-1)]


@feature(
    Feature("rating_score", "profile", _("Credit rating grade"), "grade",
            _("Rating on one scale: 1 = AAA … 22 = D (lower is better)."), higher_is_better=False),
    Feature("kyc_valid", "profile", _("KYC valid"), "flag", _("1 when KYC is verified and not expired."),
            compliance=True),
    Feature("sanctions_flag", "profile", _("Sanctions hit"), "flag", _("1 when screening found a sanctions hit."),
            higher_is_better=False, compliance=True),
    Feature("country_risk", "profile", _("Country risk"), "score",
            _("OECD-style country risk category, 0 (lowest) to 7."), higher_is_better=False),
    Feature("relationship_years", "profile", _("Years of relationship"), "years",
            _("Years since the relationship began.")),
)
@incremental("profile", ("rating_score", "kyc_status", "kyc_expires", "sanctions", "country_risk", "since"),
             profile_raw)
def profile_derive(pop: Population, raw: Raw) -> dict[str, FeatureValues]:
    n = pop.size
    day = 86400.0
    as_of_epoch = _day_epoch(pop.as_of)
    score = raw["rating_score"].copy()
    expires = raw["kyc_expires"]
    with np.errstate(invalid="ignore"):
        valid = (raw["kyc_status"] == KYC_VERIFIED) & (np.isnan(expires) | (expires >= as_of_epoch))
        since = raw["since"]
        years = np.where(since <= as_of_epoch, (as_of_epoch - since) / day / 365.25, np.nan)
    category = raw["country_risk"].copy()
    zero = np.zeros(n, dtype=bool)
    return {"rating_score": FeatureValues(score, np.isnan(score)),
            "kyc_valid": FeatureValues(valid.astype(np.float64), zero.copy()),
            "sanctions_flag": FeatureValues(np.nan_to_num(raw["sanctions"]), zero.copy()),
            "country_risk": FeatureValues(category, np.isnan(category)),
            "relationship_years": FeatureValues(years, np.isnan(years))}


# --- commitments: money, converted into the reporting currency --------------------------------

def _rates(pop: Population) -> dict[str, float]:
    return {code: float(rate) for code, rate in sorted(rates_to_reporting(pop.as_of).items())}


def commitments_raw(pop: Population) -> Raw:
    committed = Q(status__in=COMMITTED_STATUSES)
    # Convert in the query: one row per client instead of one per client and currency. The rates are
    # the dated ones as of ``as_of``; a currency without a rate makes the client's amounts unknown.
    known = _rates(pop)
    fx = Case(*[When(currency=code, then=Value(rate)) for code, rate in known.items()],
              default=Value(None), output_field=FloatField())

    def converted(field: str) -> ExpressionWrapper:
        return ExpressionWrapper(F(field) * fx, output_field=FloatField())

    values, _present = scatter_query(
        Participation.objects.filter(status_changed_at__lt=pop.end)
        .order_by().values("organization_id")
        .annotate(
            c_amount=Sum(converted("amount"), filter=committed),
            c_recent=Sum(converted("amount"), filter=committed & Q(status_changed_at__gte=pop.year_ago)),
            c_fees=Sum(converted("fee_income"), filter=committed),
            c_tickets=Count("id", filter=committed),
            c_unconvertible=Count("id", filter=committed & ~Q(currency__in=list(known))),
        )
        .values_list("organization_id", "c_amount", "c_recent", "c_fees", "c_tickets", "c_unconvertible"), pop, 5)
    values = np.nan_to_num(values)
    return dict(zip(("amount", "recent", "fees", "tickets", "unconvertible"), values, strict=True))


@feature(
    Feature("committed_amount", "commitments", _("Committed amount"), "money",
            _("Sum of firm commitments, allocations and funded amounts, in the reporting currency.")),
    Feature("committed_amount_12m", "commitments", _("Committed in the last 12 months"), "money",
            _("Commitments that reached their status in the 12 months to the as-of date.")),
    Feature("fee_income", "commitments", _("Fee income"), "money",
            _("Fee income on committed participations, in the reporting currency.")),
    Feature("average_ticket", "commitments", _("Average ticket"), "money",
            _("Committed amount per committed participation, in the reporting currency.")),
)
@incremental("commitments", ("amount", "recent", "fees", "tickets", "unconvertible"), commitments_raw,
             bands=(Band(Participation, "status_changed_at", window=True),), context=_rates)
def commitments_derive(pop: Population, raw: Raw) -> dict[str, FeatureValues]:
    tickets = raw["tickets"]
    missing = raw["unconvertible"] > 0
    no_ticket = missing | (tickets <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        average = np.where(no_ticket, np.nan, raw["amount"] / np.maximum(tickets, 1))
    return {
        "average_ticket": FeatureValues(average, no_ticket),
        "committed_amount": FeatureValues(np.where(missing, np.nan, raw["amount"]), missing.copy()),
        "committed_amount_12m": FeatureValues(np.where(missing, np.nan, raw["recent"]), missing.copy()),
        "fee_income": FeatureValues(np.where(missing, np.nan, raw["fees"]), missing.copy()),
    }


# --- participation counts ----------------------------------------------------------------------

def participation_counts_raw(pop: Population) -> Raw:
    committed = Q(status__in=COMMITTED_STATUSES)
    values, _present = scatter_query(
        Participation.objects.filter(status_changed_at__lt=pop.end).exclude(status=ParticipationStatus.PROSPECT)
        .order_by().values("organization_id")
        .annotate(
            c_n=Count("id"),
            c_projects=Count("project_id", distinct=True),
            c_deals=Count("project_id", distinct=True, filter=committed),
            c_closed=Count("id", filter=Q(status__in=CLOSED)),
        )
        .values_list("organization_id", "c_n", "c_projects", "c_deals", "c_closed"), pop, 4)
    return dict(zip(("n", "projects", "deals", "closed"), values, strict=True))


@feature(
    Feature("participations", "participation_counts", _("Participations"), "count",
            _("Participations past the prospect stage.")),
    Feature("projects", "participation_counts", _("Distinct projects"), "count",
            _("Projects the client took part in (past prospect).")),
    Feature("joint_deals", "participation_counts", _("Joint deals"), "count",
            _("Projects in which the client committed alongside us.")),
    Feature("repeat_rate", "participation_counts", _("Repeat rate"), "share",
            _("Share of the client's committed projects that came after the first: (deals − 1) / deals.")),
    Feature("withdrawn_share", "participation_counts", _("Declined or withdrawn share"), "share",
            _("Share of participations past prospect that ended declined or withdrawn."), higher_is_better=False),
    Feature("repeat_client", "participation_counts", _("Repeat client"), "flag",
            _("1 when the client committed to two projects or more (an outcome for information gain).")),
)
@incremental("participation_counts", ("n", "projects", "deals", "closed"), participation_counts_raw,
             bands=(Band(Participation, "status_changed_at"),))
def participation_counts_derive(pop: Population, raw: Raw) -> dict[str, FeatureValues]:
    n_part, projects, deals, closed = raw["n"], raw["projects"], raw["deals"], raw["closed"]
    with np.errstate(divide="ignore", invalid="ignore"):
        repeat = np.where(deals > 0, (deals - 1) / np.maximum(deals, 1), 0.0)
        withdrawn = np.where(n_part > 0, closed / np.maximum(n_part, 1), np.nan)
    zero = np.zeros(pop.size, dtype=bool)
    return {
        "participations": FeatureValues(n_part.copy(), zero.copy()),
        "projects": FeatureValues(projects.copy(), zero.copy()),
        "joint_deals": FeatureValues(deals.copy(), zero.copy()),
        "repeat_rate": FeatureValues(repeat, zero.copy()),
        "withdrawn_share": FeatureValues(withdrawn, ~(n_part > 0)),
        "repeat_client": FeatureValues((deals >= 2).astype(np.float64), zero.copy()),
    }


# --- contacts --------------------------------------------------------------------------------

#: Contacts are also counted per seniority level (the relationship model weighs them): raw columns "level:…".
LEVELS = tuple(Seniority.values)


def contacts_raw(pop: Population) -> Raw:
    per_level = {f"level_{level}": Count("id", filter=Q(seniority=level)) for level in LEVELS}
    values, _present = scatter_query(
        Contact.objects.order_by().values("organization_id")
        .annotate(n=Count("id"), senior=Count("id", filter=Q(seniority__in=SENIOR)), **per_level)
        .values_list("organization_id", "n", "senior", *per_level), pop, 2 + len(LEVELS))
    return {"n": values[0], "senior": values[1], **{f"level:{lv}": values[2 + i] for i, lv in enumerate(LEVELS)}}


@feature(
    Feature("contacts", "contacts", _("Contacts"), "count", _("People we know at the client.")),
    Feature("senior_contacts", "contacts", _("Senior contacts"), "count",
            _("Contacts at board, C-level or senior management level.")),
)
@incremental("contacts", ("n", "senior", *(f"level:{level}" for level in LEVELS)), contacts_raw)
def contacts_derive(pop: Population, raw: Raw) -> dict[str, FeatureValues]:
    zero = np.zeros(pop.size, dtype=bool)
    return {"contacts": FeatureValues(raw["n"].copy(), zero.copy()),
            "senior_contacts": FeatureValues(raw["senior"].copy(), zero.copy())}


# --- interactions ------------------------------------------------------------------------------

class MonthIndex(Func):
    """year × 12 + month − 1 of a datetime, in UTC, computed by the database's own C functions.

    Django's TruncMonth on SQLite calls back into Python for every row (4.3 M interactions took 45 s);
    month resolution for a recency weight does not need the display time zone.
    """

    output_field = IntegerField()

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return (f"(CAST(strftime('%%Y', {sql}) AS INTEGER) * 12 + CAST(strftime('%%m', {sql}) AS INTEGER) - 1)",
                [*params, *params])

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return (f"(EXTRACT(YEAR FROM {sql} AT TIME ZONE 'UTC')::int * 12 "
                f"+ EXTRACT(MONTH FROM {sql} AT TIME ZONE 'UTC')::int - 1)", [*params, *params])


#: Interaction depth (the relationship model) is summed in the database relative to this month (January 2000,
#: as ``MonthIndex``): Σ kind weight · 2^((month − DEPTH_ANCHOR) / half-life), an as-of-free number the store
#: keeps; the as-of date's month only scales it (``depth_now``).
DEPTH_ANCHOR = 2000 * 12


def _float(value: float) -> Cast:
    return Cast(Value(float(value)), FloatField())


def depth_config() -> dict[str, Any]:
    from bcrm.stats.relationship import DEFAULT_RELATIONSHIP_CONFIG

    return {"half_life_months": float(DEFAULT_RELATIONSHIP_CONFIG["half_life_months"]),
            "kind_weights": {k: float(v) for k, v in sorted(DEFAULT_RELATIONSHIP_CONFIG["kind_weights"].items())}}


def as_of_month(pop: Population) -> int:
    """The UTC month (``MonthIndex``) of the last instant counted: no interaction counted is in a later month."""
    last = (pop.end - dt.timedelta(microseconds=1)).astimezone(dt.UTC)
    return last.year * 12 + last.month - 1


def depth_now(anchored: np.ndarray, pop: Population) -> np.ndarray:
    """The recency-weighted depth as of ``pop.as_of`` from the anchored sum: Σ w · 2^(−months ago / half-life)."""
    half_life = depth_config()["half_life_months"]
    return anchored * np.exp2((DEPTH_ANCHOR - as_of_month(pop)) / half_life)


def interactions_raw(pop: Population) -> Raw:
    recent = Q(occurred_at__gte=pop.year_ago)
    cfg = depth_config()
    # Typed floats: PostgreSQL reads an untyped 2.0 as numeric, whose power and sums are ten times slower.
    weight = Case(*[When(kind=kind, then=_float(w)) for kind, w in cfg["kind_weights"].items()],
                  default=_float(0.0), output_field=FloatField())
    months = Cast(MonthIndex("occurred_at") - Value(DEPTH_ANCHOR), FloatField())
    decay = Power(_float(2.0), ExpressionWrapper(months / _float(cfg["half_life_months"]), output_field=FloatField()))
    values, present = scatter_query(
        Interaction.objects.filter(occurred_at__lt=pop.end).order_by().values("organization_id")
        .annotate(
            n=Count("id", filter=recent),
            senior=Count("id", filter=recent & Q(kind=InteractionKind.SENIOR_MEETING)),
            minutes=Sum("minutes_spent", filter=recent),
            last=Epoch(Max("occurred_at")),
            first=Epoch(Min("occurred_at")),
            depth=Sum(ExpressionWrapper(weight * decay, output_field=FloatField())),
        )
        .values_list("organization_id", "n", "senior", "minutes", "last", "first", "depth"), pop, 6,
        converters={2: lambda v: np.nan_to_num(to_float(v)) / 60.0, 5: lambda v: np.nan_to_num(to_float(v))})
    return {"n": values[0], "senior": values[1], "hours": values[2], "last": np.where(present, values[3], np.nan),
            "first": np.where(present, values[4], np.nan), "depth": values[5]}


@feature(
    Feature("interactions_12m", "interactions", _("Interactions, last 12 months"), "count",
            _("Meetings, calls, e-mails, visits and reports in the 12 months to the as-of date.")),
    Feature("senior_meetings_12m", "interactions", _("Senior-level meetings, last 12 months"), "count",
            _("Senior-level meetings in the 12 months to the as-of date.")),
    Feature("hours_12m", "interactions", _("Hours spent, last 12 months"), "count",
            _("Time logged on the client's interactions (cost to serve)."), higher_is_better=False),
    Feature("months_since_contact", "interactions", _("Months since last contact"), "months",
            _("Months since the latest interaction."), higher_is_better=False),
)
@incremental("interactions", ("n", "senior", "hours", "last", "first", "depth"), interactions_raw,
             bands=(Band(Interaction, "occurred_at", window=True),), context=lambda pop: depth_config())
def interactions_derive(pop: Population, raw: Raw) -> dict[str, FeatureValues]:
    present = ~np.isnan(raw["last"])
    months = (pop.end.timestamp() - raw["last"]) / SECONDS_PER_MONTH
    zero = np.zeros(pop.size, dtype=bool)
    return {
        "interactions_12m": FeatureValues(raw["n"].copy(), zero.copy()),
        "senior_meetings_12m": FeatureValues(raw["senior"].copy(), zero.copy()),
        "hours_12m": FeatureValues(raw["hours"].copy(), zero.copy()),
        "months_since_contact": FeatureValues(np.where(present, months, np.nan), ~present),
    }


# --- satisfaction --------------------------------------------------------------------------------

def surveys_raw(pop: Population) -> Raw:
    out = {"nps": np.full(pop.size, np.nan), "csat": np.full(pop.size, np.nan)}
    for field_name in ("nps", "csat"):
        rows = fetch_for(
            SurveyResponse.objects.filter(responded_at__lt=pop.end, **{f"{field_name}__isnull": False})
            .order_by("organization_id", "responded_at", "id").values_list("organization_id", field_name), pop)
        if not rows:
            continue
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vals = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
        last = np.r_[ids[1:] != ids[:-1], True]  # rows are ordered: the last row per client is its latest
        ids, vals = ids[last], vals[last]
        inside = np.isin(ids, pop.ids)
        out[field_name][np.searchsorted(pop.ids, ids[inside])] = vals[inside]
    return out


@feature(
    Feature("latest_nps", "surveys", _("Latest NPS answer"), "score", _("The client's latest NPS answer, 0–10.")),
    Feature("latest_csat", "surveys", _("Latest CSAT answer"), "score", _("The client's latest CSAT answer, 1–5.")),
)
@incremental("surveys", ("nps", "csat"), surveys_raw, bands=(Band(SurveyResponse, "responded_at"),))
def surveys_derive(pop: Population, raw: Raw) -> dict[str, FeatureValues]:
    return {"latest_nps": FeatureValues(raw["nps"].copy(), np.isnan(raw["nps"])),
            "latest_csat": FeatureValues(raw["csat"].copy(), np.isnan(raw["csat"]))}


# --- history: how long we have known the client --------------------------------------------------

def history_raw(pop: Population) -> Raw:
    """The earliest commitment step; the earliest interaction and the relationship's start are the
    interactions' and the profile's raw numbers (``uses``): no second scan of those tables."""
    if pop.subset and connection.vendor == "postgresql":
        return {"first_change": _first_change_per_participation(pop)}
    values, present = scatter_query(
        ParticipationStatusChange.objects.filter(changed_at__lt=pop.end).order_by()
        .values("participation__organization_id").annotate(first=Epoch(Min("changed_at")))
        .values_list("participation__organization_id", "first"), pop, 1, org="participation__organization_id",
        fill=np.nan)
    return {"first_change": np.where(present, values[0], np.nan)}


def _first_change_per_participation(pop: Population) -> np.ndarray:
    """The earliest commitment step of a few clients: each of their participations' earliest step, found by
    an index probe (``pstatus_idx``), and the least of them per client. Joined to the steps table, PostgreSQL
    hashed all of its rows for a daily run's changed clients (0.25 s a query at a million clients, issue 19)."""
    earliest = (ParticipationStatusChange.objects.filter(participation=OuterRef("pk"), changed_at__lt=pop.end)
                .order_by("changed_at").values("changed_at")[:1])
    rows = fetch_for(Participation.objects.order_by().annotate(first=Epoch(Subquery(earliest)))
                     .values_list("organization_id", "first"), pop)
    out = np.full(pop.size, np.nan)
    if rows:
        ids, first = _ids(rows), to_float(column(rows, 1))
        known = ~np.isnan(first) & np.isin(ids, pop.ids)
        np.fmin.at(out, np.searchsorted(pop.ids, ids[known]), first[known])
    return out


@feature(
    Feature("history_months", "history", _("Months of history"), "months",
            _("Months since the earliest dated evidence: relationship start, first commitment step or interaction.")),
)
@incremental("history", ("first_change",), history_raw,
             bands=(Band(ParticipationStatusChange, "changed_at", org="participation__organization_id"),),
             uses=("interactions:first", "profile:since"))
def history_derive(pop: Population, raw: Raw) -> dict[str, FeatureValues]:
    since = raw["profile:since"]
    with np.errstate(invalid="ignore"):
        since = np.where(since <= _day_epoch(pop.as_of), since, np.nan)  # a relationship that has begun
    # NaN only where all three are unknown
    first = np.fmin(np.fmin(raw["first_change"], raw["interactions:first"]), since)
    months = (pop.end.timestamp() - first) / SECONDS_PER_MONTH
    missing = np.isnan(months)
    return {"history_months": FeatureValues(np.where(missing, np.nan, np.maximum(months, 0.0)), missing)}


def families_for(names: Iterable[str]) -> list[str]:
    unknown = sorted(set(names) - set(FEATURES))
    if unknown:
        raise KeyError(", ".join(unknown))
    wanted: list[str] = []
    for name in names:
        if FEATURES[name].family not in wanted:
            wanted.append(FEATURES[name].family)
    return wanted


def compute_features(names: Iterable[str], population: Population) -> FeatureMatrix:
    """Every named feature for the whole population: one aggregate query per family."""
    names = list(dict.fromkeys(names))
    matrix = FeatureMatrix(population)
    wanted = families_for(names)
    # The incremental families' raw aggregates once each, shared by the families that derive from them.
    raws = raw_numbers([f for f in wanted if f in INCREMENTAL], population)
    for family in wanted:
        if family in INCREMENTAL:
            matrix.columns.update(derive_family(family, population, raws))
        else:
            matrix.columns.update(FAMILIES[family](population))
        matrix.queries += 1
    return FeatureMatrix(population, {n: matrix.columns[n] for n in names}, matrix.queries)


#: What reading a damaged, cut short or foreign file of the cache raises (``np.load`` of an ``.npz`` reads a zip
#: archive): the caller then does without the copy and reads the database.
DAMAGED_CACHE: tuple[type[Exception], ...] = (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile)


def cache_path(name: str) -> Path:
    """``name`` in the data folder's ``cache/``, for this database: copies of what the database holds (the feature
    store, the assignments in force, the portfolio fit), named so that two databases never share one."""
    import hashlib

    key = hashlib.sha256(f"{connection.vendor}|{connection.settings_dict.get('NAME')}".encode()).hexdigest()[:16]
    return Path(settings.DATA_DIR) / "cache" / name.format(key=key)


def _cache_path(names: list[str], as_of: dt.date) -> Path:
    import hashlib

    asked = hashlib.sha256(("|".join(sorted(names)) + f"|{as_of.isoformat()}").encode()).hexdigest()[:20]
    return cache_path(f"features-{{key}}-{asked}.npz")


def compute_features_cached(names: Iterable[str], population: Population, *, refresh: bool = False,
                            max_age: float | None = None) -> tuple[FeatureMatrix, float | None]:
    """``compute_features`` through a file cache in the data folder, for previews.

    An analyst trying weights and methods asks for the same features again and again; at a million
    clients they take tens of seconds to aggregate and a second to load. The cache holds for
    ``max_age`` seconds and for the same population only; a real run always recomputes (``refresh``)
    and leaves its features here for the previews that follow. Returns the matrix and, when it came
    from the cache, its age in seconds.
    """
    import time as _time

    names = list(dict.fromkeys(names))
    if max_age is None:
        max_age = float(settings.BCRM_FEATURE_CACHE_SECONDS)
    if max_age <= 0:
        return compute_features(names, population), None
    path = _cache_path(names, population.as_of)
    if not refresh and path.exists() and _time.time() - path.stat().st_mtime < max_age:
        try:
            with np.load(path, allow_pickle=False) as data:
                if np.array_equal(data["__ids__"], population.ids):
                    matrix = FeatureMatrix(population, {
                        name: FeatureValues(data[f"v:{name}"], data[f"m:{name}"]) for name in names})
                    return matrix, _time.time() - path.stat().st_mtime
        except DAMAGED_CACHE as exc:  # a damaged or older cache file is recomputed below
            logger.warning("feature cache %s unreadable, recomputing: %s", path, exc)
    matrix = compute_features(names, population)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"__ids__": population.ids}
        for name, fv in matrix.columns.items():
            arrays[f"v:{name}"] = fv.values
            arrays[f"m:{name}"] = fv.missing
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as one array-like
        tmp.replace(path)  # atomic: a reader never sees half a file
    except OSError as exc:  # no cache is only slower
        logger.warning("feature cache %s not written: %s", path, exc)
    return matrix, None


def load_population(as_of: dt.date) -> Population:
    """Every client, ids ascending."""
    ids = np.fromiter(Organization.objects.order_by("id").values_list("id", flat=True).iterator(chunk_size=50_000),
                      dtype=np.int64)
    return Population(ids=ids, as_of=as_of)


def reporting_currency() -> str:
    return settings.BCRM_REPORTING_CURRENCY


from bcrm.segmentation import (  # noqa: E402  (registers the families below: mail strength, the models)
    intel_features,  # noqa: F401
    model_features,  # noqa: F401
)
