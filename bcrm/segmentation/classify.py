"""One classification of the whole population: features → scores → evidence → split → hysteresis →
overrides → explanations. Reads the database in bulk and computes with NumPy; writes nothing (the
service persists what this returns, or a dry run reports it)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.utils import timezone

from bcrm.segmentation import splits
from bcrm.segmentation.choices import INSUFFICIENT, lower_label, upper_label
from bcrm.segmentation.features import (
    FEATURES,
    FeatureMatrix,
    Population,
    compute_features_cached,
    load_population,
)
from bcrm.segmentation.scoring import all_contributions, evidence, rule_mask, score
from bcrm.segmentation.stability import label_stability

VALUE_MEASURE = "committed_amount"  # "how much of the portfolio's value sits above the line"
NEAR_LINE = 50  # clients listed on each side of the line


@dataclass
class Outcome:
    """Everything a run found, aligned with ``population.ids``."""

    dimension: str
    criterion: Any
    population: Population
    method: str
    params: dict[str, Any]
    threshold: float | None
    diagnostics: dict[str, Any]
    score: np.ndarray
    completeness: np.ndarray
    engine_label: np.ndarray      # object array of label codes, before overrides
    label: np.ndarray             # after overrides
    overridden: np.ndarray
    held: np.ndarray              # kept on its side by hysteresis
    ruled: np.ndarray             # decided by a knock-out rule (index into criterion.rules, −1 none)
    stability: np.ndarray
    previous: np.ndarray          # object array: the current label before this run ("" none)
    reasons: dict[str, np.ndarray]
    contrib_index: np.ndarray
    contrib_value: np.ndarray
    feature_names: list[str]
    matrix: FeatureMatrix
    comparison: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)
    mode: str = "full"  # how the features were computed: "full" or "incremental" (feature_store)
    recomputed: int | None = None  # clients whose features were computed from their rows

    @property
    def counts(self) -> dict[str, int]:
        up, low = upper_label(self.dimension), lower_label(self.dimension)
        counts = {code: int(np.count_nonzero(self.label == code)) for code in (up, low, INSUFFICIENT)}
        counts["overridden"] = int(self.overridden.sum())
        counts["total"] = int(self.population.size)
        return counts

    def migrations(self) -> dict[str, dict[str, int]]:
        """{from: {to: clients}} against the labels before this run ("" = no label yet)."""
        out: dict[str, dict[str, int]] = {}
        if self.population.size == 0:
            return out
        pairs = np.char.add(np.char.add(self.previous.astype(str), "→"), self.label.astype(str))
        keys, counts = np.unique(pairs, return_counts=True)
        for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
            before, after = key.split("→")
            out.setdefault(before, {})[after] = int(count)
        return out

    def moved(self, limit: int = 200) -> dict[str, Any]:
        """Who would change label, in each direction, for the preview."""
        up, low = upper_label(self.dimension), lower_label(self.dimension)
        result: dict[str, Any] = {}
        for name, before, after in (("up", low, up), ("down", up, low)):
            mask = (self.previous == before) & (self.label == after)
            idx = np.flatnonzero(mask)
            order = idx[np.argsort(-np.nan_to_num(self.score[idx], nan=-np.inf), kind="stable")][:limit]
            result[name] = {"count": int(mask.sum()), "ids": self.population.ids[order].tolist(),
                            "scores": [_f(self.score[i]) for i in order]}
        for name, target in (("to_insufficient", INSUFFICIENT),):
            mask = (self.previous != "") & (self.previous != INSUFFICIENT) & (self.label == target)
            result[name] = {"count": int(mask.sum()), "ids": self.population.ids[np.flatnonzero(mask)[:limit]].tolist()}
        return result

    def near_line(self, limit: int = NEAR_LINE) -> dict[str, list[tuple[int, float]]]:
        """The clients closest to the line on each side (the ones a small change would move)."""
        if self.threshold is None:
            return {"above": [], "below": []}
        classifiable = ~np.isnan(self.score) & (self.engine_label != INSUFFICIENT) & (self.ruled < 0)
        margin = self.score - self.threshold
        out = {}
        for side, mask in (("above", classifiable & (margin >= 0)), ("below", classifiable & (margin < 0))):
            idx = np.flatnonzero(mask)
            idx = idx[np.argsort(np.abs(margin[idx]), kind="stable")][:limit]
            out[side] = [(int(self.population.ids[i]), float(margin[i])) for i in idx]
        return out

    def explanation(self, index: int) -> dict[str, Any]:
        parts = []
        for j, value in zip(self.contrib_index[index], self.contrib_value[index], strict=True):
            if j < 0:
                continue
            name = self.feature_names[j]
            raw = self.matrix.columns[name]
            parts.append([name, None if raw.missing[index] else round(float(raw.values[index]), 4),
                          round(float(value), 4)])
        data: dict[str, Any] = {"c": parts}
        missing = [reason for reason, mask in self.reasons.items() if mask[index]]
        if missing:
            data["m"] = missing
            if "history" in missing:
                months = self.matrix.columns.get("history_months")
                data["h"] = None if months is None or months.missing[index] else round(float(months.values[index]), 1)
            if "completeness" in missing:
                data["p"] = round(float(self.completeness[index]), 3)
        if self.ruled[index] >= 0:
            data["r"] = int(self.ruled[index])
        if self.held[index]:
            data["k"] = 1
        return data


    def explanations_json(self, start: int, stop: int) -> list[str]:
        """``explanation(i)`` as compact JSON for clients ``start``…``stop`` at once."""
        return self.explanations_json_at(np.arange(start, stop))

    def explanations_json_at(self, rows: np.ndarray) -> list[str]:
        """``explanation(i)`` as compact JSON for the clients at positions ``rows`` at once: the arrays are
        picked and rounded per batch, leaving Python only the string assembly (a million clients per run)."""
        import json

        k = len(self.feature_names)
        rows = np.asarray(rows, dtype=np.int64)
        idx = self.contrib_index[rows]
        b = rows.size
        if k and idx.size:
            raw = np.column_stack([self.matrix.columns[name].values[rows] for name in self.feature_names])
            miss = np.column_stack([self.matrix.columns[name].missing[rows] for name in self.feature_names])
            safe = np.where(idx < 0, 0, idx)
            picked = np.take_along_axis(raw, safe, axis=1).round(4)
            picked_missing = np.take_along_axis(miss, safe, axis=1)
            contrib = self.contrib_value[rows].round(4)
        else:
            picked = picked_missing = contrib = np.zeros((b, 0))
        # Each contribution slot's text for the whole batch, column by column ("" where the slot is empty), then
        # one join per client: a loop over clients and their slots cost 12 µs a client (9 s of a million).
        prefix = [f"[{json.dumps(n)}," for n in self.feature_names]
        slots = [
            [prefix[j] + ("null" if m else v) + "," + c + "]" if j >= 0 else ""
             for j, v, m, c in zip(idx[:, s].tolist(), map(repr, picked[:, s].tolist()),
                                   picked_missing[:, s].tolist(), map(repr, contrib[:, s].tolist()), strict=True)]
            for s in range(picked.shape[1])
        ]
        tails = [(f'],"r":{r}' if r >= 0 else "]") + (',"k":1}' if kept else "}")
                 for r, kept in zip(self.ruled[rows].tolist(), self.held[rows].tolist(), strict=True)]
        out = ['{"c":[' + ",".join([x for x in items if x]) + tail
               for *items, tail in zip(*slots, tails, strict=True)] if slots else ['{"c":[' + t for t in tails]
        reason_names = list(self.reasons)
        if reason_names:  # the few clients without enough evidence: the general path
            reason_mask = np.column_stack([self.reasons[r][rows] for r in reason_names]).any(axis=1)
            for row in np.flatnonzero(reason_mask).tolist():
                out[row] = json.dumps(self.explanation(int(rows[row])), separators=(",", ":"), ensure_ascii=False)
        return out

    def fingerprints(self) -> np.ndarray:
        """The explanation's numbers of every client (n × ``changes.WIDTH``, float64): which features it
        names, their values and contributions, the rule, the missing-evidence reasons (a code per reason),
        the months of history and the completeness it quotes. ``changes.unchanged`` compares them."""
        import zlib

        from bcrm.segmentation import changes

        n = self.population.size
        out = np.full((n, changes.WIDTH), np.nan)
        top = changes.TOP
        idx = np.full((n, top), -1, dtype=np.int64)
        width = min(top, self.contrib_index.shape[1] if self.contrib_index.ndim == 2 else 0)
        if width:
            idx[:, :width] = self.contrib_index[:, :width]
        out[:, 0:top] = idx
        for slot in range(width):
            j = idx[:, slot]
            values = np.full(n, np.nan)
            for f, name in enumerate(self.feature_names):
                pick = j == f
                if pick.any():
                    column = self.matrix.columns[name]
                    values[pick] = np.where(column.missing[pick], np.nan, column.values[pick])
            out[:, top + slot] = values
            out[:, 2 * top + slot] = np.where(j >= 0, self.contrib_value[:, slot], np.nan)
        out[:, 3 * top] = self.ruled
        code = np.zeros(n, dtype=np.int64)
        for reason, mask in self.reasons.items():
            code ^= np.where(mask, zlib.crc32(reason.encode()) & 0xFFFFF, 0)
        out[:, 3 * top + 1] = code
        if "history" in self.reasons:
            months = self.matrix.columns.get("history_months")
            if months is not None:
                short = self.reasons["history"] & ~months.missing
                out[short, 3 * top + 2] = months.values[short]
        if "completeness" in self.reasons:
            thin = self.reasons["completeness"]
            out[thin, 3 * top + 3] = self.completeness[thin]
        return out


def _f(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def feature_names_for(criterion) -> list[str]:
    names = [t["feature"] for t in criterion.features]
    names += list(criterion.required_features)
    names += [r["feature"] for r in criterion.rules]
    names += ["history_months", VALUE_MEASURE]
    if criterion.outcome_feature:
        names.append(criterion.outcome_feature)
    return list(dict.fromkeys(names))


def classify(
    criterion,
    *,
    as_of: dt.date,
    previous_engine: dict[int, str] | LabelMap | None = None,
    previous_current: dict[int, str] | LabelMap | None = None,
    overrides: dict[int, str] | None = None,
    method: str | None = None,
    params: dict[str, Any] | None = None,
    population: Population | None = None,
    with_stability: bool = True,
    with_comparison: bool = True,
    cached_features: bool = False,
    features: FeatureMatrix | None = None,
) -> Outcome:
    """Classify every client on ``criterion``'s dimension as of ``as_of``.

    ``previous_engine`` (org id → the engine label of the last run) feeds hysteresis;
    ``previous_current`` (org id → the label users saw) is what migrations are counted against;
    ``overrides`` (org id → label) win over the engine. ``features`` are the criterion's features when the
    caller computed them already (the incremental run: ``feature_store``), for ``population``.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    dimension = criterion.dimension
    method = method or criterion.method
    params = dict(criterion.params if params is None else params)
    pop = population if population is not None else load_population(as_of)
    n = pop.size
    names = feature_names_for(criterion)
    # Previews (dry runs) may reuse the features of the last quarter of an hour; a real run refreshes them.
    if features is not None:
        matrix, cache_age = FeatureMatrix(pop, {n: features.columns[n] for n in names}, features.queries), None
    else:
        matrix, cache_age = compute_features_cached(names, pop, refresh=not cached_features)
    timings["features"] = time.perf_counter() - clock

    clock = time.perf_counter()
    columns = {name: (fv.values, fv.missing) for name, fv in matrix.columns.items()}
    scored = score(columns, criterion.features)
    history = matrix.columns["history_months"]
    ok, reasons = evidence(
        columns, required=criterion.required_features, completeness=scored.completeness,
        min_completeness=criterion.min_completeness,
        history_months=np.where(history.missing, np.nan, history.values),
        min_history_months=criterion.min_history_months,
    )
    ruled, rule_upper = _rules(criterion, columns, n)
    classifiable = ok & (ruled < 0) & ~np.isnan(scored.score)
    sub_scores = scored.score[classifiable]
    outcome_arr = None
    if criterion.outcome_feature:
        out_fv = matrix.columns[criterion.outcome_feature]
        outcome_arr = (np.nan_to_num(out_fv.values[classifiable]) > 0).astype(np.int8)
    costs = None
    result = splits.split(method, sub_scores, outcome=outcome_arr if method == "information_gain" else None,
                          costs=costs, **params)
    timings["split"] = time.perf_counter() - clock

    clock = time.perf_counter()
    up, low = upper_label(dimension), lower_label(dimension)
    engine, held = _engine_labels(criterion, pop, previous_engine, method, params, result, sub_scores,
                                  classifiable, ruled, rule_upper, up, low)
    label, overridden, previous = _labels_seen(engine, pop, overrides, previous_current)
    timings["labels"] = time.perf_counter() - clock

    clock = time.perf_counter()
    stability = _stability(n, classifiable, sub_scores, method, params, outcome_arr, costs) if with_stability \
        else np.full(n, np.nan)
    timings["stability"] = time.perf_counter() - clock

    clock = time.perf_counter()
    contrib_index, contrib_value = all_contributions(scored, top=3)
    feature_names = list(scored.transformed)
    value = matrix.columns[VALUE_MEASURE]
    known_value = np.where(value.missing, 0.0, value.values)
    diagnostics = _diagnostics(criterion, result, matrix, names, scored, reasons, label, up, low, known_value,
                               ruled, held, classifiable, cache_age)
    comparison: list[dict[str, Any]] = []
    if with_comparison and sub_scores.size:
        comparison = _comparison(method, params, sub_scores, outcome_arr, known_value[classifiable],
                                 diagnostics["portfolio_value"])
    timings["explain"] = time.perf_counter() - clock
    outcome = Outcome(
        dimension=dimension, criterion=criterion, population=pop, method=method, params=params,
        threshold=_f(result.threshold) if result.threshold is not None else None, diagnostics=diagnostics,
        score=scored.score, completeness=scored.completeness, engine_label=engine, label=label,
        overridden=overridden, held=held, ruled=ruled, stability=stability, previous=previous, reasons=reasons,
        contrib_index=contrib_index, contrib_value=contrib_value, feature_names=feature_names, matrix=matrix,
        comparison=comparison, timings=timings,
    )
    outcome.diagnostics["near_line"] = outcome.near_line(20)
    return outcome


def _rules(criterion, columns: dict[str, tuple[np.ndarray, np.ndarray]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The criterion's rules, first match wins: (index of the rule that placed each client, −1 for none;
    placed in the upper class by its rule)."""
    ruled = np.full(n, -1, dtype=np.int64)
    rule_upper = np.zeros(n, dtype=bool)
    for i, rule in enumerate(criterion.rules):
        values, missing = columns[rule["feature"]]
        hit = rule_mask(values, missing, rule["op"], float(rule["value"])) & (ruled < 0)
        ruled[hit] = i
        if rule["label"] == "upper":
            rule_upper |= hit
    return ruled, rule_upper


def _stability(n: int, classifiable: np.ndarray, sub_scores: np.ndarray, method: str, params: dict[str, Any],
               outcome_arr: np.ndarray | None, costs: Any) -> np.ndarray:
    """How stable each classified client's label is under resampling (NaN for the others, or when the method
    cannot run on the resamples)."""
    stability = np.full(n, np.nan)
    if sub_scores.size:
        try:
            stability[classifiable] = label_stability(sub_scores, method, params=params, outcome=outcome_arr,
                                                      costs=costs)
        except splits.SplitError:
            pass
    return stability


@dataclass(frozen=True)
class LabelMap:
    """Client id → label as two arrays: ``ids`` (int64) and ``labels`` (objects, the few label texts shared).
    The last run's labels of a million clients as a dict held about 130 MB (an int and a str object per client
    besides the table); as arrays 16 MB (issue 19)."""

    ids: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.size)

    @classmethod
    def of(cls, mapping: dict[int, str]) -> LabelMap:
        return cls(np.fromiter(mapping.keys(), dtype=np.int64, count=len(mapping)),
                   np.array(list(mapping.values()), dtype=object))


def _positions(mapping: dict[int, str] | LabelMap, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions in ``ids``, labels) of the entries of ``mapping`` (org id → label) whose client is in ``ids``."""
    if not isinstance(mapping, LabelMap):
        mapping = LabelMap.of(mapping)
    inside = np.isin(mapping.ids, ids)
    return np.searchsorted(ids, mapping.ids[inside]), mapping.labels[inside]


def _engine_labels(criterion, pop: Population, previous_engine: dict[int, str] | LabelMap | None, method: str,
                   params: dict[str, Any], result: splits.SplitResult, sub_scores: np.ndarray,
                   classifiable: np.ndarray, ruled: np.ndarray, rule_upper: np.ndarray, up: str, low: str
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The engine's label of every client (the split, held by hysteresis against the last run's labels, the
    rules, insufficient evidence) and whether hysteresis held it."""
    n = pop.size
    prev = np.full(n, -1, dtype=np.int8)
    if previous_engine:
        pos, codes = _positions(previous_engine, pop.ids)
        prev[pos] = np.where(codes == up, 1, np.where(codes == low, 0, -1))
    sub_prev = prev[classifiable]
    margin = float(criterion.hysteresis_margin or 0.0)
    held_sub = np.zeros(sub_scores.size, dtype=bool)
    sub_upper = result.upper
    # For `fixed` the line is given even when nobody reaches it: hysteresis still holds clients near it.
    line = result.threshold if result.threshold is not None else (
        float(params["threshold"]) if method == "fixed" and "threshold" in params else None)
    if margin > 0 and line is not None:
        sub_upper = splits.apply_hysteresis(sub_scores, result.upper, line, margin, sub_prev)
        held_sub = sub_upper != result.upper
    engine = np.full(n, INSUFFICIENT, dtype=object)
    engine[classifiable] = np.where(sub_upper, up, low)
    engine[ruled >= 0] = np.where(rule_upper[ruled >= 0], up, low)
    held = np.zeros(n, dtype=bool)
    held[classifiable] = held_sub
    return engine, held


def _labels_seen(engine: np.ndarray, pop: Population, overrides: dict[int, str] | None,
                 previous_current: dict[int, str] | LabelMap | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the label users see: the engine's unless overridden; overridden; the label they saw before, "" for
    none)."""
    n = pop.size
    label = engine.copy()
    overridden = np.zeros(n, dtype=bool)
    if overrides:
        pos, codes = _positions(overrides, pop.ids)
        label[pos] = codes
        overridden[pos] = True

    previous = np.full(n, "", dtype=object)
    if previous_current:
        pos, codes = _positions(previous_current, pop.ids)
        previous[pos] = codes
    return label, overridden, previous


def _diagnostics(criterion, result: splits.SplitResult, matrix: FeatureMatrix, names: list[str], scored,
                 reasons: dict[str, np.ndarray], label: np.ndarray, up: str, low: str, known_value: np.ndarray,
                 ruled: np.ndarray, held: np.ndarray, classifiable: np.ndarray, cache_age: float | None
                 ) -> dict[str, Any]:
    """The split's diagnostics and the run's own: portfolio value above the line, why clients are
    insufficient, missing features, the models' notes, the histogram and the Lorenz curve."""
    n = label.size
    diagnostics = dict(result.diagnostics)
    total_value = float(known_value.sum())
    diagnostics["portfolio_value"] = total_value
    diagnostics["portfolio_value_upper"] = float(known_value[label == up].sum())
    diagnostics["portfolio_value_share_upper"] = (
        diagnostics["portfolio_value_upper"] / total_value if total_value > 0 else None)
    diagnostics["insufficient_reasons"] = {reason: int(mask.sum()) for reason, mask in reasons.items()}
    used = dict.fromkeys([t["feature"] for t in criterion.features] + list(criterion.required_features))
    diagnostics["missing_by_feature"] = {name: int(matrix.columns[name].missing.sum()) for name in used}
    diagnostics["mean_completeness"] = float(np.nan_to_num(scored.completeness).mean()) if n else None
    diagnostics["ruled"] = int((ruled >= 0).sum())
    diagnostics["held_by_hysteresis"] = int(held.sum())
    diagnostics["classified_by_method"] = int(classifiable.sum())
    diagnostics["features_cached_seconds_ago"] = None if cache_age is None else round(cache_age)
    from bcrm.segmentation.model_features import LAST_NOTES

    notes = {family: note for family, note in LAST_NOTES.items()
             if any(FEATURES[name].family == family for name in names)}
    if notes:
        diagnostics["model_notes"] = {family: str(note.get("message", "")) for family, note in notes.items()}
    diagnostics["histogram"] = _histogram(scored.score, label, up, low)
    diagnostics["lorenz"] = _lorenz(scored.score, known_value, classifiable | (ruled >= 0))
    return diagnostics


def _comparison(method: str, params: dict[str, Any], sub_scores: np.ndarray, outcome_arr: np.ndarray | None,
                classified_value: np.ndarray, total_value: float) -> list[dict[str, Any]]:
    """The method in use with its own parameters, beside the others at their usual ones."""
    comparison: list[dict[str, Any]] = []
    for other in splits.compare_methods(sub_scores, outcome=outcome_arr, params_by_method={method: params}):
        comparison.append({
            "method": other.method, "threshold": other.threshold,
            "n_upper": other.diagnostics.get("n_upper"),
            "share_upper": other.diagnostics.get("share_upper"),
            "value_share_upper": other.diagnostics.get("value_share_upper"),
            "portfolio_value_share_upper": (
                float(classified_value[other.upper].sum()) / total_value if total_value > 0 else None),
            "params": params if other.method == method else dict(splits.DEFAULT_PARAMS.get(other.method, {})),
            "in_use": other.method == method,
        })
    return comparison


def _histogram(score: np.ndarray, label: np.ndarray, up: str, low: str, bins: int = 30) -> dict[str, Any]:
    """Score distribution by label, stored on the run so pages never re-read a million scores."""
    known = ~np.isnan(score)
    if not known.any():
        return {"edges": [], "upper": [], "lower": []}
    lo, hi = float(score[known].min()), float(score[known].max())
    if hi == lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    upper, _ = np.histogram(score[known & (label == up)], bins=edges)
    lower, _ = np.histogram(score[known & (label == low)], bins=edges)
    return {"edges": [round(float(e), 6) for e in edges], "upper": upper.tolist(), "lower": lower.tolist()}


def _lorenz(score: np.ndarray, value: np.ndarray, mask: np.ndarray, points: int = 50) -> list[list[float]]:
    """Share of clients (best scores first) against the share of portfolio value they hold."""
    s = np.nan_to_num(score[mask], nan=-np.inf)
    v = value[mask]
    total = float(v.sum())
    if s.size == 0 or total <= 0:
        return []
    order = np.argsort(-s, kind="stable")
    cum = np.cumsum(v[order]) / total
    idx = np.unique(np.linspace(0, s.size - 1, min(points, s.size)).round().astype(int))
    return [[0.0, 0.0]] + [[round(float((i + 1) / s.size), 4), round(float(cum[i]), 4)] for i in idx]


def today() -> dt.date:
    return timezone.localdate()


def feature_label(name: str) -> str:
    spec = FEATURES.get(name)
    return str(spec.label) if spec else name
