"""Pages of the closing checklist: the checklist of a project with readiness, item moves, waivers, evidence
uploads and downloads, sign-off. Parse, call a selector or service, redirect; the rules live in the services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from bcrm.accounts.permissions import can_write
from bcrm.closing import selectors, services
from bcrm.closing.models import ITEM_TRANSITIONS, ItemStatus
from bcrm.core.errors import InvalidInput
from bcrm.parties.pickers import person_pickers
from bcrm.ui.forms import active_users
from bcrm.ui.shortcuts import page


@page
@require_safe
def checklist_page(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    project, checklist = selectors.project_closing(user=user, pk=pk)
    today = timezone.localdate()
    items = list(selectors.checklist_items(checklist)) if checklist else []
    lead = services.is_lead(user)
    rows: list[dict[str, Any]] = [{"item": item, "overdue": bool(item.due_on and item.due_on < today
                                           and item.status not in (ItemStatus.SATISFIED, ItemStatus.WAIVED)),
             "moves": [(s, ItemStatus(s).label) for s in ITEM_TRANSITIONS[item.status]
                       if s != ItemStatus.WAIVED and (lead or item.status != ItemStatus.WAIVED)]}
            for item in items]
    if can_write(user):  # each item's owner: a bounded picker of colleagues (one shared read for the page)
        picker = person_pickers(actor=user, known={i.owner_user_id: i.owner_user for i in items if i.owner_user_id})
        for row, item in zip(rows, items, strict=True):
            row["owner_select"] = picker(f"owner-{item.pk}").render("owner_user", item.owner_user_id)
    return render(request, "closing/checklist.html", {
        "project": project, "checklist": checklist, "rows": rows,
        "state": selectors.checklist_readiness(checklist, today=today),
        "can_write": can_write(user) and not (checklist and checklist.signed_off_at), "is_lead": lead,
    })


def _back(pk: int, item_pk: int | None = None) -> HttpResponse:
    url = reverse("closing:checklist", args=[pk])
    return redirect(f"{url}#item-{item_pk}" if item_pk else url)


@page
@require_POST
def checklist_create(request: HttpRequest, pk: int) -> HttpResponse:
    project, _checklist = selectors.project_closing(user=request.user, pk=pk)
    try:
        services.checklist_create(actor=request.user, project=project)
    except InvalidInput as exc:
        messages.error(request, exc.message)
    return _back(pk)


@page
@require_POST
def item_status(request: HttpRequest, pk: int) -> HttpResponse:
    item = selectors.item_get_for_user(user=request.user, pk=pk)
    version = request.POST.get("version", "")
    try:
        services.item_set_status(actor=request.user, item=item, to=request.POST.get("to", ""),
                                 reason=request.POST.get("reason", ""),
                                 expected_version=int(version) if version.isdigit() else None)
    except InvalidInput as exc:
        messages.error(request, exc.message if not exc.fields else " ".join(m for ms in exc.fields.values() for m in ms))
    return _back(item.checklist.project_id, item.pk)


@page
@require_POST
def item_edit(request: HttpRequest, pk: int) -> HttpResponse:
    item = selectors.item_get_for_user(user=request.user, pk=pk)
    data: dict = {}
    due = request.POST.get("due_on", "")
    try:
        import datetime as dt

        data["due_on"] = dt.date.fromisoformat(due) if due else None
    except ValueError:
        messages.error(request, _("Give the due date as 2027-03-31."))
        return _back(item.checklist.project_id)
    owner = request.POST.get("owner_user", "")
    data["owner_user"] = active_users().filter(pk=int(owner)).first() if owner.isdigit() else None
    try:
        services.item_update(actor=request.user, item=item, data=data)
    except InvalidInput as exc:
        messages.error(request, exc.message)
    return _back(item.checklist.project_id, item.pk)


@page
@require_POST
def evidence_upload(request: HttpRequest, pk: int) -> HttpResponse:
    item = selectors.item_get_for_user(user=request.user, pk=pk)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, _("Choose a file."))
    else:
        content = upload.read(services.evidence_max_bytes() + 1)
        try:
            services.evidence_upload(actor=request.user, item=item, file_name=upload.name or "", content=content)
        except InvalidInput as exc:
            messages.error(request, " ".join(m for ms in exc.fields.values() for m in ms) or exc.message)
        else:
            messages.success(request, _("Evidence uploaded."))
    return _back(item.checklist.project_id, item.pk)


@page
@require_safe
def evidence_download(request: HttpRequest, pk: int) -> HttpResponse:
    evidence = selectors.evidence_get_for_user(user=request.user, pk=pk)
    path = services.evidence_path(evidence)
    if not path.is_file():
        raise Http404(_("The file is no longer in the data folder."))
    # a download: FileResponse streams, it is not an HttpResponse (web.shortcuts.View wants one)
    response = FileResponse(path.open("rb"), as_attachment=True, filename=evidence.file_name,
                            content_type=evidence.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    return response  # type: ignore[return-value]


@page
@require_POST
def sign_off(request: HttpRequest, pk: int) -> HttpResponse:
    project, checklist = selectors.project_closing(user=request.user, pk=pk)
    if checklist is None:
        raise Http404()
    try:
        services.checklist_sign_off(actor=request.user, checklist=checklist)
    except InvalidInput as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Checklist signed off."))
    return _back(pk)


@page
def template_page(request: HttpRequest, sector: str) -> HttpResponse:
    """The sector's checklist template: its conditions, add one, remove one (leads and administrators)."""
    from bcrm.closing.models import Category, TemplateItem
    from bcrm.parties.choices import Sector

    if sector not in Sector.values:
        raise Http404()
    template = services.template_for_sector(sector)
    if request.method == "POST":
        try:
            if request.POST.get("remove", "").isdigit():
                item = TemplateItem.objects.filter(template=template, pk=int(request.POST["remove"])).first()
                if item is not None:
                    services.template_item_remove(actor=request.user, item=item)
            else:
                days = request.POST.get("days_before_close", "")
                services.template_item_add(actor=request.user, template=template,
                                           category=request.POST.get("category", ""),
                                           title=request.POST.get("title", ""),
                                           days_before_close=int(days) if days.isdigit() else 14)
        except InvalidInput as exc:
            messages.error(request, " ".join(m for ms in exc.fields.values() for m in ms) or exc.message)
        return redirect("closing:template", sector=sector)
    return render(request, "closing/template.html", {
        "template": template, "items": list(template.items.all()), "sector": Sector(sector),
        "sectors": Sector.choices, "categories": Category.choices, "can_edit": services.is_lead(request.user)})
