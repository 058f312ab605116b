"""The privacy page for compliance officers and administrators: find a contact, export their data, place a
retention hold, erase them; the register of processing purposes."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from bcrm.core.errors import InvalidInput
from bcrm.parties.models import Contact
from bcrm.privacy import services
from bcrm.privacy.models import Erasure, LegalBasis, RetentionHold
from bcrm.ui.shortcuts import page


def _back(pk: int) -> HttpResponse:
    return redirect(reverse("privacy:page") + "?" + urlencode({"contact": pk}))


@page(access=services.can_handle_requests)
@require_safe
def privacy_page(request: HttpRequest) -> HttpResponse:
    contact = None
    found: list[Contact] = []
    raw = (request.GET.get("contact") or "").strip()[:200]
    if raw.isdigit():
        contact = Contact.objects.select_related("organization").filter(pk=int(raw)).first()
    elif raw:
        found = list(Contact.objects.select_related("organization").filter(
            Q(full_name__icontains=raw) | Q(local_name__icontains=raw) | Q(email__icontains=raw)).order_by("id")[:20])
    context = {
        "contact": contact, "query": raw, "found": found,
        "holds": RetentionHold.objects.filter(contact=contact) if contact else [],
        "erasures": Erasure.objects.filter(contact=contact) if contact else [],
        "active_hold": services.active_hold(contact.pk) if contact else None,
        "purposes": services.purposes(), "bases": LegalBasis.choices,
    }
    return render(request, "privacy/page.html", context)


@page(access=services.can_handle_requests)
@require_safe
def export(request: HttpRequest, pk: int) -> HttpResponse:
    name, content = services.export_package(actor=request.user, contact_id=pk)
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@page(access=services.can_handle_requests)
@require_POST
def erase(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        result = services.erase(actor=request.user, contact_id=pk, reason=request.POST.get("reason", ""))
    except InvalidInput as exc:
        messages.error(request, " ".join([exc.message, *(m for f in exc.as_dict()["fields"] for m in [f["message"]])]))
    else:
        messages.success(request, _("The contact was erased (reference %(ref)s).") % {"ref": result.erasure.reference})
    return _back(pk)


@page(access=services.can_handle_requests)
@require_POST
def hold(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        until = dt.date.fromisoformat(request.POST.get("until", ""))
    except ValueError:
        messages.error(request, _("Give the date as YYYY-MM-DD."))
        return _back(pk)
    try:
        services.hold_place(actor=request.user, contact_id=pk, until=until, reason=request.POST.get("reason", ""))
    except InvalidInput as exc:
        messages.error(request, " ".join(f["message"] for f in exc.as_dict()["fields"]) or exc.message)
    else:
        messages.success(request, _("Hold placed: processing of this contact is restricted."))
    return _back(pk)


@page(access=services.can_handle_requests)
@require_POST
def purpose_add(request: HttpRequest) -> HttpResponse:
    try:
        services.purpose_create(actor=request.user, code=request.POST.get("code", ""),
                                name=request.POST.get("name", ""), mail_kind=request.POST.get("mail_kind", ""),
                                legal_basis=request.POST.get("legal_basis", ""),
                                description=request.POST.get("description", ""))
    except InvalidInput as exc:
        messages.error(request, " ".join(f"{f['path']}: {f['message']}" for f in exc.as_dict()["fields"])
                       or exc.message)
    else:
        messages.success(request, _("Purpose added."))
    return redirect("privacy:page")


@page(access=services.can_handle_requests)
@require_POST
def purpose_active(request: HttpRequest, code: str) -> HttpResponse:
    purpose = services.purpose_set_active(actor=request.user, code=code, active=request.POST.get("active") == "1")
    messages.success(request, (_("Purpose switched on.") if purpose.active else _("Purpose switched off.")))
    return redirect("privacy:page")
