"""The value, risk and relationship models (bcrm.stats) as features of the registry.

Three families, each computed for the whole population with a fixed number of bulk queries (never one
per client):

* ``clv`` — BG/NBD + Gamma-Gamma fitted on the portfolio's committed participations up to the as-of date
  (monthly periods; amounts in the reporting currency): ``predicted_clv`` (12-month discounted lifetime
  value, 1 % a month), ``expected_deals_12m`` and ``p_alive``. Queries: the exchange rates and the
  commitments. Clients without a commitment are missing; a fit that fails (:class:`ModelError`, e.g. too
  few repeat clients on a small portfolio) leaves all three missing for everyone and says why in
  :data:`LAST_NOTES`. A fit of the whole portfolio is kept in the data folder (when the feature file
  cache is on) so the 360° page can show one client's figures without refitting.
* ``risk_scorecard`` — the expert scorecard (:func:`bcrm.stats.scorecard.expert_points`, default
  configuration) scaled to 0–100, higher = safer. Queries: the organisation rows and the participation
  counts.
* ``relationship_model`` — :func:`bcrm.stats.relationship.relationship_strength` (0–100) from
  interaction depth, joint deals, years of relationship and contact seniority (framework agreements are
  not recorded yet: missing). Queries: the organisation rows, the participation counts, interactions
  grouped by (client, kind, calendar month) and contacts grouped by (client, seniority).

For a small population (the 360° page's one client) every query is restricted to its ids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Count, Func, IntegerField, Q
from django.utils.translation import gettext_lazy as _

from bcrm.engagement.models import Interaction
from bcrm.financing.choices import COMMITTED_STATUSES, ParticipationStatus
from bcrm.financing.models import Participation
from bcrm.financing.selectors import rates_to_reporting
from bcrm.parties.choices import KycStatus
from bcrm.parties.models import Contact, Organization
from bcrm.segmentation.features import (
    CLOSED,
    Feature,
    FeatureValues,
    Population,
    _ids,
    _scatter,
    column,
    country_risk_table,
    feature,
    fetch,
    fetch_chunks,
    to_epoch,
    to_float,
)
from bcrm.stats import ModelError, gettext_noop
from bcrm.stats.clv import predict_clv, rfm_summary
from bcrm.stats.relationship import (
    DEFAULT_RELATIONSHIP_CONFIG,
    contact_seniority,
    interaction_depth,
    relationship_strength,
)
from bcrm.stats.scorecard import expert_points

log = logging.getLogger(__name__)

#: Why each model family last left its features missing (family → {"template", "params", "message"}),
#: for diagnostics; empty when the last computation succeeded.
LAST_NOTES: dict[str, dict[str, Any]] = {}
#: Below this many clients the queries are restricted to the population's ids.
SMALL_POPULATION = 1000
#: A KYC review is taken to be valid this long: its age is this minus the time left to its expiry.
KYC_VALIDITY_MONTHS = 12.0
CLV_HORIZON_MONTHS = 12
CLV_MONTHLY_DISCOUNT = 0.01
DAY = 86400.0
MONTH_DAYS = 365.25 / 12


def _restrict(queryset, pop: Population, field: str = "organization_id"):
    if pop.size <= SMALL_POPULATION:
        return queryset.filter(**{f"{field}__in": pop.ids.tolist()})
    return queryset


def _as_of_epoch(pop: Population) -> float:
    return (pop.as_of - dt.date(1970, 1, 1)).days * DAY


# --- shared bulk loaders ------------------------------------------------------------------------

def organization_inputs(pop: Population) -> dict[str, np.ndarray]:
    """Per client (aligned with the population): rating score, KYC state and age in months, sanctions
    flag, country-risk category and years of relationship — one query on the organisation table."""
    rows = fetch(_restrict(Organization.objects.order_by(), pop, "id").values_list(
        "id", "rating_score", "kyc_status", "kyc_expires_on", "sanctions_flag", "country", "relationship_since"))
    return organization_inputs_from_rows(pop, rows)


def organization_inputs_from_rows(pop: Population, rows: list[tuple]) -> dict[str, np.ndarray]:
    n = pop.size
    as_of = _as_of_epoch(pop)
    risk_table = country_risk_table()
    status = np.array(column(rows, 2), dtype=object)
    expires = to_epoch(column(rows, 3))
    with np.errstate(invalid="ignore"):
        expired = (status == KycStatus.VERIFIED.value) & (expires < as_of)
        age = KYC_VALIDITY_MONTHS - (expires - as_of) / DAY / MONTH_DAYS
        since = to_epoch(column(rows, 6))
        years = np.where(since <= as_of, (as_of - since) / DAY / 365.25, np.nan)
    state = np.where(expired, KycStatus.EXPIRED.value, status)
    state = np.array([s or None for s in state], dtype=object)
    age = np.where(np.isnan(expires), np.nan, np.maximum(age, 0.0))
    category = np.array([risk_table.get(str(c).upper(), np.nan) if c else np.nan for c in column(rows, 5)],
                        dtype=np.float64)
    numeric, _present = _scatter(pop, _ids(rows), [
        to_float(column(rows, 1)), age, np.array([1.0 if v else 0.0 for v in column(rows, 4)]), category, years,
    ], fill=np.nan)
    kyc_state = np.full(n, None, dtype=object)
    ids = _ids(rows)
    inside = np.isin(ids, pop.ids)
    kyc_state[np.searchsorted(pop.ids, ids[inside])] = state[inside]
    return {"rating_score": numeric[0], "kyc_state": kyc_state, "kyc_age_months": numeric[1],
            "sanctions_flag": numeric[2], "country_risk": numeric[3], "years": numeric[4]}


def participation_inputs(pop: Population) -> dict[str, np.ndarray]:
    """Per client: participations past prospect, declined-or-withdrawn share (NaN without any) and joint
    deals (distinct projects committed) — one aggregate query, as the participation_counts family."""
    rows = fetch(_restrict(
        Participation.objects.filter(status_changed_at__lt=pop.end).exclude(status=ParticipationStatus.PROSPECT),
        pop).order_by().values("organization_id").annotate(
            c_n=Count("id"),
            c_deals=Count("project_id", distinct=True, filter=Q(status__in=COMMITTED_STATUSES)),
            c_closed=Count("id", filter=Q(status__in=CLOSED)),
    ).values_list("organization_id", "c_n", "c_deals", "c_closed"))
    values, _present = _scatter(pop, _ids(rows), [to_float(column(rows, i)) for i in (1, 2, 3)])
    n_part, deals, closed = values
    with np.errstate(divide="ignore", invalid="ignore"):
        withdrawn = np.where(n_part > 0, closed / np.maximum(n_part, 1), np.nan)
    return {"participations": n_part, "joint_deals": deals, "withdrawn_share": withdrawn}


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


def interaction_depths(pop: Population) -> np.ndarray:
    """Recency-weighted interaction depth per client. Interactions are counted in SQL by (client, kind,
    calendar month); the model's weight of one interaction of each group (kind weight × decay over the
    whole months ago) times its count is summed per client — the same sum as one row per interaction at
    month resolution, without a million-row expansion."""
    queryset = (_restrict(Interaction.objects.filter(occurred_at__lt=pop.end), pop).order_by()
                .annotate(month=MonthIndex("occurred_at")).values("organization_id", "kind", "month")
                .annotate(n=Count("id")).values_list("organization_id", "kind", "month", "n"))
    now_month = pop.as_of.year * 12 + pop.as_of.month - 1
    total = np.zeros(pop.size)
    # Millions of (client, kind, month) groups at scale: summed chunk by chunk, so memory stays flat.
    for rows in fetch_chunks(queryset):
        months_ago = np.maximum(now_month - to_float(column(rows, 2)), 0).astype(np.float64)
        one_each = interaction_depth(np.arange(len(rows)), months_ago, np.array(column(rows, 1), dtype=object),
                                     len(rows))
        values, _none = _sum_by_client(pop, _ids(rows), one_each * to_float(column(rows, 3)))
        total += values
    return total


def _sum_by_client(pop: Population, ids: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, None]:
    inside = np.isin(ids, pop.ids)
    pos = np.searchsorted(pop.ids, ids[inside])
    return np.bincount(pos, weights=weights[inside], minlength=pop.size).astype(np.float64), None


def contact_seniorities(pop: Population) -> np.ndarray:
    """Seniority of the contacts reached per client: contacts counted by (client, level) in SQL."""
    rows = fetch(_restrict(Contact.objects.filter(
        seniority__in=list(DEFAULT_RELATIONSHIP_CONFIG["seniority_weights"])), pop).order_by()
        .values("organization_id", "seniority").annotate(n=Count("id"))
        .values_list("organization_id", "seniority", "n"))
    if not rows:
        return np.zeros(pop.size)
    one_each = contact_seniority(np.arange(len(rows)), np.array(column(rows, 1), dtype=object), len(rows))
    values, _none = _sum_by_client(pop, _ids(rows), one_each * to_float(column(rows, 2)))
    return values


# --- value: customer lifetime value ----------------------------------------------------------------

@feature(
    Feature("predicted_clv", "clv", _("Predicted lifetime value, 12 months"), "money",
            _("Discounted value of the commitments expected in the next 12 months (BG/NBD and Gamma-Gamma models "
              "fitted on the portfolio), in the reporting currency.")),
    Feature("expected_deals_12m", "clv", _("Expected deals, next 12 months"), "count",
            _("Months with a new commitment the BG/NBD model expects in the next 12 months.")),
    Feature("p_alive", "clv", _("Probability still active"), "share",
            _("The BG/NBD model's probability that the client still commits to new deals.")),
)
def clv_family(pop: Population) -> dict[str, FeatureValues]:
    n = pop.size
    out = {name: FeatureValues.empty(n) for name in ("predicted_clv", "expected_deals_12m", "p_alive")}
    try:
        fit = fit_portfolio_clv(pop.as_of, end=pop.end)
    except ModelError as exc:
        LAST_NOTES["clv"] = {"template": exc.template, "params": exc.params, "message": exc.message}
        log.info("CLV features missing for everyone: %s", exc.message)
        return out
    LAST_NOTES.pop("clv", None)
    if fit["predicted_clv"] is None:  # the transaction model held, the spend model did not
        LAST_NOTES["clv"] = {"template": "%(notes)s", "params": {"notes": " ".join(fit["notes"])},
                             "message": " ".join(fit["notes"])}
        log.info("Predicted lifetime value missing for everyone: %s", LAST_NOTES["clv"]["message"])
    ids = fit["ids"]
    for name in out:
        values = fit[name]
        if values is None:
            continue
        aligned, present = _scatter(pop, ids, [values], fill=np.nan)
        known = present & ~np.isnan(aligned[0])
        out[name] = FeatureValues(np.where(known, aligned[0], np.nan), ~known)
    return out


def fit_portfolio_clv(as_of: dt.date, *, end: dt.datetime) -> dict[str, Any]:
    """Fit BG/NBD + Gamma-Gamma on every committed participation before ``end``; per fitted client:
    ``ids`` (ascending), ``predicted_clv`` (None when the spend model failed), ``expected_deals_12m``,
    ``p_alive``, and ``notes``/``params``. Raises :class:`ModelError` when the fit is impossible."""
    rates = {code: float(rate) for code, rate in rates_to_reporting(as_of).items()}
    rows = fetch(Participation.objects.filter(status__in=COMMITTED_STATUSES, status_changed_at__lt=end)
                 .order_by().values_list("organization_id", "status_changed_at", "amount", "currency"))
    if not rows:
        raise ModelError(gettext_noop("The portfolio has no committed participations yet."))
    rate = np.array([rates.get(c, np.nan) for c in column(rows, 3)], dtype=np.float64)
    amount = to_float(column(rows, 2)) * rate
    keep = ~np.isnan(amount)  # a currency without a rate: the commitment cannot be valued
    offset = end.utcoffset()  # the commitment's calendar day in the display time zone, as ``as_of`` is
    shift = offset.total_seconds() if offset is not None else 0.0
    days = ((to_epoch(column(rows, 1)) + shift) // DAY).astype(np.int64)
    ids = _ids(rows)
    rfm = rfm_summary(ids[keep], days[keep].astype("datetime64[D]"), amount[keep], period="month", unit="month",
                      calibration_end=as_of)
    result = predict_clv(rfm.frequency, rfm.recency, rfm.T, rfm.monetary_value,
                         horizon_months=CLV_HORIZON_MONTHS, discount_rate=CLV_MONTHLY_DISCOUNT, units_per_month=1.0)
    fit = {
        "ids": rfm.customers.astype(np.int64),
        "predicted_clv": result.clv,
        "expected_deals_12m": result.expected_transactions,
        "p_alive": result.p_alive,
        "params": {**result.bgnbd.params, **(result.gamma_gamma.params if result.gamma_gamma else {})},
        "notes": [note["message"] for note in result.notes],
        "unvalued": int((~keep).sum()),
        "as_of": as_of.isoformat(),
    }
    _save_fit(fit)
    return fit


# --- the portfolio fit, kept for the 360° page ------------------------------------------------------

def _fit_path() -> Path:
    key = hashlib.sha256(f"{connection.vendor}|{connection.settings_dict.get('NAME')}".encode()).hexdigest()[:16]
    return Path(settings.DATA_DIR) / "cache" / f"model-clv-{key}.npz"


def _save_fit(fit: dict[str, Any]) -> None:
    if float(settings.BCRM_FEATURE_CACHE_SECONDS) <= 0:
        return  # the file cache is off (tests, unless a test turns it on)
    path = _fit_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {"ids": fit["ids"], "expected_deals_12m": fit["expected_deals_12m"],
                                  "p_alive": fit["p_alive"]}
        if fit["predicted_clv"] is not None:
            arrays["predicted_clv"] = fit["predicted_clv"]
        meta = {k: fit[k] for k in ("params", "notes", "unvalued", "as_of")}
        arrays["meta"] = np.array(json.dumps(meta, default=float))
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
    except OSError as exc:  # no kept fit: the 360° page shows none until the next run
        log.warning("portfolio fit not kept in %s: %s", path, exc)


def cached_client_clv(organization_id: int) -> dict[str, Any] | None:
    """One client's figures from the last portfolio fit kept on disk: {"as_of", "params", "notes",
    "predicted_clv", "expected_deals_12m", "p_alive"} (None values when the client has no commitment),
    or None when no fit has been kept."""
    path = _fit_path()
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            ids = data["ids"]
            pos = int(np.searchsorted(ids, organization_id))
            found = pos < ids.size and int(ids[pos]) == organization_id
            out: dict[str, Any] = {"as_of": meta["as_of"], "params": meta["params"], "notes": meta["notes"]}
            for name in ("predicted_clv", "expected_deals_12m", "p_alive"):
                value = float(data[name][pos]) if found and name in data.files else float("nan")
                out[name] = value if np.isfinite(value) else None
            return out
    except (OSError, KeyError, ValueError) as exc:
        log.warning("portfolio fit %s unreadable: %s", path, exc)
        return None


# --- risk: the expert scorecard ---------------------------------------------------------------------

@feature(
    Feature("expert_risk_score", "risk_scorecard", _("Expert risk score"), "score",
            _("Expert scorecard points (rating, KYC state and age, sanctions, withdrawn share, country risk) "
              "on 0–100: higher is safer."),
            compliance=True),  # a sanctions hit alone costs 100 points: the score discloses it
)
def risk_scorecard_family(pop: Population) -> dict[str, FeatureValues]:
    return {"expert_risk_score": expert_score(pop, organization_inputs(pop), participation_inputs(pop))}


def expert_score(pop: Population, org: dict[str, np.ndarray], part: dict[str, np.ndarray]) -> FeatureValues:
    from bcrm.segmentation.services import expert_scorecard_active

    config, _version = expert_scorecard_active()
    result = expert_points(config, {
        "rating_score": org["rating_score"], "kyc_state": org["kyc_state"], "kyc_age_months": org["kyc_age_months"],
        "sanctions_flag": org["sanctions_flag"], "withdrawn_share": part["withdrawn_share"],
        "country_risk": org["country_risk"],
    })
    scaled = np.asarray(result.scaled, dtype=np.float64)
    return FeatureValues(scaled, np.isnan(scaled))


# --- relationship: the strength formula ---------------------------------------------------------

@feature(
    Feature("relationship_strength", "relationship_model", _("Relationship strength"), "score",
            _("0–100 from recency-weighted interaction depth (senior meetings count more), joint deals, years "
              "of relationship and the seniority of the contacts reached.")),
)
def relationship_model_family(pop: Population) -> dict[str, FeatureValues]:
    return {"relationship_strength": strength(pop, organization_inputs(pop), participation_inputs(pop))}


def strength(pop: Population, org: dict[str, np.ndarray], part: dict[str, np.ndarray]) -> FeatureValues:
    if pop.size == 0:
        return FeatureValues.empty(0)
    result = relationship_strength(depth=interaction_depths(pop), joint_deals=part["joint_deals"],
                                   years=org["years"], seniority=contact_seniorities(pop), frameworks=None)
    values = np.asarray(result.strength, dtype=np.float64)
    return FeatureValues(values, np.isnan(values))
