"""REST endpoints for the tier policy, the playbooks and their steps, the task lists (mine, team, overdue),
completing and placing tasks, and the automation runs. Parse, call a service or selector, serialise."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.contrib.auth import get_user_model
from ninja import Query, Router, Schema, Status
from pydantic import AwareDatetime, Field

from bcrm.core.errors import InvalidInput
from bcrm.core.schemas import ERRORS, PageIn, PageOut, page_response
from bcrm.engagement.services import task_bulk
from bcrm.playbooks import selectors, services
from bcrm.playbooks.choices import CadenceUnit, Channel, OwnerRule, Trigger
from bcrm.playbooks.policy import describe

router = Router(tags=["playbooks"])

# The actions a step may have (the engine makes escalation and overflow tasks itself).
ActionName = Literal["contact", "senior_meeting", "plan_review", "progress_report", "kyc_refresh", "due_diligence",
                     "survey_invitation", "data_collection"]


# --- schemas ---------------------------------------------------------------------------------------


class TierPolicyOut(Schema):
    version: int
    is_active: bool
    rules: dict[str, Any]
    note: str
    created_by: str | None
    created_at: dt.datetime

    @staticmethod
    def resolve_created_by(obj) -> str | None:
        return obj.created_by.get_username() if obj.created_by_id else None

    @staticmethod
    def resolve_note(obj) -> str:
        return obj.display_note


class TierPolicyDetailOut(Schema):
    version: int
    is_active: bool
    rules: dict[str, Any]
    note: str
    created_by: str | None
    created_at: dt.datetime
    description: dict[str, Any]
    counts: dict[str, Any]


class TierPolicyIn(Schema):
    rules: dict[str, Any]
    note: str = Field("", max_length=300)
    base_version: int | None = Field(None, description="the version you edited; a newer one gets 409")


class StepOut(Schema):
    id: int
    position: int
    action: str
    action_display: str
    trigger: str
    cadence_count: int
    cadence_unit: str
    channel: str
    owner_rule: str
    hours: Decimal
    lead_days: int
    only_dimension: str
    only_label: str
    is_active: bool
    phase_in_days: int = Field(description="the first tasks of clients already due are spread over this many "
                                           "days from phase_in_from (0: all at once)")
    phase_in_from: dt.date | None
    phase_in_until: dt.date | None = Field(description="the last day of the phase-in window (null: none)")
    version: int

    @staticmethod
    def resolve_action_display(obj) -> str:
        return str(obj.get_action_display())


class PlaybookOut(Schema):
    code: str
    name: str
    is_tier: bool
    description: str
    response_sla_hours: Decimal | None
    resolution_sla_hours: Decimal | None
    is_active: bool
    version: int
    steps: list[StepOut]

    @staticmethod
    def resolve_name(obj) -> str:
        return str(obj.get_code_display())

    @staticmethod
    def resolve_description(obj) -> str:
        """The shipped description in the request's language until someone rewrites it."""
        return obj.display_description

    @staticmethod
    def resolve_steps(obj) -> list:
        return list(obj.steps.all())


class PlaybookPatch(Schema):
    version: int
    description: str | None = None
    response_sla_hours: Decimal | None = Field(None, gt=0, le=9999)
    resolution_sla_hours: Decimal | None = Field(None, gt=0, le=9999)
    is_active: bool | None = None


class StepIn(Schema):
    action: ActionName
    position: int | None = Field(None, ge=0, le=1000)
    trigger: Trigger = Trigger.CADENCE
    cadence_count: int = Field(1, ge=1, le=365)
    cadence_unit: CadenceUnit = CadenceUnit.MONTH
    channel: Channel = Channel.ANY
    owner_rule: OwnerRule = OwnerRule.RELATIONSHIP_MANAGER
    hours: Decimal = Field(Decimal("1"), ge=0, le=200)
    lead_days: int = Field(7, ge=0, le=90)
    only_dimension: Literal["", "value", "risk", "relationship"] = ""
    only_label: str = ""
    is_active: bool = True
    phase_in_days: int = Field(0, ge=0, le=365)
    phase_in_from: dt.date | None = Field(None, description="default: today, when phase_in_days is set")


class StepPatch(Schema):
    version: int
    action: ActionName | None = None
    position: int | None = Field(None, ge=0, le=1000)
    trigger: Trigger | None = None
    cadence_count: int | None = Field(None, ge=1, le=365)
    cadence_unit: CadenceUnit | None = None
    channel: Channel | None = None
    owner_rule: OwnerRule | None = None
    hours: Decimal | None = Field(None, ge=0, le=200)
    lead_days: int | None = Field(None, ge=0, le=90)
    only_dimension: Literal["", "value", "risk", "relationship"] | None = None
    only_label: str | None = None
    is_active: bool | None = None
    phase_in_days: int | None = Field(None, ge=0, le=365)
    phase_in_from: dt.date | None = None


class WorkTaskOut(Schema):
    """A task as My day, the team board and the overdue list show it: with its playbook step and the client's name
    (its own name: the OpenAPI document keeps one schema per name, and engagement has a TaskOut)."""

    id: int
    title: str
    title_code: str = Field("", description="a generated title's code (its English message id); empty if typed")
    title_params: dict[str, Any] = Field(default_factory=dict)
    organization_id: int | None
    organization: str | None
    assignee_id: int | None
    team_id: int | None
    due_at: dt.datetime
    status: str
    source: str
    action: str
    step_id: int | None
    planned_hours: Decimal | None
    service_request_id: int | None
    participation_id: int | None
    interaction_id: int | None
    completed_at: dt.datetime | None
    version: int

    @staticmethod
    def resolve_organization(obj) -> str | None:
        return obj.organization.legal_name if obj.organization_id else None

    @staticmethod
    def resolve_title(obj) -> str:
        """A generated title in the request's language (Accept-Language / the session's)."""
        return obj.display_title


class TaskCompleteIn(Schema):
    version: int | None = Field(None, description="the version you read; a newer one gets 409")
    minutes: int | None = Field(None, ge=0, le=10080, description="default: the task's planned hours")
    summary: str = Field("", max_length=5000)
    outcome: str = Field("", max_length=5000)
    kind: str | None = Field(None, description="interaction kind; default the action's first")
    occurred_at: AwareDatetime | None = None


class TaskAssignIn(Schema):
    assignee: int
    version: int | None = None


class AutomationRunOut(Schema):
    id: int
    as_of: dt.datetime
    dry_run: bool
    status: str
    trigger: str
    started_by: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    duration_ms: int
    policy_version: int | None
    mode: str
    examined: int
    counts: dict[str, Any]
    overflow: list[dict[str, Any]]
    errors: list[Any]

    @staticmethod
    def resolve_started_by(obj) -> str | None:
        return obj.started_by.get_username() if obj.started_by_id else None


class AutomationRunDetailOut(AutomationRunOut):
    timings: dict[str, Any]


class AutomationRunIn(Schema):
    as_of: AwareDatetime | None = None
    dry_run: bool = False
    full: bool = False


class AutomationReportOut(Schema):
    run_id: int | None
    dry_run: bool
    mode: str
    examined: int
    counts: dict[str, Any]
    overflow: list[dict[str, Any]]
    errors: list[str]
    duration_ms: int


# --- tier policy -----------------------------------------------------------------------------------


def _policy_detail(request, policy) -> dict[str, Any]:
    return {"version": policy.version, "is_active": policy.is_active, "rules": policy.rules, "note": policy.display_note,
            "created_by": policy.created_by.get_username() if policy.created_by_id else None,
            "created_at": policy.created_at, "description": describe(policy.rules),
            "counts": selectors.tier_counts(request.auth)}


@router.get("/tier-policy", response={200: TierPolicyDetailOut, **ERRORS},
            summary="The active tier policy: rules, in words, and clients per tier and add-on")
def get_tier_policy(request):
    return _policy_detail(request, selectors.active_policy())


@router.post("/tier-policy", response={201: TierPolicyDetailOut, **ERRORS},
             summary="Save new rules as a new active version (lead/admin)")
def save_tier_policy(request, payload: TierPolicyIn):
    policy = services.tier_policy_save(actor=request.auth, rules=payload.rules, note=payload.note,
                                       base_version=payload.base_version)
    return Status(201, _policy_detail(request, policy))


@router.get("/tier-policy/versions", response={200: PageOut[TierPolicyOut], **ERRORS},
            summary="Every version of the tier policy, newest first")
def list_tier_policy_versions(request, page: Query[PageIn]):
    selectors.active_policy()
    return page_response(selectors.policy_versions(), page)


# --- playbooks -------------------------------------------------------------------------------------


@router.get("/playbooks", response={200: list[PlaybookOut], **ERRORS}, summary="Playbooks with their steps")
def list_playbooks(request):
    return list(selectors.playbooks_with_steps())


@router.get("/playbooks/{code}", response={200: PlaybookOut, **ERRORS})
def get_playbook(request, code: str):
    return selectors.playbook_get(code)


@router.patch("/playbooks/{code}", response={200: PlaybookOut, **ERRORS},
              summary="Change description, SLAs (business hours) or active (lead/admin)")
def update_playbook(request, code: str, payload: PlaybookPatch):
    playbook = selectors.playbook_get(code)
    data = payload.dict(exclude_unset=True)
    version = data.pop("version")
    if data.get("description") is None:
        data.pop("description", None)
    if "is_active" in data and data["is_active"] is None:
        data.pop("is_active")
    services.playbook_update(actor=request.auth, playbook=playbook, data=data, expected_version=version)
    return selectors.playbook_get(code)


@router.post("/playbooks/{code}/steps", response={201: StepOut, **ERRORS}, summary="Add a step (lead/admin)")
def create_step(request, code: str, payload: StepIn):
    playbook = selectors.playbook_get(code)
    data = payload.dict()
    return Status(201, services.step_create(actor=request.auth, playbook=playbook, data=data))


@router.patch("/playbook-steps/{int:step_id}", response={200: StepOut, **ERRORS}, summary="Change a step")
def update_step(request, step_id: int, payload: StepPatch):
    step = selectors.step_get(step_id)
    data = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None or k == "position"}
    version = data.pop("version")
    if data.get("position") is None:
        data.pop("position", None)
    return services.step_update(actor=request.auth, step=step, data=data, expected_version=version)


@router.delete("/playbook-steps/{int:step_id}", response={204: None, **ERRORS}, summary="Delete a step")
def delete_step(request, step_id: int):
    services.step_delete(actor=request.auth, step=selectors.step_get(step_id))
    return Status(204, None)


# --- tasks -----------------------------------------------------------------------------------------


@router.get("/tasks/mine", response={200: PageOut[WorkTaskOut], **ERRORS}, summary="My open tasks")
def list_my_tasks(request, page: Query[PageIn]):
    return page_response(selectors.task_queryset(request.auth, "mine"), page)


@router.get("/tasks/team", response={200: PageOut[WorkTaskOut], **ERRORS},
            summary="Open tasks of my teams (or of ?team=)")
def list_team_tasks(request, page: Query[PageIn], team: int | None = None):
    return page_response(selectors.task_queryset(request.auth, "team", team=team), page)


@router.get("/tasks/overdue", response={200: PageOut[WorkTaskOut], **ERRORS}, summary="Overdue open tasks I may see")
def list_overdue_tasks(request, page: Query[PageIn]):
    return page_response(selectors.task_queryset(request.auth, "overdue"), page)


@router.post("/tasks/{int:task_id}/complete", response={200: WorkTaskOut, **ERRORS},
             summary="Complete a task; a playbook task logs the interaction it stands for")
def complete_task(request, task_id: int, payload: TaskCompleteIn):
    task = selectors.task_get_for_user(user=request.auth, pk=task_id)
    return services.task_complete(actor=request.auth, task=task, minutes=payload.minutes, summary=payload.summary,
                                  outcome=payload.outcome, kind=payload.kind, occurred_at=payload.occurred_at,
                                  expected_version=payload.version)


@router.post("/tasks/{int:task_id}/assign", response={200: WorkTaskOut, **ERRORS},
             summary="Place a task with a member of its team (lead/admin)")
def assign_task(request, task_id: int, payload: TaskAssignIn):
    task = selectors.task_get_for_user(user=request.auth, pk=task_id)
    assignee = get_user_model().objects.filter(pk=payload.assignee).first()
    if assignee is None:
        raise InvalidInput(fields={"assignee": [f"No such user (id {payload.assignee})."]})
    return services.task_assign(actor=request.auth, task=task, assignee=assignee, expected_version=payload.version)


class TaskBulkIn(Schema):
    action: str = Field(..., description="complete or reassign")
    tasks: list[int] = Field(..., description="task ids (at most 500)")
    assignee: int | None = Field(None, description="the colleague's user id, for reassign")
    versions: dict[int, int] | None = Field(None, description="task id → the version you read; stale rows are refused")


class TaskBulkRefusedOut(Schema):
    id: int
    code: str
    message: str


class TaskBulkOut(Schema):
    action: str
    changed: list[int]
    refused: list[TaskBulkRefusedOut]
    changed_count: int
    refused_count: int


@router.post("/tasks/bulk", response={200: TaskBulkOut, **ERRORS},
             summary="Complete or reassign many tasks; each row through the single-task service")
def bulk_tasks(request, payload: TaskBulkIn):
    assignee = None
    if payload.assignee is not None:
        assignee = get_user_model().objects.filter(pk=payload.assignee).first()
        if assignee is None:
            raise InvalidInput(fields={"assignee": [f"No such user (id {payload.assignee})."]})
    return task_bulk(actor=request.auth, action=payload.action, task_ids=payload.tasks, assignee=assignee,
                     versions=payload.versions).as_dict()


# --- automation ------------------------------------------------------------------------------------


@router.get("/automation/runs", response={200: PageOut[AutomationRunOut], **ERRORS}, summary="Automation runs")
def list_automation_runs(request, page: Query[PageIn]):
    return page_response(selectors.automation_runs(request.auth), page)


@router.get("/automation/runs/{int:run_id}", response={200: AutomationRunDetailOut, **ERRORS})
def get_automation_run(request, run_id: int):
    return selectors.automation_run_get(request.auth, run_id)


@router.post("/automation/runs", response={200: AutomationReportOut, 201: AutomationReportOut, **ERRORS},
             summary="Run the automation now (dry_run: compute and report, write nothing; full: examine every "
                     "client, not only those due or changed since the last run); lead/admin")
def create_automation_run(request, payload: AutomationRunIn):
    report = services.automation_run(actor=request.auth, as_of=payload.as_of, dry_run=payload.dry_run, trigger="api",
                                     full=payload.full)
    body = {"run_id": report.run.pk if report.run else None, "dry_run": payload.dry_run, "mode": report.mode,
            "examined": report.examined,
            "counts": report.counts, "overflow": report.overflow, "errors": report.errors,
            "duration_ms": report.duration_ms}
    return Status(200 if payload.dry_run else 201, body)
