"""The monitoring dashboard (监控看板) and the effect page. Parse, call a selector or service, render: who may
read or compute what is decided in :mod:`bcrm.monitoring.selectors` and :mod:`bcrm.monitoring.services`.

The dashboard reads stored snapshot rows only (a fixed number of queries whatever the history's size); the
sentences that say where service falls short are computed here from those stored figures."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from bcrm.accounts.choices import Role
from bcrm.accounts.models import Team
from bcrm.accounts.permissions import has_any, sees_all_organizations, user_team_ids
from bcrm.core.errors import InvalidInput, PermissionDenied
from bcrm.monitoring import charts as monitoring_charts
from bcrm.monitoring import selectors, services
from bcrm.monitoring.choices import ALL, UNCLASSIFIED, Breakdown, Outcome
from bcrm.monitoring.forms import TREND_FIGURES, DashboardFilter, EffectForm
from bcrm.monitoring.models import KpiSnapshot
from bcrm.segmentation.choices import INSUFFICIENT, Dimension, label_display, lower_label, upper_label
from bcrm.web import charts
from bcrm.web.shortcuts import page, render_page

TREND_LENGTH = 12
PERIOD_CHOICES = 36


# --- small readers of the stored figures ------------------------------------------------------------------

def _path(figures: dict[str, Any], keys: tuple[str, ...]) -> Any:
    value: Any = figures
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _pct(value: Any, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * float(value):.{digits}f}%"


def _num(value: Any, digits: int = 1) -> str:
    return "—" if value is None else f"{float(value):,.{digits}f}"


def _money(value: Any) -> str:
    try:
        return f"{Decimal(str(value)):,.2f}"
    except (InvalidOperation, TypeError, ValueError):
        return "—"


def _interval(low: Any, high: Any, digits: int = 1) -> str:
    if low is None or high is None:
        return ""
    return f"[{float(low):,.{digits}f}, {float(high):,.{digits}f}]"


def _share_interval(low: Any, high: Any) -> str:
    if low is None or high is None:
        return ""
    return f"[{100 * float(low):.0f}%, {100 * float(high):.0f}%]"


def _display_row(row: dict[str, Any]) -> dict[str, Any]:
    """One segment's stored figures, formatted for the table (the numbers are the stored ones)."""
    f = row["figures"]
    nps, csat, repeat = f.get("nps") or {}, f.get("csat") or {}, f.get("repeat") or {}
    cadence, response, resolution = f.get("cadence") or {}, f.get("sla_response") or {}, f.get("sla_resolution") or {}
    return {
        "segment": row["segment"], "name": row["segment_name"], "is_total": row["segment"] == ALL,
        "clients": f.get("clients", 0),
        "committed": _money(f.get("committed")), "committed_share": _pct(f.get("committed_share")),
        "fee_income": _money(f.get("fee_income")), "fee_income_share": _pct(f.get("fee_income_share")),
        "cadence": _pct(cadence.get("share")), "cadence_judged": cadence.get("judged", 0),
        "response": _pct(response.get("share")), "response_judged": response.get("judged", 0),
        "resolution": _pct(resolution.get("share")), "resolution_judged": resolution.get("judged", 0),
        "hours": _num(f.get("hours")), "hours_per_million": _num(f.get("hours_per_million"), 2),
        "nps": _num(nps.get("nps")), "nps_interval": _interval(nps.get("ci_low"), nps.get("ci_high")),
        "nps_n": nps.get("n", 0),
        "csat": _num(csat.get("mean"), 2), "csat_interval": _interval(csat.get("ci_low"), csat.get("ci_high"), 2),
        "csat_n": csat.get("n", 0),
        "repeat": _pct(repeat.get("share")),
        "repeat_interval": _share_interval(repeat.get("ci_low"), repeat.get("ci_high")),
        "repeat_of": repeat.get("committed_clients", 0),
        "insufficient": "—" if f.get("insufficient") is None else f["insufficient"],
    }


def _segments(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The segments a chart compares: every class or tier, and the insufficient / unclassified clients when
    there are any; never the all-clients row."""
    return [r for r in rows if r["segment"] != ALL
            and (r["figures"].get("clients") or r["segment"] not in (UNCLASSIFIED, INSUFFICIENT))]


# --- where service falls short, in words -------------------------------------------------------------------

def shortfalls(breakdown: str, rows: list[dict[str, Any]]) -> list[str]:
    """Sentences about the weakest segment on each service figure, from the stored figures only."""
    total = next((r["figures"] for r in rows if r["segment"] == ALL), None)
    segments = _segments(rows)
    out: list[str] = []
    measures = (
        ("cadence", lambda: _("%(segment)s has the lowest cadence adherence: %(share)s of %(n)s playbook contacts "
                              "done on time (all clients: %(all)s).")),
        ("sla_response", lambda: _("%(segment)s has the lowest first-response SLA compliance: %(share)s of %(n)s "
                                   "requests answered within the SLA (all clients: %(all)s).")),
        ("sla_resolution", lambda: _("%(segment)s has the lowest resolution SLA compliance: %(share)s of %(n)s "
                                     "requests resolved within the SLA (all clients: %(all)s).")),
    )
    for key, template in measures:
        judged = [r for r in segments if (r["figures"].get(key) or {}).get("share") is not None]
        if not judged:
            continue
        worst = min(judged, key=lambda r: r["figures"][key]["share"])
        figure = worst["figures"][key]
        if figure["share"] >= 1:  # everything on time: nothing falls short
            continue
        overall = (total or {}).get(key) or {}
        out.append(template() % {"segment": worst["segment_name"], "share": _pct(figure["share"]),
                                 "n": figure["judged"], "all": _pct(overall.get("share"))})
    with_nps = [r for r in segments if (r["figures"].get("nps") or {}).get("nps") is not None]
    if len(with_nps) >= 2:
        worst = min(with_nps, key=lambda r: r["figures"]["nps"]["nps"])
        best = max(with_nps, key=lambda r: r["figures"]["nps"]["nps"])
        nps = worst["figures"]["nps"]
        sentence = _("%(segment)s has the lowest NPS, %(nps)s (%(n)s responses).") % {
            "segment": worst["segment_name"], "nps": _num(nps["nps"]), "n": nps["n"]}
        best_low, worst_high = best["figures"]["nps"].get("ci_low"), nps.get("ci_high")
        if worst is not best and (best_low is None or worst_high is None or worst_high >= best_low):
            sentence += " " + _("Its interval overlaps that of %(best)s, so the gap may be chance.") % {
                "best": best["segment_name"]}
        out.append(sentence)
    costly = [r for r in segments if r["figures"].get("hours_per_million") is not None]
    if len(costly) >= 2:
        top = max(costly, key=lambda r: r["figures"]["hours_per_million"])
        out.append(_("Serving %(segment)s costs the most per unit of value: %(hours)s hours logged per million "
                     "committed.") % {"segment": top["segment_name"], "hours": _num(top["figures"]["hours_per_million"],
                                                                                     2)})
    if total:
        if total.get("insufficient"):
            out.append(_("%(n)s clients lack the data to be classified on this dimension: they wait in the "
                         "data-collection queue.") % {"n": total["insufficient"]})
        if total.get("unconverted"):
            out.append(_("%(n)s participations in %(currencies)s have no exchange rate and are left out of the "
                         "amounts.") % {"n": total["unconverted"],
                                        "currencies": ", ".join(total.get("unconverted_currencies") or [])})
    return out


# --- charts --------------------------------------------------------------------------------------------------

def _dashboard_charts(rows: list[dict[str, Any]], lorenz: dict[str, Any] | None) -> dict[str, charts.Chart]:
    segments = _segments(rows)
    names = [r["segment_name"] for r in segments]
    figures = [r["figures"] for r in segments]
    out: dict[str, charts.Chart] = {}
    if segments:
        out["commitments"] = charts.bar(
            names, [f.get("committed_share") for f in figures], key="commitments-share",
            title=_("Share of commitments by segment"), x_title=_("Share of commitments"), value_format=".0%")
        out["nps"] = monitoring_charts.interval_points(
            names, [(f.get("nps") or {}).get("nps") for f in figures],
            [(f.get("nps") or {}).get("ci_low") for f in figures], [(f.get("nps") or {}).get("ci_high") for f in figures],
            [(f.get("nps") or {}).get("n", 0) for f in figures], key="nps-interval",
            title=_("NPS by segment, with its interval (95%)"), x_title=_("NPS"), domain=(-100.0, 100.0))
        out["service"] = charts.grouped_bars(
            names, {_("Cadence adherence"): [(f.get("cadence") or {}).get("share") for f in figures],
                    _("First response within SLA"): [(f.get("sla_response") or {}).get("share") for f in figures],
                    _("Resolution within SLA"): [(f.get("sla_resolution") or {}).get("share") for f in figures]},
            key="service-levels", title=_("Cadence and SLA compliance by segment"), x_title=_("Segment"),
            y_title=_("Share on time"), value_format=".0%", digits=3)
    if lorenz and lorenz.get("x"):
        top = lorenz.get("top_20_share")
        # stored smallest first; drawn largest first (as the segmentation pages do), so the marker reads
        # "the largest fifth of clients hold this share"
        points = [(round(1 - x, 6), round(1 - y, 6)) for x, y in reversed(list(zip(lorenz["x"], lorenz["y"],
                                                                                  strict=True)))]
        out["lorenz"] = charts.lorenz(points,
                                      marker=(0.2, top) if top is not None else None, key="lorenz-commitments",
                                      title=_("Lorenz curve of commitments"), x_title=_("Share of clients, largest first"),
                                      y_title=_("Share of commitments"))
    return out


def _trend(user_team: int | None, breakdown: str, periods: list[str], figure: str) -> charts.Chart | None:
    """The chosen figure over the last stored snapshots up to the chosen period (one query on stored rows;
    the caller has checked through :func:`selectors.kpis` that the user may read this team's rows)."""
    if len(periods) < 2:
        return None
    label, path, share = TREND_FIGURES[figure]
    scope: dict[str, Any] = {"team__isnull": True} if user_team is None else {"team_id": user_team}
    stored = (KpiSnapshot.objects.filter(period__in=periods, breakdown=breakdown, **scope)
              .values_list("period", "segment", "figures"))
    by_segment: dict[str, dict[str, Any]] = {}
    for period, segment, figures in stored:
        if segment in (UNCLASSIFIED, INSUFFICIENT) and not figures.get("clients"):
            continue
        by_segment.setdefault(segment, {})[period] = _path(figures, path)
    order = selectors.segment_order(breakdown)
    segments = sorted(by_segment, key=lambda s: order.index(s) if s in order else len(order))
    series = {selectors.segment_name(breakdown, s): [by_segment[s].get(p) for p in periods] for s in segments}
    return monitoring_charts.trend(periods, series, key="trend", title=_("%(figure)s over the last snapshots") % {
        "figure": label}, y_title=str(label), value_format=".0%" if share else "", percent=share)


def _render(request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    response = render_page(request, template, context)
    response.status_code = status
    return response


# --- the dashboard ---------------------------------------------------------------------------------------------

def _dashboard_teams(user) -> tuple[list[Team], bool]:
    if sees_all_organizations(user):
        return list(Team.objects.order_by("name")), True
    if has_any(user, {Role.RELATIONSHIP_MANAGER}):
        return list(Team.objects.filter(pk__in=user_team_ids(user)).order_by("name")), False
    raise PermissionDenied(_("The dashboard is for roles that read the portfolio's figures."))


@page
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    teams, all_teams = _dashboard_teams(user)
    periods = list(KpiSnapshot.objects.filter(breakdown=Breakdown.TIER, segment=ALL, team__isnull=True)
                   .order_by("-period").values_list("period", flat=True)[:PERIOD_CHOICES])
    form = DashboardFilter(request.GET, teams=teams, all_teams=all_teams, periods=periods)
    context: dict[str, Any] = {"form": form, "periods": periods, "teams": teams, "all_teams": all_teams,
                               "can_compute": has_any(user, services.COMPUTE_ROLES), "data": None,
                               "trend_figures": [(k, v[0]) for k, v in TREND_FIGURES.items()]}
    if not form.is_valid():
        return _render(request, "monitoring/dashboard.html", context, status=400)
    period, breakdown, team = form.cleaned_data["period"], form.cleaned_data["breakdown"], form.cleaned_data["team"]
    figure = form.cleaned_data["figure"]
    context.update(period=period, breakdown=breakdown, team=team, figure=figure,
                   breakdown_label=Breakdown(breakdown).label,
                   compare_dimension=breakdown if breakdown in Dimension.values else Dimension.VALUE.value)
    if period is None:  # nothing computed yet
        if team is not None or not all_teams:
            selectors.kpis(user, "2000-01", breakdown, team)  # the permission check, on an empty period
        return render_page(request, "monitoring/dashboard.html", context)
    try:
        data = selectors.kpis(user, period, breakdown, team)
    except InvalidInput as exc:
        context["error"] = exc
        return _render(request, "monitoring/dashboard.html", context, status=400)
    rows = data["rows"]
    lorenz = selectors.lorenz_curve(user, period) if all_teams and team is None and rows else None
    trend_periods = sorted(p for p in periods if p <= period)[-TREND_LENGTH:]
    total = next((r for r in rows if r["segment"] == ALL), None)
    context.update(
        data=data, rows=[_display_row(r) for r in rows], total=_display_row(total) if total else None,
        total_figures=total["figures"] if total else None,
        sentences=shortfalls(breakdown, rows) if rows else [],
        charts=_dashboard_charts(rows, lorenz) if rows else {},
        lorenz=lorenz,
        lorenz_top=_pct(lorenz.get("top_20_share")) if lorenz and lorenz.get("top_20_share") is not None else "",
        lorenz_gini=_num(lorenz.get("gini"), 3) if lorenz else "",
        trend=_trend(team, breakdown, trend_periods, figure) if rows else None,
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


# --- the effect page ----------------------------------------------------------------------------------------------

VERDICTS = {
    "effect": lambda: _("The dedicated tier makes a difference at the line: the interval excludes no effect."),
    "no_detectable_effect": lambda: _("No effect can be told apart from chance: the interval includes no effect."),
    "too_few": lambda: _("Too few clients near the line to say anything."),
}
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
    dimension, outcome = form.cleaned_data["dimension"], form.cleaned_data["outcome"]
    result = services.effect_estimate(actor=request.user, dimension=dimension, outcome=outcome)
    estimate = result["estimate"] or {}
    pairs = result.get("before_after")
    outcome_label = str(Outcome(outcome).label)
    context.update(
        result=result, estimate=estimate, pairs=pairs, dimension=dimension, outcome=outcome,
        dimension_label=Dimension(dimension).label, outcome_label=outcome_label,
        upper_name=label_display(dimension, upper_label(dimension)),
        lower_name=label_display(dimension, lower_label(dimension)),
        verdict=VERDICTS.get(str(estimate.get("verdict")), lambda: "")(),
        pairs_verdict=PAIRED_VERDICTS.get(str((pairs or {}).get("verdict")), lambda: "")(),
        level=round(100 * (1 - float(estimate.get("alpha") or 0.05))),
        charts=_effect_charts(result, outcome_label),
    )
    return render_page(request, "monitoring/effect.html", context)
