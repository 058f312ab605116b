"""Duplicate pages: the candidate groups, and a merge page with its preview. Parse, call, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from bcrm.accounts.permissions import can_delete, can_write
from bcrm.core.errors import Conflict, InvalidInput, NotFound
from bcrm.dedupe import selectors, services
from bcrm.dedupe.models import Entity
from bcrm.ui.shortcuts import page, page_number, redirect_back, render_page

GROUPS_PER_PAGE = 20


def _entity(request: HttpRequest) -> str:
    data = request.POST if request.method == "POST" else request.GET
    return selectors.entity_or_error(data.get("entity") or Entity.ORGANIZATIONS)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _ids(values: list[str]) -> list[int]:
    """Ids from ``?ids=1&ids=2`` or ``?ids=1,2``, in order, without repeats."""
    out: list[int] = []
    for value in values:
        for part in str(value).split(","):
            pk = _int(part.strip())
            if pk is not None and pk not in out:
                out.append(pk)
    return out


@page
@require_safe
def candidate_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    entity = _entity(request)
    min_score = _int(request.GET.get("min_score"))
    member = _int(request.GET.get("member"))
    result, groups = selectors.find_duplicates(actor=user, entity=entity, page=page_number(request),
                                               page_size=GROUPS_PER_PAGE, member=member, min_score=min_score)
    context = {
        "entity": entity,
        "entities": Entity.choices,
        "page": result,
        "groups": groups,
        "min_score": min_score,
        "member": member,
        "scan": selectors.latest_scan(entity=entity),
        "finished_scan": selectors.last_finished_scan(entity=entity),
        "can_merge": can_delete(user),
        "can_dismiss": can_write(user),
        "can_scan": can_delete(user),
    }
    return render_page(request, "dedupe/candidate_list.html", context, partial="dedupe/_groups.html",
                       target="duplicate-groups")


@page
@require_POST
def scan(request: HttpRequest) -> HttpResponse:
    entity = _entity(request)
    result = services.duplicate_scan_request(actor=request.user, entity=entity)
    result.refresh_from_db()  # a task backend that runs inline has finished it already
    if result.finished_at is None:
        messages.info(request, _("The scan has been queued; refresh this page in a minute to see its results."))
    else:
        messages.success(request, _("Scan finished: %(groups)s groups found.") % {"groups": result.groups})
    return redirect(reverse("dedupe:candidate_list") + "?" + urlencode({"entity": entity}))


@page
@require_POST
def dismiss(request: HttpRequest) -> HttpResponse:
    entity = _entity(request)
    ids = _ids(request.POST.getlist("ids"))
    fallback = reverse("dedupe:candidate_list") + "?" + urlencode({"entity": entity})
    try:
        dismissals = services.duplicate_dismiss(actor=request.user, entity=entity, ids=ids)
    except InvalidInput as exc:
        messages.error(request, " ".join(m for msgs in exc.fields.values() for m in msgs) or exc.message)
        return redirect_back(request, fallback)
    messages.success(request, ngettext(
        "Marked as not duplicates: %(count)s pair will not be proposed again.",
        "Marked as not duplicates: %(count)s pairs will not be proposed again.",
        len(dismissals)) % {"count": len(dismissals)})
    return redirect_back(request, fallback)


def _versions(request: HttpRequest, ids: list[int]) -> dict[int, int | None]:
    return {pk: _int(request.POST.get(f"version_{pk}")) for pk in ids}


@page
def merge(request: HttpRequest) -> HttpResponse:
    """GET: the records side by side, the survivor to choose, and the preview. POST: merge, then go to
    the survivor's page."""
    user = request.user
    entity = _entity(request)
    data = request.POST if request.method == "POST" else request.GET
    ids = _ids(data.getlist("ids"))
    if len(ids) < 2:
        raise InvalidInput(fields={"ids": [_("Choose at least two records to merge.")]})
    records = selectors.visible_records(actor=user, entity=entity, ids=ids)
    if len(records) != len(ids):
        raise NotFound()
    survivor = _int(data.get("survivor"))
    if survivor not in records:
        survivor = ids[0]
    if request.method == "POST":
        others = [pk for pk in _ids(data.getlist("others")) if pk in records and pk != survivor]
    else:  # the page's checkboxes leave records out; a new survivor choice keeps the rest in
        skip = set(_ids(data.getlist("skip")))
        others = [pk for pk in ids if pk != survivor and pk not in skip]
    error = None
    if request.method == "POST":
        try:
            done = services.merge(entity=entity, actor=user, survivor=survivor, others=others,
                                  versions=_versions(request, [survivor, *others]))
        except (Conflict, InvalidInput) as exc:
            error = exc
        else:
            names = ", ".join(str(o) for o in done.others)
            messages.success(request, _("Merged %(names)s into %(survivor)s.") % {
                "names": names, "survivor": done.survivor})
            return redirect(selectors.record_url(entity, done.survivor))
        records = selectors.visible_records(actor=user, entity=entity, ids=ids)  # as they are now
        ids = [pk for pk in ids if pk in records]
        if not ids:
            raise NotFound()
        others = [pk for pk in others if pk in records]
        if survivor not in records and ids:
            survivor = ids[0]
    plan: services.MergePlan | None = None
    if others and survivor in records:
        try:
            plan = services.merge(entity=entity, actor=user, survivor=survivor, others=others, preview=True)
        except InvalidInput as exc:
            error = error or exc
    view = selectors.chosen_group_view(entity=entity, records=records, ids=ids)
    context = {
        "entity": entity,
        "ids": ids,
        "ids_param": ",".join(str(pk) for pk in ids),
        "survivor": survivor,
        "others": others,
        "skipped": [pk for pk in ids if pk != survivor and pk not in others],
        "view": view,
        "plan": plan,
        "error": error,
        "can_merge": bool(plan and plan.can_merge),
        "back_url": reverse("dedupe:candidate_list") + "?" + urlencode({"entity": entity}),
    }
    return render_page(request, "dedupe/merge.html", context, partial="dedupe/_merge_area.html",
                       target="merge-area")
