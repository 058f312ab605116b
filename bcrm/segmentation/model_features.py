"""The value, risk and relationship models (bcrm.stats) as features of the registry.

Three families, each computed for the whole population with a fixed number of bulk queries (never one
per client):

* ``clv`` — BG/NBD + Gamma-Gamma fitted on the portfolio's committed participations up to the as-of date
  (monthly periods; amounts in the reporting currency): ``predicted_clv`` (12-month discounted lifetime
  value, 1 % a month), ``expected_deals_12m`` and ``p_alive``. Queries: the exchange rates and the
  commitments. Clients without a commitment are missing; a fit that fails (:class:`ModelError`, e.g. too
  few repeat clients on a small portfolio) leaves all three missing for everyone and says why in
  :data:`LAST_NOTES`. The model is **kept** (:class:`~bcrm.segmentation.models.ClvFit`): a run predicts with
  the newest fit made as of its date or up to ``BCRM_CLV_REFIT_DAYS`` − 1 days before, and fits anew (and keeps
  the fit, when the run writes: :func:`clv_pinning`) only when there is none or when asked. A refit moves every
  client's figures a little, so refitting daily would rewrite a quarter of the value assignments every day
  (issue 19). The figures are predicted as of the kept model's date, so between refits a client's figures
  change only with their own commitments up to that date (a client whose first commitment came later has
  none until the refit), and a full run predicts with the same model as the daily run: the same labels. Each
  client's RFM summary as of the model's date is an incremental family's raw numbers (``clv_raw``): the daily
  run reads the commitments of the clients whose rows changed, not the portfolio's, and predicts everyone
  from the stored summaries. The predictions of the whole portfolio are kept in the data folder (when the
  feature file cache is on) so the 360° page can show one client's figures without predicting.
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
import json
import logging
import struct
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bcrm.financing.choices import COMMITTED_STATUSES
from bcrm.financing.models import Participation
from bcrm.parties.choices import KycStatus
from bcrm.segmentation.features import (
    DAMAGED_CACHE,
    INCREMENTAL,
    KYC_CODES,
    KYC_VERIFIED,
    LEVELS,
    Epoch,
    Feature,
    FeatureValues,
    Population,
    Raw,
    _ids,
    _rates,
    _row_chunks,
    _scatter,
    cache_path,
    column,
    depth_now,
    derive_family,
    feature,
    incremental,
    load_population,
    no_raw,
    profile_raw_from_rows,
    to_float,
)
from bcrm.segmentation.models import ClvFit
from bcrm.stats import ModelError, gettext_noop
from bcrm.stats.clv import BGNBDFit, GammaGammaFit, predict_clv, rfm_summary
from bcrm.stats.relationship import DEFAULT_RELATIONSHIP_CONFIG, relationship_strength
from bcrm.stats.scorecard import expert_points

log = logging.getLogger(__name__)

#: Why each model family last left its features missing (family → {"template", "params", "message"}),
#: for diagnostics; empty when the last computation succeeded.
LAST_NOTES: dict[str, dict[str, Any]] = {}
#: A KYC review is taken to be valid this long: its age is this minus the time left to its expiry.
KYC_VALIDITY_MONTHS = 12.0
CLV_HORIZON_MONTHS = 12
CLV_MONTHLY_DISCOUNT = 0.01
DAY = 86400.0
MONTH_DAYS = 365.25 / 12


def _as_of_epoch(pop: Population) -> float:
    return (pop.as_of - dt.date(1970, 1, 1)).days * DAY


# --- the raw numbers the scorecard and the strength read (the feature store's families) ----------------

#: What the expert scorecard reads of the store: the profile and the participation counts.
SCORECARD_USES = ("profile:rating_score", "profile:kyc_status", "profile:kyc_expires", "profile:sanctions",
                  "profile:country_risk", "participation_counts:n", "participation_counts:closed")
#: What the relationship strength reads: depth, contacts per level, joint deals, the relationship's start.
STRENGTH_USES = ("interactions:depth", "participation_counts:deals", "profile:since",
                 *(f"contacts:level:{level}" for level in LEVELS))


def scorecard_inputs(pop: Population, raw: Raw) -> dict[str, np.ndarray]:
    """The expert scorecard's inputs per client from the raw numbers: rating, KYC state (expired once its
    date passed) and age in months, sanctions flag, declined-or-withdrawn share, country-risk category."""
    as_of = _as_of_epoch(pop)
    status = raw["profile:kyc_status"]
    expires = raw["profile:kyc_expires"]
    with np.errstate(invalid="ignore"):
        expired = (status == KYC_VERIFIED) & (expires < as_of)
        age = KYC_VALIDITY_MONTHS - (expires - as_of) / DAY / MONTH_DAYS
    codes = np.where(expired, float(KYC_CODES.index(KycStatus.EXPIRED.value)), status)
    names = np.array([*KYC_CODES, ""])  # "" = unknown (the scorecard's missing points)
    with np.errstate(invalid="ignore"):
        known = (codes >= 0) & (codes < len(KYC_CODES))  # NaN (none) and anything else: unknown
    state = names[np.where(known, np.nan_to_num(codes), len(KYC_CODES)).astype(np.intp)]
    n_part, closed = raw["participation_counts:n"], raw["participation_counts:closed"]
    with np.errstate(divide="ignore", invalid="ignore"):
        withdrawn = np.where(n_part > 0, closed / np.maximum(n_part, 1), np.nan)
    return {"rating_score": raw["profile:rating_score"], "kyc_state": state,
            "kyc_age_months": np.where(np.isnan(expires), np.nan, np.maximum(age, 0.0)),
            "sanctions_flag": np.where(raw["profile:sanctions"] > 0, 1.0, 0.0), "withdrawn_share": withdrawn,
            "country_risk": raw["profile:country_risk"]}


def strength_inputs(pop: Population, raw: Raw) -> dict[str, np.ndarray]:
    """The relationship strength's components per client from the raw numbers."""
    as_of = _as_of_epoch(pop)
    since = raw["profile:since"]
    with np.errstate(invalid="ignore"):
        years = np.where(since <= as_of, (as_of - since) / DAY / 365.25, np.nan)
    weights = DEFAULT_RELATIONSHIP_CONFIG["seniority_weights"]
    seniority = np.zeros(pop.size)
    for level in LEVELS:
        if level in weights:
            seniority += float(weights[level]) * np.nan_to_num(raw[f"contacts:level:{level}"])
    return {"depth": depth_now(np.nan_to_num(raw["interactions:depth"]), pop),
            "joint_deals": np.nan_to_num(raw["participation_counts:deals"]), "years": years,
            "seniority": seniority}


# --- value: customer lifetime value ----------------------------------------------------------------
#
# An incremental family like the others: ``clv_raw`` is each client's RFM summary (months with a commitment,
# recency, age, mean repeat amount) as of the model's date, ``clv_derive`` predicts with the kept model (or fits
# one from everyone's summaries when there is none). Between refits the model's date does not move, so the store
# recomputes the summary only of the clients whose rows changed (issue 19: reading every commitment was 3 s of
# each daily run at a million clients); a new model's date is a new context and every summary is computed again.

CLV_RAW = ("frequency", "recency", "T", "monetary", "unvalued")


@dataclass
class ClvPinning:
    """How the computations inside :func:`clv_pinning` treat the kept lifetime-value model."""

    write: bool = False        # a fit made here is to be kept (a run that writes); a preview keeps nothing
    refit: bool = False        # fit anew even when a kept fit is recent enough
    used: ClvFit | None = None  # the kept fit the last prediction came from
    #: A fit made here for the run to keep (the ClvFit's fields), saved with the run's own rows so a run that
    #: fails keeps nothing: :func:`keep_clv_fit`.
    made: dict[str, Any] | None = None


_PINNING: ContextVar[ClvPinning | None] = ContextVar("clv_pinning", default=None)


@contextmanager
def clv_pinning(*, write: bool, refit: bool = False) -> Iterator[ClvPinning]:
    """Within the block, a lifetime-value fit is kept when ``write``; ``refit`` fits anew whatever is kept.
    Outside any such block (features computed for a page or an export), a kept fit is used when there is one
    and a fit made for want of one is not kept."""
    state = ClvPinning(write=write, refit=refit)
    token = _PINNING.set(state)
    try:
        yield state
    finally:
        _PINNING.reset(token)


def keep_clv_fit(pinning: ClvPinning) -> ClvFit | None:
    """The fit the computations under ``pinning`` predicted with: the kept one, or the one they made, saved
    now (call it in the transaction that writes the results; None when no lifetime value was predicted)."""
    if pinning.made is not None:
        fit = ClvFit.objects.create(**pinning.made)
        log.info("lifetime-value model %s fitted as of %s and kept", fit.pk, fit.as_of)
        pinning.used, pinning.made = fit, None
        return fit
    return pinning.used


def kept_clv_fit(as_of: dt.date) -> ClvFit | None:
    """The fit a run as of ``as_of`` predicts with: the newest made as of that date or fewer than
    ``BCRM_CLV_REFIT_DAYS`` days before (never a later one: it saw commitments after ``as_of``)."""
    since = as_of - dt.timedelta(days=int(settings.BCRM_CLV_REFIT_DAYS) - 1)
    return ClvFit.objects.filter(as_of__lte=as_of, as_of__gte=since).order_by("-as_of", "-id").first()


def _kept_models(kept: ClvFit) -> tuple[BGNBDFit, GammaGammaFit | None] | None:
    try:
        return BGNBDFit.from_params(kept.params), GammaGammaFit.from_params(kept.params) if kept.spend_model else None
    except ModelError as exc:  # a row edited by hand: fit anew rather than fail the run
        log.warning("lifetime-value model %s not usable (%s): fitting anew", kept.pk, exc.message)
        return None


@dataclass(frozen=True)
class ClvBasis:
    """What a run as of some date predicts lifetime value with: the kept fit and its models, and the date the
    figures are computed as of — the kept model's, or the run's own when it fits anew (``kept`` None)."""

    as_of: dt.date
    kept: ClvFit | None = None
    models: tuple[BGNBDFit, GammaGammaFit | None] | None = None


def clv_basis(as_of: dt.date) -> ClvBasis:
    """The kept model a run as of ``as_of`` predicts with (:func:`kept_clv_fit`), unless the run refits
    (:func:`clv_pinning`) or the kept parameters are unusable."""
    pinning = _PINNING.get() or ClvPinning()
    kept = None if pinning.refit else kept_clv_fit(as_of)
    models = _kept_models(kept) if kept is not None else None
    if kept is None or models is None:
        return ClvBasis(as_of)
    return ClvBasis(kept.as_of, kept, models)


def clv_context(pop: Population) -> dict[str, Any]:
    """What every client's RFM summary depends on besides their own rows: the model's date and the exchange
    rates of that day. When it changes (a refit) the store computes every summary again."""
    day = _model_day(pop)
    return {"as_of": day.as_of.isoformat(), "rates": _rates(day)}


def _model_day(pop: Population) -> Population:
    """No clients, as of the date the figures are computed as of (:func:`clv_basis`): its end and rates."""
    return Population(np.zeros(0, dtype=np.int64), clv_basis(pop.as_of).as_of)


def clv_raw(pop: Population) -> Raw:
    """Each client's RFM summary of the committed participations up to the end of the model's date (monthly
    periods, amounts in the reporting currency at that day's rates; NaN without a commitment) and the number of
    commitments in a currency without a rate (left out)."""
    day = _model_day(pop)
    end, rates = day.end, _rates(day)
    out = {name: np.full(pop.size, np.nan) for name in CLV_RAW}
    out["unvalued"] = np.zeros(pop.size)
    queryset = (Participation.objects.filter(status__in=COMMITTED_STATUSES, status_changed_at__lt=end).order_by()
                .annotate(e_at=Epoch("status_changed_at")).values_list("organization_id", "e_at", "amount", "currency"))
    # A piece at a time into arrays: the portfolio's commitments as Python tuples (an int, a datetime, a
    # Decimal and a str each) were a run's largest allocation, 310 MB at a million clients (issue 19). The time
    # as seconds computed by the database: parsing three million aware datetimes in Python was half of the fit's
    # time at a million clients.
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for rows in _row_chunks(queryset, pop, "organization_id"):
        rate = np.array([rates.get(c, np.nan) for c in column(rows, 3)], dtype=np.float64)
        pieces.append((_ids(rows), to_float(column(rows, 1)), to_float(column(rows, 2)) * rate))
        del rows
    if not pieces:
        return out
    ids, moments, amount = (np.concatenate([piece[i] for piece in pieces]) for i in range(3))
    del pieces
    inside = np.isin(ids, pop.ids)
    ids, moments, amount = ids[inside], moments[inside], amount[inside]
    keep = ~np.isnan(amount)  # a currency without a rate: the commitment cannot be valued
    np.add.at(out["unvalued"], np.searchsorted(pop.ids, ids[~keep]), 1.0)
    if not keep.any():
        return out
    offset = end.utcoffset()  # the commitment's calendar day in the display time zone, as ``as_of`` is
    shift = offset.total_seconds() if offset is not None else 0.0
    days = ((moments + shift) // DAY).astype(np.int64)
    rfm = rfm_summary(ids[keep], days[keep].astype("datetime64[D]"), amount[keep], period="month", unit="month",
                      calibration_end=day.as_of)
    at = np.searchsorted(pop.ids, rfm.customers)
    for name, values in (("frequency", rfm.frequency), ("recency", rfm.recency), ("T", rfm.T),
                         ("monetary", rfm.monetary_value)):
        out[name][at] = values
    return out


@feature(
    Feature("predicted_clv", "clv", _("Predicted lifetime value, 12 months"), "money",
            _("Discounted value of the commitments expected in the next 12 months (BG/NBD and Gamma-Gamma models "
              "fitted on the portfolio), in the reporting currency.")),
    Feature("expected_deals_12m", "clv", _("Expected deals, next 12 months"), "count",
            _("Months with a new commitment the BG/NBD model expects in the next 12 months.")),
    Feature("p_alive", "clv", _("Probability still active"), "share",
            _("The BG/NBD model's probability that the client still commits to new deals.")),
)
@incremental("clv", CLV_RAW, clv_raw, context=clv_context)
def clv_derive(pop: Population, raw: Raw) -> dict[str, FeatureValues]:
    n = pop.size
    out = {name: FeatureValues.empty(n) for name in ("predicted_clv", "expected_deals_12m", "p_alive")}
    try:
        fit = portfolio_clv(pop, raw)
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


def _predict(raw: Raw, models: tuple[BGNBDFit, GammaGammaFit | None] | None) -> tuple[np.ndarray, Any]:
    """(positions of the clients with a commitment, :func:`predict_clv`'s result for them: with ``models``, or
    fitted on them when None)."""
    has = np.flatnonzero(~np.isnan(raw["frequency"]))
    if models is None and not has.size:
        raise ModelError(gettext_noop("The portfolio has no committed participations yet."))
    return has, predict_clv(raw["frequency"][has], raw["recency"][has], raw["T"][has], raw["monetary"][has],
                            horizon_months=CLV_HORIZON_MONTHS, discount_rate=CLV_MONTHLY_DISCOUNT,
                            units_per_month=1.0, fitted=models)


def portfolio_clv(pop: Population, raw: Raw) -> dict[str, Any]:
    """Lifetime value of ``pop`` from its clients' RFM summaries (:func:`clv_raw`), predicted with the kept model
    (:func:`clv_basis`), or with one fitted on the whole portfolio when there is none (kept when inside
    ``clv_pinning(write=True)``); per client with a commitment: ``ids`` (ascending), ``predicted_clv`` (None
    when the spend model failed), ``expected_deals_12m``, ``p_alive``, and ``notes``/``params``/``as_of``/
    ``run_as_of``. Raises :class:`ModelError` when the fit is impossible.

    With a kept model the figures are predicted **as of the model's date** (the commitments, exchange rates and
    ages of that day), so they stay the same from one run to the next until the refit, unless the client's
    commitments up to that date change: otherwise the date moving moved every client's lifetime value (ages
    are whole months: at each month's turn everybody aged at once) and every value assignment showing it was
    rewritten (issue 19). A commitment made after the model's date counts from the next refit, at most
    ``BCRM_CLV_REFIT_DAYS`` later."""
    basis = clv_basis(pop.as_of)
    pinning = _PINNING.get() or ClvPinning()
    models = basis.models
    customers = None  # clients the model is fitted on, when fitted here
    if models is None and pop.subset:  # a fit is the portfolio's, whoever it predicts for
        fitted_on, whole = _predict(clv_raw(load_population(pop.as_of)), None)
        models, customers = (whole.bgnbd, whole.gamma_gamma), int(fitted_on.size)
    has, result = _predict(raw, models)
    if models is None:
        models, customers = (result.bgnbd, result.gamma_gamma), int(has.size)
    params = {**models[0].params, **(models[1].params if models[1] is not None else {})}
    pinning.used = basis.kept
    pinning.made = None
    if basis.kept is None and pinning.write:
        pinning.made = {
            "as_of": basis.as_of, "fitted_at": timezone.now(), "params": params,
            "customers": customers,
            "log_likelihood": models[0].log_likelihood,
            "notes": json.loads(json.dumps([{"template": note["template"], "params": note["params"]}
                                            for note in result.notes], default=float))}
    notes = basis.kept.notes if basis.kept is not None else result.notes
    fit = {
        "ids": pop.ids[has],
        "predicted_clv": result.clv,
        "expected_deals_12m": result.expected_transactions,
        "p_alive": result.p_alive,
        "params": params,
        "notes": [note_text(note) for note in notes],
        "unvalued": int(raw["unvalued"].sum()),
        "as_of": basis.as_of.isoformat(),  # the figures' date: the kept model's, or the run's when it fitted
        "run_as_of": pop.as_of.isoformat(),  # the date of the run that asked
    }
    if not pop.subset:  # the portfolio's figures, for the 360° page
        _save_fit(fit)
    return fit


def fit_portfolio_clv(as_of: dt.date) -> dict[str, Any]:
    """:func:`portfolio_clv` of every client as of ``as_of``."""
    pop = load_population(as_of)
    return portfolio_clv(pop, clv_raw(pop))


def note_text(note: dict[str, Any], translate: Callable[[str], str] = str) -> str:
    """A model's note kept as a message code ({"template", "params"}) as text, ``translate``-d (gettext: the
    reader's language; by default as written, in English)."""
    try:
        return translate(str(note["template"])) % dict(note.get("params") or {})
    except (KeyError, TypeError, ValueError):
        return str(note.get("template", ""))


# --- the portfolio fit, kept for the 360° page ------------------------------------------------------

def _fit_path() -> Path:
    return cache_path("model-clv-{key}.npz")


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
        meta = {k: fit.get(k, fit["as_of"]) for k in ("params", "notes", "unvalued", "as_of", "run_as_of")}
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
    names = ("predicted_clv", "expected_deals_12m", "p_alive")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            present = [name for name in ("ids", *names) if name in data.files]
            # The client's own figures only: the arrays mapped from the file, a binary search and three values
            # read — loading them whole read the portfolio's (16 MB, 10 ms a 360° page at a million clients).
            arrays = _stored_arrays(path, present) or {name: data[name] for name in present}
            ids = arrays["ids"]
            pos = int(np.searchsorted(ids, organization_id))
            found = pos < ids.size and int(ids[pos]) == organization_id
            out: dict[str, Any] = {"as_of": meta["as_of"], "params": meta["params"], "notes": meta["notes"]}
            for name in names:
                value = float(arrays[name][pos]) if found and name in arrays else float("nan")
                out[name] = value if np.isfinite(value) else None
            return out
    except DAMAGED_CACHE as exc:
        log.warning("portfolio fit %s unreadable: %s", path, exc)
        return None


def _stored_arrays(path: Path, names: list[str]) -> dict[str, np.ndarray] | None:
    """The members ``names`` of the ``.npz`` at ``path`` as read-only memory maps of the file, where the archive
    stores them uncompressed (``np.savez``): an array member is a ``.npy`` file at a known offset in it. None when
    a member is compressed or not a plain array (the caller reads the file the usual way)."""
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        for name in names:
            info = archive.getinfo(f"{name}.npy")
            if info.compress_type != zipfile.ZIP_STORED:
                return None
            raw.seek(info.header_offset)
            local = raw.read(30)  # the member's local header: its name and extra field come next
            if local[:4] != b"PK\x03\x04":
                return None
            name_length, extra_length = struct.unpack("<HH", local[26:30])
            raw.seek(info.header_offset + 30 + name_length + extra_length)
            version = np.lib.format.read_magic(raw)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(raw)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(raw)
            else:
                return None
            if dtype.hasobject or not shape:
                return None
            out[name] = np.memmap(path, dtype=dtype, mode="r", offset=raw.tell(), shape=shape,
                                  order="F" if fortran else "C")
    return out


# --- risk: the expert scorecard ---------------------------------------------------------------------

@feature(
    Feature("expert_risk_score", "risk_scorecard", _("Expert risk score"), "score",
            _("Expert scorecard points (rating, KYC state and age, sanctions, withdrawn share, country risk) "
              "on 0–100: higher is safer."),
            compliance=True),  # a sanctions hit alone costs 100 points: the score discloses it
)
@incremental("risk_scorecard", (), no_raw, uses=SCORECARD_USES)
def risk_scorecard_derive(pop: Population, raw: Raw) -> dict[str, FeatureValues]:
    return {"expert_risk_score": expert_score(scorecard_inputs(pop, raw))}


def expert_score(inputs: dict[str, np.ndarray]) -> FeatureValues:
    from bcrm.segmentation.services import expert_scorecard_active

    config, _version = expert_scorecard_active()
    result = expert_points(config, inputs)
    scaled = np.asarray(result.scaled, dtype=np.float64)
    return FeatureValues(scaled, np.isnan(scaled))


# --- relationship: the strength formula ---------------------------------------------------------

@feature(
    Feature("relationship_strength", "relationship_model", _("Relationship strength"), "score",
            _("0–100 from recency-weighted interaction depth (senior meetings count more), joint deals, years "
              "of relationship and the seniority of the contacts reached.")),
)
@incremental("relationship_model", (), no_raw, uses=STRENGTH_USES)
def relationship_model_derive(pop: Population, raw: Raw) -> dict[str, FeatureValues]:
    return {"relationship_strength": strength(strength_inputs(pop, raw))}


def strength(inputs: dict[str, np.ndarray]) -> FeatureValues:
    if inputs["depth"].size == 0:
        return FeatureValues.empty(0)
    result = relationship_strength(depth=inputs["depth"], joint_deals=inputs["joint_deals"], years=inputs["years"],
                                   seniority=inputs["seniority"], frameworks=None)
    values = np.asarray(result.strength, dtype=np.float64)
    return FeatureValues(values, np.isnan(values))


def client_models(pop: Population, organization_rows: list[tuple]) -> dict[str, FeatureValues]:
    """The expert score and the relationship strength of a few clients (the 360° page's one) whose
    organisation rows (``features.PROFILE_COLUMNS``) are loaded already: three queries and the scorecard."""
    raws = {"profile": profile_raw_from_rows(pop, organization_rows),
            **{family: INCREMENTAL[family].raw(pop) for family in ("participation_counts", "interactions", "contacts")}}
    return {**derive_family("risk_scorecard", pop, raws), **derive_family("relationship_model", pop, raws)}
