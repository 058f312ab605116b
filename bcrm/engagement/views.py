"""Interaction, service request and task pages. Parse, call a selector or service, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from bcrm.accounts.permissions import can_write, require, require_organization_write
from bcrm.audit.selectors import task_origin
from bcrm.core.errors import Conflict, InvalidInput
from bcrm.core.pagination import paginate
from bcrm.engagement import selectors, services
from bcrm.engagement.choices import TaskStatus
from bcrm.engagement.forms import (
    InteractionForm,
    ServiceRequestFilterForm,
    ServiceRequestForm,
    TaskBulkForm,
    TaskFilterForm,
    TaskForm,
)
from bcrm.financing.selectors import project_list
from bcrm.parties.pickers import use_person_picker
from bcrm.parties.selectors import contact_list, organization_get_for_user
from bcrm.ui.shortcuts import page, page_number, redirect_back, render_page, safe_next, submit_form


def organization_url(organization, anchor: str = "") -> str:
    return reverse("client_detail", args=[organization.pk]) + (f"#{anchor}" if anchor else "")


# Interactions ------------------------------------------------------------------------------------------


@page
def interaction_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a meeting, call… with a client; afterwards it heads the client's timeline."""
    user = request.user
    organization = organization_get_for_user(user=user, pk=pk)
    require_organization_write(user, organization)
    form = InteractionForm(
        request.POST or None, contacts=contact_list(actor=user, organization=organization),
        projects=project_list(actor=user),
    )
    interaction = submit_form(request, form, lambda: services.interaction_create(
        actor=user, organization=organization, data=form.service_data(), contacts=form.contacts_present,
    ))
    if interaction is not None:
        messages.success(request, _("Interaction recorded."))
        return redirect(organization_url(organization, f"interaction-{interaction.pk}"))
    return render(request, "web/form_page.html", {
        "form": form, "title": _("Record interaction"), "subtitle": str(organization),
        "organization": organization, "submit_label": _("Save interaction"),
        "cancel_url": organization_url(organization),
    })


@page
def interaction_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    interaction = selectors.interaction_get_for_user(user=user, pk=pk)
    organization = interaction.organization
    require_organization_write(user, organization)
    form = InteractionForm(
        request.POST or None, instance=interaction, contacts=contact_list(actor=user, organization=organization),
        projects=project_list(actor=user),
    )
    updated = submit_form(request, form, lambda: services.interaction_update(
        actor=user, interaction=interaction, data=form.service_data(), expected_version=form.expected_version,
        contacts=form.contacts_present,
    ))
    if updated is not None:
        messages.success(request, _("Changes saved."))
        return redirect(organization_url(organization, f"interaction-{updated.pk}"))
    return render(request, "web/form_page.html", {
        "form": form, "title": _("Edit interaction"), "subtitle": str(organization),
        "organization": organization, "submit_label": _("Save changes"),
        "cancel_url": organization_url(organization, "timeline"),
    })


# Service requests --------------------------------------------------------------------------------------


@page
@require_safe
def service_request_list(request: HttpRequest) -> HttpResponse:
    filter_form = ServiceRequestFilterForm({**ServiceRequestFilterForm.DEFAULTS, **request.GET.dict()})
    filters = filter_form.selector_filters() if filter_form.is_valid() else {"open": True}
    result = paginate(selectors.service_request_list(actor=request.user, filters=filters),
                      number=page_number(request))
    context = {"filter_form": filter_form, "page": result, "now": timezone.now()}
    return render_page(request, "engagement/service_request_list.html", context,
                       partial="engagement/_service_request_results.html", target="request-results")


@page
def service_request_create(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    organization = organization_get_for_user(user=user, pk=pk)
    require_organization_write(user, organization)
    form = ServiceRequestForm(
        request.POST or None, contacts=contact_list(actor=user, organization=organization), initial={"owner": user},
    )
    use_person_picker(form, "owner", actor=user)
    service_request = submit_form(request, form, lambda: services.service_request_create(
        actor=user, organization=organization, data=form.service_data(),
    ))
    if service_request is not None:
        messages.success(request, _("Service request opened."))
        return redirect(organization_url(organization, "requests"))
    return render(request, "web/form_page.html", {
        "form": form, "title": _("Open service request"), "subtitle": str(organization),
        "organization": organization, "submit_label": _("Open request"), "cancel_url": organization_url(organization),
    })


@page
def service_request_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    service_request = selectors.service_request_get_for_user(user=user, pk=pk)
    organization = service_request.organization
    require_organization_write(user, organization)
    form = ServiceRequestForm(
        request.POST or None, instance=service_request, contacts=contact_list(actor=user, organization=organization),
    )
    use_person_picker(form, "owner", actor=user)
    updated = submit_form(request, form, lambda: services.service_request_update(
        actor=user, service_request=service_request, data=form.service_data(),
        expected_version=form.expected_version,
    ))
    fallback = organization_url(organization, "requests")
    if updated is not None:
        messages.success(request, _("Changes saved."))
        return redirect_back(request, fallback)
    return render(request, "web/form_page.html", {
        "form": form, "title": _("Edit service request"), "subtitle": str(organization),
        "organization": organization, "submit_label": _("Save changes"),
        "cancel_url": safe_next(request) or fallback, "next": safe_next(request),
    })


# Tasks -------------------------------------------------------------------------------------------------


# The task list's sortable columns: (sort key, header); a second click on a header reverses it.
TASK_COLUMNS = (("title", _lazy("Task")), ("client", _lazy("Client")), ("owner", _lazy("Assignee")),
                ("due", _lazy("Due")), ("status", _lazy("Status")))


def _sort_headers(request: HttpRequest, current: str) -> list[dict[str, Any]]:
    headers = []
    for key, label in TASK_COLUMNS:
        ascending = current == key
        descending = current == f"-{key}"
        query = request.GET.copy()
        query.pop("page", None)
        query["sort"] = f"-{key}" if ascending else key
        headers.append({"key": key, "label": label, "url": f"?{query.urlencode()}",
                        "aria_sort": "ascending" if ascending else "descending" if descending else "none"})
    return headers


@page
@require_safe
def task_list(request: HttpRequest) -> HttpResponse:
    filter_form = TaskFilterForm({**TaskFilterForm.DEFAULTS, **request.GET.dict()})
    filters = (filter_form.selector_filters(request.user) if filter_form.is_valid()
               else {"assignee": request.user.pk, "status": TaskStatus.OPEN})
    result = paginate(selectors.task_list(actor=request.user, filters=filters), number=page_number(request))
    bulk_form = TaskBulkForm()
    use_person_picker(bulk_form, "assignee", actor=request.user, empty_label=_("Choose a colleague"),
                      select_id="bulk-assignee")
    context = {
        "filter_form": filter_form, "page": result, "can_create": can_write(request.user), "now": timezone.now(),
        "sort_headers": _sort_headers(request, filters.get("sort") or selectors.TASK_SORT_DEFAULT),
        "bulk_form": bulk_form,
    }
    return render_page(request, "engagement/task_list.html", context,
                       partial="engagement/_task_results.html", target="task-results")


@page
@require_POST
def task_bulk(request: HttpRequest) -> HttpResponse:
    """Complete or reassign the selected tasks, each through the single-task service; says how many changed
    and which were refused, and why."""
    form = TaskBulkForm(request.POST)
    back = redirect_back(request, reverse("engagement:task_list"))
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return back
    data = form.cleaned_data
    try:
        outcome = services.task_bulk(actor=request.user, action=data["action"], task_ids=data["task"],
                                      assignee=data.get("assignee"), versions=form.versions())
    except InvalidInput as exc:
        messages.error(request, exc.message)
        return back
    changed, refused = len(outcome.changed), len(outcome.refused)
    done = (ngettext("%(n)s task completed.", "%(n)s tasks completed.", changed) if data["action"] == "complete"
            else ngettext("%(n)s task reassigned.", "%(n)s tasks reassigned.", changed)) % {"n": changed}
    (messages.success if changed else messages.info)(request, done)
    if refused:
        reasons = "; ".join(f"#{row['id']}: {row['message']}" for row in outcome.refused[:10])
        messages.warning(request, ngettext("%(n)s task refused: %(reasons)s", "%(n)s tasks refused: %(reasons)s",
                                           refused) % {"n": refused, "reasons": reasons})
    return back


@page
def task_create(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A task on a client (from its page) or a task of one's own (from the task list)."""
    user = request.user
    organization = None
    if pk is not None:
        organization = organization_get_for_user(user=user, pk=pk)
        require_organization_write(user, organization)
    else:
        require(can_write(user))
    form = TaskForm(request.POST or None, initial={"assignee": user})
    use_person_picker(form, "assignee", actor=user)
    task = submit_form(request, form, lambda: services.task_create(
        actor=user, data={**form.service_data(), "organization": organization},
    ))
    fallback = organization_url(organization, "tasks") if organization else reverse("engagement:task_list")
    if task is not None:
        messages.success(request, _("Task added."))
        return redirect(fallback)
    return render(request, "web/form_page.html", {
        "form": form, "title": _("New task"), "subtitle": str(organization) if organization else "",
        "organization": organization, "submit_label": _("Add task"), "cancel_url": fallback,
    })


@page
def task_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    task = selectors.task_get_for_user(user=user, pk=pk)
    if task.organization is not None:
        require_organization_write(user, task.organization)
    form = TaskForm(request.POST or None, instance=task)
    use_person_picker(form, "assignee", actor=user)
    updated = submit_form(request, form, lambda: services.task_update(
        actor=user, task=task, data=form.service_data(), expected_version=form.expected_version,
    ))
    fallback = organization_url(task.organization, "tasks") if task.organization else reverse("engagement:task_list")
    if updated is not None:
        messages.success(request, _("Changes saved."))
        return redirect_back(request, fallback)
    origin = task_origin(task)
    subtitle = " · ".join(part for part in (
        str(task.organization or ""),
        _("created by automation run #%(run)s") % {"run": origin.object_id} if origin else "") if part)
    return render(request, "web/form_page.html", {
        "form": form, "title": _("Edit task"), "subtitle": subtitle,
        "organization": task.organization, "submit_label": _("Save changes"),
        "cancel_url": safe_next(request) or fallback, "next": safe_next(request),
    })


@page
@require_POST
def task_done(request: HttpRequest, pk: int) -> HttpResponse:
    """The one-click "done" on a task list row; carries the version the row was shown at."""
    user = request.user
    task = selectors.task_get_for_user(user=user, pk=pk)
    version = request.POST.get("version", "")
    expected = int(version) if version.isdigit() else None
    # a playbook task logs the interaction it stands for (My day asks for the details first)
    try:
        services.task_done(actor=user, task=task, expected_version=expected)
    except (InvalidInput, Conflict) as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Task %(title)s done.") % {"title": task.display_title})
    return redirect_back(request, reverse("engagement:task_list"))
