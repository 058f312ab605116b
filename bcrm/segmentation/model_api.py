"""``GET /api/v1/organizations/{id}/models``: one client's model figures. Registered in
``bcrm.api`` with the other routers (imported as ``from bcrm.segmentation.model_api import router as
model_router``)."""

from __future__ import annotations

from typing import Any

from ninja import Router, Schema

from bcrm.core.schemas import ERRORS
from bcrm.parties.selectors import organization_get_for_user
from bcrm.segmentation.model_selectors import client_model_figures

router = Router(tags=["segmentation"])


class FigureOut(Schema):
    value: float | None
    display: str
    explanation: str


class CLVOut(Schema):
    as_of: str
    predicted_clv: float | None
    expected_deals_12m: float | None
    p_alive: float | None
    params: dict[str, float]
    notes: list[str]
    explanation: str
    display: dict[str, str]


class ModelsOut(Schema):
    organization: int
    as_of: str
    expert_risk_score: FigureOut
    relationship_strength: FigureOut
    clv: CLVOut | None = None


@router.get("/organizations/{pk}/models", response={200: ModelsOut, **ERRORS})
def organization_models(request, pk: int) -> dict[str, Any]:
    """Predicted lifetime value (from the last portfolio fit; null when none has been kept), P(alive),
    the expert risk score and the relationship strength of one client, with one-line explanations."""
    organization = organization_get_for_user(user=request.user, pk=pk)
    figures = client_model_figures(actor=request.user, organization=organization)
    return {"organization": organization.pk, "as_of": figures["as_of"].isoformat(),
            "expert_risk_score": figures["risk"], "relationship_strength": figures["relationship"],
            "clv": figures["clv"]}
