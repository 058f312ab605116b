"""Reads on interactions, service requests, tasks and surveys, restricted to what the actor may see; a client's
timeline (interactions, requests, survey answers and commitment steps)."""

from __future__ import annotations

from itertools import islice
from operator import itemgetter
from typing import Any

from django.db.models import F, Q, QuerySet
from django.db.models.expressions import OrderBy

from bcrm.accounts.permissions import restrict_organizations, sees_all_organizations
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.engagement.choices import TaskStatus
from bcrm.engagement.models import Interaction, ServiceRequest, SurveyResponse, Task
from bcrm.financing.models import ParticipationStatusChange
from bcrm.financing.walls import restrict_projects


def _by_organization(queryset: QuerySet, filters: dict[str, Any]) -> QuerySet:
    if filters.get("organization"):
        queryset = queryset.filter(organization_id=filters["organization"])
    return queryset


def interaction_list(*, actor, filters: dict[str, Any] | None = None) -> QuerySet[Interaction]:
    queryset = restrict_organizations(
        actor, Interaction.objects.select_related("organization", "owner", "project"), prefix="organization__"
    ).prefetch_related("contacts")
    queryset = restrict_projects(actor, queryset)
    filters = filters or {}
    queryset = _by_organization(queryset, filters)
    if filters.get("kind"):
        queryset = queryset.filter(kind=filters["kind"])
    return queryset.order_by("-occurred_at", "-id")


def interaction_get_for_user(*, user, pk: int) -> Interaction:
    obj = interaction_list(actor=user).filter(pk=pk).first()
    if obj is None:
        raise NotFound()
    return obj


def service_request_list(*, actor, filters: dict[str, Any] | None = None) -> QuerySet[ServiceRequest]:
    filters = filters or {}
    queryset = restrict_organizations(
        actor, ServiceRequest.objects.select_related("organization", "contact", "owner"), prefix="organization__"
    )
    queryset = _by_organization(queryset, filters)
    if "open" in filters and filters["open"] is not None:
        queryset = queryset.filter(resolved_at__isnull=bool(filters["open"]))
    return queryset.order_by("-opened_at", "-id")


def service_request_get_for_user(*, user, pk: int) -> ServiceRequest:
    obj = service_request_list(actor=user).filter(pk=pk).first()
    if obj is None:
        raise NotFound()
    return obj


def _asc(name: str) -> OrderBy:
    return F(name).asc(nulls_last=True)


def _desc(name: str) -> OrderBy:
    return F(name).desc(nulls_last=True)


# The task list's sort keys (the column headers), each ending in the id so equal values keep one order;
# rows without a client or an assignee go last either way, on every database.
TASK_SORTS: dict[str, tuple[Any, ...]] = {
    "due": (_asc("due_at"), _asc("id")),
    "-due": (_desc("due_at"), _desc("id")),
    "title": (_asc("title"), _asc("id")),
    "-title": (_desc("title"), _desc("id")),
    "client": (_asc("organization__legal_name"), _asc("due_at"), _asc("id")),
    "-client": (_desc("organization__legal_name"), _asc("due_at"), _asc("id")),
    "owner": (_asc("assignee__first_name"), _asc("assignee__last_name"), _asc("assignee__username"),
              _asc("due_at"), _asc("id")),
    "-owner": (_desc("assignee__first_name"), _desc("assignee__last_name"), _desc("assignee__username"),
               _asc("due_at"), _asc("id")),
    "status": (_asc("status"), _asc("due_at"), _asc("id")),
    "-status": (_desc("status"), _asc("due_at"), _asc("id")),
}
TASK_SORT_DEFAULT = "due"


def task_list(*, actor, filters: dict[str, Any] | None = None) -> QuerySet[Task]:
    """Tasks on visible organisations, plus tasks without an organisation assigned to the actor.

    ``filters["sort"]`` is one of ``TASK_SORTS`` (default: due date, soonest first)."""
    filters = filters or {}
    queryset = restrict_projects(actor, Task.objects.select_related("organization", "assignee"),
                                 "participation__project")
    if not sees_all_organizations(actor):
        visible = restrict_organizations(actor, queryset, prefix="organization__")
        queryset = visible | queryset.filter(Q(organization__isnull=True) & Q(assignee_id=actor.pk))
    queryset = _by_organization(queryset, filters)
    if filters.get("status"):
        if filters["status"] not in TaskStatus.values:
            raise InvalidInput(fields={"status": [f"Unknown status {filters['status']!r}."]})
        queryset = queryset.filter(status=filters["status"])
    if filters.get("assignee"):
        queryset = queryset.filter(assignee_id=filters["assignee"])
    sort = filters.get("sort") or TASK_SORT_DEFAULT
    if sort not in TASK_SORTS:
        raise InvalidInput(fields={"sort": [f"Unknown sort {sort!r}: choose one of {', '.join(TASK_SORTS)}."]})
    return queryset.order_by(*TASK_SORTS[sort])


def task_get_for_user(*, user, pk: int) -> Task:
    obj = task_list(actor=user).filter(pk=pk).first()
    if obj is None:
        raise NotFound()
    return obj


def survey_response_list(*, actor, filters: dict[str, Any] | None = None) -> QuerySet[SurveyResponse]:
    queryset = restrict_organizations(
        actor, SurveyResponse.objects.select_related("organization", "contact"), prefix="organization__"
    )
    return _by_organization(queryset, filters or {}).order_by("-responded_at", "-id")


def organization_timeline(*, actor, organization, limit: int = 50) -> list[dict[str, Any]]:
    """Interactions, requests, survey answers and commitment steps, newest first, as one list (without those
    on projects behind a wall ``actor`` is outside of)."""
    events: list[dict[str, Any]] = []
    for i in (
        restrict_projects(actor, Interaction.objects.filter(organization=organization))
        .select_related("owner", "project").prefetch_related("contacts")[:limit]
    ):
        events.append({"type": "interaction", "at": i.occurred_at, "object": i})
    for r in ServiceRequest.objects.filter(organization=organization).select_related("contact")[:limit]:
        events.append({"type": "service_request", "at": r.opened_at, "object": r})
    for s in SurveyResponse.objects.filter(organization=organization).select_related("contact")[:limit]:
        events.append({"type": "survey", "at": s.responded_at, "object": s})
    for c in (
        restrict_projects(actor, ParticipationStatusChange.objects.filter(participation__organization=organization),
                          "participation__project")
        .select_related("participation__project").order_by("-changed_at")[:limit]
    ):
        events.append({"type": "status_change", "at": c.changed_at, "object": c})
    events.sort(key=itemgetter("at"), reverse=True)
    return list(islice(events, limit))
