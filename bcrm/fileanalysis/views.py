"""The analyst tools page: upload a file, pick a tool, see the fit and its diagnostics in the same answer."""

from __future__ import annotations

import base64
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from bcrm.core.errors import InvalidInput
from bcrm.fileanalysis.forms import AnalyseForm
from bcrm.fileanalysis.services import analyse_upload, may_analyse, require_analyst
from bcrm.stats.scorecard import PointsTable
from bcrm.ui import charts
from bcrm.ui.forms import add_service_error
from bcrm.ui.shortcuts import page

BGNBD_PARAMS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMS = ("p", "q", "gamma")


@page(access=may_analyse)
def analyse(request: HttpRequest) -> HttpResponse:
    require_analyst(request.user)
    form = AnalyseForm(request.POST or None, request.FILES or None)
    context: dict[str, Any] = {"form": form}
    if request.method == "POST" and form.is_valid():
        tool = form.cleaned_data["tool"]
        try:
            report = analyse_upload(actor=request.user, tool=tool, upload=form.cleaned_data["file"],
                                    options=form.options(), predictions=tool == "clv")
        except InvalidInput as exc:
            add_service_error(form, exc)
        else:
            context.update(tool=tool, report=report, **_RESULTS[tool](report))
    status = 422 if request.method == "POST" and form.errors else 200
    return render(request, "analysis/analyse.html", context, status=status)


def _fit_rows(fit: dict[str, Any], names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"name": name, "estimate": fit["params"].get(name), "se": fit["se"].get(name)} for name in names]


def _clv(report: dict[str, Any]) -> dict[str, Any]:
    fit = report["frequency_fit"]
    out: dict[str, Any] = {
        "bgnbd_rows": _fit_rows(report["bgnbd"], BGNBD_PARAMS),
        "calibration_chart": charts.grouped_bars(
            fit["frequency"], {_("Observed"): fit["observed"], _("Model"): fit["expected"]},
            key="clv-calibration", title=_("Customers by number of repeat purchases: observed and model"),
            x_title=_("Repeat purchases in the calibration period"), y_title=_("Customers"), digits=1),
    }
    if report.get("gamma_gamma"):
        out["gamma_gamma_rows"] = _fit_rows(report["gamma_gamma"], GAMMA_GAMMA_PARAMS)
    holdout = report.get("holdout")
    if holdout:
        by = holdout["by_frequency"]
        out["holdout_chart"] = charts.grouped_bars(
            by["frequency"], {_("Actual"): by["actual_mean"], _("Predicted"): by["predicted_mean"]},
            key="clv-holdout", title=_("Hold-out: mean repeat purchases per customer, actual and predicted"),
            x_title=_("Repeat purchases in the calibration period"), y_title=_("Mean purchases in the hold-out"))
    text = report.pop("predictions_csv", None)
    if text is not None:
        payload = base64.b64encode(("\ufeff" + text).encode("utf-8")).decode("ascii")
        out["predictions_uri"] = "data:text/csv;charset=utf-8;base64," + payload
    return out


def _scorecard(report: dict[str, Any]) -> dict[str, Any]:
    cv = report["cross_validation"]
    roc = cv.get("roc") or {}
    ivs = sorted(report["information_value"].items(), key=lambda item: -(item[1] or 0))
    table = PointsTable.from_dict(report["points_table"])
    used = {v.name for v in table.variables}
    reasons = {"constant": _("constant"), "low_iv": _("information value too low"),
               "not_binnable": _("could not be binned")}
    out: dict[str, Any] = {
        "metrics": [(name.upper(), cv.get(name), cv.get(name + "_sd"), report["training"].get(name))
                    for name in ("auc", "ks", "gini")],
        "points_rows": table.rows(),
        "points_table": table,
        "iv_rows": [{"name": name, "iv": iv, "used": name in used,
                     "reason": reasons.get(report["dropped"].get(name, ""), report["dropped"].get(name, ""))}
                    for name, iv in ivs],
    }
    if roc.get("fpr"):
        out["roc_chart"] = charts.roc(roc["fpr"], roc["tpr"], auc=cv.get("auc"), key="scorecard-roc",
                                      title=_("ROC curve, out of fold"))
    if ivs:
        out["iv_chart"] = charts.bar([name for name, _iv in ivs], [iv for _name, iv in ivs], key="scorecard-iv",
                                     title=_("Information value per variable"), x_title=_("Information value"),
                                     y_title=_("Variable"))
    return out


def _split(report: dict[str, Any]) -> dict[str, Any]:
    hist = report.get("histogram") or {}
    out: dict[str, Any] = {
        "diagnostics": [(key, value) for key, value in report["diagnostics"].items()
                        if not isinstance(value, dict | list)],
    }
    if hist.get("edges"):
        out["histogram_chart"] = charts.histogram_with_line(
            hist["edges"], hist["upper"], hist["lower"], report["threshold"], (_("Upper"), _("Lower")),
            key="split-histogram", title=_("Distribution of %(column)s and the line") % {"column": report["column"]},
            x_title=report["column"], y_title=_("Rows"))
    return out


def _bgbb(report: dict[str, Any]) -> dict[str, Any]:
    return {"fit_rows": _fit_rows(report["bgbb"], ("alpha", "beta", "gamma", "delta"))}


_RESULTS = {"clv": _clv, "scorecard": _scorecard, "split": _split, "bgbb": _bgbb}
