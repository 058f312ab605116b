"""The monitoring dashboard (监控看板) and the effect page. Parse, call a selector or service, render: who may
read or compute what is decided in :mod:`bcrm.monitoring.selectors` and :mod:`bcrm.monitoring.services`.

The dashboard reads stored snapshot rows only (a fixed number of queries whatever the history's size); the
sentences that say where service falls short come from :mod:`bcrm.monitoring.presenters`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from bcrm.core.errors import InvalidInput
from bcrm.monitoring import charts as monitoring_charts
from bcrm.monitoring import figures, selectors, services
from bcrm.monitoring.choices import TREND_FIGURES, Breakdown, Outcome
from bcrm.monitoring.forms import DashboardFilter, EffectForm
from bcrm.segmentation.choices import Dimension, label_display, lower_label, upper_label
from bcrm.stats.rdd import MIN_FIRST_STAGE_F
from bcrm.ui import charts
from bcrm.ui.shortcuts import page, render_page

PERIOD_CHOICES = 36


def _render(request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    response = render_page(request, template, context)
    response.status_code = status
    return response


# --- the dashboard ---------------------------------------------------------------------------------------------

@page(access=services.can_view_dashboard)
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    teams, all_teams = selectors.dashboard_teams(user)
    periods = selectors.snapshot_periods(PERIOD_CHOICES)
    form = DashboardFilter(request.GET, teams=teams, all_teams=all_teams, periods=periods)
    context: dict[str, Any] = {"form": form, "periods": periods, "teams": teams, "all_teams": all_teams,
                               "can_compute": services.can_compute(user), "data": None,
                               "trend_figures": [(k, v[0]) for k, v in TREND_FIGURES.items()]}
    if not form.is_valid():
        return _render(request, "monitoring/dashboard.html", context, status=400)
    period, breakdown, team = form.cleaned_data["period"], form.cleaned_data["breakdown"], form.cleaned_data["team"]
    figure = form.cleaned_data["figure"]
    context.update(period=period, breakdown=breakdown, team=team, figure=figure,
                   breakdown_label=Breakdown(breakdown).label,
                   compare_dimension=breakdown if breakdown in Dimension.values else Dimension.VALUE.value)
    if period is None:  # nothing computed yet
        services.require_team_figures(user, team)
        return render_page(request, "monitoring/dashboard.html", context)
    try:
        shown = figures.period_figures(user, period, breakdown, team, trends=[figure], trend_periods=periods)
    except InvalidInput as exc:
        context["error"] = exc
        return _render(request, "monitoring/dashboard.html", context, status=400)
    context.update(
        data=shown.data, rows=shown.rows, total=shown.total, total_figures=shown.total_figures,
        pipeline=shown.pipeline, migrations=shown.migrations, sentences=shown.sentences, charts=shown.charts,
        lorenz=shown.lorenz, lorenz_top=shown.lorenz_top, lorenz_gini=shown.lorenz_gini,
        trend=shown.trends.get(figure),
        report_url=reverse("monitoring:management_report") + "?" + urlencode({"period": period}),
        xlsx_url=reverse("api:get_kpis_xlsx") + "?" + urlencode(
            {"period": period, **({"team": team} if team is not None else {})}),
    )
    return render_page(request, "monitoring/dashboard.html", context)


@page
@require_POST
def compute(request: HttpRequest) -> HttpResponse:
    """"Compute now": the period's snapshot, computed by the service (which decides who may)."""
    period = (request.POST.get("period") or "").strip()
    query = {k: v for k in ("team", "breakdown", "figure") if (v := request.POST.get(k))}
    try:
        run = services.compute_snapshot(actor=request.user, period=period)
    except InvalidInput as exc:
        messages.error(request, "; ".join([m for ms in exc.fields.values() for m in ms]) or exc.message)
        return redirect(reverse("monitoring:dashboard") + ("?" + urlencode(query) if query else ""))
    messages.success(request, _("The %(period)s snapshot is computed: %(rows)s rows in %(ms)s ms.") % {
        "period": run.period, "rows": run.rows, "ms": run.duration_ms})
    return redirect(reverse("monitoring:dashboard") + "?" + urlencode({"period": run.period, **query}))


@page
@require_safe
def management_report(request: HttpRequest) -> HttpResponse:
    """The month's management report: the PDF (a download) or, with ``format=html``, the same document in the
    browser. Who may read it is decided by :func:`bcrm.monitoring.report.build` (portfolio-wide figures)."""
    from bcrm.monitoring import report

    content, content_type, filename = report.document(
        request.user, (request.GET.get("period") or "").strip(),
        request.GET.get("language") or translation.get_language(), request.GET.get("format") or "pdf")
    response = HttpResponse(content, content_type=content_type)
    if filename:
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- the effect page ----------------------------------------------------------------------------------------------

def figure(value: Any) -> str:
    """A number for a sentence: three significant digits, whole numbers with thousands separators from 1,000."""
    number = float(value)
    return f"{number:,.0f}" if abs(number) >= 1000 else f"{number:.3g}"


def effect_verdict(estimate: dict[str, Any]) -> str:
    """The page's headline, in words that match its numbers: an effect (and its direction) only when the whole
    interval lies on one side of zero, "cannot be told apart from chance" when it contains zero, and nothing
    but "too few" when the sample is too small (the figures are then not shown)."""
    verdict = str(estimate.get("verdict") or "")
    low, high = estimate.get("ci_low"), estimate.get("ci_high")
    first_stage = estimate.get("first_stage") or {}
    weak = first_stage.get("f_stat") is not None and float(first_stage["f_stat"]) < MIN_FIRST_STAGE_F
    if verdict == "too_few" and weak:
        return _("Crossing the line hardly changes who is served by the dedicated tier, so its effect cannot be "
                 "told apart from chance.")
    if not verdict:
        return ""
    if verdict == "too_few" or low is None or high is None:
        return _("Too few clients near the line to say anything.")
    bounds = {"low": figure(low), "high": figure(high)}
    if float(low) > 0:
        return _("The dedicated tier raises the outcome at the line: the whole interval (%(low)s to %(high)s) "
                 "lies above zero.") % bounds
    if float(high) < 0:
        return _("The dedicated tier lowers the outcome at the line: the whole interval (%(low)s to %(high)s) "
                 "lies below zero.") % bounds
    return _("No effect can be told apart from chance: the interval (%(low)s to %(high)s) contains zero.") % bounds


PAIRED_VERDICTS = {
    "effect": lambda: _("The clients who moved up changed after migrating."),
    "no_detectable_effect": lambda: _("The change of the clients who moved up cannot be told apart from chance."),
    "too_few": lambda: _("Too few clients moved up to say anything."),
}


def _effect_charts(result: dict[str, Any], outcome_label: str) -> dict[str, charts.Chart]:
    out: dict[str, charts.Chart] = {}
    estimate = result.get("estimate") or {}
    run = result.get("run")
    if run and result.get("bins"):
        out["rd"] = monitoring_charts.rd_plot(
            result["bins"], run["threshold"], estimate.get("fit"), estimate.get("bandwidth"),
            outcome_title=outcome_label, title=_("Mean outcome by score, with the fitted lines at the dividing line"))
    check = result.get("manipulation") or {}
    if check.get("available") and check.get("bins", {}).get("midpoints"):
        bins = check["bins"]
        out["density"] = charts.bar(
            [f"{m:.3f}" for m in bins["midpoints"]], bins["heights"], key="density",
            title=_("Density of the scores around the line (histogram)"), x_title=_("Score (bin midpoint)"))
    pairs = result.get("before_after")
    if pairs and pairs.get("n"):
        out["before_after"] = charts.bar(
            [_("Before"), _("After")], [pairs.get("mean_before"), pairs.get("mean_after")], key="before-after",
            title=_("Clients who moved up: mean outcome before and after"), x_title=outcome_label,
            highlight=_("After"))
    return out


@page
@require_safe
def effect(request: HttpRequest) -> HttpResponse:
    form = EffectForm(request.GET)
    context: dict[str, Any] = {"form": form, "result": None}
    if not form.is_valid():
        return _render(request, "monitoring/effect.html", context, status=400)
    from bcrm.monitoring.effect import run_choices

    dimension, outcome = form.cleaned_data["dimension"], form.cleaned_data["outcome"]
    try:
        result = services.effect_estimate(actor=request.user, dimension=dimension, outcome=outcome,
                                          run=form.cleaned_data["run"])
    except InvalidInput as exc:  # e.g. a run of another dimension: say so beside the filters
        context.update(error=exc, dimension=dimension, outcome=outcome, runs=run_choices(dimension))
        return _render(request, "monitoring/effect.html", context, status=422)
    estimate = result["estimate"] or {}
    pairs = result.get("before_after")
    outcome_label = str(Outcome(outcome).label)
    context.update(
        result=result, estimate=estimate, pairs=pairs, dimension=dimension, outcome=outcome,
        dimension_label=Dimension(dimension).label, outcome_label=outcome_label,
        upper_name=label_display(dimension, upper_label(dimension)),
        lower_name=label_display(dimension, lower_label(dimension)),
        verdict=effect_verdict(estimate),
        reliable=estimate.get("verdict") in ("effect", "no_detectable_effect"),
        pairs_verdict=PAIRED_VERDICTS.get(str((pairs or {}).get("verdict")), lambda: "")(),
        level=round(100 * (1 - float(estimate.get("alpha") or 0.05))),
        charts=_effect_charts(result, outcome_label),
        runs=run_choices(dimension), chosen_run=(result.get("run") or {}).get("id"),
    )
    return render_page(request, "monitoring/effect.html", context)
