"""Progress pages: milestones, team updates and the report preview of a project; the delivery log; the
public unsubscribe page behind the link in the report e-mail."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from bcrm.core.errors import InvalidInput, NotFound
from bcrm.core.pagination import paginate
from bcrm.parties.choices import Language
from bcrm.progress import selectors, services
from bcrm.progress.charts import financing_chart
from bcrm.progress.forms import DeliveryFilterForm, MilestoneForm, ReportForm, SendForm, UpdateForm
from bcrm.progress.models import DeliveryStatus
from bcrm.progress.periods import previous_period
from bcrm.progress.render import pdf_filename, render_pdf
from bcrm.ui.forms import add_service_error
from bcrm.ui.shortcuts import page, page_number, render_page, submit_form


def _report_choice(request: HttpRequest) -> tuple[ReportForm, str, str]:
    default_language = Language.ZH_HANS if translation.get_language() == "zh-hans" else Language.EN
    data = {"period": request.GET.get("period") or previous_period(timezone.localdate()),
            "language": request.GET.get("language") or default_language}
    form = ReportForm(data)
    if form.is_valid():
        return form, form.cleaned_data["period"], form.cleaned_data["language"]
    return form, previous_period(timezone.localdate()), default_language


def _progress_context(request: HttpRequest, project, **extra) -> dict:
    user = request.user
    form, period, language = _report_choice(request)
    report = selectors.progress_report(project, period, language)
    with translation.override(language):
        chart = financing_chart(report.financing)
    can_edit = services.can_edit_project_progress(user, project)
    counts = selectors.delivery_counts(selectors.deliveries(user, {"project": project.pk, "period": period}))
    context = {
        "project": project, "report": report, "chart": chart, "report_form": form, "period": period,
        "language": language, "can_edit": can_edit,
        "milestones": list(selectors.milestone_list(user=user, project=project)),
        "updates": list(selectors.update_list(user=user, project=project)[:50]),
        "milestone_form": MilestoneForm(prefix="ms"), "update_form": UpdateForm(prefix="up"),
        "send_form": SendForm(initial={"period": period}),
        "delivery_counts": counts,
        "query": urlencode({"period": period, "language": language}),
    }
    context.update(extra)
    return context


@page
@require_safe
def project_progress(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get_for_user(user=request.user, pk=pk)
    context = _progress_context(request, project)
    return render_page(request, "progress/project_progress.html", context,
                       partial="progress/_preview.html", target="report-preview")


@page
@require_safe
def report_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get_for_user(user=request.user, pk=pk)
    form, period, language = _report_choice(request)
    if not form.is_valid():
        raise InvalidInput(fields={k: [str(e) for e in v] for k, v in form.errors.items()})
    report = selectors.progress_report(project, period, language)
    response = HttpResponse(render_pdf(report, language), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{pdf_filename(report)}"'
    return response


@page
@require_POST
def report_send(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get_for_user(user=request.user, pk=pk)
    form = SendForm(request.POST)
    back = reverse("progress:project_progress", args=[project.pk])
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect(back + "?" + urlencode({"period": request.POST.get("period", "")}))
    period = form.cleaned_data["period"]
    result = services.report_send(actor=request.user, project=project, period=period)
    sent = result.sent
    messages.success(request, _(
        "%(created)d report(s) queued, %(sent)d e-mailed; %(already)d already queued before; skipped: "
        "%(no_consent)d without consent, %(no_email)d without e-mail."
    ) % {"created": result.created, "sent": sent.sent if sent else 0, "already": result.already_queued,
         "no_consent": result.skipped_no_consent, "no_email": result.skipped_no_email})
    if sent and (sent.retrying or sent.failed):
        messages.warning(request, _("%(n)d e-mail(s) could not be sent; they are retried automatically.")
                         % {"n": sent.retrying + sent.failed})
    return redirect(back + "?" + urlencode({"period": period}))


def _back_to_project(project, request: HttpRequest) -> HttpResponse:
    target = reverse("progress:project_progress", args=[project.pk])
    query = request.POST.get("query", "")
    return redirect(target + (f"?{query}" if query else ""))


@page
@require_POST
def milestone_add(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get_for_user(user=request.user, pk=pk)
    form = MilestoneForm(request.POST, prefix="ms")
    done = submit_form(request, form, lambda: services.milestone_create(
        actor=request.user, project=project, data=form.service_data()))
    if done:
        messages.success(request, _("Milestone added."))
        return _back_to_project(project, request)
    return render(request, "progress/project_progress.html",
                  _progress_context(request, project, milestone_form=form), status=422)


@page
@require_http_methods(["GET", "HEAD", "POST"])
def milestone_edit(request: HttpRequest, pk: int) -> HttpResponse:
    milestone = selectors.milestone_get_for_user(user=request.user, pk=pk)
    services.require_project_progress(request.user, milestone.project)
    form = MilestoneForm(request.POST or None, instance=milestone)
    done = submit_form(request, form, lambda: services.milestone_update(
        actor=request.user, milestone=milestone, data=form.service_data(), expected_version=form.expected_version))
    if done:
        messages.success(request, _("Milestone saved."))
        return _back_to_project(milestone.project, request)
    return render(request, "progress/item_form.html", {
        "form": form, "project": milestone.project, "title": _("Edit milestone"),
        "delete_url": reverse("progress:milestone_delete", args=[milestone.pk]),
    }, status=422 if form.errors else 200)


@page
@require_POST
def milestone_delete(request: HttpRequest, pk: int) -> HttpResponse:
    milestone = selectors.milestone_get_for_user(user=request.user, pk=pk)
    services.milestone_delete(actor=request.user, milestone=milestone)
    messages.success(request, _("Milestone deleted."))
    return _back_to_project(milestone.project, request)


@page
@require_POST
def update_add(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get_for_user(user=request.user, pk=pk)
    form = UpdateForm(request.POST, prefix="up")
    done = submit_form(request, form, lambda: services.update_create(
        actor=request.user, project=project, data=form.service_data()))
    if done:
        messages.success(request, _("Update added."))
        return _back_to_project(project, request)
    return render(request, "progress/project_progress.html",
                  _progress_context(request, project, update_form=form), status=422)


@page
@require_http_methods(["GET", "HEAD", "POST"])
def update_edit(request: HttpRequest, pk: int) -> HttpResponse:
    update = selectors.update_get_for_user(user=request.user, pk=pk)
    services.require_project_progress(request.user, update.project)
    form = UpdateForm(request.POST or None, instance=update)
    done = submit_form(request, form, lambda: services.update_edit(
        actor=request.user, update=update, data=form.service_data(), expected_version=form.expected_version))
    if done:
        messages.success(request, _("Update saved."))
        return _back_to_project(update.project, request)
    return render(request, "progress/item_form.html", {
        "form": form, "project": update.project, "title": _("Edit update"),
        "delete_url": reverse("progress:update_delete", args=[update.pk]),
    }, status=422 if form.errors else 200)


@page
@require_POST
def update_delete(request: HttpRequest, pk: int) -> HttpResponse:
    update = selectors.update_get_for_user(user=request.user, pk=pk)
    services.update_delete(actor=request.user, update=update)
    messages.success(request, _("Update deleted."))
    return _back_to_project(update.project, request)


@page
@require_safe
def delivery_list(request: HttpRequest) -> HttpResponse:
    form = DeliveryFilterForm(request.GET or None)
    filters = {k: v for k, v in form.cleaned_data.items() if v} if form.is_valid() else {}
    try:
        queryset = selectors.deliveries(request.user, filters)
    except InvalidInput as exc:
        add_service_error(form, exc)
        queryset = selectors.deliveries(request.user, {})
    project = None
    if filters.get("project"):
        try:
            project = selectors.project_get_for_user(user=request.user, pk=filters["project"])
        except NotFound:
            project = None
    counts = selectors.delivery_counts(queryset)
    labels = dict(DeliveryStatus.choices)
    context = {"filter_form": form, "page": paginate(queryset, number=page_number(request)), "project": project,
               "counts": counts, "count_chips": [(code, labels.get(code, code), n) for code, n in counts.items()]}
    return render_page(request, "progress/delivery_list.html", context, partial="progress/_delivery_results.html",
                       target="delivery-results")


# Public: unsubscribe -----------------------------------------------------------------------------------


def _public(request: HttpRequest, template: str, context: dict, *, language: str, status: int = 200) -> HttpResponse:
    with translation.override(language):
        response = render(request, template, {**context, "lang": language}, status=status)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    response["Content-Language"] = language
    add_never_cache_headers(response)
    return response


@csrf_exempt  # RFC 8058: mail providers POST "List-Unsubscribe=One-Click" without a form; the token is the proof
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows what will happen (mail scanners follow links: it changes nothing); POST unsubscribes."""
    fallback = "zh-hans" if translation.get_language_from_request(request) == "zh-hans" else "en"
    try:
        contact = services.contact_by_unsubscribe_token(token)
    except NotFound:
        return _public(request, "progress/unsubscribe.html", {"state": "bad_token"}, language=fallback, status=404)
    language = contact.language if contact.language in Language.values else "en"
    if request.method == "POST":
        services.unsubscribe(token=token)
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        return _public(request, "progress/unsubscribe.html", {"state": "done", "contact": contact,
                                                              "one_click": one_click}, language=language)
    return _public(request, "progress/unsubscribe.html", {"state": "confirm", "contact": contact, "token": token},
                   language=language)
