"""The 360° client page: one client as every area sees it — contacts and timeline (parties, engagement),
participations (financing), open requests and tasks (engagement), the three labels with the "why" and the
override form (segmentation), the service tier and the next playbook step (playbooks).

It composes apps of many layers, so it lives here at the top (README "Architecture"); each part comes
from its own app's selector. Parse, call, render.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from bcrm.accounts.choices import Role
from bcrm.accounts.permissions import (
    can_edit_organization,
    can_see_compliance,
    has_any,
    sees_all_organizations,
)
from bcrm.engagement.choices import TaskStatus
from bcrm.engagement.selectors import organization_timeline, service_request_list, task_list
from bcrm.financing.selectors import participation_list
from bcrm.intel import selectors as intel_selectors
from bcrm.parties import selectors
from bcrm.playbooks.selectors import client_service
from bcrm.segmentation import selectors as segmentation_selectors
from bcrm.segmentation import services as segmentation_services
from bcrm.segmentation.forms import OverrideForm, override_choices
from bcrm.segmentation.model_selectors import client_model_figures
from bcrm.ui.shortcuts import page

# The 360° page shows the newest of each; the full lists are one click away.
DETAIL_LIMIT = 20


@page
@require_safe
def client_detail(request: HttpRequest, pk: int) -> HttpResponse:
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
        "handles_privacy": has_any(user, {Role.ADMIN, Role.COMPLIANCE}),  # the privacy page's own rule
        "tags": list(organization.tags.all()),
        "contacts": list(selectors.contact_list(actor=user, organization=organization)),
        "participations": list(participation_list(actor=user, filters={"organization": organization.pk})),
        "timeline": organization_timeline(actor=user, organization=organization),
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
        # the service tier and the next playbook step, at the top of the page
        "service": client_service(actor=user, organization=organization),
        # Relationship intelligence: strength with its components, per contact, and the warm paths.
        "strength": intel_selectors.client_panel(organization),  # 5 queries
    }
    return render(request, "web/client_detail.html", context)
