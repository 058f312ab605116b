"""The expert scorecard: points from a configuration compliance can edit (rating grade bands, KYC state and age,
sanctions screening, declined-or-withdrawn share, country-risk category)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bcrm.stats import ModelError, gettext_noop

#: The rating scale of bcrm: 1 = AAA … 22 = D.
RATING_GRADES = ("AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-", "BB+", "BB", "BB-",
                 "B+", "B", "B-", "CCC+", "CCC", "CCC-", "CC", "C", "D")
KYC_STATES = ("verified", "pending", "not_started", "expired", "rejected")


#: The default expert configuration for project finance (higher points = lower risk). Bands of a numeric
#: input are ``[from, to)`` with ``to`` ``None`` for "and above"; rating bands are inclusive grade ranges
#: that must cover 1–22 once. ``missing`` is the points of a client without that input. A sanctions hit
#: scores ``sanctions.hit`` points; the risk criterion's knock-out rule puts such a client in high risk
#: whatever its points.
DEFAULT_EXPERT_CONFIG: dict[str, Any] = {
    "rating": {
        "bands": [
            {"from": 1, "to": 4, "points": 40},       # AAA … AA-
            {"from": 5, "to": 7, "points": 34},       # A+ … A-
            {"from": 8, "to": 10, "points": 26},      # BBB+ … BBB- (investment grade)
            {"from": 11, "to": 13, "points": 15},     # BB+ … BB-
            {"from": 14, "to": 16, "points": 6},      # B+ … B-
            {"from": 17, "to": 19, "points": 0},      # CCC+ … CCC-
            {"from": 20, "to": 22, "points": -20},    # CC, C, D
        ],
        "missing": 10,
    },
    "kyc_state": {
        "points": {"verified": 15, "pending": 5, "not_started": 0, "expired": -5, "rejected": -30},
        "missing": 0,
    },
    "kyc_age_months": {                                # months since the last KYC review
        "bands": [{"from": 0, "to": 12, "points": 5}, {"from": 12, "to": 24, "points": 0},
                  {"from": 24, "to": None, "points": -5}],
        "missing": -5,
    },
    "sanctions": {"hit": -100, "clear": 0, "missing": 0},
    "withdrawn_share": {                               # declined or withdrawn share of commitments, 0–1
        "bands": [{"from": 0, "to": 0.1, "points": 10}, {"from": 0.1, "to": 0.25, "points": 5},
                  {"from": 0.25, "to": 0.5, "points": 0}, {"from": 0.5, "to": None, "points": -10}],
        "missing": 0,
    },
    "country_risk": {                                  # OECD-style category 0 (lowest) … 7
        "points": {"0": 15, "1": 12, "2": 9, "3": 6, "4": 3, "5": 0, "6": -5, "7": -10},
        "missing": 0,
    },
}

#: Which input of ``features`` each component of the expert configuration reads.
EXPERT_INPUTS: dict[str, str] = {
    "rating": "rating_score", "kyc_state": "kyc_state", "kyc_age_months": "kyc_age_months",
    "sanctions": "sanctions_flag", "withdrawn_share": "withdrawn_share", "country_risk": "country_risk",
}


def _points_value(value: Any, where: str, path: str = "config") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise ModelError(gettext_noop("%(where)s must be a number of points."), where=where, path=path)
    return float(value)


def _numeric_bands(bands: Any, where: str, *, integer: bool = False,
                   path: str = "config") -> list[tuple[float, float, float]]:
    if not isinstance(bands, list) or not bands:
        raise ModelError(gettext_noop("%(where)s needs a list of bands with from, to and points."), where=where,
                         path=path)
    out = []
    for i, band in enumerate(bands):
        if not isinstance(band, Mapping) or set(band) != {"from", "to", "points"}:
            raise ModelError(gettext_noop("%(where)s band %(index)d needs exactly from, to and points."),
                             where=where, index=i + 1, path=f"{path}.{i}")
        lo = _points_value(band["from"], f"{where} band {i + 1} from", f"{path}.{i}.from")
        hi = math.inf if band["to"] is None else _points_value(band["to"], f"{where} band {i + 1} to",
                                                               f"{path}.{i}.to")
        if not hi > lo and not (integer and hi == lo):
            raise ModelError(gettext_noop("%(where)s band %(index)d must end after it starts."),
                             where=where, index=i + 1, path=f"{path}.{i}")
        out.append((lo, hi, _points_value(band["points"], f"{where} band {i + 1} points", f"{path}.{i}.points")))
    out.sort()
    for (_lo1, hi1, _), (lo2, _hi2, _) in itertools.pairwise(out):
        if (integer and lo2 != hi1 + 1) or (not integer and lo2 != hi1):
            raise ModelError(gettext_noop("%(where)s bands must follow each other without gaps or overlaps "
                                          "(one ends at %(end)s, the next starts at %(start)s)."),
                             where=where, end=f"{hi1:g}", start=f"{lo2:g}", path=path)
    return out


def validate_expert_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check an expert configuration; returns it normalised (bands sorted) or raises :class:`ModelError`,
    whose ``params["path"]`` names the field at fault (``config.rating.bands.2.points``).

    A table that cannot tell clients apart is refused: it needs at least one part, and sanctions screening
    in which a hit scores below a clear result (an empty table scored everyone, sanctioned or not, 50/100).
    """
    if not isinstance(config, Mapping):
        raise ModelError(gettext_noop("The expert scorecard configuration must be a mapping."), path="config")
    if not config:
        raise ModelError(gettext_noop("The expert scorecard needs at least one part (known: %(known)s)."),
                         known=", ".join(EXPERT_INPUTS), path="config")
    unknown = set(config) - set(EXPERT_INPUTS)
    if unknown:
        raise ModelError(gettext_noop("Unknown parts of the expert scorecard: %(names)s (known: %(known)s)."),
                         names=", ".join(sorted(unknown)), known=", ".join(EXPERT_INPUTS),
                         path=f"config.{sorted(unknown)[0]}")
    out: dict[str, Any] = {}
    for part, spec in config.items():
        at = f"config.{part}"
        if not isinstance(spec, Mapping):
            raise ModelError(gettext_noop("%(where)s must be a mapping."), where=part, path=at)
        missing = _points_value(spec.get("missing", 0), f"{part} missing", f"{at}.missing")
        if part == "rating":
            bands = _numeric_bands(spec.get("bands"), part, integer=True, path=f"{at}.bands")
            if bands[0][0] != 1 or bands[-1][1] != 22 or any(not float(v).is_integer()
                                                             for lo, hi, _ in bands for v in (lo, hi)):
                raise ModelError(gettext_noop("Rating bands must cover the whole grades 1 (AAA) to 22 (D)."),
                                 path=f"{at}.bands")
            out[part] = {"bands": bands, "missing": missing}
        elif part in ("kyc_age_months", "withdrawn_share"):
            bands = _numeric_bands(spec.get("bands"), part, path=f"{at}.bands")
            out[part] = {"bands": bands, "missing": missing}
        elif part == "sanctions":
            hit = _points_value(spec.get("hit"), "sanctions hit", f"{at}.hit")
            clear = _points_value(spec.get("clear", 0), "sanctions clear", f"{at}.clear")
            if not hit < clear:
                raise ModelError(gettext_noop("A sanctions hit must score fewer points (more risk) than a clear "
                                              "screening."), path=f"{at}.hit")
            out[part] = {"hit": hit, "clear": clear, "missing": missing}
        else:
            table = spec.get("points")
            if not isinstance(table, Mapping) or not table:
                raise ModelError(gettext_noop("%(where)s needs points per value."), where=part, path=f"{at}.points")
            if part == "kyc_state":
                bad = set(table) - set(KYC_STATES)
                if bad:
                    raise ModelError(gettext_noop("Unknown KYC states: %(names)s (known: %(known)s)."),
                                     names=", ".join(sorted(bad)), known=", ".join(KYC_STATES), path=f"{at}.points")
            else:
                if set(map(str, table)) != {str(i) for i in range(8)}:
                    raise ModelError(gettext_noop("Country risk points must be given for each category 0 to 7."),
                                     path=f"{at}.points")
            out[part] = {"points": {str(k): _points_value(v, f"{part} {k}", f"{at}.points.{k}")
                                    for k, v in table.items()},
                         "missing": missing}
    if "sanctions" not in out:
        raise ModelError(gettext_noop("The expert scorecard must score sanctions screening (the sanctions part)."),
                         path="config.sanctions")
    return out


@dataclass(frozen=True, eq=False)
class ExpertResult:
    """Per-client expert points: the total, each component's points and which inputs were missing."""

    points: np.ndarray
    components: dict[str, np.ndarray]
    missing: dict[str, np.ndarray]
    minimum: float                   # the lowest and highest total the configuration can give
    maximum: float

    @property
    def scaled(self) -> np.ndarray:
        """Points mapped to 0–100 between the configuration's lowest and highest possible total."""
        span = self.maximum - self.minimum
        return np.full(self.points.size, 50.0) if span <= 0 else 100 * (self.points - self.minimum) / span


def _band_points(values: np.ndarray, bands: list[tuple[float, float, float]], missing: float, *,
                 integer: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Points of the band holding each value; a missing value, or one outside every band, gets
    ``missing`` and is flagged in the returned mask."""
    out = np.full(values.size, missing)
    covered = np.zeros(values.size, dtype=bool)
    for lo, hi, pts in bands:
        inside = (values >= lo) & ((values <= hi) if integer else (values < hi))
        out[inside] = pts
        covered |= inside
    return out, ~covered


def _float_input(values: Any, n: int, name: str) -> np.ndarray:
    arr = np.array([np.nan if v is None else v for v in np.asarray(values, dtype=object)], dtype=np.float64) \
        if not isinstance(values, np.ndarray) or values.dtype == object else values.astype(np.float64)
    if arr.shape != (n,):
        raise ModelError(gettext_noop("Input %(name)s must have one value per client (%(n)d)."), name=name, n=n)
    return arr


def expert_points(config: Mapping[str, Any] | None, features: Mapping[str, Any]) -> ExpertResult:
    """Expert points of each client from ``features`` (name → one value per client):

    * ``rating_score`` — grade 1 (AAA) … 22 (D), NaN when unrated;
    * ``kyc_state`` — verified / pending / not_started / expired / rejected (None when unknown);
    * ``kyc_age_months`` — months since the last KYC review;
    * ``sanctions_flag`` — 1 for a screening hit, 0 clear;
    * ``withdrawn_share`` — declined or withdrawn share of commitments, 0–1;
    * ``country_risk`` — OECD-style category 0–7.

    An input absent from ``features`` counts as missing for every client. ``config`` defaults to
    :data:`DEFAULT_EXPERT_CONFIG`; only the parts it names are scored."""
    cfg = validate_expert_config(DEFAULT_EXPERT_CONFIG if config is None else config)
    sizes = {len(np.asarray(v, dtype=object)) for v in features.values()}
    if len(sizes) > 1:
        raise ModelError(gettext_noop("Every input must have one value per client; the lengths differ."))
    n = sizes.pop() if sizes else 0
    components: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    low = high = 0.0
    for part, spec in cfg.items():
        name = EXPERT_INPUTS[part]
        present = name in features
        if part in ("rating", "kyc_age_months", "withdrawn_share"):
            values = _float_input(features[name], n, name) if present else np.full(n, np.nan)
            pts, absent = _band_points(values, spec["bands"], spec["missing"], integer=part == "rating")
            options = [b[2] for b in spec["bands"]]
        elif part == "sanctions":
            values = _float_input(features[name], n, name) if present else np.full(n, np.nan)
            absent = np.isnan(values)
            pts = np.where(absent, spec["missing"], np.where(values > 0, spec["hit"], spec["clear"]))
            options = [spec["hit"], spec["clear"]]
        else:
            given = features[name] if present else None
            table = spec["points"]
            if isinstance(given, np.ndarray) and given.dtype.kind in "fU" and given.shape == (n,):
                # numbers or text in an array: each distinct value looked up once
                distinct, inverse = np.unique(given, return_inverse=True)
                keys = [_category_key(v) for v in distinct.tolist()]
                absent_d = np.array([k is None or k not in table for k in keys], dtype=bool)
                pts_d = np.array([spec["missing"] if a else table[k] for k, a in zip(keys, absent_d, strict=True)],
                                 dtype=np.float64)
                inverse = inverse.reshape(-1)
                absent, pts = absent_d[inverse], pts_d[inverse]
            else:
                raw = np.asarray(given, dtype=object) if present else np.full(n, None, dtype=object)
                if raw.shape != (n,):
                    raise ModelError(gettext_noop("Input %(name)s must have one value per client (%(n)d)."),
                                     name=name, n=n)
                keys = [_category_key(v) for v in raw]
                absent = np.array([k is None or k not in table for k in keys], dtype=bool)
                pts = np.array([spec["missing"] if a else table[k] for k, a in zip(keys, absent, strict=True)],
                               dtype=np.float64)
            options = list(table.values())
        options.append(spec["missing"])
        low += min(options)
        high += max(options)
        components[part] = pts.astype(np.float64)
        missing[part] = absent
    total = np.sum(list(components.values()), axis=0) if components else np.zeros(n)
    return ExpertResult(points=np.asarray(total, dtype=np.float64), components=components, missing=missing,
                        minimum=low, maximum=high)


def _category_key(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()
