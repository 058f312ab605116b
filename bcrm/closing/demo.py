"""Demo closing checklists: a few projects near financial close, at several stages of completion (just made,
under way with overdue items, nearly ready, signed off). Deterministic for a seed; adds nothing when
checklists exist. A handful of projects, written in bulk."""

from __future__ import annotations

import datetime as dt
import random

from django.contrib.auth import get_user_model
from django.utils import timezone

from bcrm.accounts.permissions import SystemOperator
from bcrm.closing import services
from bcrm.closing.models import Checklist, ChecklistItem, ItemStatus
from bcrm.financing.models import Project

#: share of items done (satisfied or waived) on each demo checklist; the last one is signed off
STAGES = [0.0, 0.35, 0.7, 0.95, 1.0]


def demo_checklists(*, seed: int = 1, today: dt.date | None = None) -> dict[str, int]:
    if Checklist.objects.exists():
        return {}
    rng = random.Random(seed)
    today = today or timezone.localdate()
    now = timezone.now()
    actor = SystemOperator()
    projects = list(Project.objects.filter(stage__in=("structuring", "marketing", "financial_close"))
                    .order_by("expected_close", "pk")[:len(STAGES)])
    owners = list(get_user_model().objects.filter(groups__name="relationship_manager", is_active=True)
                  .order_by("username")[:6])
    counts = {"checklists": 0, "items": 0}
    for project, share in zip(projects, STAGES, strict=False):
        if project.expected_close is None or project.expected_close < today:
            project.expected_close = today + dt.timedelta(days=rng.randint(20, 60))
            Project.objects.filter(pk=project.pk).update(expected_close=project.expected_close)
        checklist = services.checklist_create(actor=actor, project=project)
        items = list(checklist.items.order_by("position"))
        done = round(len(items) * share)
        for index, item in enumerate(items):
            item.due_on = project.expected_close - dt.timedelta(days=rng.randint(3, 45))
            if owners:
                item.owner_user = owners[(index + project.pk) % len(owners)]
            if index < done:
                item.status = ItemStatus.WAIVED if index % 7 == 6 else ItemStatus.SATISFIED
                item.waiver_reason = "Covered by the sponsor's completion guarantee." if index % 7 == 6 else ""
                item.status_changed_at = now - dt.timedelta(days=rng.randint(1, 30))
            elif index == done and share:
                item.status = ItemStatus.SUBMITTED
                item.status_changed_at = now - dt.timedelta(days=1)
            if index >= done and index % 3 == 0:
                item.due_on = today + dt.timedelta(days=rng.randint(-5, 5))  # overdue or due this week: My day
        ChecklistItem.objects.bulk_update(items, ["due_on", "owner_user", "status", "waiver_reason",
                                                  "status_changed_at"])
        if share >= 1.0:
            services.checklist_sign_off(actor=actor, checklist=checklist, today=today)
        counts["checklists"] += 1
        counts["items"] += len(items)
    return counts
