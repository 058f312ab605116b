"""Relationship strength: one documented formula for the relationship dimension.

Pure NumPy (no Django). Five components, each a non-negative number per client:

* **depth** — recency-weighted interaction depth: Σ over the client's interactions of
  ``kind_weights[kind] · 0.5^(months_ago / half_life_months)``. A senior-level meeting weighs more than
  a meeting, which weighs more than a call or an e-mail; an interaction ``half_life_months`` ago counts
  half as much as one today (:func:`interaction_depth`);
* **joint_deals** — number of deals done together;
* **years** — years of relationship;
* **seniority** — seniority of the contacts reached: Σ over the client's contacts of
  ``seniority_weights[level]`` (board > C-level > senior management > …) (:func:`contact_seniority`);
* **frameworks** — number of framework agreements (cooperation agreements, MoUs) in force.

Each component is mapped to 0–1 by a saturating curve ``s = 1 − exp(−value / saturation)`` (a value equal
to its ``saturation`` gives 0.63, three times it 0.95: the tenth joint deal adds less than the first),
and the strength is their weighted mean on a 0–100 scale:

    strength = 100 · Σ_k weights[k]·s_k / Σ_k weights[k]       (over the components the client has)

A missing component (NaN, or an input not given) is left out of both sums rather than counted as 0; the
share of the weight the client has is its ``completeness``. Every weight lives in the configuration
(:data:`DEFAULT_RELATIONSHIP_CONFIG`), checked by :func:`validate_relationship_config`.

Properties (tested): 0 ≤ strength ≤ 100; more of any component never lowers the strength; an extra
interaction, a more recent one or a more senior kind never lowers the depth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bcrm.stats import ModelError, gettext_noop

__all__ = ["COMPONENTS", "DEFAULT_RELATIONSHIP_CONFIG", "RelationshipResult", "interaction_depth",
           "contact_seniority", "relationship_strength", "validate_relationship_config"]

COMPONENTS = ("depth", "joint_deals", "years", "seniority", "frameworks")

DEFAULT_RELATIONSHIP_CONFIG: dict[str, Any] = {
    # an interaction this many months ago counts half as much as one today
    "half_life_months": 12.0,
    # depth points of one interaction of each kind (bcrm.engagement InteractionKind values)
    # (every kind: a playbook's completed step logs a plan review, a KYC or due-diligence review, a data
    # request; an unknown kind would stop the whole relationship dimension)
    "kind_weights": {"senior_meeting": 5.0, "plan_review": 3.0, "meeting": 2.0, "visit": 2.0,
                     "due_diligence": 1.0, "event": 1.0, "call": 1.0, "report_sent": 0.5, "kyc_review": 0.5,
                     "data_request": 0.5, "email": 0.25, "survey_sent": 0.25},
    # points of one contact at each level (bcrm.parties Seniority values)
    "seniority_weights": {"board": 3.0, "c_level": 2.0, "senior": 1.0, "middle": 0.3, "staff": 0.1},
    # the value of each component that scores 1 − 1/e ≈ 0.63 of its maximum
    "saturation": {"depth": 20.0, "joint_deals": 3.0, "years": 5.0, "seniority": 5.0, "frameworks": 1.0},
    # the weight of each component in the strength
    "weights": {"depth": 0.30, "joint_deals": 0.25, "years": 0.15, "seniority": 0.20, "frameworks": 0.10},
}


def _positive(value: Any, where: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise ModelError(gettext_noop("%(where)s must be a number."), where=where)
    if allow_zero and float(value) < 0:
        raise ModelError(gettext_noop("%(where)s must not be negative."), where=where)
    if not allow_zero and float(value) <= 0:
        raise ModelError(gettext_noop("%(where)s must be above 0."), where=where)
    return float(value)


def validate_relationship_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The configuration merged over the defaults and checked; raises :class:`ModelError` when a weight is
    negative or not a number, a saturation or the half-life is not above 0, a part is unknown, or every
    component weight is 0."""
    merged: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULT_RELATIONSHIP_CONFIG.items()}
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise ModelError(gettext_noop("The relationship configuration must be a mapping."))
    unknown = set(config) - set(DEFAULT_RELATIONSHIP_CONFIG)
    if unknown:
        raise ModelError(gettext_noop("Unknown parts of the relationship configuration: %(names)s."),
                         names=", ".join(sorted(unknown)))
    for key, value in config.items():
        if isinstance(merged[key], dict):
            if not isinstance(value, Mapping):
                raise ModelError(gettext_noop("%(where)s must be a mapping."), where=key)
            if key in ("saturation", "weights") and set(value) - set(COMPONENTS):
                raise ModelError(gettext_noop("Unknown components in %(where)s: %(names)s (known: %(known)s)."),
                                 where=key, names=", ".join(sorted(set(value) - set(COMPONENTS))),
                                 known=", ".join(COMPONENTS))
            merged[key] = {**merged[key], **value} if key in ("saturation", "weights") else dict(value)
        else:
            merged[key] = value
    merged["half_life_months"] = _positive(merged["half_life_months"], "half_life_months")
    for key in ("kind_weights", "seniority_weights", "weights"):
        merged[key] = {str(k): _positive(v, f"{key} {k}", allow_zero=True) for k, v in merged[key].items()}
    merged["saturation"] = {k: _positive(v, f"saturation {k}") for k, v in merged["saturation"].items()}
    if sum(merged["weights"].values()) <= 0:
        raise ModelError(gettext_noop("At least one component needs a weight above 0."))
    return merged


def _codes(labels: Any, weights: Mapping[str, float], what: str) -> np.ndarray:
    """The weight of each label; unknown labels raise ModelError."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ModelError(gettext_noop("%(what)s must be a flat list, one per row."), what=what)
    uniq, inverse = np.unique(arr.astype(str), return_inverse=True)
    unknown = [u for u in uniq if u not in weights]
    if unknown:
        raise ModelError(gettext_noop("Unknown %(what)s: %(names)s (known: %(known)s)."), what=what,
                         names=", ".join(unknown[:10]), known=", ".join(weights))
    return np.array([weights[u] for u in uniq], dtype=np.float64)[inverse.reshape(-1)]


def _clients(client: Any, n_clients: int) -> np.ndarray:
    idx = np.asarray(client)
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
        raise ModelError(gettext_noop("Client positions must be whole numbers, one per row."))
    if idx.size and (idx.min() < 0 or idx.max() >= n_clients):
        raise ModelError(gettext_noop("Client positions must be from 0 to %(last)d."), last=n_clients - 1)
    return idx.astype(np.intp)


def interaction_depth(client: Any, months_ago: Any, kind: Any, n_clients: int, *,
                      config: Mapping[str, Any] | None = None) -> np.ndarray:
    """Recency-weighted interaction depth per client, from one row per interaction: the client's position
    (0 … n_clients−1), how many months ago it happened (future dates count as now) and its kind."""
    cfg = validate_relationship_config(config)
    idx = _clients(client, n_clients)
    months = np.asarray(months_ago, dtype=np.float64)
    if months.shape != idx.shape or not np.all(np.isfinite(months)):
        raise ModelError(gettext_noop("Each interaction needs a finite number of months ago."))
    weight = _codes(kind, cfg["kind_weights"], "interaction kinds") if idx.size else np.zeros(0)
    if weight.shape != idx.shape:
        raise ModelError(gettext_noop("Each interaction needs a kind."))
    decay = np.exp2(-np.maximum(months, 0.0) / cfg["half_life_months"])
    return np.bincount(idx, weights=weight * decay, minlength=n_clients).astype(np.float64)


def contact_seniority(client: Any, seniority: Any, n_clients: int, *,
                      config: Mapping[str, Any] | None = None) -> np.ndarray:
    """Seniority of the contacts reached per client, from one row per contact (client position, level)."""
    cfg = validate_relationship_config(config)
    idx = _clients(client, n_clients)
    weight = _codes(seniority, cfg["seniority_weights"], "seniority levels") if idx.size else np.zeros(0)
    if weight.shape != idx.shape:
        raise ModelError(gettext_noop("Each contact needs a seniority level."))
    return np.bincount(idx, weights=weight, minlength=n_clients).astype(np.float64)


@dataclass(frozen=True, eq=False)
class RelationshipResult:
    """Strength 0–100 per client (NaN when every component is missing), each component on 0–1 (NaN when
    missing), the missing mask of each component and the completeness (share of weight present)."""

    strength: np.ndarray
    components: dict[str, np.ndarray]
    missing: dict[str, np.ndarray]
    completeness: np.ndarray


def relationship_strength(*, depth: Any = None, joint_deals: Any = None, years: Any = None,
                          seniority: Any = None, frameworks: Any = None,
                          config: Mapping[str, Any] | None = None) -> RelationshipResult:
    """The relationship strength of each client from per-client component values (arrays of the same
    length; NaN or ``None`` = missing). See the module docstring for the formula."""
    cfg = validate_relationship_config(config)
    given = {"depth": depth, "joint_deals": joint_deals, "years": years, "seniority": seniority,
             "frameworks": frameworks}
    arrays: dict[str, np.ndarray] = {}
    for name, values in given.items():
        if values is None:
            continue
        try:
            if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":  # numbers already: no loop
                arr = values.astype(np.float64)
            else:
                arr = np.array([np.nan if v is None else v for v in np.asarray(values, dtype=object)],
                               dtype=np.float64)
        except (TypeError, ValueError):
            raise ModelError(gettext_noop("%(name)s must be numbers."), name=name) from None
        if arr.ndim != 1:
            raise ModelError(gettext_noop("%(name)s must be a flat list, one per client."), name=name)
        if (arr[~np.isnan(arr)] < 0).any():
            raise ModelError(gettext_noop("%(name)s must not be negative."), name=name)
        arrays[name] = arr
    if not arrays:
        raise ModelError(gettext_noop("Give at least one component of the relationship strength."))
    sizes = {arr.size for arr in arrays.values()}
    if len(sizes) > 1:
        raise ModelError(gettext_noop("Every component must have one value per client; the lengths differ."))
    n = sizes.pop()
    total_weight = sum(cfg["weights"].values())
    weighted = np.zeros(n)
    present_weight = np.zeros(n)
    components: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    for name in COMPONENTS:
        arr = arrays.get(name, np.full(n, np.nan))
        absent = np.isnan(arr)
        with np.errstate(invalid="ignore"):
            s = -np.expm1(-arr / cfg["saturation"][name])
        s = np.where(np.isposinf(arr), 1.0, s)
        components[name] = np.where(absent, np.nan, s)
        missing[name] = absent
        w = cfg["weights"][name]
        weighted += np.where(absent, 0.0, w * s)
        present_weight += np.where(absent, 0.0, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        strength = np.where(present_weight > 0, 100.0 * weighted / present_weight, np.nan)
    return RelationshipResult(strength=strength, components=components, missing=missing,
                              completeness=present_weight / total_weight)
