"""Pages of financing plans: the list, a plan with its versions and history, compare two versions, the
terms form (new plan, next version), status buttons, the proposal document and its e-mail."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from bcrm.accounts.permissions import (
    can_edit_organization,
    can_write,
    require,
    restrict_organizations,
    sees_some_organizations,
)
from bcrm.core.errors import InvalidInput
from bcrm.financing.selectors import project_get_for_user, project_list
from bcrm.parties.models import Organization
from bcrm.plans import selectors, services
from bcrm.plans.forms import NewPlanForm, TermsForm, TransitionForm
from bcrm.plans.models import TRANSITIONS, PlanStatus
from bcrm.plans.render import LANGUAGES, pdf_filename, plan_document, plan_pdf, term_label, term_value
from bcrm.plans.terms import TERM_FIELDS
from bcrm.ui.shortcuts import page, submit_form


@page(access=sees_some_organizations)
@require_safe
def plan_list(request: HttpRequest) -> HttpResponse:
    filters = {"organization": request.GET.get("client") or None, "project": request.GET.get("project") or None,
               "status": request.GET.get("status") or None}
    try:
        plans = list(selectors.plan_list(actor=request.user, filters=filters)[:300])
    except InvalidInput as exc:
        messages.error(request, exc.message)
        plans = []
    client = None
    if filters["organization"] and str(filters["organization"]).isdigit():
        client = restrict_organizations(request.user, Organization.objects.all()).filter(
            pk=int(filters["organization"])).first()
    templates = []
    if filters["project"] and str(filters["project"]).isdigit():
        templates = list(selectors.plan_template_list(actor=request.user).filter(
            project__in=project_list(actor=request.user).filter(pk=int(filters["project"])).values("pk")))
    return render(request, "plans/plan_list.html", {
        "plans": plans, "statuses": PlanStatus.choices, "filters": filters, "client": client,
        "templates": templates, "can_write": can_write(request.user)})


@page
@require_safe
def plan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    plan = selectors.plan_get_for_user(user=request.user, pk=pk)
    versions = selectors.plan_versions(plan)
    numbers = [v.number for v in versions]
    try:
        a = int(request.GET.get("a") or (numbers[-2] if len(numbers) > 1 else numbers[-1]))
        b = int(request.GET.get("b") or numbers[-1])
        left, right, changes = selectors.plan_compare(plan, a, b)
    except (ValueError, InvalidInput):
        left, right, changes = versions[0], versions[-1], []
    changed = {c.field for c in changes}
    rows = [(term_label(name), term_value(left, name), term_value(right, name), name in changed)
            for name in TERM_FIELDS]
    can_edit = can_edit_organization(request.user, plan.organization)
    return render(request, "plans/plan_detail.html", {
        "plan": plan, "versions": versions, "left": left, "right": right, "rows": rows, "changes": changes,
        "history": list(plan.status_changes.select_related("changed_by")),
        "moves": [(s, PlanStatus(s).label) for s in TRANSITIONS[plan.status]] if can_edit else [],
        "can_edit": can_edit, "languages": LANGUAGES,
        "can_send": can_edit and plan.status in (PlanStatus.PROPOSED, PlanStatus.NEGOTIATING),
        "contacts": list(plan.organization.contacts.exclude(email="")),
    })


@page
def plan_create(request: HttpRequest) -> HttpResponse:
    user = request.user
    require(can_write(user))
    organizations = restrict_organizations(user, Organization.objects.order_by("legal_name"))
    initial = {"organization": request.GET.get("client"), "project": request.GET.get("project"),
               "currency": "USD", "instrument": "senior_debt", "grace_months": 0}
    form = NewPlanForm(request.POST or None, organizations=organizations, projects=project_list(actor=user),
                       initial=initial)

    def create():
        data = form.cleaned_data
        project = project_get_for_user(user=user, pk=data["project"].pk)
        return services.plan_create(actor=user, organization=data["organization"], project=project,
                                    tranche=data.get("tranche") or "", terms=form.terms(),
                                    reason=data.get("reason") or "")

    plan = submit_form(request, form, create)
    if plan is not None:
        messages.success(request, _("Financing plan created as a draft."))
        return redirect("plans:plan_detail", pk=plan.pk)
    return render(request, "web/form_page.html", {
        "form": form, "title": _("New financing plan"), "submit_label": _("Create plan"),
        "cancel_url": reverse("plans:plan_list")})


@page
def plan_revise(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    plan = selectors.plan_get_for_user(user=user, pk=pk)
    services.require_plan_write(user, plan.organization)
    current = plan.current
    form = TermsForm(request.POST or None, initial={**current.terms(), "plan_version": plan.version})
    version = submit_form(request, form, lambda: services.plan_revise(
        actor=user, plan=plan, terms=form.terms(), reason=form.cleaned_data.get("reason") or "",
        expected_version=form.cleaned_data.get("plan_version")))
    if version is not None:
        messages.success(request, _("Version %(number)s saved.") % {"number": version.number})
        return redirect("plans:plan_detail", pk=plan.pk)
    return render(request, "web/form_page.html", {
        "form": form, "title": _("Change the terms of plan %(pk)s") % {"pk": plan.pk},
        "subtitle": f"{plan.organization.display_name} · {plan.project.name}",
        "submit_label": _("Save as a new version"), "cancel_url": reverse("plans:plan_detail", args=[plan.pk])})


@page
@require_POST
def plan_transition(request: HttpRequest, pk: int) -> HttpResponse:
    plan = selectors.plan_get_for_user(user=request.user, pk=pk)
    form = TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a status."))
    else:
        try:
            plan = services.plan_transition(actor=request.user, plan=plan, to=form.cleaned_data["to"],
                                            note=form.cleaned_data.get("note") or "",
                                            expected_version=form.cleaned_data.get("version"))
        except InvalidInput as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("The plan is now %(status)s.") % {"status": plan.get_status_display()})
    return redirect("plans:plan_detail", pk=pk)


@page
@require_POST
def plan_send(request: HttpRequest, pk: int) -> HttpResponse:
    plan = selectors.plan_get_for_user(user=request.user, pk=pk)
    ids = [int(v) for v in request.POST.getlist("contact") if v.isdigit()]
    contacts = list(plan.organization.contacts.filter(pk__in=ids)) if ids else None
    try:
        summary = services.plan_send_proposal(actor=request.user, plan=plan, contacts=contacts)
    except InvalidInput as exc:
        messages.error(request, exc.message)
    else:
        if summary.sent:
            messages.success(request, _("Proposal e-mailed (%(n)s).") % {"n": summary.sent})
        elif summary.failed or summary.retrying:
            messages.error(request, _("The proposal could not be sent: %(error)s") % {
                "error": "; ".join(summary.errors) or "?"})
        else:
            messages.info(request, _("This version was sent to these contacts already."))
    return redirect("plans:plan_detail", pk=pk)


@page
@require_safe
def plan_proposal(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    plan = selectors.plan_get_for_user(user=request.user, pk=pk)
    wanted = request.GET.get("language") or "en"
    language = wanted if wanted in LANGUAGES else "en"
    if fmt == "pdf":
        response = HttpResponse(plan_pdf(plan, language), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{pdf_filename(plan)}"'
        return response
    return HttpResponse(plan_document(plan, language), content_type="text/html; charset=utf-8")


@page
@require_POST
def template_from_plan(request: HttpRequest, pk: int) -> HttpResponse:
    """Save the plan's current terms as the standard terms of its project and tranche."""
    plan = selectors.plan_get_for_user(user=request.user, pk=pk)
    name = (request.POST.get("name") or "").strip() or _("Standard terms: %(project)s %(tranche)s") % {
        "project": plan.project.name, "tranche": plan.tranche}
    try:
        template = services.plan_template_create(actor=request.user, project=plan.project, name=name[:120],
                                                 tranche=plan.tranche, terms=plan.current.terms())
    except InvalidInput as exc:
        messages.error(request, exc.message)
        return redirect("plans:plan_detail", pk=pk)
    messages.success(request, _("Template %(name)s saved.") % {"name": template.name})
    return redirect(f"{reverse('plans:plan_list')}?project={plan.project_id}")


@page
@require_POST
def template_apply(request: HttpRequest, pk: int) -> HttpResponse:
    template = selectors.plan_template_get(actor=request.user, pk=pk)
    result = services.plan_template_apply(actor=request.user, template=template)
    messages.success(request, _("%(created)s draft plans made with the standard terms; %(skipped)s clients skipped "
                                "(a plan already, or not yours to edit).") % {
        "created": len(result.created), "skipped": len(result.skipped)})
    return redirect(f"{reverse('plans:plan_list')}?project={template.project_id}")
