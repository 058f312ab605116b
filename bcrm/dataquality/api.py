"""REST endpoints of data quality: evidence completeness per dimension, what one client lacks, and the CSV of
both (the same report as the data-quality page)."""

from __future__ import annotations

import datetime as dt

from django.http import StreamingHttpResponse
from ninja import Router, Schema

from bcrm.core.schemas import ERRORS
from bcrm.dataquality.selectors import data_quality, export_csv
from bcrm.parties.selectors import organization_get_for_user

router = Router(tags=["segmentation"])


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


@router.get("/data-quality", response={200: QualityOut, **ERRORS},
            summary="Evidence completeness per dimension over the clients you may see")
def data_quality_summary(request, as_of: dt.date | None = None):
    return data_quality(actor=request.user, as_of=as_of).summary()


@router.get("/data-quality/organizations/{org_id}", response={200: list[ClientQualityOut], **ERRORS},
            summary="What evidence one client lacks, per dimension")
def data_quality_client(request, org_id: int):
    organization = organization_get_for_user(user=request.user, pk=org_id)
    report = data_quality(actor=request.user, organization_ids=[organization.pk])
    return report.client_rows(0)


@router.get("/data-quality/export", summary="Per client and dimension: completeness and what is missing (CSV)")
def data_quality_export(request):
    report = data_quality(actor=request.user)
    response = StreamingHttpResponse(export_csv(report), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="data-quality.csv"'
    return response
