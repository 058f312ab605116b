"""Segmentation use cases: criterion versions, runs (dry and real), overrides, schedules.

The only code that writes segmentation data. A real run writes its snapshot (the run row and an
assignment for each client whose result changed from its standing one, ``changes``; a full run one per
client) and moves the current labels in one transaction; a dry run computes the same and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.permissions import can_view_organization, has_any, require
from bcrm.audit.services import audit_record
from bcrm.core import events
from bcrm.core.errors import Conflict, InvalidInput, NotFound
from bcrm.parties.models import Organization
from bcrm.segmentation import changes, splits, standing
from bcrm.segmentation import classify as engine
from bcrm.segmentation.choices import INSUFFICIENT, Dimension, RunMode, RunStatus, RunTrigger, labels_for
from bcrm.segmentation.criteria import DEFAULTS, spec_of, validate_spec
from bcrm.segmentation.feature_store import compute_features_incremental, store_usable
from bcrm.segmentation.features import FEATURES, check_as_of, load_population
from bcrm.segmentation.model_features import clv_pinning, keep_clv_fit
from bcrm.segmentation.models import Assignment, ClientLabels, ClvFit, Criterion, Override, Run, ScheduleState
from bcrm.segmentation.selectors import effective_assignments, run_chain
from bcrm.stats import ModelError
from bcrm.stats.scorecard import DEFAULT_EXPERT_CONFIG, validate_expert_config

CONFIGURE_ROLES = {Role.ADMIN, Role.LEAD, Role.ANALYST}
OVERRIDE_ROLES = {Role.ADMIN, Role.LEAD}
RISK_OVERRIDE_ROLES = {Role.ADMIN, Role.LEAD, Role.COMPLIANCE}


# --- permissions (one place) ---------------------------------------------------------------------

def can_configure(user) -> bool:
    """Change criteria and run the engine: analysts, leads, administrators."""
    return user is None or has_any(user, CONFIGURE_ROLES)


def can_override(user, dimension: str) -> bool:
    """Overrides: leads and administrators; compliance too on the risk dimension."""
    if user is None:
        return True
    return has_any(user, RISK_OVERRIDE_ROLES if dimension == Dimension.RISK else OVERRIDE_ROLES)


def split_message(exc: splits.SplitError) -> str:
    """A split method's complaint in the user's language (splits.py is Django-free; it marks them)."""
    try:
        return _(exc.template) % exc.params
    except (TypeError, KeyError, ValueError):
        return str(exc)


def check_dimension(dimension: str) -> str:
    if dimension not in Dimension.values:
        raise InvalidInput(_("Unknown dimension: %(d)s.") % {"d": dimension},
                           fields={"dimension": [_("Choose value, risk or relationship.")]})
    return dimension


# --- criteria ------------------------------------------------------------------------------------

def criterion_active(dimension: str) -> Criterion:
    """The criterion in force for ``dimension``; version 1 from the defaults when there is none yet."""
    check_dimension(dimension)
    criterion = Criterion.objects.filter(dimension=dimension, is_active=True).first()
    if criterion is None:
        with transaction.atomic():
            criterion = Criterion.objects.select_for_update().filter(dimension=dimension, is_active=True).first()
            if criterion is None:
                spec = validate_spec(DEFAULTS[dimension])
                criterion = Criterion.objects.create(dimension=dimension, version=1, is_active=True,
                                                     note=_("Default shipped with bcrm"), **spec)
    return criterion


@transaction.atomic
def criterion_create_version(*, actor, dimension: str, spec: dict[str, Any], note: str = "",
                             base_version: int | None = None) -> Criterion:
    """Save a changed criterion as a new version and make it the active one.

    ``base_version`` is the version the editor started from: if someone saved another version since,
    the save is refused (409) rather than silently replacing their change.
    """
    require(can_configure(actor), _("Only analysts, team leads and administrators change criteria."))
    check_dimension(dimension)
    current = criterion_active(dimension)
    current = Criterion.objects.select_for_update().get(pk=current.pk)
    if base_version is not None and base_version != current.version:
        from bcrm.core.errors import Conflict

        raise Conflict(_("Someone saved version %(v)s of this criterion since you opened it. Reload and try again.")
                       % {"v": current.version})
    merged = {**spec_of(current), **spec}
    clean = validate_spec(merged)
    if clean == validate_spec(spec_of(current)):
        raise InvalidInput(_("Nothing changed: the criterion is the same as version %(v)s.") % {"v": current.version})
    top = Criterion.objects.filter(dimension=dimension).aggregate(top=Max("version"))["top"] or 0
    Criterion.objects.filter(pk=current.pk).update(is_active=False)
    created = Criterion.objects.create(dimension=dimension, version=top + 1, is_active=True,
                                       note=str(note)[:300], created_by=actor if getattr(actor, "pk", None) else None,
                                       **clean)
    before = spec_of(current)
    audit_record(actor=actor, action="update", instance=created, changes={
        k: [before.get(k), v] for k, v in clean.items() if before.get(k) != v})
    return created


def criterion_get(dimension: str, version: int | None = None) -> Criterion:
    if version is None:
        return criterion_active(dimension)
    criterion = Criterion.objects.filter(dimension=check_dimension(dimension), version=version).first()
    if criterion is None:
        raise NotFound()
    return criterion


# --- runs ----------------------------------------------------------------------------------------

@dataclass
class RunReport:
    """What a run (dry or real) found, ready for any door to show."""

    outcome: engine.Outcome
    run: Run | None
    duration_ms: int

    @property
    def dry_run(self) -> bool:
        return self.run is None

    def as_dict(self) -> dict[str, Any]:
        o = self.outcome
        return {
            "run_id": self.run.pk if self.run else None,
            "dry_run": self.dry_run,
            "mode": o.mode,
            "recomputed": o.recomputed,
            "dimension": o.dimension,
            "criterion_version": o.criterion.version,
            "as_of": o.population.as_of.isoformat(),
            "method": o.method,
            "params": o.params,
            "threshold": o.threshold,
            "counts": o.counts,
            "diagnostics": o.diagnostics,
            "migrations": o.migrations(),
            "moved": o.moved(limit=50),
            "comparison": o.comparison,
            "duration_ms": self.duration_ms,
            "timings": {k: round(v, 3) for k, v in o.timings.items()},
            "clv_model": clv_fit_summary(self.run.clv_fit) if self.run and self.run.clv_fit else None,
        }


def clv_fit_summary(fit: ClvFit) -> dict[str, Any]:
    """A kept lifetime-value model as the doors show it."""
    return {"id": fit.pk, "as_of": fit.as_of.isoformat(), "fitted_at": fit.fitted_at.isoformat(),
            "params": fit.params, "customers": fit.customers, "log_likelihood": fit.log_likelihood,
            "spend_model": fit.spend_model}


def _latest_run(dimension: str) -> Run | None:
    return Run.objects.filter(dimension=dimension, status=RunStatus.DONE).order_by("-started_at", "-id").first()


#: A run builds on its predecessor's rows for at most this many runs; the next writes every row (a fresh
#: base), so a run's assignments never come from more than this many runs.
MAX_CHAIN = 30
#: A run that would rewrite more than this share of the clients writes every row instead (a fresh base).
FULL_WRITE_SHARE = 0.5


def _builds_on(previous_run: Run | None, criterion: Criterion, method: str, params: dict[str, Any]) -> bool:
    """Whether a run may write only what changed since ``previous_run``: same criterion version, method and
    parameters (the rows' explanations and rules mean the same), and a chain not yet ``MAX_CHAIN`` long."""
    return (previous_run is not None and previous_run.criterion_id == criterion.pk
            and previous_run.method == method and previous_run.params == params
            and len(run_chain(previous_run)) < MAX_CHAIN)


def _current_labels(dimension: str) -> engine.LabelMap:
    return standing.label_map(ClientLabels.objects.exclude(**{dimension: ""}).order_by().values_list("organization_id", dimension))


def active_overrides(dimension: str, now: dt.datetime | None = None) -> dict[int, str]:
    now = now or timezone.now()
    rows = (Override.objects.filter(dimension=dimension, revoked_at__isnull=True, expires_at__gt=now)
            .order_by("organization_id", "created_at", "id").values_list("organization_id", "label"))
    return dict(rows)  # the newest wins: later rows overwrite earlier ones


# Called with the ids of the clients whose current label moved (by a real run, an override or its end),
# inside the same transaction. Higher apps register here (the playbooks app recomputes those clients'
# tiers), so segmentation never imports them.
LABEL_LISTENERS: list = []


def on_labels_changed(listener) -> None:
    if listener not in LABEL_LISTENERS:
        LABEL_LISTENERS.append(listener)


def _labels_changed(organization_ids) -> None:
    for listener in LABEL_LISTENERS:
        listener(organization_ids)


def run_segmentation(
    *,
    actor,
    dimension: str,
    as_of: dt.date | None = None,
    method: str | None = None,
    params: dict[str, Any] | None = None,
    dry_run: bool = False,
    criterion: Criterion | None = None,
    trigger: str = RunTrigger.MANUAL,
    with_stability: bool = True,
    full: bool = False,
    refit_clv: bool = False,
) -> RunReport:
    """Classify every client on one dimension; with ``dry_run`` nothing is written.

    ``method``/``params`` try another split on the active criterion (a what-if); a real run with
    them records them on the run, the criterion stays as it is.

    By default the features come from the feature store, recomputed only for the clients whose rows
    changed (``feature_store``; a dry run reads the store without writing it, or uses the file cache of
    recent features when there is no store yet); ``full`` recomputes every
    client's features from the tables. Both give the same labels; the run records which mode ran and how
    many clients were recomputed.

    Lifetime value is predicted with the kept portfolio model (``model_features.kept_clv_fit``); ``refit_clv``
    fits it anew from today's commitments (as a run does when the kept fit is ``BCRM_CLV_REFIT_DAYS`` old).
    A run that writes keeps the fit it made and records the model it used.
    """
    require(can_configure(actor), _("Only analysts, team leads and administrators run the segmentation."))
    check_dimension(dimension)
    criterion = criterion or criterion_active(dimension)
    if method is not None and method not in splits.METHODS:
        raise InvalidInput(_("Method must be one of %(choices)s.") % {"choices": ", ".join(splits.METHODS)},
                           fields={"method": [_("Unknown method.")]})
    if params is not None:
        try:
            params = splits.parse_params(method or criterion.method, {str(k): str(v) for k, v in params.items()})
        except splits.SplitError as exc:
            raise InvalidInput(split_message(exc), fields={"params": [split_message(exc)]}) from exc
    elif method is not None and method != criterion.method:
        params = {}
    as_of = check_as_of(as_of or engine.today())
    started = timezone.now()
    clock = time.perf_counter()
    previous_run = _latest_run(dimension)
    run_method = method or criterion.method
    run_params = dict(criterion.params if params is None else params)
    incremental = not full and not dry_run and _builds_on(previous_run, criterion, run_method, run_params)
    # The copy the previous run left in the data folder when nothing else changed its rows since; else read.
    epoch_read = standing.epoch()
    standing_rows, previous_engine = (standing.load(previous_run, epoch_read, detail=incremental)
                                      or standing.read(previous_run, detail=incremental))
    previous_current = _current_labels(dimension)
    overrides = active_overrides(dimension)
    read_previous = time.perf_counter() - clock
    features, mode, recomputed = None, str(RunMode.FULL), None
    store_timings: dict[str, float] = {}
    with clv_pinning(write=not dry_run, refit=refit_clv) as pinning:
        # A preview without a feature store yet uses the file cache of recent features (classify) instead.
        if not full and (not dry_run or store_usable(as_of)):
            pop = load_population(as_of)
            stored = compute_features_incremental(engine.feature_names_for(criterion), pop, write=not dry_run)
            features, mode, recomputed = stored.matrix, stored.mode, stored.recomputed  # "full": the store was built
            store_timings = {f"store_{k}" if not k.startswith("store") else k: v for k, v in stored.timings.items()}
        try:
            outcome = engine.classify(
                criterion, as_of=as_of, previous_engine=previous_engine, previous_current=previous_current,
                overrides=overrides, method=method, params=params, with_stability=with_stability,
                cached_features=dry_run and not refit_clv, features=features,
                population=features.population if features else None,
            )
        except splits.SplitError as exc:
            raise InvalidInput(split_message(exc), fields={"params": [split_message(exc)]}) from exc
    if features is not None:
        outcome.timings["features"] = sum(store_timings.values())
    outcome.timings = {"previous": read_previous, **store_timings, **outcome.timings}
    outcome.mode = mode
    outcome.recomputed = outcome.population.size if recomputed is None else recomputed
    if dry_run:
        return RunReport(outcome, None, int((time.perf_counter() - clock) * 1000))
    write_clock = time.perf_counter()
    fingerprints = outcome.fingerprints()
    new_results = engine_results(outcome, fingerprints)
    rows: np.ndarray | None = None  # positions of the clients to write; None = every client
    old_results: changes.Results | None = None
    if incremental:
        old_results = standing.aligned(standing_rows, outcome.population.ids)
        same = changes.unchanged(new_results, old_results, outcome.threshold,
                                 units=[FEATURES[name].unit if name in FEATURES else "" for name in outcome.feature_names])
        rows = np.flatnonzero(~same)
        if rows.size > FULL_WRITE_SHARE * max(outcome.population.size, 1):
            rows = None
    outcome.timings["compare"] = time.perf_counter() - write_clock
    with transaction.atomic():
        # One writer per dimension at a time; a run that finished meanwhile is not a base we compared with.
        ScheduleState.objects.get_or_create(dimension=dimension)
        ScheduleState.objects.select_for_update().filter(dimension=dimension).first()
        latest = _latest_run(dimension)
        if rows is not None and (latest is None or previous_run is None or latest.pk != previous_run.pk):
            rows = None
        base = previous_run if rows is not None else None
        run = Run.objects.create(
            criterion=criterion, dimension=dimension, as_of=as_of, method=outcome.method, params=outcome.params,
            threshold=outcome.threshold, diagnostics=outcome.diagnostics, counts=outcome.counts,
            migrations=outcome.migrations(), comparison=outcome.comparison, trigger=trigger,
            previous_run=previous_run, started_at=started, finished_at=started, duration_ms=0,
            timings={}, created_by=actor if getattr(actor, "pk", None) else None,
            mode=outcome.mode, recomputed=outcome.recomputed, base_run=base, clv_fit=keep_clv_fit(pinning),
        )
        run.chain = [run.pk, *run_chain(base)] if base is not None else [run.pk]
        stage_clock = time.perf_counter()
        if base is not None:
            # Before the new rows: the replaced rows' new versions that do not fit their own page go where there
            # is room, and the new rows, written after, keep the room their pages leave for the next run's marks
            # (migration 0009).
            assert rows is not None
            _supersede(run, standing_rows, outcome.population.ids, rows)
        outcome.timings["supersede"] = time.perf_counter() - stage_clock
        stage_clock = time.perf_counter()
        written = _write_assignments(run, outcome, fingerprints, rows)
        outcome.timings["write_rows"] = time.perf_counter() - stage_clock
        stage_clock = time.perf_counter()
        written_at = np.arange(outcome.population.size) if rows is None else np.asarray(rows, dtype=np.int64)
        moved = _moved(outcome, written_at)
        # A run that finished meanwhile makes the labels read at the start stale: then every written client's
        # label goes through the upsert, which still rewrites only the rows whose label differs.
        relabel = moved if _pk(latest) == _pk(previous_run) else written_at
        _set_current_labels(dimension, outcome.population.ids[relabel], outcome.label[relabel])
        outcome.timings["write_labels"] = time.perf_counter() - stage_clock
        stage_clock = time.perf_counter()
        if LABEL_LISTENERS:
            _labels_changed(outcome.population.ids[moved].tolist())
        if events.wanted("client.class_changed"):
            events.emit_many("client.class_changed", (
                {"organization": org, "dimension": dimension, "from": before, "to": after, "source": "run",
                 "run": run.pk}
                for org, before, after in zip(outcome.population.ids[moved].tolist(),
                                              outcome.previous[moved].tolist(), outcome.label[moved].tolist(),
                                              strict=True)))
        outcome.timings["write_events"] = time.perf_counter() - stage_clock
        outcome.timings["write"] = time.perf_counter() - write_clock
        duration = int((time.perf_counter() - clock) * 1000)
        Run.objects.filter(pk=run.pk).update(
            finished_at=timezone.now(), duration_ms=duration, chain=run.chain, written=written,
            timings={k: round(v, 3) for k, v in outcome.timings.items()})
        run.refresh_from_db()
        standing.keep(run, epoch_read, lambda: standing.compose(run.pk, standing_rows, outcome.population.ids,
                                                                new_results, rows, old_results))
        audit_record(actor=actor, action="create", instance=run, changes={
            "dimension": [None, dimension], "criterion_version": [None, criterion.version],
            "threshold": [None, run.threshold], "counts": [None, run.counts]})
    return RunReport(outcome, run, duration)


def engine_results(outcome: engine.Outcome, fingerprints: np.ndarray) -> changes.Results:
    """What a run computed for every client, in the shape ``changes.unchanged`` compares."""
    return changes.Results(
        label=outcome.label, engine_label=outcome.engine_label, previous=outcome.previous,
        overridden=outcome.overridden, held=outcome.held, score=outcome.score,
        completeness=np.nan_to_num(outcome.completeness), stability=outcome.stability, fingerprint=fingerprints)


def _write_assignments(run: Run, outcome: engine.Outcome, fingerprints: np.ndarray,
                       rows: np.ndarray | None = None) -> int:
    """The rows of the clients at positions ``rows`` (every client when None), straight into the table
    (executemany on SQLite, COPY on PostgreSQL): the ORM's insert compiler would spend longer than the
    whole classification at a million clients. Returns the number of rows written."""
    table = connection.ops.quote_name(Assignment._meta.db_table)
    cols = ["run_id", "organization_id", "label", "engine_label", "previous_label", "score",
            "completeness", "stability", "overridden", "held_by_hysteresis", "explanation", "fingerprint"]
    quoted = ", ".join(connection.ops.quote_name(c) for c in cols)
    positions = np.arange(outcome.population.size) if rows is None else np.asarray(rows, dtype=np.int64)
    ids = outcome.population.ids
    score = outcome.score
    completeness = np.nan_to_num(outcome.completeness)

    def floats(values: np.ndarray) -> list[float | None]:
        out = values.astype(object)
        out[~np.isfinite(values)] = None  # NaN and ±infinity are written as NULL
        return out.tolist()

    batch = 20_000  # converted slice by slice: a million Python rows at once would cost gigabytes

    def pieces():
        for start in range(0, positions.size, batch):
            at = positions[start:start + batch]
            yield list(zip(
                [run.pk] * at.size, ids[at].tolist(), outcome.label[at].tolist(),
                outcome.engine_label[at].tolist(), outcome.previous[at].tolist(),
                floats(score[at]), completeness[at].tolist(),
                floats(outcome.stability[at]), outcome.overridden[at].tolist(),
                outcome.held[at].tolist(), outcome.explanations_json_at(at), changes.pack(fingerprints[at]),
                strict=True,
            ))

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from psycopg.copy import QueuedLibpqWriter

            # One COPY, its data handed to a thread that sends it (psycopg's queued writer): the server stores
            # and indexes a piece while this process builds the next one's explanations. A COPY per piece
            # waited for the server at the end of each, 10 of the 26 s of writing a million rows (issue 19).
            with connection.wrap_database_errors, cursor.cursor.copy(
                    f"COPY {table} ({quoted}) FROM STDIN", writer=QueuedLibpqWriter(cursor.cursor)) as copy:
                for values in pieces():
                    for row in values:
                        copy.write_row(row)
        else:
            for values in pieces():
                cursor.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({', '.join(['%s'] * len(cols))})",
                                   values)
    return int(positions.size)


def _supersede(run: Run, before: standing.Standing, ids: np.ndarray, rows: np.ndarray) -> None:
    """Mark the standing rows ``run`` replaced: those of the clients it wrote and of the clients that left
    the population (they have no assignment in ``run``)."""
    gone = ~np.isin(before.ids, ids)
    replaced = np.isin(before.ids, ids[rows]) | gone
    pairs = list(zip(before.run_ids[replaced].tolist(), before.ids[replaced].tolist(), strict=True))
    if not pairs:
        return
    table = connection.ops.quote_name(Assignment._meta.db_table)
    batch = 20_000
    with connection.cursor() as cursor:
        for start in range(0, len(pairs), batch):
            chunk = pairs[start:start + batch]
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"UPDATE {table} AS t SET superseded_by_id = %s FROM unnest(%s::bigint[], %s::bigint[]) "
                    f"AS u(run_id, organization_id) WHERE t.run_id = u.run_id "
                    f"AND t.organization_id = u.organization_id",
                    [run.pk, [p[0] for p in chunk], [p[1] for p in chunk]])
            else:
                cursor.executemany(f"UPDATE {table} SET superseded_by_id = %s WHERE run_id = %s AND organization_id = %s",
                                   [(run.pk, r, o) for r, o in chunk])


def _pk(row) -> int | None:
    return None if row is None else row.pk


def _moved(outcome: engine.Outcome, positions: np.ndarray) -> np.ndarray:
    """The positions, in client-id order, of the clients whose label a run moves: among those it writes
    (``positions``), the label differs from the one users saw (the assignment's ``previous_label``, "" for
    none)."""
    positions = positions[outcome.label[positions] != outcome.previous[positions]]
    return positions[np.argsort(outcome.population.ids[positions], kind="stable")]


def _set_current_labels(dimension: str, ids: np.ndarray, labels: np.ndarray) -> None:
    """Set the current label of the clients ``ids`` for ``dimension`` (the ones a run moved, computed from its
    arrays): an upsert of those rows only, rewriting a row only where its label differs. Reading every assignment of a full run back to find them took most of
    the run's write at a million clients (issue 19)."""
    if not ids.size:
        return
    qn = connection.ops.quote_name
    table = qn(ClientLabels._meta.db_table)
    other = [qn(d) for d in Dimension.values if d != dimension]
    dim = qn(dimension)
    conflict = f"ON CONFLICT (organization_id) DO UPDATE SET {dim} = excluded.{dim} WHERE {table}.{dim} <> excluded.{dim}"
    batch = 50_000
    with connection.cursor() as cursor:
        for start in range(0, ids.size, batch):
            chunk_ids, chunk_labels = ids[start:start + batch].tolist(), labels[start:start + batch].tolist()
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"INSERT INTO {table} (organization_id, {dim}, {other[0]}, {other[1]}) "
                    f"SELECT u.id, u.label, '', '' FROM unnest(%s::bigint[], %s::text[]) AS u(id, label) {conflict}",
                    [chunk_ids, chunk_labels])
            else:
                cursor.executemany(
                    f"INSERT INTO {table} (organization_id, {dim}, {other[0]}, {other[1]}) VALUES (%s, %s, '', '') "
                    f"{conflict}", list(zip(chunk_ids, chunk_labels, strict=True)))


def run_requested(*, actor, dimension: str, refit_clv: bool = False) -> RunReport | None:
    """A real run asked for from a page: computed now for a portfolio small enough to finish within the
    request, otherwise queued for `bcrm worker` (None is returned; the run list shows it when done).
    ``refit_clv``: fit the lifetime-value model anew (``run_segmentation``)."""
    from django.conf import settings

    from bcrm.segmentation.tasks import requested_run

    require(can_configure(actor), _("Only analysts, team leads and administrators run the segmentation."))
    check_dimension(dimension)
    limit = settings.BCRM_INLINE_RUN_LIMIT
    if Organization.objects.order_by()[: limit + 1].count() <= limit:
        return run_segmentation(actor=actor, dimension=dimension, refit_clv=refit_clv)
    requested_run.enqueue(dimension, getattr(actor, "pk", None), refit_clv)
    return None


# --- the expert risk scorecard ------------------------------------------------------------------

SCORECARD_ROLES = {Role.ADMIN, Role.LEAD, Role.COMPLIANCE}


def can_edit_scorecard(user) -> bool:
    """The expert scorecard's points are compliance's to set (leads and administrators too)."""
    return user is None or has_any(user, SCORECARD_ROLES)


def expert_scorecard_active() -> tuple[dict[str, Any], int]:
    """The points table in force and its version (0 = the default bcrm ships)."""
    from bcrm.segmentation.models import ExpertScorecard

    row = ExpertScorecard.objects.filter(is_active=True).first()
    if row is None:
        return DEFAULT_EXPERT_CONFIG, 0
    return row.config, row.version


@transaction.atomic
def expert_scorecard_save(*, actor, config: Any, note: str = "", base_version: int | None = None):
    """Save a new version of the expert scorecard; it scores every client from the next run on."""
    from bcrm.segmentation.models import ExpertScorecard

    require(can_edit_scorecard(actor), _("Only compliance, team leads and administrators set the expert scorecard."))
    current = ExpertScorecard.objects.select_for_update().filter(is_active=True).first()
    current_version = current.version if current else 0
    if base_version is not None and base_version != current_version:
        raise Conflict(_("Someone saved version %(v)s of the scorecard since you opened it. Reload and try again.")
                       % {"v": current_version})
    try:
        clean = validate_expert_config(config)
    except ModelError as exc:
        message = _(exc.template) % exc.params if exc.params else _(exc.template)
        raise InvalidInput(message, fields={str(exc.params.get("path") or "config"): [message]}) from exc
    before, _version = expert_scorecard_active()
    if clean == validate_expert_config(before):
        raise InvalidInput(_("Nothing changed: the points are the same as the version in force."))
    top = ExpertScorecard.objects.aggregate(top=Max("version"))["top"] or 0
    ExpertScorecard.objects.filter(is_active=True).update(is_active=False)
    # stored as given (JSON): the normalised form may hold infinities for open-ended bands
    row = ExpertScorecard.objects.create(version=top + 1, config=config, note=str(note)[:300],
                                         created_by=actor if getattr(actor, "pk", None) else None)
    audit_record(actor=actor, action="update", instance=row, changes={"config": [before, config]})
    return row


# --- overrides -----------------------------------------------------------------------------------

def _set_current_label(organization_id: int, dimension: str, label: str) -> None:
    before = ""
    if events.wanted("client.class_changed"):
        before = ClientLabels.objects.filter(organization_id=organization_id).values_list(dimension, flat=True).first() or ""
    ClientLabels.objects.update_or_create(organization_id=organization_id, defaults={dimension: label})
    _labels_changed([organization_id])
    if before != label and events.wanted("client.class_changed"):
        events.emit("client.class_changed", {"organization": organization_id, "dimension": dimension,
                                             "from": before, "to": label, "source": "override"})


def _engine_label_now(organization_id: int, dimension: str) -> str:
    run = _latest_run(dimension)
    if run is None:
        return ""
    return (effective_assignments(run).filter(organization_id=organization_id)
            .values_list("engine_label", flat=True).first() or "")


@transaction.atomic
def override_create(*, actor, organization, dimension: str, label: str, reason: str,
                    expires_at: dt.datetime) -> Override:
    """Set a label by hand until ``expires_at``; replaces the client's earlier override on that dimension."""
    check_dimension(dimension)
    require(can_override(actor, dimension) and can_view_organization(actor, organization),
            _("Only team leads and administrators (and compliance, on risk) override labels."))
    errors: dict[str, list[str]] = {}
    if label not in labels_for(dimension) or label == INSUFFICIENT:
        errors["label"] = [_("Choose one of the two classes of this dimension.")]
    if not (reason or "").strip():
        errors["reason"] = [_("An override needs a reason.")]
    if expires_at is None or timezone.is_naive(expires_at):
        errors["expires_at"] = [_("Give an expiry date and time with its time zone.")]
    elif expires_at <= timezone.now():
        errors["expires_at"] = [_("The expiry must be in the future.")]
    elif expires_at > timezone.now() + dt.timedelta(days=366 * 2):
        errors["expires_at"] = [_("An override lasts at most two years; renew it if it still holds.")]
    if errors:
        raise InvalidInput(fields=errors)
    now = timezone.now()
    for old in Override.objects.select_for_update().filter(
            organization=organization, dimension=dimension, revoked_at__isnull=True, expires_at__gt=now):
        old.revoked_at = now
        old.revoked_by = actor if getattr(actor, "pk", None) else None
        old.save(update_fields=["revoked_at", "revoked_by"])
        audit_record(actor=actor, action="update", instance=old, changes={"revoked_at": [None, now.isoformat()]})
    override = Override(organization=organization, dimension=dimension, label=label, reason=reason.strip(),
                        author=actor if getattr(actor, "pk", None) else None, expires_at=expires_at)
    override.full_clean()
    override.save()
    _set_current_label(organization.pk, dimension, label)
    audit_record(actor=actor, action="create", instance=override, changes={
        "organization": [None, organization.pk], "dimension": [None, dimension], "label": [None, label],
        "reason": [None, override.reason], "expires_at": [None, expires_at.isoformat()]})
    return override


@transaction.atomic
def override_expire(*, actor, override: Override) -> Override:
    """End an override now; the client goes back to what the latest run said."""
    require(can_override(actor, override.dimension) and can_view_organization(actor, override.organization),
            _("Only team leads and administrators (and compliance, on risk) override labels."))
    locked = Override.objects.select_for_update().get(pk=override.pk)
    if locked.revoked_at is not None or locked.expires_at <= timezone.now():
        raise InvalidInput(_("This override has already ended."))
    locked.revoked_at = timezone.now()
    locked.revoked_by = actor if getattr(actor, "pk", None) else None
    locked.save(update_fields=["revoked_at", "revoked_by"])
    _restore_engine_label(locked)
    audit_record(actor=actor, action="update", instance=locked, changes={
        "revoked_at": [None, locked.revoked_at.isoformat()]})
    return locked


def _restore_engine_label(override: Override) -> None:
    still = active_overrides(override.dimension)
    if override.organization_id in still:
        _set_current_label(override.organization_id, override.dimension, still[override.organization_id])
    else:
        _set_current_label(override.organization_id, override.dimension,
                           _engine_label_now(override.organization_id, override.dimension))


def overrides_sweep(now: dt.datetime | None = None) -> int:
    """Put clients whose override expired back on the label the latest run gave them. Idempotent."""
    now = now or timezone.now()
    ended = 0
    recently = Override.objects.filter(revoked_at__isnull=True, expires_at__lte=now,
                                       expires_at__gt=now - dt.timedelta(days=30))
    for override in recently.select_related("organization"):
        with transaction.atomic():
            current = ClientLabels.objects.filter(organization_id=override.organization_id).values_list(
                override.dimension, flat=True).first()
            engine_label = _engine_label_now(override.organization_id, override.dimension)
            still = active_overrides(override.dimension, now)
            target = still.get(override.organization_id, engine_label)
            if current != target:
                _set_current_label(override.organization_id, override.dimension, target)
                audit_record(actor=None, action="update", instance=override,
                             changes={"expired": [None, now.isoformat()], "label": [current, target]})
                ended += 1
    return ended


# --- schedules -----------------------------------------------------------------------------------

PERIODS = {"daily": dt.timedelta(days=1), "weekly": dt.timedelta(days=7), "monthly": dt.timedelta(days=30)}


def schedules_due(now: dt.datetime | None = None) -> list[str]:
    """Dimensions whose active criterion is scheduled and whose last run is older than its period."""
    now = now or timezone.now()
    due = []
    for criterion in Criterion.objects.filter(is_active=True).exclude(schedule=""):
        last = (Run.objects.filter(dimension=criterion.dimension, status=RunStatus.DONE)
                .aggregate(last=Max("started_at"))["last"])
        if last is None or now - last >= PERIODS[criterion.schedule]:
            due.append(criterion.dimension)
    return due


def schedule_tick(now: dt.datetime | None = None) -> list[str]:
    """Enqueue a run for each dimension that is due, at most once per period even with several
    workers ticking at once: the claim is a row lock on the dimension's schedule state."""
    from bcrm.segmentation.models import ScheduleState
    from bcrm.segmentation.tasks import scheduled_run

    now = now or timezone.now()
    overrides_sweep(now)
    enqueued = []
    for dimension in schedules_due(now):
        criterion = criterion_active(dimension)
        with transaction.atomic():
            ScheduleState.objects.get_or_create(dimension=dimension)
            state = ScheduleState.objects.select_for_update().get(dimension=dimension)
            if state.enqueued_at is not None and now - state.enqueued_at < PERIODS[criterion.schedule]:
                continue
            state.enqueued_at = now
            state.save(update_fields=["enqueued_at"])
            enqueued.append(dimension)
        # Enqueued after the claim committed: a database-backed queue row is then visible to workers.
        scheduled_run.enqueue(dimension)
    return enqueued
