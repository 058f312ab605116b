"""REST door of the resource plan: `GET /resource-plan?team=` (the same figures as the page)."""

from __future__ import annotations

import datetime as dt

from ninja import Query, Router, Schema
from pydantic import Field

from bcrm.core.schemas import ERRORS
from bcrm.resources import selectors as resource_selectors

router = Router(tags=["resource plan"])


class PlanLineOut(Schema):
    playbook: str
    playbook_name: str
    is_tier: bool
    action: str
    action_name: str
    clients: int
    hours: float = Field(description="hours per month")


class WhatIfOut(Schema):
    capacity: float
    base_hours: float = Field(description="demand with every client on the standard tier (add-ons kept)")
    budget: float = Field(description="capacity − base_hours: hours a month left for dedicated service")
    clients: int = Field(description="the team's clients with a value score")
    k: int = Field(description="clients the plan serves as dedicated")
    value_selected: float
    value_total: float
    value_covered: float | None = Field(description="share of the team's total value score")
    hours_used: float
    total_hours: float
    exact: bool
    algorithm: str
    current_k: int
    current_value_covered: float | None
    current_hours: float
    curve: list[list[float]] = Field(description="[team hours per month, value share], clients by score")


class TeamPlanOut(Schema):
    team_id: int | None
    name: str
    members: int
    clients: int
    dedicated_clients: int
    capacity: float = Field(description="hours per month: Σ weekly hours × 52 / 12")
    demand: float = Field(description="hours per month the playbooks ask")
    gap: float
    utilisation: float | None
    lines: list[PlanLineOut]
    what_if: WhatIfOut | None


class ResourcePlanOut(Schema):
    as_of: dt.datetime
    value_run_id: int | None
    policy_version: int | None
    capacity: float
    demand: float
    teams: list[TeamPlanOut]


class PlanQuery(Schema):
    team: int | None = None


def plan_out(plan: resource_selectors.ResourcePlan) -> dict:
    return {
        "as_of": plan.as_of, "value_run_id": plan.value_run_id, "policy_version": plan.policy_version,
        "capacity": plan.capacity, "demand": plan.demand,
        "teams": [{
            "team_id": t.team_id, "name": t.name, "members": t.members, "clients": t.clients,
            "dedicated_clients": t.dedicated_clients, "capacity": t.capacity, "demand": t.demand, "gap": t.gap,
            "utilisation": t.utilisation, "lines": [vars(line) for line in t.lines],
            "what_if": t.what_if.as_dict() if t.what_if else None,
        } for t in plan.teams],
    }


@router.get("/resource-plan", response={200: ResourcePlanOut, **ERRORS},
            summary="Demand against capacity per team, and the dedicated-tier what-if")
def resource_plan(request, filters: Query[PlanQuery]):
    return plan_out(resource_selectors.resource_plan(request.user, team=filters.team))
