"""REST endpoints for the analyst tools: ``bcrm analyse split|clv|scorecard`` on an uploaded file.

Each takes a multipart upload (``file``) and the CLI's options as form fields, and answers with the same
JSON document as ``bcrm analyse <tool> FILE --json``. A bad file or option → 422 naming the field.
"""

from __future__ import annotations

from typing import Any, Literal

from ninja import File, Form, Router
from ninja.files import UploadedFile

from bcrm.core.schemas import ERRORS
from bcrm.fileanalysis import services

router = Router(tags=["analysis"])

SplitMethod = Literal["fixed", "top_share", "top_k", "pareto", "natural_break", "capacity", "information_gain"]
Unit = Literal["day", "week", "month"]
Decimal = Literal[".", ","]
DateOrder = Literal["auto", "dmy", "mdy"]


def _dayfirst(order: str) -> bool | None:
    return None if order == "auto" else order == "dmy"


@router.post("/analyse/split", response={200: dict[str, Any], **ERRORS},
             summary="Split a column of scores from a CSV file in two and compare the split methods")
def analyse_split(request, file: File[UploadedFile], column: Form[str], method: Form[SplitMethod | None] = None,
                  param: Form[list[str]] = [], outcome: Form[str | None] = None,  # noqa: B006 (ninja copies defaults)
                  costs: Form[str | None] = None, decimal: Form[Decimal | None] = None):
    """As ``bcrm analyse split FILE --column C [--method M] [--param NAME=VALUE …] [--outcome COL]
    [--costs COL] --json``: the line, the class sizes, the diagnostics, the comparison of the methods (without
    ``method``) and the histogram of the scores by class. ``param`` repeats, e.g. ``q=0.2``."""
    return services.analyse_upload(actor=request.auth, tool="split", upload=file, options={
        "column": column, "method": method, "param": list(param), "outcome": outcome or None,
        "costs": costs or None, "decimal": decimal})


@router.post("/analyse/clv", response={200: dict[str, Any], **ERRORS},
             summary="Fit BG/NBD and Gamma-Gamma to a customer summary or a transaction log")
def analyse_clv(request, file: File[UploadedFile], mode: Form[Literal["auto", "summary", "transactions"]] = "auto",
                map: Form[list[str]] = [],  # noqa: B006
                horizon: Form[int] = 12, discount: Form[float] = 0.01, unit: Form[Unit] = "week",
                period: Form[Unit] = "day", calibration_end: Form[str | None] = None,
                decimal: Form[Decimal | None] = None, date_order: Form[DateOrder] = "auto",
                date_format: Form[str | None] = None):
    """As ``bcrm analyse clv FILE [--summary | --transactions] [--map NAME=COLUMN …] --json``: the parameters
    with standard errors and log-likelihood, observed vs expected repeat purchases, the hold-out comparison
    (transaction log with ``calibration_end``), the Gamma-Gamma fit when the file has spend, and totals.
    ``mode`` ``auto`` reads a file with a frequency (or x) column as a summary. ``decimal``, ``date_order``
    (``dmy`` / ``mdy``) and ``date_format`` settle what the file cannot tell (by default decided from it)."""
    return services.analyse_upload(actor=request.auth, tool="clv", upload=file, options={
        "summary": mode == "summary", "transactions": mode == "transactions", "map": list(map),
        "horizon": horizon, "discount": discount, "unit": unit, "period": period,
        "calibration_end": calibration_end or None, "decimal": decimal, "dayfirst": _dayfirst(date_order),
        "date_format": date_format or None})


@router.post("/analyse/scorecard", response={200: dict[str, Any], **ERRORS},
             summary="Fit a points scorecard (optimal binning, WoE, logistic regression) to a CSV file")
def analyse_scorecard(request, file: File[UploadedFile], target: Form[str], folds: Form[int] = 5, seed: Form[int] = 0,
                      min_iv: Form[float] = 0.02, columns: Form[list[str]] = [],  # noqa: B006
                      exclude: Form[list[str]] = [],  # noqa: B006
                      base_score: Form[float] = 600.0, base_odds: Form[float] = 50.0, pdo: Form[float] = 20.0,
                      decimal: Form[Decimal | None] = None, bad: Form[str | None] = None,
                      allow_leakage: Form[list[str]] = []):  # noqa: B006
    """As ``bcrm analyse scorecard FILE --target COL [--folds K] --json``: cross-validated AUC, KS and Gini
    with the ROC curve, the information value per variable and the points table."""
    return services.analyse_upload(actor=request.auth, tool="scorecard", upload=file, options={
        "target": target, "folds": folds, "seed": seed, "min_iv": min_iv, "columns": list(columns),
        "exclude": list(exclude), "base_score": base_score, "base_odds": base_odds, "pdo": pdo,
        "decimal": decimal, "bad": bad or None, "allow_leakage": list(allow_leakage)})


@router.post("/analyse/bgbb", response={200: dict[str, Any], **ERRORS},
             summary="Fit the discrete-time BG/BB model to a file of (x, t_x, n) histories")
def analyse_bgbb(request, file: File[UploadedFile], weights: Form[str | None] = None, horizon: Form[int] = 5,
                 decimal: Form[Decimal | None] = None):
    """As ``bcrm analyse bgbb FILE [--weights COL] [--horizon K] --json``: the parameters with standard errors
    and log-likelihood, P(alive) and expected transactions over the next ``horizon`` opportunities."""
    return services.analyse_upload(actor=request.auth, tool="bgbb", upload=file, options={
        "weights": weights or None, "horizon": horizon, "decimal": decimal})

