"""What a criterion may say, checked in one place, and the defaults bcrm ships for project finance."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from django.utils.translation import gettext as _

from bcrm.core.errors import InvalidInput
from bcrm.segmentation import splits
from bcrm.segmentation.choices import Dimension, Schedule
from bcrm.segmentation.features import FEATURES
from bcrm.segmentation.scoring import DIRECTIONS, OPS, TRANSFORMS

# Defaults for project finance (see README "Segmentation"). Percentile ranks keep features with
# different units comparable; the value line is drawn at the top fifth (the 80/20 practice), the
# relationship line at the top 15 %, and the risk line where the scores break naturally in two. Each
# dimension also uses its model (bcrm.segmentation.model_features): predicted lifetime value, the expert
# risk scorecard and the relationship-strength formula, with modest weights beside the raw evidence.
DEFAULTS: dict[str, dict[str, Any]] = {
    Dimension.VALUE: {
        "features": [
            {"feature": "committed_amount", "transform": "pct_rank", "direction": "higher", "weight": 0.3},
            {"feature": "predicted_clv", "transform": "pct_rank", "direction": "higher", "weight": 0.15},
            {"feature": "fee_income", "transform": "pct_rank", "direction": "higher", "weight": 0.2},
            {"feature": "committed_amount_12m", "transform": "pct_rank", "direction": "higher", "weight": 0.15},
            {"feature": "joint_deals", "transform": "pct_rank", "direction": "higher", "weight": 0.1},
            {"feature": "repeat_rate", "transform": "raw", "direction": "higher", "weight": 0.1},
        ],
        "method": "top_share", "params": {"q": 0.2},
        "rules": [],
        "required_features": [], "min_history_months": 6, "min_completeness": 0.5,
        "hysteresis_margin": 0.02, "outcome_feature": "repeat_client",
    },
    Dimension.RISK: {
        "features": [
            {"feature": "expert_risk_score", "transform": "minmax", "direction": "higher", "weight": 0.3},
            {"feature": "rating_score", "transform": "minmax", "direction": "lower", "weight": 0.25},
            {"feature": "kyc_valid", "transform": "raw", "direction": "higher", "weight": 0.1},
            {"feature": "withdrawn_share", "transform": "minmax", "direction": "lower", "weight": 0.1},
            {"feature": "country_risk", "transform": "minmax", "direction": "lower", "weight": 0.25},
        ],
        "method": "natural_break", "params": {},
        "rules": [{"feature": "sanctions_flag", "op": "==", "value": 1, "label": "lower"}],
        # 0.7: the expert score is never missing (its table has points for missing evidence), so without
        # this a client with neither a rating nor any commitment history would still be classified.
        "required_features": ["country_risk"], "min_history_months": 0, "min_completeness": 0.7,
        "hysteresis_margin": 0.03, "outcome_feature": "",
    },
    Dimension.RELATIONSHIP: {
        "features": [
            {"feature": "relationship_strength", "transform": "minmax", "direction": "higher", "weight": 0.2},
            {"feature": "relationship_years", "transform": "pct_rank", "direction": "higher", "weight": 0.2},
            {"feature": "joint_deals", "transform": "pct_rank", "direction": "higher", "weight": 0.15},
            {"feature": "senior_contacts", "transform": "pct_rank", "direction": "higher", "weight": 0.1},
            {"feature": "senior_meetings_12m", "transform": "pct_rank", "direction": "higher", "weight": 0.15},
            {"feature": "interactions_12m", "transform": "pct_rank", "direction": "higher", "weight": 0.1},
            {"feature": "latest_nps", "transform": "minmax", "direction": "higher", "weight": 0.1},
        ],
        "method": "top_share", "params": {"q": 0.15},
        "rules": [],
        "required_features": [], "min_history_months": 12, "min_completeness": 0.6,
        "hysteresis_margin": 0.02, "outcome_feature": "repeat_client",
    },
}

SPEC_FIELDS = ("features", "method", "params", "rules", "required_features", "min_history_months",
               "min_completeness", "hysteresis_margin", "upper_name", "lower_name", "outcome_feature", "schedule")


def _number(value: Any, path: str, errors: dict[str, str], *, low: float | None = None,
            high: float | None = None) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors[path] = _("Enter a number.")
        return None
    if not math.isfinite(number) or (low is not None and number < low) or (high is not None and number > high):
        if low is not None and high is not None:
            errors[path] = _("Enter a number from %(low)s to %(high)s.") % {"low": low, "high": high}
        else:
            errors[path] = _("Enter a number of at least %(low)s.") % {"low": low}
        return None
    return number


def validate_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A criterion specification, checked and normalised; InvalidInput naming each bad field."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    clean["features"] = _clean_features(spec, errors)
    method = spec.get("method")
    clean["params"] = _clean_params(spec, method, errors)
    clean["method"] = method

    outcome = spec.get("outcome_feature") or ""
    if outcome and outcome not in FEATURES:
        errors["outcome_feature"] = _("Unknown feature: %(name)s.") % {"name": outcome}
    if method == "information_gain" and not outcome:
        errors["outcome_feature"] = _("The information-gain method needs an outcome feature.")
    clean["outcome_feature"] = outcome
    clean["rules"] = _clean_rules(spec, errors)

    required = spec.get("required_features") or []
    if not isinstance(required, list) or any(name not in FEATURES for name in required):
        errors["required_features"] = _("Required features must be known feature names.")
        required = []
    clean["required_features"] = list(dict.fromkeys(required))
    months = _number(spec.get("min_history_months", 0), "min_history_months", errors, low=0, high=600)
    clean["min_history_months"] = int(months) if months is not None else 0
    clean["min_completeness"] = _number(spec.get("min_completeness", 0), "min_completeness", errors, low=0, high=1)
    clean["hysteresis_margin"] = _number(spec.get("hysteresis_margin", 0), "hysteresis_margin", errors, low=0, high=1e12)
    for name in ("upper_name", "lower_name"):
        text = str(spec.get(name) or "").strip()
        if len(text) > 60:
            errors[name] = _("At most 60 characters.")
        clean[name] = text
    schedule = spec.get("schedule") or ""
    if schedule not in Schedule.values:
        errors["schedule"] = _("Schedule must be daily, weekly, monthly or empty.")
    clean["schedule"] = schedule
    if errors:
        raise InvalidInput(_("The criterion is not valid."), fields={k: [v] for k, v in errors.items()})
    return clean


def _clean_features(spec: dict[str, Any], errors: dict[str, str]) -> list[dict[str, Any]]:
    """The weighted feature terms, checked; problems go to ``errors``."""
    terms = spec.get("features")
    if not isinstance(terms, list) or not terms:
        errors["features"] = _("Give at least one feature with a weight.")
        terms = []
    clean_terms = []
    for i, term in enumerate(terms):
        path = f"features.{i}"
        if not isinstance(term, dict):
            errors[path] = _("Each feature is an object with feature, transform, direction and weight.")
            continue
        name = term.get("feature")
        if name not in FEATURES:
            errors[f"{path}.feature"] = _("Unknown feature: %(name)s.") % {"name": name}
        transform = term.get("transform", "raw")
        if transform not in TRANSFORMS:
            errors[f"{path}.transform"] = _("Transform must be one of %(choices)s.") % {"choices": ", ".join(TRANSFORMS)}
        direction = term.get("direction", "higher")
        if direction not in DIRECTIONS:
            errors[f"{path}.direction"] = _("Direction must be higher or lower.")
        weight = _number(term.get("weight", 1), f"{path}.weight", errors, low=0.0, high=1000.0)
        clean_terms.append({"feature": name, "transform": transform, "direction": direction, "weight": weight})
    if clean_terms and not errors and sum(t["weight"] for t in clean_terms) <= 0:
        errors["features"] = _("At least one weight must be above zero.")
    names = [t["feature"] for t in clean_terms]
    if len(set(names)) != len(names):
        errors["features"] = _("Each feature may appear once.")
    return clean_terms


def _clean_params(spec: dict[str, Any], method: Any, errors: dict[str, str]) -> dict[str, Any]:
    """The split method's parameters, parsed and tried on two scores (the method checks its ranges)."""
    if method not in splits.METHODS:
        errors["method"] = _("Method must be one of %(choices)s.") % {"choices": ", ".join(splits.METHODS)}
        return {}
    raw_params = spec.get("params") or {}
    if not isinstance(raw_params, dict):
        errors["params"] = _("Parameters are name/value pairs.")
        raw_params = {}
    try:
        params = splits.parse_params(method, {str(k): str(v) for k, v in raw_params.items()})
        # Ranges (q in (0, 1], k ≥ 0 …) are the split method's to check: try it on two scores.
        probe = np.array([0.0, 1.0])
        splits.split(method, probe, outcome=np.array([0, 1]) if method == "information_gain" else None,
                     **params)
    except splits.SplitError as exc:
        errors["params"] = str(exc)
        return {}
    return params


def _clean_rules(spec: dict[str, Any], errors: dict[str, str]) -> list[dict[str, Any]]:
    """The rules that place clients whatever their score, checked."""
    rules = spec.get("rules") or []
    clean_rules = []
    if not isinstance(rules, list):
        errors["rules"] = _("Rules are a list.")
        rules = []
    for i, rule in enumerate(rules):
        path = f"rules.{i}"
        if not isinstance(rule, dict) or rule.get("feature") not in FEATURES:
            errors[f"{path}.feature"] = _("Unknown feature: %(name)s.") % {
                "name": rule.get("feature") if isinstance(rule, dict) else rule}
            continue
        if rule.get("op") not in OPS:
            errors[f"{path}.op"] = _("Operator must be one of %(choices)s.") % {"choices": ", ".join(OPS)}
        if rule.get("label") not in ("upper", "lower"):
            errors[f"{path}.label"] = _("A rule sends clients to the upper or the lower class.")
        value = _number(rule.get("value"), f"{path}.value", errors)
        clean_rules.append({"feature": rule["feature"], "op": rule.get("op"), "value": value, "label": rule.get("label")})
    return clean_rules


def spec_of(criterion) -> dict[str, Any]:
    return {name: getattr(criterion, name) for name in SPEC_FIELDS}
