"""The tier policy: which labels earn the dedicated tier and which add-ons a client gets. Pure Python.

Rules (JSON, versioned in :class:`~bcrm.playbooks.models.TierPolicy`)::

    {"dedicated": {"match": "any", "when": [["value", "high"], ["relationship", "strategic"]]},
     "addons": [{"addon": "enhanced_dd", "when": ["risk", "high"]},
                {"addon": "kyc_refresh", "when": ["risk", "high"]},
                {"addon": "data_collection", "when": ["*", "insufficient"]}]}

A condition is ``[dimension, label]``; dimension ``"*"`` means "on any dimension". A client that has never
been classified on a dimension (no label yet) matches no condition on it: it is neither insufficient nor
classified, and gets the standard tier until the first run.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from bcrm.core.errors import InvalidInput
from bcrm.playbooks.choices import AddOn, Tier
from bcrm.segmentation.choices import INSUFFICIENT, Dimension, label_display, labels_for

ANY_DIMENSION = "*"

DEFAULT_RULES: dict[str, Any] = {
    "dedicated": {"match": "any", "when": [["value", "high"], ["relationship", "strategic"]]},
    "addons": [
        {"addon": AddOn.ENHANCED_DD.value, "when": ["risk", "high"]},
        {"addon": AddOn.KYC_REFRESH.value, "when": ["risk", "high"]},
        {"addon": AddOn.DATA_COLLECTION.value, "when": [ANY_DIMENSION, INSUFFICIENT]},
    ],
}


def _condition(raw: Any, path: str, errors: dict[str, list[str]]) -> tuple[str, str] | None:
    if not isinstance(raw, (list, tuple)) or len(raw) != 2 or not all(isinstance(x, str) for x in raw):
        errors.setdefault(path, []).append(_("A condition is a pair [dimension, label]."))
        return None
    dimension, label = raw
    if dimension == ANY_DIMENSION:
        if label != INSUFFICIENT:
            errors.setdefault(path, []).append(_("“Any dimension” can only be combined with “insufficient”."))
            return None
        return dimension, label
    if dimension not in Dimension.values:
        errors.setdefault(path, []).append(_("Unknown dimension: %(name)s.") % {"name": dimension})
        return None
    if label not in labels_for(dimension):
        errors.setdefault(path, []).append(
            _("%(label)s is not a label of %(dimension)s.") % {"label": label, "dimension": dimension})
        return None
    return dimension, label


def validate_rules(raw: Any) -> dict[str, Any]:
    """Rules checked and normalised; InvalidInput naming each bad field."""
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, Mapping):
        raise InvalidInput(_("The tier policy is an object with “dedicated” and “addons”."))
    dedicated = raw.get("dedicated")
    clean_when: list[list[str]] = []
    match = "any"
    if not isinstance(dedicated, Mapping):
        errors["dedicated"] = [_("Say which labels earn the dedicated tier.")]
    else:
        match = dedicated.get("match", "any")
        if match not in ("any", "all"):
            errors["dedicated.match"] = [_("Match must be “any” or “all”.")]
        when = dedicated.get("when")
        if not isinstance(when, list) or not when:
            errors["dedicated.when"] = [_("Give at least one label that earns the dedicated tier.")]
            when = []
        for i, item in enumerate(when):
            cond = _condition(item, f"dedicated.when.{i}", errors)
            if cond is not None:
                if cond[0] == ANY_DIMENSION:
                    errors.setdefault(f"dedicated.when.{i}", []).append(
                        _("Insufficient data cannot earn the dedicated tier."))
                elif list(cond) in clean_when:
                    errors.setdefault(f"dedicated.when.{i}", []).append(_("This condition is listed twice."))
                else:
                    clean_when.append(list(cond))
    addons = raw.get("addons", [])
    clean_addons: list[dict[str, Any]] = []
    if not isinstance(addons, list):
        errors["addons"] = [_("Add-ons are a list.")]
        addons = []
    for i, item in enumerate(addons):
        path = f"addons.{i}"
        if not isinstance(item, Mapping):
            errors[path] = [_("Each add-on is an object with addon and when.")]
            continue
        code = item.get("addon")
        if code not in AddOn.values:
            errors.setdefault(f"{path}.addon", []).append(_("Unknown add-on: %(name)s.") % {"name": code})
        cond = _condition(item.get("when"), f"{path}.when", errors)
        if code in AddOn.values and cond is not None:
            clean_addons.append({"addon": code, "when": list(cond)})
    if errors:
        raise InvalidInput(_("The tier policy has errors."), fields=errors)
    return {"dedicated": {"match": match, "when": clean_when}, "addons": clean_addons}


def _holds(cond: list[str], labels: Mapping[str, str]) -> bool:
    dimension, label = cond
    if dimension == ANY_DIMENSION:
        return any(labels.get(d) == label for d in Dimension.values)
    return labels.get(dimension) == label


def tier_for(labels: Mapping[str, str], rules: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The tier and the sorted add-ons for one client's labels (dimension → label code, "" if none)."""
    dedicated = rules["dedicated"]
    hits = [_holds(c, labels) for c in dedicated["when"]]
    is_dedicated = all(hits) if dedicated["match"] == "all" else any(hits)
    addons = sorted({a["addon"] for a in rules["addons"] if _holds(a["when"], labels)})
    return (Tier.DEDICATED.value if is_dedicated else Tier.STANDARD.value), tuple(addons)


LABEL_STATES: dict[str, list[str]] = {d: ["", *labels_for(d)] for d in Dimension.values}


def tier_table(rules: Mapping[str, Any]) -> dict[tuple[str, str, str], tuple[str, tuple[str, ...]]]:
    """The tier of every combination of (value, risk, relationship) labels, "" meaning never classified:
    64 entries, so the engine classifies a million clients with one lookup each."""
    table: dict[tuple[str, str, str], tuple[str, tuple[str, ...]]] = {}
    for combo in itertools.product(*(LABEL_STATES[d] for d in Dimension.values)):
        table[(combo[0], combo[1], combo[2])] = tier_for(dict(zip(Dimension.values, combo, strict=True)), rules)
    return table


def describe(rules: Mapping[str, Any]) -> dict[str, Any]:
    """Plain-language reading of the rules, for pages and the CLI."""
    def cond_text(c: list[str]) -> str:
        if c[0] == ANY_DIMENSION:
            return _("insufficient data on any dimension")
        return f"{Dimension(c[0]).label}: {label_display(c[0], c[1])}"

    joiner = _(" or ") if rules["dedicated"]["match"] == "any" else _(" and ")
    addon_names = dict(AddOn.choices)
    return {
        "dedicated": joiner.join(cond_text(c) for c in rules["dedicated"]["when"]),
        "addons": [{"addon": a["addon"], "name": str(addon_names[a["addon"]]), "when": cond_text(a["when"])}
                   for a in rules["addons"]],
    }
