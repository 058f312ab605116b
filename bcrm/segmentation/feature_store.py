"""Classification that costs what changed: the raw feature numbers of every client, stored, and brought up to
date by recomputing only the clients whose rows changed.

The incremental families (``features.INCREMENTAL``) split into ``raw`` aggregates (as-of independent but for
the cut-offs) and a cheap ``derive`` for the as-of date. This module keeps the raw numbers of every client in
``FeatureRow`` (float64, packed in ``FeatureStore.layout`` order) and, for a run:

1. reads the stored numbers (one row per client);
2. finds the clients to recompute: those the database triggers marked in ``ClientChange`` since the store's
   watermark (less ``CHANGE_MARGIN``, for writers whose transaction was still open then), clients whose rows
   crossed a cut-off because the as-of date moved (an event dated between the stored and the new end, or
   leaving the 12-month window: ``features.Band``), and clients the store does not hold yet;
3. recomputes their raw numbers with the same queries restricted to their ids, and a family for everyone
   when what it also depends on changed (the exchange rates on the as-of date);
4. derives every client's features from the numbers (array work), writes back only the recomputed rows and
   moves the watermark.

The store is rebuilt in full when it is missing, when its layout changed (a family added or changed) or when
a run asks for an earlier as-of date than the stored one. ``derive(raw(all))`` is the full computation, so
an incremental run gives the full run's features exactly: ``tests/test_segmentation_incremental.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bcrm.segmentation.features import (
    DAMAGED_CACHE,
    FAMILIES,
    INCREMENTAL,
    Band,
    FeatureMatrix,
    Population,
    cache_path,
    derive_family,
    families_for,
    fetch,
    raw_dependencies,
)
from bcrm.segmentation.models import ClientChange, FeatureRow, FeatureStore

logger = logging.getLogger(__name__)

#: Changes stamped this long before the store's watermark are still taken as new: a writer's transaction
#: may have stamped its rows before the watermark and committed after the run read them.
CHANGE_MARGIN = dt.timedelta(minutes=15)
WRITE_BATCH = 20_000
#: Above this share of the clients changed, their numbers are recomputed with whole-table queries.
SUBSET_SHARE = 0.25


@dataclass
class StoreOutcome:
    matrix: FeatureMatrix
    mode: str  # "incremental", or "full" when the store was (re)built
    recomputed: int  # clients whose incremental features were computed from their rows
    timings: dict[str, float]


def layout() -> list[str]:
    return [f"{family}:{col}" for family in sorted(INCREMENTAL) for col in INCREMENTAL[family].columns]


def _contexts(pop: Population) -> dict[str, Any]:
    out = {}
    for family, spec in sorted(INCREMENTAL.items()):
        if spec.context is not None:
            out[family] = json.loads(json.dumps(spec.context(pop)))
    return out


def _raw_block(families: list[str], pop: Population, cols: list[str]) -> np.ndarray:
    """The raw numbers of ``families`` for ``pop`` as a (clients × layout) array (NaN in other columns),
    column-major: each column is a contiguous array the families derive from without a copy."""
    block = np.full((pop.size, len(cols)), np.nan, order="F")
    for family in families:
        raw = INCREMENTAL[family].raw(pop)
        for name in INCREMENTAL[family].columns:
            block[:, cols.index(f"{family}:{name}")] = raw[name]
        del raw
    return block


READ_BATCH = 50_000


def _read_rows(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every stored row: (ids ascending, a column-major (rows × k) array). Read in pieces straight into the
    arrays — a binary COPY on PostgreSQL, ``fetchmany`` on SQLite — so no Python object per client is kept."""
    table = connection.ops.quote_name(FeatureRow._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        n = int(cursor.fetchone()[0])
        ids = np.zeros(n, dtype=np.int64)
        data = np.full((n, k), np.nan, order="F")
        if not n:
            return ids, data
        select = f"SELECT organization_id, data FROM {table} ORDER BY organization_id"
        if connection.vendor == "postgresql":
            got = _copy_binary(cursor, select, ids, data, k)
        else:
            got = 0
            cursor.execute(select)
            while rows := cursor.fetchmany(READ_BATCH):
                stop = min(got + len(rows), n)
                ids[got:stop] = [r[0] for r in rows[:stop - got]]
                data[got:stop] = np.frombuffer(b"".join(bytes(r[1]) for r in rows[:stop - got]),
                                               dtype="<f8").reshape(stop - got, k)
                got = stop
    return ids[:got], data[:got]


def _copy_binary(cursor, select: str, ids: np.ndarray, data: np.ndarray, k: int) -> int:
    """Fill ``ids``/``data`` from PostgreSQL's binary COPY of (bigint, bytea of k float64): every record has
    the same size, so numpy reads the records in place (a field count, then each field's length and bytes)."""
    record = np.dtype([("fields", ">i2"), ("l_id", ">i4"), ("id", ">i8"), ("l_data", ">i4"), ("data", "<f8", (k,))])
    header = 11 + 4 + 4
    pending: list[bytes] = []  # libpq hands over one row at a time: parsed a few megabytes at once
    size = 0
    rest = b""
    got = 0
    started = False

    def parse(final: bool) -> None:
        nonlocal rest, got, started, pending, size
        buffer = rest + b"".join(pending)
        pending, size = [], 0
        if not started:
            if len(buffer) < header:
                rest = buffer
                return
            buffer = buffer[header + int.from_bytes(buffer[15:19], "big"):]
            started = True
        whole = min(len(buffer) // record.itemsize, ids.size - got)
        if whole:
            recs = np.frombuffer(buffer, dtype=record, count=whole)
            if (recs["fields"] != 2).any() or (recs["l_data"] != 8 * k).any():
                raise ValueError("stored feature rows do not have the store's width")
            ids[got:got + whole] = recs["id"]
            data[got:got + whole] = recs["data"]
            got += whole
        rest = buffer[whole * record.itemsize:]

    with cursor.cursor.copy(f"COPY ({select}) TO STDOUT (FORMAT BINARY)") as copy:
        for chunk in copy:
            pending.append(bytes(chunk))
            size += len(chunk)
            if size >= 4 << 20:
                parse(False)
    parse(True)
    return got


# --- a snapshot of the store in the data folder --------------------------------------------------
#
# Reading a million stored rows back from the database costs seconds on every run and preview. The run that
# writes the store also leaves a copy of every row in the data folder (two .npy files, stamped with the store's
# generation, watermark, as-of date and layout); a later run or preview whose store state is the same maps that
# copy instead of reading the rows. The database stays the record: a copy whose stamp is not the stored state
# (a rolled-back run, a run that could not write its copy, another database) is ignored. On with the file cache (BCRM_FEATURE_CACHE_SECONDS).


def _snapshot_dir() -> Path:
    return cache_path("feature-store-{key}")


def _stamp(generation: int, watermark: dt.datetime, as_of: dt.date, cols: list[str]) -> dict[str, Any]:
    return {"generation": generation, "watermark": watermark.isoformat(), "as_of": as_of.isoformat(),
            "layout": hashlib.sha256("|".join(cols).encode()).hexdigest()}


def _load_snapshot(state: FeatureStore, cols: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    if float(settings.BCRM_FEATURE_CACHE_SECONDS) <= 0:
        return None
    folder = _snapshot_dir()
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("stamp") != _stamp(state.generation, state.watermark, state.as_of, cols):
            return None
        ids = np.load(folder / f"ids-{meta['token']}.npy")
        block = np.load(folder / f"block-{meta['token']}.npy", mmap_mode="c")  # pages read as used, private copy
        if block.shape != (ids.size, len(cols)):
            return None
        for token in meta.get("deltas", []):  # the rows later runs recomputed, in order
            with np.load(folder / f"delta-{token}.npz", allow_pickle=False) as delta:
                at, rows = delta["ids"], delta["rows"]
            positions = np.minimum(np.searchsorted(ids, at), max(ids.size - 1, 0))
            if rows.shape != (at.size, len(cols)) or not np.array_equal(ids[positions], at):
                return None
            block[positions] = rows
    except DAMAGED_CACHE:
        return None
    return ids, block


#: A copy takes the rows a run recomputed as a small file beside it (a delta) while its deltas hold fewer rows
#: than this share of the clients, and at most ``MAX_DELTAS`` of them; then it is written whole again.
DELTA_SHARE = 0.2
MAX_DELTAS = 30


def _save_snapshot(ids: np.ndarray, block: np.ndarray, generation: int, watermark: dt.datetime, as_of: dt.date,
                   cols: list[str]) -> None:
    if float(settings.BCRM_FEATURE_CACHE_SECONDS) <= 0:
        return
    folder = _snapshot_dir()
    token = f"{int(time.time() * 1e6):x}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"ids-{token}.npy", ids)
        np.save(folder / f"block-{token}.npy", np.asfortranarray(block))
        _write_meta(folder, {"token": token, "stamp": _stamp(generation, watermark, as_of, cols), "deltas": []})
        for old in [*folder.glob("*.npy"), *folder.glob("*.npz")]:
            if token not in old.name:
                old.unlink(missing_ok=True)
    except OSError as exc:  # no copy is only slower
        logger.warning("feature store copy not written in %s: %s", folder, exc)


def _write_meta(folder: Path, meta: dict[str, Any]) -> None:
    tmp = folder / "meta.json.tmp"
    tmp.write_text(json.dumps(meta))
    tmp.replace(folder / "meta.json")  # atomic: a reader sees the old copy or the new one


def _save_delta(started_from: dict[str, Any], ids: np.ndarray, block: np.ndarray, changed: np.ndarray,
                generation: int, watermark: dt.datetime, as_of: dt.date, cols: list[str]) -> None:
    """Bring the copy to the new store state. While it is still the copy this run started from (stamped
    ``started_from``) over the same clients ``ids``, only the ``changed`` rows are written, as a delta; else
    every row. Rewriting every row was a quarter of a gigabyte per run at a million clients (issue 19)."""
    if float(settings.BCRM_FEATURE_CACHE_SECONDS) <= 0:
        return
    folder = _snapshot_dir()
    try:
        meta = json.loads((folder / "meta.json").read_text())
        deltas = list(meta.get("deltas", []))
        held = 0
        for token in deltas:
            with np.load(folder / f"delta-{token}.npz", allow_pickle=False) as delta:
                held += int(delta["ids"].size)
    except DAMAGED_CACHE:
        meta, deltas, held = {}, [], 0
    if (meta.get("stamp") != started_from or len(deltas) >= MAX_DELTAS
            or held + changed.size > DELTA_SHARE * max(ids.size, 1)):
        _save_snapshot(ids, block, generation, watermark, as_of, cols)
        return
    token = f"{int(time.time() * 1e6):x}"
    try:
        rows = np.ascontiguousarray(block[np.searchsorted(ids, changed)])
        np.savez(folder / f"delta-{token}.npz", ids=changed, rows=rows)
        _write_meta(folder, {**meta, "stamp": _stamp(generation, watermark, as_of, cols), "deltas": [*deltas, token]})
    except OSError as exc:  # the copy no longer says what is stored
        logger.warning("feature store copy not written in %s: %s", folder, exc)
        _drop_snapshot()


def _drop_snapshot() -> None:
    (_snapshot_dir() / "meta.json").unlink(missing_ok=True)


def _write_rows(ids: np.ndarray, block: np.ndarray, *, replace_all: bool) -> None:
    """Replace the stored rows of ``ids`` (every row with ``replace_all``) by ``block``'s."""
    table = connection.ops.quote_name(FeatureRow._meta.db_table)
    width = block.shape[1] * 8 if block.ndim == 2 else 0
    with connection.cursor() as cursor:
        if replace_all:
            cursor.execute(f"DELETE FROM {table}")
        for start in range(0, ids.size, WRITE_BATCH):
            chunk = ids[start:start + WRITE_BATCH].tolist()
            if not replace_all and connection.vendor == "postgresql":  # one array parameter, not 20,000
                cursor.execute(f"DELETE FROM {table} WHERE organization_id = ANY(%s::bigint[])", [chunk])
            elif not replace_all:
                cursor.execute(f"DELETE FROM {table} WHERE organization_id IN ({', '.join(['%s'] * len(chunk))})",
                               chunk)
            buf = np.ascontiguousarray(block[start:start + WRITE_BATCH], dtype="<f8").tobytes()
            rows = [(org, buf[i * width:(i + 1) * width]) for i, org in enumerate(chunk)]
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} (organization_id, data) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(f"INSERT INTO {table} (organization_id, data) VALUES (%s, %s)", rows)


def _delete_rows(ids: np.ndarray) -> None:
    for start in range(0, ids.size, WRITE_BATCH):
        FeatureRow.objects.filter(organization_id__in=ids[start:start + WRITE_BATCH].tolist()).delete()


def change_watermark() -> dt.datetime:
    """Where the next run starts reading the client changes. On PostgreSQL the triggers stamp a client with the
    start of the transaction that changed it (migration 0007), so the watermark is now or, when earlier, the start
    of the oldest transaction open in this database (this one included): a transaction still open while this run
    reads commits stamps no earlier than that, and the next run takes them, however long the transaction ran.
    (Another role's sessions show no start to an unprivileged role; ``CHANGE_MARGIN`` still covers a writer
    there, and on SQLite, whose triggers stamp the clock.)"""
    if connection.vendor != "postgresql":
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT LEAST(clock_timestamp(), (SELECT min(xact_start) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND backend_type = 'client backend'))")
        return cursor.fetchone()[0]


def _changed_ids(since: dt.datetime) -> np.ndarray:
    rows = fetch(ClientChange.objects.filter(changed_at__gte=since).order_by().values_list("organization_id"))
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


def _crossed_ids(family: str, before: Population, after: Population) -> np.ndarray:
    """Clients with rows that crossed one of ``family``'s cut-offs when the as-of date moved forward."""
    if after.as_of <= before.as_of:
        return np.zeros(0, dtype=np.int64)
    found: list[np.ndarray] = []
    for band in INCREMENTAL[family].bands:
        spans = [(before.end, after.end)]  # events that now fall before the end
        if band.window:
            spans.append((before.year_ago, after.year_ago))  # events that left the 12-month window
        for start, stop in spans:
            rows = fetch(crossed_query(band, start, stop))
            found.append(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def crossed_query(band: Band, start: dt.datetime, stop: dt.datetime):
    """The clients with a ``band`` row dated in [start, stop): a day's worth for a daily run, found by the date
    indexes (``interaction_date_idx`` and its like; reading the tables was 1–2 s of every daily run at a million
    clients, issue 19)."""
    return (band.model.objects.filter(**{f"{band.date_field}__gte": start, f"{band.date_field}__lt": stop})
            .order_by().values_list(band.org).distinct())


def _derive(families: list[str], pop: Population, block: np.ndarray, cols: list[str],
            matrix: FeatureMatrix) -> None:
    raws: dict[str, dict[str, np.ndarray]] = {}
    for family in raw_dependencies(families):
        raws[family] = {name: np.ascontiguousarray(block[:, cols.index(f"{family}:{name}")])
                        for name in INCREMENTAL[family].columns}
    for family in families:
        matrix.columns.update(derive_family(family, pop, raws))


def compute_features_incremental(names: list[str], pop: Population, *, write: bool = True) -> StoreOutcome:
    """``compute_features(names, pop)`` with the incremental families brought up to date from the store
    (see the module's text); the other families (the models, mail strength) are computed in full.

    ``write=False`` (a preview) reads the store and recomputes what changed without writing; with no
    usable store it computes everything."""
    timings: dict[str, float] = {}
    names = list(dict.fromkeys(names))
    wanted = families_for(names)
    inc = [f for f in wanted if f in INCREMENTAL]
    matrix = FeatureMatrix(pop)
    mode, recomputed = "full", pop.size
    if inc:
        with transaction.atomic():
            mode, recomputed, block, cols = _bring_up_to_date(pop, write=write, timings=timings, needed=inc)
            clock = time.perf_counter()
            _derive(inc, pop, block, cols, matrix)
            timings["derive"] = time.perf_counter() - clock
    clock = time.perf_counter()
    for family in wanted:
        if family not in INCREMENTAL:
            matrix.columns.update(FAMILIES[family](pop))
            matrix.queries += 1
    timings["model_families"] = time.perf_counter() - clock
    result = FeatureMatrix(pop, {n: matrix.columns[n] for n in names}, matrix.queries)
    return StoreOutcome(result, mode, recomputed, timings)


def _bring_up_to_date(pop: Population, *, write: bool, timings: dict[str, float], needed: list[str]
                      ) -> tuple[str, int, np.ndarray, list[str]]:
    """(mode, clients recomputed, the raw numbers of every client in layout order, the layout). Without a
    usable store the numbers are computed for everyone — every family when the store is written, only the
    ``needed`` ones otherwise."""
    cols = layout()
    watermark = change_watermark()  # taken before anything is read: later changes are the next run's
    contexts = _contexts(pop)
    qs = FeatureStore.objects.filter(pk=1)
    state = (qs.select_for_update() if write else qs).first()
    families = sorted(INCREMENTAL)
    if state is None or state.layout != cols or pop.as_of < state.as_of:
        clock = time.perf_counter()
        block = _raw_block(families if write else raw_dependencies(needed), pop, cols)
        timings["features"] = time.perf_counter() - clock
        if write:
            clock = time.perf_counter()
            _write_rows(pop.ids, block, replace_all=True)
            generation = state.generation + 1 if state is not None else 1
            FeatureStore.objects.update_or_create(pk=1, defaults={
                "as_of": pop.as_of, "watermark": watermark, "layout": cols, "context": contexts,
                "built_at": timezone.now(), "generation": generation})
            _save_snapshot(pop.ids, block, generation, watermark, pop.as_of, cols)
            timings["store_write"] = time.perf_counter() - clock
        return "full", pop.size, block, cols

    clock = time.perf_counter()
    copy = _load_snapshot(state, cols)
    stored_ids, stored = copy or _read_rows(len(cols))
    if np.array_equal(stored_ids, pop.ids):  # the usual case: the store holds exactly the population
        block, have = stored, np.ones(pop.size, dtype=bool)
    else:
        block = np.full((pop.size, len(cols)), np.nan, order="F")
        have = np.isin(pop.ids, stored_ids)
        block[have] = stored[np.searchsorted(stored_ids, pop.ids[have])]
    timings["store_read"] = time.perf_counter() - clock

    clock = time.perf_counter()
    before = Population(np.zeros(0, dtype=np.int64), state.as_of)
    changed = _changed_ids(state.watermark - CHANGE_MARGIN)
    parts = [changed, pop.ids[~have]]
    for family in families:
        parts.append(_crossed_ids(family, before, pop))
    dirty_all = np.unique(np.concatenate(parts))
    dirty = dirty_all[np.isin(dirty_all, pop.ids)]
    same_clients = np.array_equal(stored_ids, pop.ids)  # the usual case: no client added or deleted
    gone = (np.zeros(0, dtype=np.int64) if same_clients  # deleted clients
            else np.setdiff1d(stored_ids[np.isin(stored_ids, dirty_all)], pop.ids))
    redo = [f for f in families if f in contexts and state.context.get(f) != contexts[f]]
    timings["changes"] = time.perf_counter() - clock

    clock = time.perf_counter()
    if dirty.size > SUBSET_SHARE * pop.size:  # most clients: one scan of each table beats id lists
        dirty = pop.ids
    if dirty.size:
        sub = Population(dirty, pop.as_of, subset=dirty.size < pop.size)
        fresh = _raw_block([f for f in families if f not in redo], sub, cols)
        positions = np.searchsorted(pop.ids, dirty)
        keep = np.array([i for i, c in enumerate(cols) if c.split(":", 1)[0] not in redo], dtype=np.int64)
        block[np.ix_(positions, keep)] = fresh[:, keep]
    if redo:  # what the numbers also depend on changed (the rates): the family for everyone
        whole = _raw_block(redo, pop, cols)
        idx = np.array([i for i, c in enumerate(cols) if c.split(":", 1)[0] in redo], dtype=np.int64)
        block[:, idx] = whole[:, idx]
    timings["features"] = time.perf_counter() - clock

    if write:
        clock = time.perf_counter()
        if redo:
            _write_rows(pop.ids, block, replace_all=True)
            held = pop.ids
        else:
            _write_rows(dirty, block[np.searchsorted(pop.ids, dirty)], replace_all=False)
            _delete_rows(gone)
            # what the table holds now: the population when it held the population (dirty ones are in it)
            held = pop.ids if same_clients else np.union1d(np.setdiff1d(stored_ids, gone), dirty)
        generation = state.generation + 1
        FeatureStore.objects.filter(pk=1).update(as_of=pop.as_of, watermark=watermark, context=contexts,
                                                 generation=generation)
        if np.array_equal(held, pop.ids):  # the copy is exactly what the table now holds
            if copy is not None and not redo and same_clients:
                _save_delta(_stamp(state.generation, state.watermark, state.as_of, cols), pop.ids, block, dirty,
                            generation, watermark, pop.as_of, cols)
            else:
                _save_snapshot(pop.ids, block, generation, watermark, pop.as_of, cols)
        else:
            _drop_snapshot()
        timings["store_write"] = time.perf_counter() - clock
    return "incremental", (pop.size if redo else int(dirty.size)), block, cols


def store_usable(as_of: dt.date) -> bool:
    """Whether an incremental computation as of ``as_of`` can start from the store (else it rebuilds it)."""
    state = FeatureStore.objects.filter(pk=1).first()
    return state is not None and state.layout == layout() and state.as_of <= as_of
