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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Case, Count, ExpressionWrapper, F, FloatField, Max, Min, Q, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

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


@dataclass
class Population:
    """The clients being classified: ids ascending, and the date the features are computed as of."""

    ids: np.ndarray
    as_of: dt.date

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


# --- profile: the organisation row itself -----------------------------------------------------

@cache
def country_risk_table() -> dict[str, int]:
    path = settings.BCRM_COUNTRY_RISK_FILE or str(Path(__file__).parent / "data" / "country_risk.json")
    with open(path, encoding="utf-8") as fh:
        return {k.upper(): int(v) for k, v in json.load(fh)["categories"].items()}


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
def profile_family(pop: Population) -> dict[str, FeatureValues]:
    n = pop.size
    rows = fetch(Organization.objects.order_by().values_list(
        "id", "rating_score", "kyc_status", "kyc_expires_on", "sanctions_flag", "country", "relationship_since"))
    ids = _ids(rows)
    inside = np.isin(ids, pop.ids)
    pos = np.searchsorted(pop.ids, ids[inside])

    def aligned(values: np.ndarray, fill) -> np.ndarray:
        out = np.full(n, fill, dtype=values.dtype)
        out[pos] = values[inside]
        return out

    as_of = pop.as_of
    day = 86400.0
    as_of_epoch = (as_of - dt.date(1970, 1, 1)).days * day
    score = aligned(to_float(column(rows, 1)), np.nan)
    rating = FeatureValues(score, np.isnan(score))
    status = np.array(column(rows, 2), dtype=object)
    expires = to_epoch(column(rows, 3))
    with np.errstate(invalid="ignore"):
        valid = (status == KycStatus.VERIFIED.value) & (np.isnan(expires) | (expires >= as_of_epoch))
    kyc = FeatureValues(aligned(valid.astype(np.float64), 0.0), np.zeros(n, dtype=bool))
    hit = np.array([bool(v) for v in column(rows, 4)], dtype=np.float64)
    sanctions = FeatureValues(aligned(hit, 0.0), np.zeros(n, dtype=bool))
    risk_table = country_risk_table()
    category = np.array([risk_table.get(str(c).upper(), np.nan) if c else np.nan for c in column(rows, 5)],
                        dtype=np.float64)
    category = aligned(category, np.nan)
    country = FeatureValues(category, np.isnan(category))
    since = to_epoch(column(rows, 6))
    with np.errstate(invalid="ignore"):
        years_raw = np.where(since <= as_of_epoch, (as_of_epoch - since) / day / 365.25, np.nan)
    years_arr = aligned(years_raw, np.nan)
    years = FeatureValues(years_arr, np.isnan(years_arr))
    return {"rating_score": rating, "kyc_valid": kyc, "sanctions_flag": sanctions,
            "country_risk": country, "relationship_years": years}


# --- commitments: money, converted into the reporting currency --------------------------------

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
def commitments_family(pop: Population) -> dict[str, FeatureValues]:
    committed = Q(status__in=COMMITTED_STATUSES)
    # Convert in the query: one row per client instead of one per client and currency. The rates are
    # the dated ones as of ``as_of``; a currency without a rate makes the client's amounts unknown.
    known = {code: float(rate) for code, rate in rates_to_reporting(pop.as_of).items()}
    fx = Case(*[When(currency=code, then=Value(rate)) for code, rate in known.items()],
              default=Value(None), output_field=FloatField())

    def converted(field: str) -> ExpressionWrapper:
        return ExpressionWrapper(F(field) * fx, output_field=FloatField())

    rows = fetch(
        Participation.objects.filter(status_changed_at__lt=pop.end)
        .order_by().values("organization_id")
        .annotate(
            c_amount=Sum(converted("amount"), filter=committed),
            c_recent=Sum(converted("amount"), filter=committed & Q(status_changed_at__gte=pop.year_ago)),
            c_fees=Sum(converted("fee_income"), filter=committed),
            c_tickets=Count("id", filter=committed),
            c_unconvertible=Count("id", filter=committed & ~Q(currency__in=list(known))),
        )
        .values_list("organization_id", "c_amount", "c_recent", "c_fees", "c_tickets", "c_unconvertible")
    )
    values, _present = _scatter(pop, _ids(rows), [np.nan_to_num(to_float(column(rows, i))) for i in range(1, 6)])
    total = values[:3]
    tickets = values[3]
    missing = values[4] > 0
    no_ticket = missing | (tickets <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        average = np.where(no_ticket, np.nan, total[0] / np.maximum(tickets, 1))
    return {
        "average_ticket": FeatureValues(average, no_ticket),
        "committed_amount": FeatureValues(np.where(missing, np.nan, total[0]), missing.copy()),
        "committed_amount_12m": FeatureValues(np.where(missing, np.nan, total[1]), missing.copy()),
        "fee_income": FeatureValues(np.where(missing, np.nan, total[2]), missing.copy()),
    }


# --- participation counts ----------------------------------------------------------------------

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
def participation_counts_family(pop: Population) -> dict[str, FeatureValues]:
    committed = Q(status__in=COMMITTED_STATUSES)
    rows = fetch(
        Participation.objects.filter(status_changed_at__lt=pop.end).exclude(status=ParticipationStatus.PROSPECT)
        .order_by().values("organization_id")
        .annotate(
            c_n=Count("id"),
            c_projects=Count("project_id", distinct=True),
            c_deals=Count("project_id", distinct=True, filter=committed),
            c_closed=Count("id", filter=Q(status__in=CLOSED)),
        )
        .values_list("organization_id", "c_n", "c_projects", "c_deals", "c_closed")
    )
    values, present = _scatter(pop, _ids(rows), [to_float(column(rows, i)) for i in (1, 2, 3, 4)])
    n_part, projects, deals, closed = values
    with np.errstate(divide="ignore", invalid="ignore"):
        repeat = np.where(deals > 0, (deals - 1) / np.maximum(deals, 1), 0.0)
        withdrawn = np.where(n_part > 0, closed / np.maximum(n_part, 1), np.nan)
    zero = np.zeros(pop.size, dtype=bool)
    return {
        "participations": FeatureValues(n_part, zero.copy()),
        "projects": FeatureValues(projects, zero.copy()),
        "joint_deals": FeatureValues(deals, zero.copy()),
        "repeat_rate": FeatureValues(repeat, zero.copy()),
        "withdrawn_share": FeatureValues(withdrawn, ~(n_part > 0)),
        "repeat_client": FeatureValues((deals >= 2).astype(np.float64), zero.copy()),
    }


# --- contacts --------------------------------------------------------------------------------

@feature(
    Feature("contacts", "contacts", _("Contacts"), "count", _("People we know at the client.")),
    Feature("senior_contacts", "contacts", _("Senior contacts"), "count",
            _("Contacts at board, C-level or senior management level.")),
)
def contacts_family(pop: Population) -> dict[str, FeatureValues]:
    rows = fetch(
        Contact.objects.order_by().values("organization_id")
        .annotate(n=Count("id"), senior=Count("id", filter=Q(seniority__in=SENIOR)))
        .values_list("organization_id", "n", "senior")
    )
    values, _present = _scatter(pop, _ids(rows), [to_float(column(rows, 1)), to_float(column(rows, 2))])
    zero = np.zeros(pop.size, dtype=bool)
    return {"contacts": FeatureValues(values[0], zero.copy()), "senior_contacts": FeatureValues(values[1], zero.copy())}


# --- interactions ------------------------------------------------------------------------------

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
def interactions_family(pop: Population) -> dict[str, FeatureValues]:
    recent = Q(occurred_at__gte=pop.year_ago)
    rows = fetch(
        Interaction.objects.filter(occurred_at__lt=pop.end).order_by().values("organization_id")
        .annotate(
            n=Count("id", filter=recent),
            senior=Count("id", filter=recent & Q(kind=InteractionKind.SENIOR_MEETING)),
            minutes=Sum("minutes_spent", filter=recent),
            last=Max("occurred_at"),
        )
        .values_list("organization_id", "n", "senior", "minutes", "last")
    )
    end = pop.end.timestamp()
    months = (end - to_epoch(column(rows, 4))) / SECONDS_PER_MONTH
    values, present = _scatter(pop, _ids(rows), [
        to_float(column(rows, 1)), to_float(column(rows, 2)), np.nan_to_num(to_float(column(rows, 3))) / 60.0, months])
    zero = np.zeros(pop.size, dtype=bool)
    return {
        "interactions_12m": FeatureValues(values[0], zero.copy()),
        "senior_meetings_12m": FeatureValues(values[1], zero.copy()),
        "hours_12m": FeatureValues(values[2], zero.copy()),
        "months_since_contact": FeatureValues(np.where(present, values[3], np.nan), ~present),
    }


# --- satisfaction --------------------------------------------------------------------------------

@feature(
    Feature("latest_nps", "surveys", _("Latest NPS answer"), "score", _("The client's latest NPS answer, 0–10.")),
    Feature("latest_csat", "surveys", _("Latest CSAT answer"), "score", _("The client's latest CSAT answer, 1–5.")),
)
def surveys_family(pop: Population) -> dict[str, FeatureValues]:
    n = pop.size
    out = {"latest_nps": FeatureValues.empty(n), "latest_csat": FeatureValues.empty(n)}
    for name, field_name in (("latest_nps", "nps"), ("latest_csat", "csat")):
        rows = fetch(
            SurveyResponse.objects.filter(responded_at__lt=pop.end, **{f"{field_name}__isnull": False})
            .order_by("organization_id", "responded_at", "id").values_list("organization_id", field_name)
        )
        if not rows:
            continue
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vals = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
        last = np.r_[ids[1:] != ids[:-1], True]  # rows are ordered: the last row per client is its latest
        ids, vals = ids[last], vals[last]
        inside = np.isin(ids, pop.ids)
        pos = np.searchsorted(pop.ids, ids[inside])
        out[name].values[pos] = vals[inside]
        out[name].missing[pos] = False
    return out


# --- history: how long we have known the client --------------------------------------------------

@feature(
    Feature("history_months", "history", _("Months of history"), "months",
            _("Months since the earliest dated evidence: relationship start, first commitment step or interaction.")),
)
def history_family(pop: Population) -> dict[str, FeatureValues]:
    n = pop.size
    first = np.full(n, np.inf)  # the earliest evidence, seconds since the epoch
    end = pop.end.timestamp()

    def fold(rows: list[tuple]) -> None:
        values, present = _scatter(pop, _ids(rows), [to_epoch(column(rows, 1))], fill=np.inf)
        np.fmin(first, np.where(present, values[0], np.inf), out=first)

    fold(fetch(
        ParticipationStatusChange.objects.filter(changed_at__lt=pop.end).order_by()
        .values("participation__organization_id").annotate(first=Min("changed_at"))
        .values_list("participation__organization_id", "first")
    ))
    fold(fetch(
        Interaction.objects.filter(occurred_at__lt=pop.end).order_by().values("organization_id")
        .annotate(first=Min("occurred_at")).values_list("organization_id", "first")
    ))
    fold(fetch(
        Organization.objects.filter(relationship_since__isnull=False, relationship_since__lte=pop.as_of)
        .order_by().values_list("id", "relationship_since")
    ))
    months = np.where(np.isfinite(first), (end - first) / SECONDS_PER_MONTH, np.nan)
    missing = ~np.isfinite(months)
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
    for family in families_for(names):
        matrix.columns.update(FAMILIES[family](population))
        matrix.queries += 1
    return FeatureMatrix(population, {n: matrix.columns[n] for n in names}, matrix.queries)


def _cache_path(names: list[str], as_of: dt.date):
    import hashlib

    key = hashlib.sha256(("|".join(sorted(names)) + f"|{as_of.isoformat()}|{connection.vendor}|"
                          f"{connection.settings_dict.get('NAME')}").encode()).hexdigest()[:20]
    return Path(settings.DATA_DIR) / "cache" / f"features-{key}.npz"


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
        except (OSError, KeyError, ValueError) as exc:  # a damaged or older cache file is recomputed below
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
