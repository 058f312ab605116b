"""What of a classification a reader who may not see KYC and sanctions fields is shown (issue 15, finding 1).

The rule is the parties' one (:func:`bcrm.accounts.permissions.can_see_compliance`: compliance, lead and
admin). Features derived from those fields are marked ``compliance=True`` in the feature registry
(``kyc_valid``, ``sanctions_flag``, and the expert risk score, in which a sanctions hit alone costs 100
points). For everyone else, in one place:

- an assignment's explanation loses the knock-out rule on such a feature, its contributions and its
  "required evidence" reasons; what is left says that a compliance rule applied (:data:`COMPLIANCE_APPLIED`,
  a text code rendered per reader), not which field or value — :func:`visible_explanation`;
- counts per feature or per evidence rule (data quality, run diagnostics) lose such features —
  :func:`visible_feature_counts`, :func:`visible_reasons`;
- a model figure computed from such fields is withheld — :func:`visible_figure`.

Deal walls (``bcrm.financing.walls``) follow the same model: for a client taking part in a confidential
project the reader is outside the wall of, the explanation leaves out the features computed from the
client's participations (:data:`DEAL_FAMILIES`) — contributions and missing-evidence reasons silently, a
knock-out rule on one as :data:`DEAL_RULE_APPLIED` — :func:`visible_deal_explanation`.

The class itself stays what the engine decided: the label is the firm's view.
Every door (API, pages, the compare view, exports) reads explanations through
``selectors.explain``/``selectors.migration_reasons``, which take the reader and call this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bcrm.accounts.permissions import can_see_compliance
from bcrm.core.texts import gettext_noop, render
from bcrm.segmentation.features import FEATURES

#: What a reader without access to compliance fields sees where a rule or evidence on one of them applied.
COMPLIANCE_APPLIED = gettext_noop("A compliance rule applied.")
#: Where a figure computed from compliance fields is withheld.
COMPLIANCE_WITHHELD = gettext_noop("Computed from compliance data: shown to compliance, team leads and administrators.")
#: What a reader outside a deal wall sees where a rule on a deal-derived feature decided a walled client's label.
DEAL_RULE_APPLIED = gettext_noop("A rule on the client's deals applied.")
#: The feature families computed from participations (amounts, counts of projects and deals).
DEAL_FAMILIES = frozenset({"commitments", "participation_counts"})
#: The reason key that stands for every evidence rule on a compliance feature.
COMPLIANCE_REASON = "compliance"


def shows_compliance(actor) -> bool:
    """Whether ``actor`` may see explanations, values and counts derived from KYC and sanctions fields."""
    return can_see_compliance(actor)


def is_compliance_feature(name: str) -> bool:
    spec = FEATURES.get(name)
    return bool(spec and spec.compliance)


def compliance_text() -> str:
    """:data:`COMPLIANCE_APPLIED` in the reader's language."""
    return render(COMPLIANCE_APPLIED)


def is_deal_feature(name: str) -> bool:
    spec = FEATURES.get(name)
    return bool(spec and spec.family in DEAL_FAMILIES)


def deal_rule_text() -> str:
    """:data:`DEAL_RULE_APPLIED` in the reader's language."""
    return render(DEAL_RULE_APPLIED)


def visible_deal_explanation(explanation: Mapping[str, Any], rules: list[dict[str, Any]] | None) -> dict[str, Any]:
    """An explanation (already through :func:`visible_explanation`) without the deal-derived features, for a
    reader outside the wall of a project the client takes part in: ``"xd": 1`` replaces a rule on one."""
    data = dict(explanation)
    if "r" in data:
        index = data["r"]
        rule = rules[index] if rules is not None and isinstance(index, int) and 0 <= index < len(rules) else None
        if rule is not None and is_deal_feature(str(rule.get("feature", ""))):
            del data["r"]
            data["xd"] = 1
    if data.get("c"):
        data["c"] = [item for item in data["c"] if not is_deal_feature(str(item[0]))]
    if data.get("m"):
        data["m"] = [r for r in data["m"] if not (r.startswith("feature:") and is_deal_feature(r[8:]))]
    return data


def _compliance_reason(reason: str) -> bool:
    return reason.startswith("feature:") and is_compliance_feature(reason[8:])


def visible_explanation(actor, explanation: Mapping[str, Any] | None, rules: list[dict[str, Any]] | None
                        ) -> dict[str, Any]:
    """An assignment's stored explanation (``{"c", "m", "r", "k", …}``) as ``actor`` may see it.

    ``rules`` are the knock-out rules of the run's criterion (``"r"`` indexes them). For a reader without
    access, a rule on a compliance feature becomes ``"xr": 1``, contributions of compliance features are
    dropped and leave ``"xc": 1``, and a "required" reason on one becomes :data:`COMPLIANCE_REASON`."""
    data = dict(explanation or {})
    if shows_compliance(actor):
        return data
    if "r" in data:
        index = data["r"]
        rule = rules[index] if rules is not None and isinstance(index, int) and 0 <= index < len(rules) else None
        if rule is not None and is_compliance_feature(str(rule.get("feature", ""))):
            del data["r"]
            data["xr"] = 1
    if data.get("c"):
        kept = [item for item in data["c"] if not is_compliance_feature(str(item[0]))]
        if len(kept) != len(data["c"]):
            data["c"] = kept
            data["xc"] = 1
    if data.get("m"):
        data["m"] = visible_reasons(actor, data["m"])
    return data


def visible_reasons(actor, reasons: list[str]) -> list[str]:
    """Evidence rules a client fails, with every rule on a compliance feature as one :data:`COMPLIANCE_REASON`."""
    if shows_compliance(actor):
        return list(reasons)
    out: list[str] = []
    for reason in reasons:
        reason = COMPLIANCE_REASON if _compliance_reason(reason) else reason
        if reason not in out:
            out.append(reason)
    return out


def visible_reason_counts(actor, counts: Mapping[str, int]) -> dict[str, int]:
    """``{reason: clients}`` with the compliance features' rules summed under :data:`COMPLIANCE_REASON`."""
    if shows_compliance(actor):
        return dict(counts)
    out: dict[str, int] = {}
    for reason, n in counts.items():
        key = COMPLIANCE_REASON if _compliance_reason(reason) else reason
        out[key] = out.get(key, 0) + n
    return out


def visible_reason_masks(actor, masks: Mapping[str, Any]) -> dict[str, Any]:
    """``{reason: boolean mask over clients}`` with the compliance features' rules joined (or) under
    :data:`COMPLIANCE_REASON`."""
    if shows_compliance(actor):
        return dict(masks)
    out: dict[str, Any] = {}
    for reason, mask in masks.items():
        key = COMPLIANCE_REASON if _compliance_reason(reason) else reason
        out[key] = (out[key] | mask) if key in out else mask
    return out


def visible_feature_counts(actor, counts: Mapping[str, Any]) -> dict[str, Any]:
    """A per-feature mapping (clients missing it, …) without the compliance features for ``actor``."""
    if shows_compliance(actor):
        return dict(counts)
    return {name: value for name, value in counts.items() if not is_compliance_feature(name)}


def visible_features(actor, names: list[str]) -> list[str]:
    if shows_compliance(actor):
        return list(names)
    return [name for name in names if not is_compliance_feature(name)]


def visible_diagnostics(actor, diagnostics: Mapping[str, Any] | None) -> dict[str, Any]:
    """A run's diagnostics with the per-feature and per-rule counts filtered for ``actor``."""
    data = dict(diagnostics or {})
    if shows_compliance(actor):
        return data
    if isinstance(data.get("missing_by_feature"), Mapping):
        data["missing_by_feature"] = visible_feature_counts(actor, data["missing_by_feature"])
    if isinstance(data.get("insufficient_reasons"), Mapping):
        data["insufficient_reasons"] = visible_reason_counts(actor, data["insufficient_reasons"])
    return data


def visible_figure(actor, name: str, figure: dict[str, Any]) -> dict[str, Any]:
    """A model figure ``{"value", "display", "explanation"}`` of feature ``name``, withheld when it is
    computed from compliance fields and ``actor`` may not see them."""
    if shows_compliance(actor) or not is_compliance_feature(name):
        return figure
    return {**figure, "value": None, "display": "—", "explanation": render(COMPLIANCE_WITHHELD),
            "withheld": True}
