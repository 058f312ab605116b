"""One client's model figures for the 360° page and the API: predicted lifetime value, P(alive), the
expert risk score and the relationship strength, each with a one-line explanation.

Cheap for one client: the risk and relationship families run on a one-client population (their queries
are restricted to that client: organisation, participations, interactions, contacts). The lifetime value
needs a fit of the whole portfolio, so it is read from the last portfolio fit kept on disk by the value
features (a segmentation run); without one the figures say "not computed yet" rather than refit here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import can_view_organization
from bcrm.core.errors import NotFound
from bcrm.segmentation import model_features
from bcrm.segmentation.classify import today
from bcrm.segmentation.compliance import visible_figure
from bcrm.segmentation.features import PROFILE_COLUMNS, Population


def client_model_figures(*, actor, organization, as_of=None) -> dict[str, Any]:
    """{"clv": {...} | None, "risk": {"value", "explanation"}, "relationship": {"value", "explanation"},
    "as_of"} for one client the actor may see (NotFound otherwise)."""
    if not can_view_organization(actor, organization):
        raise NotFound()
    as_of = as_of or today()
    pop = Population(ids=np.array([organization.pk], dtype=np.int64), as_of=as_of, subset=True)
    # the row is already loaded: no query for the profile
    org_rows = [tuple(getattr(organization, name) for name in PROFILE_COLUMNS)]
    models = model_features.client_models(pop, org_rows)
    risk, strength = models["expert_risk_score"], models["relationship_strength"]
    risk_value = None if risk.missing[0] else round(float(risk.values[0]), 1)
    strength_value = None if strength.missing[0] else round(float(strength.values[0]), 1)
    clv = model_features.cached_client_clv(organization.pk)
    figures: dict[str, Any] = {
        "as_of": as_of,
        "risk": {"value": risk_value, "explanation": _(
            "Expert scorecard on 0–100 (higher is safer): rating, KYC state and age, sanctions, "
            "withdrawn share and country risk.")},
        "relationship": {"value": strength_value, "explanation": _(
            "0–100 from recency-weighted interactions (senior meetings count more), joint deals, years "
            "and the seniority of the contacts reached.")},
        "clv": None,
    }
    figures["risk"]["display"] = _display("expert_risk_score", risk_value)
    figures["relationship"]["display"] = _display("relationship_strength", strength_value)
    # A sanctions hit alone costs the expert score 100 points: withheld from who may not see sanctions.
    figures["risk"] = visible_figure(actor, "expert_risk_score", figures["risk"])
    if clv is not None:
        clv["display"] = {name: _display(name, clv[name]) for name in ("predicted_clv", "expected_deals_12m", "p_alive")}
        clv["explanation"] = _(
            "BG/NBD and Gamma-Gamma models fitted on the portfolio's commitments as of %(date)s: expected "
            "deals and their discounted value over the next 12 months.") % {"date": clv["as_of"]}
        figures["clv"] = clv
    return figures


def _display(name: str, value: float | None) -> str:
    from bcrm.segmentation.selectors import format_feature_value

    if value is None:
        return _("unknown")
    if name == "expected_deals_12m":
        return f"{value:.2f}"
    if name in ("expert_risk_score", "relationship_strength"):
        return f"{value:.0f} / 100"
    return format_feature_value(name, value)
