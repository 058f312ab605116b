"""Client pages: the list, the 360° view and the organisation/contact forms. Parse, call, render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from bcrm.accounts.permissions import (
    can_edit_organization,
    can_see_compliance,
    can_write,
    require,
    require_organization_write,
    sees_all_organizations,
)
from bcrm.core.errors import InvalidInput
from bcrm.core.pagination import paginate
from bcrm.engagement.choices import TaskStatus
from bcrm.engagement.selectors import service_request_list, task_list
from bcrm.financing.selectors import participation_list
from bcrm.parties import selectors, services
from bcrm.parties.filters import OrganizationFilterForm
from bcrm.parties.forms import ContactForm, OrganizationForm
from bcrm.segmentation import selectors as segmentation_selectors
from bcrm.segmentation import services as segmentation_services
from bcrm.segmentation.choices import Dimension, label_display, upper_label
from bcrm.segmentation.forms import OverrideForm, override_choices
from bcrm.segmentation.model_selectors import client_model_figures
from bcrm.web.shortcuts import page, page_number, render_page, submit_form

# The 360° page shows the newest of each; the full lists are one click away.
DETAIL_LIMIT = 20


@page
@require_safe
def organization_list(request: HttpRequest) -> HttpResponse:
    filter_form = OrganizationFilterForm(request.GET)
    try:
        # The current labels come in the same query (a join on the one-to-one), for the labels column.
        queryset = selectors.organization_list(actor=request.user, filters=request.GET).select_related("labels")
    except InvalidInput:
        result = None  # the filter form shows what is wrong with the filters
    else:
        result = paginate(queryset, number=page_number(request))
        for org in result.items:
            org.label_badges = label_badges(org)
    context = {"filter_form": filter_form, "page": result, "can_create": can_write(request.user)}
    return render_page(
        request, "parties/organization_list.html", context,
        partial="parties/_organization_results.html", target="org-results",
    )


def label_badges(org) -> list[dict[str, str]]:
    """The client's current label per dimension, for the list's badges ("" when not classified)."""
    try:
        labels = org.labels
    except ObjectDoesNotExist:
        labels = None
    badges = []
    for dimension in Dimension.values:
        code = getattr(labels, dimension, "") if labels is not None else ""
        if code:
            tone = "upper" if code == upper_label(dimension) else ("insufficient" if code == "insufficient" else "lower")
            badges.append({"dimension": dimension, "dimension_label": str(Dimension(dimension).label),
                           "code": code, "name": label_display(dimension, code), "tone": tone})
    return badges


@page
@require_safe
def organization_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    organization = selectors.organization_get_for_user(user=user, pk=pk)
    can_edit = can_edit_organization(user, organization)
    show_compliance = can_see_compliance(user)
    segment_labels = segmentation_selectors.organization_labels(actor=user, organization=organization)
    for item in segment_labels:
        item["can_override"] = segmentation_services.can_override(user, item["dimension"])
    context = {
        "organization": organization,
        "can_edit": can_edit,
        "can_edit_compliance": can_edit or show_compliance,
        "show_compliance": show_compliance,
        "tags": list(organization.tags.all()),
        "contacts": list(selectors.contact_list(actor=user, organization=organization)),
        "participations": list(participation_list(actor=user, filters={"organization": organization.pk})),
        "timeline": selectors.organization_timeline(organization=organization),
        "open_requests": list(
            service_request_list(actor=user, filters={"organization": organization.pk, "open": True})[:DETAIL_LIMIT]
        ),
        "open_tasks": list(
            task_list(actor=user, filters={"organization": organization.pk, "status": TaskStatus.OPEN})[:DETAIL_LIMIT]
        ),
        # Segmentation: the three labels with the "why", overrides, and the override form for who may.
        "segment_labels": segment_labels,
        "override_form": OverrideForm(user=user) if override_choices(user) else None,
        "seg_portfolio": sees_all_organizations(user),
        "model_figures": client_model_figures(actor=user, organization=organization),  # 3 queries, one client
    }
    return render(request, "parties/organization_detail.html", context)


@page
def organization_create(request: HttpRequest) -> HttpResponse:
    user = request.user
    require(can_write(user))
    form = OrganizationForm(request.POST or None, show_compliance=can_see_compliance(user))
    organization = submit_form(request, form, lambda: services.organization_create(
        actor=user, data=form.service_data(), tags=form.tag_names(),
    ))
    if organization is not None:
        messages.success(request, _("Client %(name)s created.") % {"name": organization.display_name})
        return redirect("parties:organization_detail", pk=organization.pk)
    return render(request, "web/form_page.html", {
        "form": form, "title": _("New client"), "submit_label": _("Create client"),
        "cancel_url": reverse("parties:organization_list"),
    })


@page
def organization_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    organization = selectors.organization_get_for_user(user=user, pk=pk)
    can_edit = can_edit_organization(user, organization)
    show_compliance = can_see_compliance(user)
    require(can_edit or show_compliance)
    form = OrganizationForm(
        request.POST or None, instance=organization, show_compliance=show_compliance, compliance_only=not can_edit,
    )
    updated = submit_form(request, form, lambda: services.organization_update(
        actor=user, organization=organization, data=form.service_data(),
        expected_version=form.expected_version, tags=form.tag_names(),
    ))
    if updated is not None:
        messages.success(request, _("Changes saved."))
        return redirect("parties:organization_detail", pk=organization.pk)
    return render(request, "web/form_page.html", {
        "form": form, "title": _("Edit %(name)s") % {"name": organization.display_name},
        "submit_label": _("Save changes"), "organization": organization,
        "cancel_url": reverse("parties:organization_detail", args=[organization.pk]),
    })


@page
def contact_create(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    organization = selectors.organization_get_for_user(user=user, pk=pk)
    require_organization_write(user, organization)
    form = ContactForm(request.POST or None)
    contact = submit_form(request, form, lambda: services.contact_create(
        actor=user, organization=organization, data=form.service_data(),
    ))
    if contact is not None:
        messages.success(request, _("Contact %(name)s added.") % {"name": contact.full_name})
        return redirect(reverse("parties:organization_detail", args=[organization.pk]) + "#contacts")
    return render(request, "web/form_page.html", {
        "form": form, "title": _("New contact"), "submit_label": _("Add contact"), "organization": organization,
        "cancel_url": reverse("parties:organization_detail", args=[organization.pk]),
    })


@page
def contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    contact = selectors.contact_get_for_user(user=user, pk=pk)
    organization = contact.organization
    require_organization_write(user, organization)
    form = ContactForm(request.POST or None, instance=contact)
    updated = submit_form(request, form, lambda: services.contact_update(
        actor=user, contact=contact, data=form.service_data(), expected_version=form.expected_version,
    ))
    if updated is not None:
        messages.success(request, _("Changes saved."))
        return redirect(reverse("parties:organization_detail", args=[organization.pk]) + "#contacts")
    return render(request, "web/form_page.html", {
        "form": form, "title": _("Edit contact %(name)s") % {"name": contact.full_name},
        "submit_label": _("Save changes"), "organization": organization,
        "cancel_url": reverse("parties:organization_detail", args=[organization.pk]),
    })
