"""The data-quality page (数据质量): evidence completeness per dimension, the clients who lack it, export."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render

from bcrm.dataquality import services as quality_services
from bcrm.dataquality.selectors import data_quality, lacking_clients
from bcrm.segmentation.choices import Dimension
from bcrm.segmentation.selectors import feature_name, latest_run, reason_label
from bcrm.ui.shortcuts import page, page_number


@page
def quality_page(request: HttpRequest) -> HttpResponse:
    """Summary per dimension from the features as they stand now; the clients lacking evidence for the
    chosen dimension, worst first, with what each one lacks."""
    dimension = request.GET.get("dimension") or Dimension.VALUE
    if dimension not in Dimension.values:
        dimension = Dimension.VALUE
    report = data_quality(actor=request.user)
    summary = report.summary()
    for item in summary["dimensions"]:
        item["label"] = Dimension(item["dimension"]).label
        item["features"] = [
            {"name": feature_name(name), "missing": count,
             "share": (count / summary["clients"]) if summary["clients"] else 0}
            for name, count in item["missing_by_feature"].items()
        ]
        item["latest_run"] = latest_run(item["dimension"])
        item["reasons"] = [(reason_label(reason), count) for reason, count in item["insufficient_reasons"].items()]
    pager = lacking_clients(report, dimension, number=page_number(request))
    return render(request, "quality/quality.html", {
        "summary": summary, "dimension": dimension, "dimensions": Dimension.choices, "rows": pager.items,
        "pager": pager, "lacking_count": pager.count,
    })


@page
def quality_export(request: HttpRequest) -> HttpResponse:
    response = StreamingHttpResponse(quality_services.quality_export(actor=request.user),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="data-quality.csv"'
    return response  # type: ignore[return-value]  # streamed: a million clients never sit in memory
