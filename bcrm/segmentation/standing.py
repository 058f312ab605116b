"""The assignments in force in a run (its "standing" rows), as arrays: what the next run compares its results
with and takes the engine's previous labels from.

Read from the database (``read``: the run's chain's latest row per client, a million rows at a million
clients, seconds), or from the copy the run left in the data folder (``load``), which the run composes from
its own arrays when it commits (``compose``, ``keep``): the rows it wrote and the standing rows it kept. The
database stays the record. A copy is used only when it is the latest run's own (its id and start) and
nothing changed the assignment rows since but runs' own writes: database triggers (migration ``0008``) move
``AssignmentEpoch`` on every other change (a merge, an erased client), and the copy is stamped with it.
On with the file cache (``BCRM_FEATURE_CACHE_SECONDS`` above 0), as the feature store's copy.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction

from bcrm.segmentation import changes
from bcrm.segmentation import classify as engine
from bcrm.segmentation.features import DAMAGED_CACHE, cache_path, fetch_chunks
from bcrm.segmentation.models import AssignmentEpoch, Run
from bcrm.segmentation.selectors import effective_assignments

logger = logging.getLogger(__name__)


@dataclass
class Standing:
    """The assignments in force in the run a new run builds on, aligned by client id (ascending)."""

    ids: np.ndarray
    run_ids: np.ndarray
    results: changes.Results | None  # None when only the engine labels were read

    def engine_labels(self) -> engine.LabelMap:
        if self.results is None:
            return _NO_LABELS
        return engine.LabelMap(self.ids, self.results.engine_label)


_NO_LABELS = engine.LabelMap(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object))


def shared_strings(values, texts: dict[str, str]) -> np.ndarray:
    """``values`` as an object array in which equal texts are one object (``texts`` remembers them)."""
    out = np.empty(len(values), dtype=object)
    out[:] = [texts.setdefault(v, v) if v is not None else None for v in values]
    return out


def label_map(values_list) -> engine.LabelMap:
    """(organisation id, label) rows read a piece at a time into arrays, each label text kept once: as a dict of
    a million ints and strs they held about 130 MB (issue 19)."""
    texts: dict[str, str] = {}
    ids: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    gc.disable()  # a piece's row tuples: the cyclic collector would rescan them again and again
    try:
        for rows in fetch_chunks(values_list, STANDING_CHUNK):
            cols = list(zip(*rows, strict=True))
            m = len(rows)
            del rows
            ids.append(np.fromiter(cols[0], dtype=np.int64, count=m))
            labels.append(shared_strings(cols[1], texts))
            del cols
    finally:
        gc.enable()
    if not ids:
        return _NO_LABELS
    return engine.LabelMap(np.concatenate(ids), np.concatenate(labels))


def read(run: Run | None, *, detail: bool) -> tuple[Standing, engine.LabelMap]:
    """The assignments in force in ``run`` (its chain's latest row per client, read raw: a million rows) and
    what the engine said for each client. ``detail`` reads what ``changes.unchanged`` compares as well."""
    if run is None:
        return Standing(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), None), _NO_LABELS
    qs = effective_assignments(run).order_by()
    if not detail:
        return (Standing(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), None),
                label_map(qs.values_list("organization_id", "engine_label")))
    # Read a piece at a time into arrays (a server-side cursor on PostgreSQL), each label text kept once: the
    # million rows as Python tuples, then transposed, held 1.6 GB at a million clients (issue 19).
    texts: dict[str, str] = {}
    pieces: list[tuple[np.ndarray, ...]] = []
    gc.disable()  # a piece's row tuples: the cyclic collector would rescan them again and again (a third of it)
    try:
        for rows in fetch_chunks(qs.values_list(
                "organization_id", "run_id", "label", "engine_label", "previous_label", "score", "completeness",
                "stability", "overridden", "held_by_hysteresis", "fingerprint"), STANDING_CHUNK):
            cols = list(zip(*rows, strict=True))  # transposed in C
            m = len(rows)
            del rows
            pieces.append((
                np.fromiter(cols[0], dtype=np.int64, count=m), np.fromiter(cols[1], dtype=np.int64, count=m),
                shared_strings(cols[2], texts), shared_strings(cols[3], texts), shared_strings(cols[4], texts),
                np.array(cols[5], dtype=np.float64), np.array(cols[6], dtype=np.float64),
                np.array(cols[7], dtype=np.float64),  # None → NaN
                np.array(cols[8], dtype=bool), np.array(cols[9], dtype=bool), changes.unpack(cols[10]),
            ))
            del cols
    finally:
        gc.enable()
    if not pieces:
        blank = np.zeros(0, dtype=object)
        none = changes.Results(label=blank, engine_label=blank, previous=blank, overridden=np.zeros(0, bool),
                               held=np.zeros(0, bool), score=np.zeros(0), completeness=np.zeros(0),
                               stability=np.zeros(0), fingerprint=np.zeros((0, changes.WIDTH)))
        return Standing(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), none), _NO_LABELS
    ids = np.concatenate([piece[0] for piece in pieces])
    order = np.argsort(ids, kind="stable")

    def column(i: int) -> np.ndarray:
        return np.concatenate([piece[i] for piece in pieces])[order]

    results = changes.Results(
        label=column(2), engine_label=column(3), previous=column(4), overridden=column(8), held=column(9),
        score=column(5), completeness=column(6), stability=column(7), fingerprint=column(10),
    )
    standing = Standing(ids[order], column(1), results)
    return standing, standing.engine_labels()


STANDING_CHUNK = 100_000  # standing assignments turned into arrays at a time


def aligned(standing: Standing, ids: np.ndarray) -> changes.Results:
    """The standing results lined up with ``ids`` (``present`` False for clients without a row)."""
    n = ids.size
    old = standing.results
    assert old is not None
    if np.array_equal(standing.ids, ids):  # the usual case, the same clients: the arrays as they are (not copied)
        return changes.Results(
            label=old.label, engine_label=old.engine_label, previous=old.previous, overridden=old.overridden,
            held=old.held, score=old.score, completeness=old.completeness, stability=old.stability,
            fingerprint=old.fingerprint, present=np.ones(n, dtype=bool))
    pos = np.searchsorted(standing.ids, ids)
    pos_c = np.minimum(pos, max(standing.ids.size - 1, 0))
    present = (standing.ids[pos_c] == ids) if standing.ids.size else np.zeros(n, bool)
    # Two standing rows for one client (a merge moved the duplicate's rows onto the survivor): write it
    # afresh, which replaces both.
    twice = standing.ids[1:][standing.ids[1:] == standing.ids[:-1]]
    if twice.size:
        present &= ~np.isin(ids, twice)

    def pick(values: np.ndarray, blank) -> np.ndarray:
        if not standing.ids.size:
            return np.full((n, *values.shape[1:]), blank, dtype=values.dtype)
        out = values[pos_c]  # fancy indexing: already a new array
        out[~present] = blank
        return out

    return changes.Results(
        label=pick(old.label, ""), engine_label=pick(old.engine_label, ""), previous=pick(old.previous, ""),
        overridden=pick(old.overridden, False), held=pick(old.held, False), score=pick(old.score, np.nan),
        completeness=pick(old.completeness, np.nan), stability=pick(old.stability, np.nan),
        fingerprint=pick(old.fingerprint, np.nan), present=present,
    )


# --- the copy a run leaves in the data folder ---------------------------------------------------------

_TEXT = ("label", "engine_label", "previous")
_NUMBERS = ("overridden", "held", "score", "completeness", "stability")


def epoch() -> int:
    """The assignment epoch now (0 before any change moved it)."""
    return AssignmentEpoch.objects.filter(pk=1).values_list("value", flat=True).first() or 0


def _on() -> bool:
    return float(settings.BCRM_FEATURE_CACHE_SECONDS) > 0


def _path(dimension: str) -> Path:
    return cache_path(f"standing-{{key}}-{dimension}.npz")


def _stamp(run: Run, at_epoch: int) -> dict[str, object]:
    return {"run": run.pk, "started": run.started_at.isoformat(), "epoch": at_epoch}


def _as_stored(values: np.ndarray) -> np.ndarray:
    """Floats as a nullable column gives them back: NaN and ±infinity are written as NULL, read as NaN."""
    out = np.asarray(values, dtype=np.float64).copy()
    out[~np.isfinite(out)] = np.nan
    return out


def compose(run_pk: int, before: Standing, ids: np.ndarray, new: changes.Results,
            rows: np.ndarray | None, old: changes.Results | None = None) -> Standing:
    """The rows in force after a run ``run_pk`` over the clients ``ids`` (ascending) that wrote ``new``'s results
    for the clients at positions ``rows`` (every client when None) and kept ``before``'s row for the others,
    with every value as the database gives it back (``read``). ``old``: ``aligned(before, ids)`` when the run
    has it already."""
    n = ids.size
    written = changes.Results(
        label=np.array(new.label, dtype=object), engine_label=np.array(new.engine_label, dtype=object),
        previous=np.array(new.previous, dtype=object), overridden=np.array(new.overridden, dtype=bool),
        held=np.array(new.held, dtype=bool), score=_as_stored(new.score),
        completeness=np.asarray(new.completeness, dtype=np.float64).copy(), stability=_as_stored(new.stability),
        fingerprint=np.asarray(new.fingerprint).astype(np.float32).astype(np.float64),  # stored as float32
    )
    run_ids = np.full(n, run_pk, dtype=np.int64)
    if rows is None:
        return Standing(ids.copy(), run_ids, written)
    kept = np.ones(n, dtype=bool)
    kept[np.asarray(rows, dtype=np.int64)] = False
    if kept.any():
        assert before.results is not None
        old = old if old is not None else aligned(before, ids)
        assert old.present is not None and bool(old.present[kept].all()), "a kept client has a standing row"
        for name in (*_TEXT, *_NUMBERS, "fingerprint"):
            getattr(written, name)[kept] = getattr(old, name)[kept]
        run_ids[kept] = before.run_ids[np.searchsorted(before.ids, ids[kept])]
    return Standing(ids.copy(), run_ids, written)


def keep(run: Run, at_epoch: int, after: Callable[[], Standing]) -> None:
    """Leave the rows in force in ``run`` (``after()``, composed then: nothing is done with the file cache off)
    in the data folder once ``run``'s transaction commits, when no other writer changed assignment rows since
    ``at_epoch`` was read (before the standing rows were)."""
    if not _on():
        return
    now = epoch()
    if now != at_epoch:
        return
    stamp = _stamp(run, now)
    transaction.on_commit(lambda: _save(_path(run.dimension), stamp, after()))


def _save(path: Path, stamp: dict[str, object], after: Standing) -> None:
    results = after.results
    assert results is not None
    vocab = sorted({str(v) for name in _TEXT for v in set(getattr(results, name).tolist())})
    index = {v: i for i, v in enumerate(vocab)}
    arrays: dict[str, Any] = {"meta": np.array(json.dumps({"stamp": stamp, "vocab": vocab})), "ids": after.ids,
                              "run_ids": after.run_ids, "fingerprint": results.fingerprint.astype(np.float32)}
    for name in _TEXT:
        arrays[name] = np.fromiter((index[v] for v in getattr(results, name).tolist()), dtype=np.int16,
                                   count=after.ids.size)
    for name in _NUMBERS:
        arrays[name] = getattr(results, name)
    tmp = path.with_name(path.name + f".{int(time.time() * 1e6):x}.tmp.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, **arrays)
        tmp.replace(path)  # atomic: a reader sees the old copy or the new one
    except OSError as exc:  # no copy is only slower: the next run reads the rows
        tmp.unlink(missing_ok=True)
        logger.warning("standing assignments not kept in %s: %s", path, exc)


def load(run: Run | None, at_epoch: int, *, detail: bool) -> tuple[Standing, engine.LabelMap] | None:
    """What ``read(run, detail=detail)`` gives, from ``run``'s copy when it is usable (None otherwise)."""
    if run is None or not _on():
        return None
    try:
        with np.load(_path(run.dimension), allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("stamp") != _stamp(run, at_epoch):
                return None
            vocab = np.array(meta["vocab"], dtype=object)
            ids = data["ids"]
            if not detail:
                return (Standing(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), None),
                        engine.LabelMap(ids, vocab[data["engine_label"]]))
            texts = {name: vocab[data[name]] for name in _TEXT}
            results = changes.Results(
                label=texts["label"], engine_label=texts["engine_label"], previous=texts["previous"],
                overridden=data["overridden"], held=data["held"], score=data["score"],
                completeness=data["completeness"], stability=data["stability"],
                fingerprint=data["fingerprint"].astype(np.float64))
            standing = Standing(ids, data["run_ids"], results)
    except DAMAGED_CACHE as exc:
        if not isinstance(exc, FileNotFoundError):
            logger.warning("standing assignments copy not read: %s", exc)
        return None
    return standing, standing.engine_labels()
