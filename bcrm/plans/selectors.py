"""Reads on financing plans, restricted to the clients the actor may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import restrict_organizations
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.financing.selectors import project_list
from bcrm.plans.models import FinancingPlan, PlanStatus, PlanTemplate, PlanVersion
from bcrm.plans.terms import TermChange, diff_terms


def plan_list(*, actor, filters: dict[str, Any] | None = None) -> QuerySet[FinancingPlan]:
    filters = filters or {}
    queryset = restrict_organizations(
        actor, FinancingPlan.objects.select_related("organization", "project", "relationship_manager"),
        prefix="organization__")
    # every project access goes through the financing selectors (deal walls hide confidential projects)
    queryset = queryset.filter(project__in=project_list(actor=actor).order_by().values("pk"))
    for key in ("organization", "project"):
        value = filters.get(key)
        if value is not None and value != "":
            try:
                queryset = queryset.filter(**{f"{key}_id": int(value)})
            except (TypeError, ValueError):
                raise InvalidInput(fields={key: [_("Give an id.")]}) from None
    if filters.get("status"):
        if filters["status"] not in PlanStatus.values:
            raise InvalidInput(fields={"status": [_("Unknown status %(status)r.") % {"status": filters["status"]}]})
        queryset = queryset.filter(status=filters["status"])
    if filters.get("tranche") is not None and filters.get("tranche") != "":
        queryset = queryset.filter(tranche=filters["tranche"])
    return queryset.order_by("-updated_at", "-id")


def plan_get_for_user(*, user, pk: int) -> FinancingPlan:
    plan = plan_list(actor=user).filter(pk=pk).first()
    if plan is None:
        raise NotFound()
    return plan


def plan_versions(plan: FinancingPlan) -> list[PlanVersion]:
    return list(plan.versions.select_related("created_by").order_by("number"))


def plan_version(plan: FinancingPlan, number: int) -> PlanVersion:
    version = plan.versions.filter(number=number).first()
    if version is None:
        raise NotFound(_("Plan %(plan)s has no version %(number)s.") % {"plan": plan.pk, "number": number})
    return version


def plan_compare(plan: FinancingPlan, a: int, b: int) -> tuple[PlanVersion, PlanVersion, list[TermChange]]:
    """Two versions side by side and what changed from ``a`` to ``b``."""
    left, right = plan_version(plan, a), plan_version(plan, b)
    return left, right, diff_terms(left.terms(), right.terms())


def plan_template_list(*, actor, project=None) -> QuerySet[PlanTemplate]:
    queryset = PlanTemplate.objects.select_related("project").order_by("project__name", "name", "id")
    if project is not None:
        queryset = queryset.filter(project=project)
    return queryset


def plan_template_get(*, actor, pk: int) -> PlanTemplate:
    template = plan_template_list(actor=actor).filter(pk=pk).first()
    if template is None:
        raise NotFound()
    return template


def organizations_with_plans(organization_ids) -> set[int]:
    """Which of these clients have a plan that is not declined or withdrawn (the team board asks)."""
    return set(FinancingPlan.objects.filter(organization_id__in=list(organization_ids))
               .exclude(status__in=(PlanStatus.DECLINED, PlanStatus.WITHDRAWN))
               .values_list("organization_id", flat=True))


def plan_as_dict(plan: FinancingPlan) -> dict[str, Any]:
    current = plan.current
    return {
        "id": plan.pk, "organization_id": plan.organization_id, "organization": plan.organization.legal_name,
        "project_id": plan.project_id, "project": plan.project.name, "tranche": plan.tranche,
        "status": plan.status, "version": plan.version, "current_version": plan.current_number,
        "relationship_manager_id": plan.relationship_manager_id, "approver_id": plan.approver_id,
        "terms": {k: (str(v) if v is not None and not isinstance(v, int | str) else v)
                  for k, v in current.terms().items()},
        "updated_at": plan.updated_at.isoformat(),
    }


def dedicated_without_plan(*, team_id: int, limit: int = 50) -> list:
    """The team's dedicated-tier clients with an open deal (a participation neither funded, declined nor
    withdrawn) and no plan that is still alive: the team board lists them (the method promises them a plan)."""
    from bcrm.financing.choices import ParticipationStatus
    from bcrm.parties.classes import Tier
    from bcrm.parties.models import Organization

    open_deal = ~Q(participations__status__in=(ParticipationStatus.FUNDED, ParticipationStatus.DECLINED,
                                               ParticipationStatus.WITHDRAWN))
    live_plans = FinancingPlan.objects.exclude(status__in=(PlanStatus.DECLINED, PlanStatus.WITHDRAWN))
    return list(Organization.objects.filter(team_id=team_id, service_tier__tier=Tier.DEDICATED)
                .filter(participations__isnull=False).filter(open_deal)
                .exclude(pk__in=live_plans.values("organization_id"))
                .distinct().order_by("legal_name", "id")[:limit])
