"""Reads on closing checklists. A project is always reached through bcrm.financing.selectors (which decides
who may see it); readiness is the pure arithmetic of bcrm.closing.readiness over the items."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from bcrm.closing.models import Checklist, ChecklistItem, Evidence, ItemStatus
from bcrm.closing.readiness import Readiness, readiness
from bcrm.core.errors import NotFound
from bcrm.core.texts import shipped
from bcrm.financing.selectors import project_get_for_user, project_list


def checklist_of(project) -> Checklist | None:
    return Checklist.objects.filter(project=project).select_related("signed_off_by").first()


def checklist_items(checklist: Checklist) -> QuerySet[ChecklistItem]:
    return (checklist.items.select_related("owner_user", "owner_contact", "owner_contact__organization")
            .prefetch_related("evidence").order_by("position", "id"))


def checklist_readiness(checklist: Checklist | None, *, today: dt.date | None = None) -> Readiness:
    today = today or timezone.localdate()
    if checklist is None:
        return readiness([], today)
    return readiness(list(checklist.items.order_by("position", "id").values_list("status", "due_on")), today)


def project_closing(*, user, pk: int) -> tuple[Any, Checklist | None]:
    project = project_get_for_user(user=user, pk=pk)
    return project, checklist_of(project)


def item_get_for_user(*, user, pk: int) -> ChecklistItem:
    item = ChecklistItem.objects.select_related("checklist", "checklist__project").filter(pk=pk).first()
    if item is None:
        raise NotFound()
    project_get_for_user(user=user, pk=item.checklist.project_id)  # NotFound when the project is hidden
    return item


def evidence_get_for_user(*, user, pk: int) -> Evidence:
    evidence = Evidence.objects.select_related("item__checklist").filter(pk=pk).first()
    if evidence is None:
        raise NotFound()
    project_get_for_user(user=user, pk=evidence.item.checklist.project_id)
    return evidence


def items_due_for(user, *, until: dt.date, today: dt.date | None = None) -> list[ChecklistItem]:
    """Open or submitted items the user owns, due by ``until`` (overdue ones included), on projects they see:
    what My day lists."""
    if not getattr(user, "pk", None):
        return []
    visible = project_list(actor=user).values("pk")
    return list(ChecklistItem.objects.filter(owner_user=user, due_on__lte=until,
                                             status__in=(ItemStatus.OPEN, ItemStatus.SUBMITTED),
                                             checklist__project__in=visible, checklist__signed_off_at__isnull=True)
                .select_related("checklist__project").order_by("due_on", "id")[:50])


def item_as_dict(item: ChecklistItem, today: dt.date) -> dict[str, Any]:
    return {
        "id": item.pk, "position": item.position, "category": item.category, "title": shipped(item.title),
        "status": item.status, "due_on": item.due_on.isoformat() if item.due_on else None,
        "overdue": bool(item.due_on and item.due_on < today and item.status not in ("satisfied", "waived")),
        "owner_user_id": item.owner_user_id, "owner_contact_id": item.owner_contact_id,
        "waiver_reason": item.waiver_reason, "version": item.version,
        "evidence": [{"id": e.pk, "file_name": e.file_name, "size": e.size} for e in item.evidence.all()],
    }


def checklist_as_dict(project, checklist: Checklist | None, *, today: dt.date | None = None) -> dict[str, Any]:
    today = today or timezone.localdate()
    items = list(checklist_items(checklist)) if checklist else []
    state = checklist_readiness(checklist, today=today)
    return {
        "project_id": project.pk, "project": project.name, "exists": checklist is not None,
        "signed_off_at": checklist.signed_off_at.isoformat() if checklist and checklist.signed_off_at else None,
        "signed_off_by": checklist.signed_off_by.get_username() if checklist and checklist.signed_off_by else None,
        "readiness": state.as_dict(),
        "blocking": [items[i].pk for i in state.blocking],
        "items": [item_as_dict(i, today) for i in items],
    }


def blocking_items(checklist: Checklist | None, *, limit: int = 10) -> list[ChecklistItem]:
    if checklist is None:
        return []
    return list(checklist.items.filter(~Q(status__in=(ItemStatus.SATISFIED, ItemStatus.WAIVED)))
                .order_by("due_on", "position", "id")[:limit])


def closing_summary(project, *, today: dt.date, limit: int = 12) -> dict[str, Any] | None:
    """What the progress report shows (what is done, what is left): readiness and the open conditions,
    soonest due first; None without a checklist. Two queries."""
    checklist = Checklist.objects.filter(project=project).only("pk", "signed_off_at").first()
    if checklist is None:
        return None
    rows = list(checklist.items.order_by("position", "id").values_list("status", "due_on", "title", "category"))
    state = readiness([(s, d) for s, d, _t, _c in rows], today)
    left = sorted((rows[i] for i in state.blocking), key=lambda r: (r[1] or dt.date.max, r[2]))
    return {"readiness": state, "signed_off_at": checklist.signed_off_at,
            "left": [{"title": shipped(t), "due_on": d, "status": s, "overdue": bool(d and d < today)}
                     for s, d, t, _c in left[:limit]],
            "more": max(0, len(left) - limit)}
