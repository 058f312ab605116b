"""Project pages and participation forms. Parse, call a selector or service, render."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from bcrm.accounts.permissions import can_write, require, require_organization_write
from bcrm.core.errors import NotFound
from bcrm.core.pagination import paginate
from bcrm.financing import selectors, services, walls
from bcrm.financing.choices import CLOSED_STATUSES, COMMITTED_STATUSES
from bcrm.financing.forms import ParticipationForm, ProjectFilterForm, ProjectForm, WallForm, WallMemberForm
from bcrm.parties.filters import TooManyMatches
from bcrm.parties.selectors import organization_get_for_user, organization_list
from bcrm.ui.shortcuts import page, page_number, redirect_back, render_page, safe_next, submit_form

# How many search matches the client picker offers at once.
PICKER_LIMIT = 20
PARTICIPANT_LIMIT = 500


@page
@require_safe
def project_list(request: HttpRequest) -> HttpResponse:
    filter_form = ProjectFilterForm(request.GET)
    filters = filter_form.cleaned_data if filter_form.is_valid() else {}
    result = paginate(selectors.project_list(actor=request.user, filters=filters), number=page_number(request))
    context = {"filter_form": filter_form, "page": result, "can_create": can_write(request.user)}
    return render_page(
        request, "financing/project_list.html", context,
        partial="financing/_project_results.html", target="project-results",
    )


def funding_bars(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One bar per ladder status, as a share of the target (or of the largest amount, if that is bigger)."""
    scale = max([summary["target"], *(row["amount"] for row in summary["ladder"])]) or Decimal(1)
    bars = []
    for row in summary["ladder"]:
        if row["status"] in COMMITTED_STATUSES:
            tone = "committed"
        elif row["status"] in CLOSED_STATUSES:
            tone = "closed"
        else:
            tone = "pipeline"
        bars.append({**row, "tone": tone, "width": f"{min(100, row['amount'] * 100 / scale):.1f}"})
    return bars


@page
@require_safe
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    project = selectors.project_get_for_user(user=user, pk=pk)
    context = _detail_context(user, project)
    context.update(_wall_context(user, project))
    return render(request, "financing/project_detail.html", context)


def _detail_context(user, project) -> dict[str, Any]:
    summary = selectors.project_funding_summary(actor=user, project=project)
    share = summary["committed_share"]
    return {
        "project": project,
        "summary": summary,
        "bars": funding_bars(summary),
        "committed_percent": share * 100 if share is not None else None,
        "committed_width": f"{min(Decimal(100), share * 100):.1f}" if share is not None else "0",
        "participations": list(
            selectors.participation_list(actor=user, filters={"project": project.pk})[:PARTICIPANT_LIMIT]
        ),
        "can_write": can_write(user),
    }


def _wall_context(user, project, wall_form: WallForm | None = None, member_form: WallMemberForm | None = None
                  ) -> dict[str, Any]:
    manage = walls.can_manage_wall(user, project)
    return {
        "can_manage_wall": manage,
        "wall_members": list(walls.wall_members(actor=user, project=project)) if project.confidential else [],
        "wall_form": wall_form or (WallForm(initial={"confidential": not project.confidential}) if manage else None),
        "member_form": member_form or (WallMemberForm() if manage and project.confidential else None),
    }


@page
@require_POST
def project_wall(request: HttpRequest, pk: int) -> HttpResponse:
    """The wall's three acts from the project page: raise or lift it, add a member, remove one."""
    user = request.user
    project = selectors.project_get_for_user(user=user, pk=pk)
    action = request.POST.get("action")
    done = None
    wall_form = member_form = None
    if action == "confidential":
        wall_form = WallForm(request.POST)
        done = submit_form(request, wall_form, lambda: walls.wall_set_confidential(
            actor=user, project=project, confidential=wall_form.cleaned_data["confidential"],
            reason=wall_form.cleaned_data["reason"]))
    elif action == "add":
        member_form = WallMemberForm(request.POST)
        done = submit_form(request, member_form, lambda: walls.wall_add_member(
            actor=user, project=project, reason=member_form.cleaned_data["reason"],
            user=member_form.cleaned_data.get("user"), team=member_form.cleaned_data.get("team")))
    elif action == "remove" and (request.POST.get("member") or "").isdigit():
        member = walls.wall_member_get(actor=user, project=project, pk=int(request.POST["member"]))
        walls.wall_remove_member(actor=user, member=member, reason=request.POST.get("reason", ""))
        done = True
    else:
        raise NotFound()
    if done is not None:
        messages.success(request, _("The deal wall is recorded."))
        if not walls.can_see_project(user, project):  # lifted oneself out of sight (compliance never is)
            return redirect("financing:project_list")
        return redirect(reverse("financing:project_detail", args=[project.pk]) + "#wall")
    context = _detail_context(user, project)
    context.update(_wall_context(user, project, wall_form, member_form))
    return render(request, "financing/project_detail.html", context, status=422)


@page(access=walls.sees_every_wall)
@require_safe
def wall_register(request: HttpRequest) -> HttpResponse:
    """Compliance's register: confidential projects, their deal teams, every crossing with its reason."""
    return render(request, "financing/wall_register.html", {"register": walls.wall_register(actor=request.user)})


@page
def project_create(request: HttpRequest) -> HttpResponse:
    user = request.user
    require(can_write(user))
    form = ProjectForm(request.POST or None, initial={"currency": settings.BCRM_REPORTING_CURRENCY})
    project = submit_form(request, form, lambda: services.project_create(actor=user, data=form.service_data()))
    if project is not None:
        messages.success(request, _("Project %(name)s created.") % {"name": project.name})
        return redirect("financing:project_detail", pk=project.pk)
    return render(request, "web/form_page.html", {
        "form": form, "title": _("New project"), "submit_label": _("Create project"),
        "cancel_url": reverse("financing:project_list"),
    })


@page
def project_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    project = selectors.project_get_for_user(user=user, pk=pk)
    require(can_write(user))
    form = ProjectForm(request.POST or None, instance=project)
    updated = submit_form(request, form, lambda: services.project_update(
        actor=user, project=project, data=form.service_data(), expected_version=form.expected_version,
    ))
    if updated is not None:
        messages.success(request, _("Changes saved."))
        return redirect("financing:project_detail", pk=project.pk)
    return render(request, "web/form_page.html", {
        "form": form, "title": _("Edit %(name)s") % {"name": project.name}, "submit_label": _("Save changes"),
        "cancel_url": reverse("financing:project_detail", args=[project.pk]),
    })


@page
def participation_create_for_organization(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    organization = organization_get_for_user(user=user, pk=pk)
    require_organization_write(user, organization)
    form = ParticipationForm(
        request.POST or None, projects=selectors.project_list(actor=user),
        initial={"currency": settings.BCRM_REPORTING_CURRENCY},
    )
    participation = submit_form(request, form, lambda: services.participation_create(
        actor=user, data={**form.service_data(), "organization": organization},
    ))
    detail_url = reverse("client_detail", args=[organization.pk])
    if participation is not None:
        messages.success(request, _("Participation added."))
        return redirect(detail_url + "#participations")
    return render(request, "web/form_page.html", {
        "form": form, "title": _("New participation"), "organization": organization,
        "subtitle": str(organization), "submit_label": _("Add participation"), "cancel_url": detail_url,
    })


@page
def participation_create_for_project(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a client to a project; the client is picked from search matches, never from a full list."""
    user = request.user
    project = selectors.project_get_for_user(user=user, pk=pk)
    require(can_write(user))
    query = (request.POST.get("org_q") or request.GET.get("org_q") or "").strip()
    picker_note = ""
    try:
        options = list(organization_list(actor=user, filters={"q": query})[:PICKER_LIMIT]) if query else []
    except TooManyMatches as exc:
        options, picker_note = [], exc.message
    picked = request.POST.get("organization", "")
    if picked.isdigit() and all(str(o.pk) != picked for o in options):
        # Keep the client already picked on the page when the form comes back with an error.
        try:
            options.insert(0, organization_get_for_user(user=user, pk=int(picked)))
        except NotFound:
            pass
    form = ParticipationForm(
        request.POST or None, organizations=organization_list(actor=user), organization_options=options,
        initial={"currency": project.currency},
    )
    participation = submit_form(request, form, lambda: services.participation_create(
        actor=user, data={**form.service_data(), "project": project},
    ))
    detail_url = reverse("financing:project_detail", args=[project.pk])
    if participation is not None:
        messages.success(request, _("Participation added."))
        return redirect(detail_url + "#participants")
    context = {"form": form, "project": project, "org_q": query, "options": options, "picker_note": picker_note,
               "cancel_url": detail_url}
    return render_page(
        request, "financing/participation_for_project.html", context,
        partial="financing/_organization_picker.html", target="org-picker",
    )


@page
def participation_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    participation = selectors.participation_get_for_user(user=user, pk=pk)
    organization = participation.organization
    require_organization_write(user, organization)
    form = ParticipationForm(request.POST or None, instance=participation)
    updated = submit_form(request, form, lambda: services.participation_update(
        actor=user, participation=participation, data=form.service_data(),
        expected_version=form.expected_version,
    ))
    fallback = reverse("client_detail", args=[organization.pk]) + "#participations"
    if updated is not None:
        messages.success(request, _("Changes saved."))
        return redirect_back(request, fallback)
    return render(request, "web/form_page.html", {
        "form": form, "title": _("Edit participation"), "organization": organization,
        "subtitle": f"{organization} – {participation.project}", "submit_label": _("Save changes"),
        "cancel_url": safe_next(request) or fallback, "next": safe_next(request),
    })
