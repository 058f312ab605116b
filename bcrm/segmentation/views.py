"""Segmentation pages (客户分类): per dimension an overview of the latest run, the criterion editor with
preview, runs and their assignments, the migration matrix between two runs, and overrides. Parse, call a
service or selector, render: permissions live in the services and selectors."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from bcrm.accounts.permissions import require
from bcrm.core.errors import Conflict, InvalidInput
from bcrm.core.pagination import paginate
from bcrm.parties.selectors import organization_get_for_user
from bcrm.segmentation import compliance, selectors, services
from bcrm.segmentation.choices import (
    INSUFFICIENT,
    Dimension,
    Direction,
    Transform,
    label_display,
    labels_for,
    lower_label,
    upper_label,
)
from bcrm.segmentation.criteria import validate_spec
from bcrm.segmentation.diagnostics import diagnostic_labels
from bcrm.segmentation.forms import (
    CompareForm,
    CriterionEditor,
    OverrideForm,
    method_name,
    override_choices,
    params_text,
)
from bcrm.segmentation.models import Criterion, Run
from bcrm.ui import charts
from bcrm.ui.forms import add_service_error
from bcrm.ui.shortcuts import page, page_number, redirect_back, render_page

QUEUE_PAGE = 20
ASSIGNMENT_PAGE = 50
RECENT_RUNS = 10

SECTIONS = ("overview", "criterion", "runs", "compare", "overrides")


# Run-level figures shown elsewhere on the page, not in the method's diagnostics list.
NOT_DIAGNOSTICS = {"histogram", "lorenz", "near_line", "insufficient_reasons", "missing_by_feature",
                   "portfolio_value", "portfolio_value_upper", "portfolio_value_share_upper"}


def _dimension(dimension: str) -> str:
    if dimension not in Dimension.values:
        raise Http404()
    return dimension


def _class_names(dimension: str, criterion: Criterion | None) -> tuple[str, str]:
    up = (criterion.upper_name if criterion else "") or label_display(dimension, upper_label(dimension))
    low = (criterion.lower_name if criterion else "") or label_display(dimension, lower_label(dimension))
    return up, low


#: The models' parameters as the literature writes them (the same in both languages).
GREEK = {"alpha": "α", "gamma": "γ"}


def _frame(request: HttpRequest, dimension: str, section: str) -> dict[str, Any]:
    """What every segmentation page shows around its content: the dimension tabs and the sections."""
    user = request.user
    target = section if section in SECTIONS else "overview"
    return {
        "dimension": dimension,
        "dimension_label": Dimension(dimension).label,
        "dimensions": [(d, Dimension(d).label, reverse(f"segmentation:{target}", args=[d])) for d in Dimension.values],
        "section": section,
        "can_configure": services.can_configure(user),
        "upper": upper_label(dimension), "lower": lower_label(dimension), "insufficient": INSUFFICIENT,
    }


def _reason_text(reason: str) -> str:
    if reason.startswith("feature:"):
        return _("Missing required evidence: %(feature)s") % {"feature": selectors.feature_name(reason[8:])}
    if reason == "history":
        return _("Too little history")
    if reason == "completeness":
        return _("Evidence completeness below the minimum")
    if reason == compliance.COMPLIANCE_REASON:
        return compliance.compliance_text()
    return reason


def _format_diag(value: Any) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def _diagnostics(run: Run) -> list[tuple[str, str]]:
    labels = diagnostic_labels()
    return [(labels.get(key, key), _format_diag(value)) for key, value in (run.diagnostics or {}).items()
            if key not in NOT_DIAGNOSTICS and not isinstance(value, dict | list)]


def _lorenz_marker(points: list[list[float]], share_clients: float | None) -> tuple[float, float] | None:
    """Where the line sits on the curve: the share of value read off the curve at the share of clients."""
    if not points or share_clients is None:
        return None
    xs, ys = zip(*points, strict=True)
    return share_clients, float(np.interp(share_clients, xs, ys))


def _run_charts(run: Run, names: tuple[str, str]) -> dict[str, charts.Chart]:
    diag = run.diagnostics or {}
    hist = diag.get("histogram") or {}
    out = {}
    if hist.get("edges"):
        out["distribution"] = charts.histogram_with_line(
            hist["edges"], hist["upper"], hist["lower"], run.threshold, names, key=f"distribution-{run.pk}",
            title=_("Score distribution and the dividing line"))
    points = diag.get("lorenz") or []
    if points:
        up, low = run.counts.get(upper_label(run.dimension), 0), run.counts.get(lower_label(run.dimension), 0)
        share = up / (up + low) if up + low else None
        out["lorenz"] = charts.lorenz(points, marker=_lorenz_marker(points, share), key=f"lorenz-{run.pk}",
                                      title=_("Lorenz curve: portfolio value by client rank"))
    return out


def _same_params(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    a, b = a or {}, b or {}
    return a.keys() == b.keys() and all(abs(float(a[k]) - float(b[k])) < 1e-12 for k in a)


def _comparison(run: Run) -> tuple[list[dict[str, Any]], charts.Chart | None]:
    """Each compared method's line; the run's own line first when the comparison ran the method in use
    with other parameters (it compares with each method's usual ones)."""
    rows = []
    for row in run.comparison or []:
        current = row["method"] == run.method and _same_params(row.get("params"), run.params)
        rows.append({**row, "name": method_name(row["method"]), "params_text": params_text(row.get("params")),
                     "current": current})
    if rows and not any(r["current"] for r in rows):
        diag = run.diagnostics or {}
        rows.insert(0, {"method": run.method, "name": method_name(run.method), "params_text": params_text(run.params),
                        "threshold": run.threshold, "n_upper": diag.get("n_upper"),
                        "share_upper": diag.get("share_upper"),
                        "portfolio_value_share_upper": diag.get("portfolio_value_share_upper"), "current": True})
    if not rows:
        return rows, None
    for r in rows:
        r["label"] = f"{r['name']} ({r['params_text']})" if r["params_text"] else r["name"]
    current = next(r["label"] for r in rows if r["current"])
    chart = charts.bar([r["label"] for r in rows], [r.get("n_upper") for r in rows], key=f"methods-{run.pk}",
                       title=_("Clients above the line under each method"), x_title=_("Clients above the line"),
                       highlight=current, value_format=",")
    return rows, chart


def _near_line(actor, run: Run) -> dict[str, list[dict[str, Any]]]:
    near = (run.diagnostics or {}).get("near_line") or {}
    ids = [pair[0] for side in ("above", "below") for pair in near.get(side, [])]
    orgs = selectors.organizations_by_id(actor=actor, ids=ids)
    return {side: [{"organization": orgs[oid], "margin": margin} for oid, margin in near.get(side, []) if oid in orgs]
            for side in ("above", "below")}


def _migration_rows(dimension: str, migrations: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for before, targets in (migrations or {}).items():
        for after, count in targets.items():
            rows.append({"from": before, "to": after, "count": count, "moved": before != after,
                         "from_name": label_display(dimension, before) or _("No label yet"),
                         "to_name": label_display(dimension, after)})
    rows.sort(key=lambda r: (not r["moved"], -r["count"]))
    return rows


def _queue(request: HttpRequest, dimension: str):
    queue = selectors.insufficient_queue(actor=request.user, dimension=dimension).select_related("run__criterion")
    result = paginate(queue, number=page_number(request), size=QUEUE_PAGE)
    rows = [{"assignment": a, "why": selectors.explain(a, actor=request.user)} for a in result.items]
    return result, rows


# --- overview ---------------------------------------------------------------------------------------

@page(access=selectors.can_view_portfolio)
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    return redirect("segmentation:overview", dimension=Dimension.VALUE)


@page(access=selectors.can_view_portfolio)
@require_safe
def overview(request: HttpRequest, dimension: str) -> HttpResponse:
    user = request.user
    dimension = _dimension(dimension)
    selectors.require_portfolio_view(user)
    run = selectors.latest_run(dimension)
    criterion = Criterion.objects.filter(dimension=dimension, is_active=True).first()
    context = _frame(request, dimension, "overview")
    queue_page, queue_rows = _queue(request, dimension)
    context.update({"run": run, "criterion": criterion, "queue_page": queue_page, "queue_rows": queue_rows})
    if run is not None:
        names = _class_names(dimension, run.criterion)
        comparison, comparison_chart = _comparison(run)
        diag = compliance.visible_diagnostics(user, run.diagnostics)
        context.update({
            "names": names,
            "charts": _run_charts(run, names),
            "comparison": comparison, "comparison_chart": comparison_chart,
            "near": _near_line(user, run),
            "reasons": [(_reason_text(k), v) for k, v in (diag.get("insufficient_reasons") or {}).items() if v],
            "missing_by_feature": [(selectors.feature_name(k), v)
                                   for k, v in (diag.get("missing_by_feature") or {}).items() if v],
            "diagnostics": _diagnostics(run),
            "value_share": diag.get("portfolio_value_share_upper"),
            "portfolio_value": diag.get("portfolio_value"), "currency": settings.BCRM_REPORTING_CURRENCY,
            "method_name": method_name(run.method), "params_text": params_text(run.params),
            "runs": list(selectors.run_list(actor=user, dimension=dimension)[:RECENT_RUNS]),
        })
    return render_page(request, "segmentation/overview.html", context,
                       partial="segmentation/_insufficient.html", target="insufficient-queue")


@page
@require_POST
def run_now(request: HttpRequest, dimension: str) -> HttpResponse:
    dimension = _dimension(dimension)
    try:
        report = services.run_requested(actor=request.user, dimension=dimension,
                                        refit_clv=request.POST.get("refit_clv") == "1")
    except InvalidInput as exc:
        messages.error(request, exc.message)
        return redirect("segmentation:overview", dimension=dimension)
    if report is None or report.run is None:
        messages.info(request, _("The portfolio is large: the run was queued and appears in the list of runs "
                                 "when the background worker has finished it."))
        return redirect("segmentation:run_list", dimension=dimension)
    counts = report.run.counts
    messages.success(request, _("Run #%(id)s done: %(upper)s %(up)s, %(lower)s %(low)s, %(insufficient)s %(ins)s.") % {
        "id": report.run.pk, "upper": label_display(dimension, upper_label(dimension)),
        "up": counts.get(upper_label(dimension), 0), "lower": label_display(dimension, lower_label(dimension)),
        "low": counts.get(lower_label(dimension), 0), "insufficient": label_display(dimension, INSUFFICIENT),
        "ins": counts.get(INSUFFICIENT, 0)})
    return redirect("segmentation:run_detail", pk=report.run.pk)


@page
@require_safe
def run_list(request: HttpRequest, dimension: str) -> HttpResponse:
    dimension = _dimension(dimension)
    runs = selectors.run_list(actor=request.user, dimension=dimension)
    context = _frame(request, dimension, "runs")
    context["page"] = paginate(runs, number=page_number(request), size=ASSIGNMENT_PAGE)
    return render_page(request, "segmentation/runs.html", context, partial="segmentation/_runs_table.html",
                       target="runs")


# --- criterion editor -------------------------------------------------------------------------------

def _preview(actor, dimension: str, report: services.RunReport) -> dict[str, Any]:
    data = report.as_dict()
    latest = selectors.latest_run(dimension)
    moved = data["moved"]
    orgs = selectors.organizations_by_id(actor=actor, ids=moved["up"]["ids"] + moved["down"]["ids"])
    names = _class_names(dimension, report.outcome.criterion)

    def people(side: str) -> list[dict[str, Any]]:
        return [{"organization": orgs[oid], "score": score}
                for oid, score in zip(moved[side]["ids"], moved[side]["scores"], strict=True) if oid in orgs]

    counts = [{"code": code, "name": label_display(dimension, code),
               "now": latest.counts.get(code) if latest else None, "preview": data["counts"].get(code, 0)}
              for code in labels_for(dimension)]
    for row in counts:
        row["delta"] = None if row["now"] is None else row["preview"] - row["now"]
    hist = data["diagnostics"].get("histogram") or {}
    chart = None
    if hist.get("edges"):
        chart = charts.histogram_with_line(hist["edges"], hist["upper"], hist["lower"], data["threshold"], names,
                                           key=f"preview-{dimension}", title=_("Score distribution in the preview"))
    return {
        "counts": counts, "threshold": data["threshold"], "threshold_now": latest.threshold if latest else None,
        "method_name": method_name(data["method"]), "params_text": params_text(data["params"]),
        "up": people("up"), "up_count": moved["up"]["count"],
        "down": people("down"), "down_count": moved["down"]["count"],
        "to_insufficient": moved["to_insufficient"]["count"],
        "migrations": [r for r in _migration_rows(dimension, data["migrations"]) if r["moved"]],
        "value_share": data["diagnostics"].get("portfolio_value_share_upper"),
        "value_share_now": (latest.diagnostics or {}).get("portfolio_value_share_upper") if latest else None,
        "chart": chart, "duration_ms": data["duration_ms"], "latest": latest,
    }


def _criterion_summary(criterion: Criterion) -> dict[str, Any]:
    return {
        "criterion": criterion,
        "features": [{**t, "label": selectors.feature_name(t["feature"]),
                      "direction_label": dict(Direction.choices).get(t.get("direction"), t.get("direction")),
                      "transform_label": dict(Transform.choices).get(t.get("transform"), t.get("transform"))}
                     for t in criterion.features],
        "rules": [{**r, "label_name": label_display(criterion.dimension, upper_label(criterion.dimension)
                                                    if r["label"] == "upper" else lower_label(criterion.dimension)),
                   "feature_label": selectors.feature_name(r["feature"])} for r in criterion.rules],
        "required": [selectors.feature_name(f) for f in criterion.required_features],
        "method_name": method_name(criterion.method), "params_text": params_text(criterion.params),
    }


@page
def criterion_edit(request: HttpRequest, dimension: str) -> HttpResponse:
    user = request.user
    dimension = _dimension(dimension)
    selectors.require_portfolio_view(user)
    active = services.criterion_active(dimension)
    can_edit = services.can_configure(user)
    preview = None
    saved_from = None
    if request.method == "POST":
        require(can_edit, _("Only analysts, team leads and administrators change criteria."))
        action = request.POST.get("action", "preview")
        add = {"add_feature": "features", "add_rule": "rules"}.get(action)
        editor = CriterionEditor(dimension=dimension, data=request.POST, add=add)
        if add is None and editor.is_valid():
            try:
                clean = validate_spec(editor.spec())
            except InvalidInput as exc:
                editor.add_error(exc)
            else:
                if action == "save":
                    try:
                        created = services.criterion_create_version(
                            actor=user, dimension=dimension, spec=clean, note=editor.note,
                            base_version=editor.base_version)
                    except (InvalidInput, Conflict) as exc:
                        editor.add_error(exc)
                    else:
                        messages.success(request, _("Version %(v)s of the %(dimension)s criterion saved. Run it "
                                                    "to classify the clients with it.") % {
                            "v": created.version, "dimension": Dimension(dimension).label})
                        url = reverse("segmentation:criterion", args=[dimension])
                        if getattr(request, "htmx", False):
                            return HttpResponseClientRedirect(url)
                        return redirect(url)
                else:
                    unsaved = Criterion(dimension=dimension, version=active.version, is_active=False, **clean)
                    try:
                        report = services.run_segmentation(actor=user, dimension=dimension, dry_run=True,
                                                           criterion=unsaved, with_stability=False)
                    except InvalidInput as exc:
                        editor.add_error(exc)
                    else:
                        preview = _preview(user, dimension, report)
    else:
        source = active
        if request.GET.get("version"):
            try:
                source = services.criterion_get(dimension, int(request.GET["version"]))
            except ValueError:
                raise Http404() from None
            saved_from = source
        editor = CriterionEditor(dimension=dimension, criterion=source)
        editor.form.initial["base_version"] = active.version
    context = _frame(request, dimension, "criterion")
    context.update({
        "active": active, "editor": editor, "preview": preview, "can_edit": can_edit, "loaded": saved_from,
        "history": list(selectors.criterion_list(actor=user, dimension=dimension)[:50]),
        "summary": _criterion_summary(active),
    })
    for version in context["history"]:
        version.method_text = method_name(version.method)
        version.params_text = params_text(version.params)
    return render_page(request, "segmentation/criterion.html", context,
                       partial="segmentation/_criterion_editor.html", target="criterion-editor")


# --- runs -------------------------------------------------------------------------------------------

@page
@require_safe
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    run = selectors.run_get(actor=user, pk=pk)
    dimension = run.dimension
    label = request.GET.get("label") or ""
    if label not in labels_for(dimension):
        label = ""
    order = request.GET.get("order") or "-score"
    if order not in ("-score", "score", "margin"):
        order = "-score"
    rows = paginate(selectors.assignment_list(actor=user, run=run, label=label or None, order=order),
                    number=page_number(request), size=ASSIGNMENT_PAGE)
    names = _class_names(dimension, run.criterion)
    options = selectors.run_options(actor=user, dimension=dimension)
    other = run.previous_run_id or next((r.pk for r in options if r.pk != run.pk), run.pk)
    context = _frame(request, dimension, "run")
    context.update({
        "run": run, "names": names, "page": rows, "label": label, "order": order,
        "label_options": [(code, label_display(dimension, code)) for code in labels_for(dimension)],
        "charts": _run_charts(run, names), "diagnostics": _diagnostics(run),
        "migrations": _migration_rows(dimension, run.migrations),
        "method_name": method_name(run.method), "params_text": params_text(run.params),
        "value_share": (run.diagnostics or {}).get("portfolio_value_share_upper"),
        "compare_form": CompareForm(initial={"a": other, "b": run.pk}, runs=options),
        "clv_refit_days": settings.BCRM_CLV_REFIT_DAYS,
        "clv_params": ", ".join(f"{GREEK.get(name, name)} {value:.4g}" for name, value in (
            run.clv_fit.params.items() if run.clv_fit else ())),
    })
    return render_page(request, "segmentation/run_detail.html", context,
                       partial="segmentation/_assignments.html", target="assignments")


@page
@require_safe
def compare(request: HttpRequest, dimension: str) -> HttpResponse:
    user = request.user
    dimension = _dimension(dimension)
    options = selectors.run_options(actor=user, dimension=dimension)
    data: Any = request.GET if "a" in request.GET or "b" in request.GET else None
    if data is None and len(options) >= 2:
        data = {"a": options[1].pk, "b": options[0].pk}
    form = CompareForm(data, runs=options)
    context = _frame(request, dimension, "compare")
    context.update({"form": form, "runs": options})
    if data is not None and form.is_valid():
        run_a = selectors.run_get(actor=user, pk=form.cleaned_data["a"])
        run_b = selectors.run_get(actor=user, pk=form.cleaned_data["b"])
        matrix = selectors.migration_matrix(actor=user, run_a=run_a, run_b=run_b)
        labels = matrix["labels"]
        chart = charts.heatmap(
            matrix["matrix"], matrix["label_names"], key=f"migration-{run_a.pk}-{run_b.pk}",
            title=_("Class migration from run #%(a)s to run #%(b)s") % {"a": run_a.pk, "b": run_b.pk},
            row_title=_("Run #%(id)s") % {"id": run_a.pk}, col_title=_("Run #%(id)s") % {"id": run_b.pk})
        cells = [[{"from": labels[i], "to": labels[j], "count": n} for j, n in enumerate(row)]
                 for i, row in enumerate(matrix["matrix"])]
        context.update({"run_a": run_a, "run_b": run_b, "matrix": matrix, "chart": chart,
                        "rows": list(zip(matrix["label_names"], cells, strict=True))})
        source, target = request.GET.get("from") or "", request.GET.get("to") or ""
        if source in labels and target in labels:
            clients = selectors.migration_clients(actor=user, run_a=run_a, run_b=run_b, from_label=source,
                                                  to_label=target)
            cell_page = paginate(clients, number=page_number(request), size=ASSIGNMENT_PAGE)
            reasons = selectors.migration_reasons(actor=user, run_a=run_a, run_b=run_b,
                                                  assignments_b=cell_page.items)  # this page only
            context.update({"cell": {"from": source, "to": target,
                                     "from_name": label_display(dimension, source),
                                     "to_name": label_display(dimension, target)},
                            "page": cell_page,
                            "cell_rows": [{"assignment": a, "why": reasons.get(a.organization_id)}
                                          for a in cell_page.items]})
    return render_page(request, "segmentation/compare.html", context,
                       partial="segmentation/_cell_clients.html", target="cell-clients")


# --- overrides --------------------------------------------------------------------------------------

@page
@require_safe
def override_list(request: HttpRequest, dimension: str) -> HttpResponse:
    user = request.user
    dimension = _dimension(dimension)
    selectors.require_portfolio_view(user)
    state = "ended" if request.GET.get("state") == "ended" else "active"
    overrides = selectors.override_list(actor=user, dimension=dimension, active=state == "active")
    context = _frame(request, dimension, "overrides")
    context.update({"state": state, "page": paginate(overrides, number=page_number(request), size=ASSIGNMENT_PAGE),
                    "can_override": services.can_override(user, dimension)})
    return render_page(request, "segmentation/overrides.html", context,
                       partial="segmentation/_overrides_table.html", target="overrides")


OVERRIDE_FIELDS = {"label": "target", "dimension": "target", "expires_at": "expires_on", "reason": "reason"}


@page
def override_create(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    organization = organization_get_for_user(user=user, pk=pk)
    require(bool(override_choices(user)), _("Only team leads and administrators (and compliance, on risk) "
                                            "override labels."))
    form = OverrideForm(request.POST or None, user=user)
    back = reverse("client_detail", args=[organization.pk]) + "#segmentation"
    if request.method == "POST" and form.is_valid():
        try:
            services.override_create(actor=user, organization=organization, dimension=form.dimension,
                                     label=form.label, reason=form.cleaned_data["reason"],
                                     expires_at=form.expires_at)
        except InvalidInput as exc:
            exc.fields = {OVERRIDE_FIELDS.get(k, k): v for k, v in exc.fields.items()}
            add_service_error(form, exc)
        else:
            messages.success(request, _("Label set by hand until %(date)s.") % {
                "date": form.cleaned_data["expires_on"].isoformat()})
            return redirect(back)
    return render(request, "web/form_page.html", {
        "form": form, "organization": organization, "cancel_url": back,
        "title": _("Override a label of %(name)s") % {"name": organization.display_name},
        "subtitle": _("The label you set wins over every run until it ends; each run still records what the "
                      "engine would have said."),
        "submit_label": _("Set label"),
    })


@page
@require_POST
def override_end(request: HttpRequest, pk: int) -> HttpResponse:
    override = selectors.override_get(actor=request.user, pk=pk)
    try:
        services.override_expire(actor=request.user, override=override)
    except InvalidInput as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Override ended: the client is back on the label the latest run gave it."))
    return redirect_back(request, reverse("client_detail", args=[override.organization_id])
                         + "#segmentation")
