"""REST endpoints of the data-quality report: the summary, the clients lacking evidence (the page's list), one
client, the export. Parse, call a selector, serialise: who sees which clients is the client list's rule, applied
by :func:`bcrm.dataquality.selectors.data_quality`."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import StreamingHttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from bcrm.accounts.permissions import can_see_compliance
from bcrm.core.schemas import ERRORS, PageIn, PageOut
from bcrm.dataquality.selectors import LackingClient, data_quality, lacking_clients
from bcrm.dataquality.services import quality_export
from bcrm.parties.selectors import organization_get_for_user

router = Router(tags=["data quality"])


class QualityDimensionOut(Schema):
    dimension: str
    criterion_version: int
    classifiable: int
    insufficient: int
    classifiable_share: float | None
    mean_completeness: float | None
    insufficient_reasons: dict[str, int]
    missing_by_feature: dict[str, int]


class QualityOut(Schema):
    as_of: str
    clients: int
    dimensions: list[QualityDimensionOut]


class ClientQualityOut(Schema):
    dimension: str
    completeness: float
    classifiable: bool
    missing: list[str]
    failing: list[str]


class LackingQuery(Schema):
    dimension: Literal["value", "risk", "relationship"] = Field(
        "value", description="the dimension whose evidence is judged, as on the page")
    as_of: dt.date | None = Field(None, description="judge the evidence as of this day; default today")


class LackingClientOut(Schema):
    organization_id: int
    legal_name: str
    local_name: str
    team_id: int | None
    relationship_manager_id: int | None
    kyc_status: str | None = Field(None, description="null unless you are compliance, lead or admin")
    sanctions_flag: bool | None = Field(None, description="null unless you are compliance, lead or admin")
    completeness: float = Field(..., description="share of the dimension's evidence present, 0 to 1")
    classifiable: bool = Field(..., description="whether the next run can classify the client on the dimension")
    lacks: list[str] = Field(..., description="what is missing, in words (the reader's language)")
    missing: list[str] = Field(..., description="feature codes without a value")
    failing: list[str] = Field(..., description="evidence rules not met: feature:<code>, history, completeness")

    @staticmethod
    def resolve_organization_id(obj: LackingClient) -> int:
        return int(obj.organization.pk)

    @staticmethod
    def resolve_legal_name(obj: LackingClient) -> str:
        return str(obj.organization.legal_name)

    @staticmethod
    def resolve_local_name(obj: LackingClient) -> str:
        return str(obj.organization.local_name)

    @staticmethod
    def resolve_team_id(obj: LackingClient) -> int | None:
        return obj.organization.team_id

    @staticmethod
    def resolve_relationship_manager_id(obj: LackingClient) -> int | None:
        return obj.organization.relationship_manager_id

    @staticmethod
    def resolve_kyc_status(obj: LackingClient, context) -> str | None:
        return obj.organization.kyc_status if can_see_compliance(context["request"].auth) else None

    @staticmethod
    def resolve_sanctions_flag(obj: LackingClient, context) -> bool | None:
        return obj.organization.sanctions_flag if can_see_compliance(context["request"].auth) else None


@router.get("/data-quality", response={200: QualityOut, **ERRORS},
            summary="Evidence completeness per dimension over the clients you may see")
def data_quality_summary(request, as_of: dt.date | None = None):
    return data_quality(actor=request.auth, as_of=as_of).summary()


@router.get("/data-quality/clients", response={200: PageOut[LackingClientOut], **ERRORS},
            summary="The clients you may see that lack evidence on a dimension, worst first")
def data_quality_clients(request, query: Query[LackingQuery], page: Query[PageIn]):
    """As on the data-quality page: the clients that cannot be classified on the dimension first, then by
    completeness, lowest first. Paged like every list (a page past the end is empty)."""
    report = data_quality(actor=request.auth, as_of=query.as_of)
    result = lacking_clients(report, query.dimension, number=page.page, size=page.page_size, strict=True)
    return {"items": result.items, "page": result.number, "page_size": result.size, "count": result.count,
            "count_is_capped": result.count_is_capped, "has_next": result.has_next}


@router.get("/data-quality/organizations/{org_id}", response={200: list[ClientQualityOut], **ERRORS},
            summary="What evidence one client lacks, per dimension")
def data_quality_client(request, org_id: int):
    organization = organization_get_for_user(user=request.auth, pk=org_id)
    report = data_quality(actor=request.auth, organization_ids=[organization.pk])
    return report.client_rows(0)


@router.get("/data-quality/export", summary="Per client and dimension: completeness and what is missing (CSV)")
def data_quality_export(request):
    response = StreamingHttpResponse(quality_export(actor=request.auth), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="data-quality.csv"'
    return response
