"""REST endpoints of the KPI snapshot and the effect estimate (the dashboard's figures)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from bcrm.core.errors import NotFound
from bcrm.core.schemas import ERRORS
from bcrm.monitoring import selectors, services
from bcrm.progress.periods import previous_period

router = Router(tags=["monitoring"])


def _period(value: str | None) -> str:
    return value or previous_period(timezone.localdate())


class KpiQuery(Schema):
    period: str | None = Field(None, description="YYYY-MM; default the previous calendar month")
    breakdown: str = Field("tier", description="value, risk, relationship or tier")
    team: int | None = Field(None, description="a team id; omitted: all teams")


class KpiRowOut(Schema):
    segment: str
    segment_name: str
    figures: dict[str, Any]


class KpisOut(Schema):
    period: str
    breakdown: str
    team: int | None
    computed_at: dt.datetime | None
    rows: list[KpiRowOut]


class SnapshotIn(Schema):
    period: str


class SnapshotRunOut(Schema):
    id: int
    period: str
    started_at: dt.datetime
    duration_ms: int
    rows: int
    status: str
    errors: list[Any]
    timings: dict[str, Any]


class XlsxQuery(Schema):
    period: str | None = None
    team: int | None = None


class EffectQuery(Schema):
    dimension: str = "value"
    outcome: str = "nps"
    run: int | None = Field(None, description="the run whose line and scores to use; default the latest run at "
                                              "least 30 days old (outcomes need time), else the latest")


@router.get("/kpis", response={200: KpisOut, **ERRORS},
            summary="The stored KPI figures of a month, by class or tier, for a team or all teams")
def get_kpis(request, query: Query[KpiQuery]):
    return selectors.kpis(request.auth, _period(query.period), query.breakdown, query.team)


@router.post("/kpis/snapshots", response={201: SnapshotRunOut, **ERRORS},
             summary="Compute a month's KPI snapshot now, replacing its stored figures")
def post_snapshot(request, payload: SnapshotIn):
    return Status(201, services.compute_snapshot(actor=request.auth, period=payload.period))


class LorenzQuery(Schema):
    period: str | None = None


@router.get("/kpis/lorenz", response={200: dict[str, Any], **ERRORS},
            summary="The stored Lorenz curve of commitments of a month (all clients), with Gini and top-20% share")
def get_lorenz(request, query: Query[LorenzQuery]):
    curve = selectors.lorenz_curve(request.auth, _period(query.period))
    if curve is None:
        raise NotFound()
    return curve


@router.get("/kpis.xlsx", response={200: None, **ERRORS},
            summary="The stored KPI figures of a month as XLSX, one sheet per breakdown")
def get_kpis_xlsx(request, query: Query[XlsxQuery]):
    from bcrm.monitoring.exports import kpis_workbook

    period = _period(query.period)
    data = kpis_workbook(request.auth, period, query.team)
    response = HttpResponse(data, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="kpis-{period}.xlsx"'
    return response


@router.get("/effect", response={200: dict[str, Any], **ERRORS},
            summary="The dedicated tier's effect at a dimension's line (regression discontinuity) and before/after")
def get_effect(request, query: Query[EffectQuery]):
    return services.effect_estimate(actor=request.auth, dimension=query.dimension, outcome=query.outcome,
                                    run=query.run)


class ManagementReportQuery(Schema):
    period: str | None = Field(None, description="YYYY-MM; default the previous calendar month")
    language: str = Field("en", description="en or zh-hans")
    format: str = Field("pdf", description="pdf or html")


class ManagementSendIn(Schema):
    period: str
    to: list[str] | None = Field(None, description="addresses; omitted: the active team leads and administrators")
    languages: list[str] | None = Field(None, description="en and/or zh-hans; omitted: both, one PDF each")


class ManagementSendOut(Schema):
    period: str
    sent: list[str]
    failed: dict[str, str]
    skipped: list[str]


@router.get("/kpis/management-report", response={200: None, **ERRORS},
            summary="The month's management report (the dashboard's content) as PDF or HTML, in English or Chinese")
def get_management_report(request, query: Query[ManagementReportQuery]):
    from bcrm.monitoring import report

    content, content_type, filename = report.document(request.auth, _period(query.period), query.language,
                                                      query.format)
    response = HttpResponse(content, content_type=content_type)
    if filename:
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@router.post("/kpis/management-report/send", response={200: ManagementSendOut, **ERRORS},
             summary="E-mail the month's management report now (leads and administrators)")
def post_management_send(request, payload: ManagementSendIn):
    from bcrm.monitoring import report

    return report.send(actor=request.auth, period=payload.period, recipients=payload.to,
                       languages=payload.languages).as_dict()
