"""REST endpoints for projects and participations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ninja import Query, Router, Schema, Status
from pydantic import Field

from bcrm.core.schemas import ERRORS, PageIn, PageOut, SearchText, page_response, resolve
from bcrm.financing import selectors, services, walls
from bcrm.financing.choices import ParticipationRole, ParticipationStatus, ProjectStage
from bcrm.parties.choices import Sector
from bcrm.parties.selectors import organization_get_for_user

router = Router(tags=["projects"])

Money = Decimal  # serialised as a string: never a float


class ProjectOut(Schema):
    id: int
    name: str
    local_name: str
    external_id: str | None
    sector: str
    country: str
    stage: str
    currency: str
    total_cost: Money
    financing_target: Money
    expected_close: dt.date | None
    sponsor_id: int | None
    description: str
    confidential: bool
    version: int

    @staticmethod
    def resolve_country(obj) -> str:
        return obj.country.code or ""


class ProjectIn(Schema):
    name: str = Field(..., min_length=1, max_length=200)
    local_name: str = Field("", max_length=200)
    external_id: str | None = Field(None, max_length=64)
    sector: Sector
    country: str = Field(..., min_length=2, max_length=2)
    stage: ProjectStage = ProjectStage.ORIGINATION
    currency: str = Field("USD", min_length=3, max_length=3)
    total_cost: Money = Field(Decimal(0), ge=0, max_digits=20, decimal_places=2)
    financing_target: Money = Field(Decimal(0), ge=0, max_digits=20, decimal_places=2)
    expected_close: dt.date | None = None
    sponsor: int | None = None
    description: str = ""


class ProjectPatch(Schema):
    version: int
    name: str | None = Field(None, min_length=1, max_length=200)
    local_name: str | None = Field(None, max_length=200)
    external_id: str | None = Field(None, max_length=64)
    sector: Sector | None = None
    country: str | None = Field(None, min_length=2, max_length=2)
    stage: ProjectStage | None = None
    currency: str | None = Field(None, min_length=3, max_length=3)
    total_cost: Money | None = Field(None, ge=0, max_digits=20, decimal_places=2)
    financing_target: Money | None = Field(None, ge=0, max_digits=20, decimal_places=2)
    expected_close: dt.date | None = None
    sponsor: int | None = None
    description: str | None = None


class ParticipationOut(Schema):
    id: int
    project_id: int
    organization_id: int
    role: str
    tranche: str
    amount: Money
    currency: str
    status: str
    status_changed_at: dt.datetime
    probability: Decimal
    fee_income: Money
    notes: str
    version: int


class ParticipationIn(Schema):
    project: int
    organization: int
    role: ParticipationRole
    tranche: str = Field("", max_length=60)
    amount: Money = Field(..., ge=0, max_digits=20, decimal_places=2)
    currency: str = Field(..., min_length=3, max_length=3)
    status: ParticipationStatus = ParticipationStatus.PROSPECT
    probability: Decimal = Field(Decimal("0.1"), ge=0, le=1, max_digits=4, decimal_places=3)
    fee_income: Money = Field(Decimal(0), ge=0, max_digits=20, decimal_places=2)
    notes: str = ""


class ParticipationPatch(Schema):
    version: int
    role: ParticipationRole | None = None
    tranche: str | None = Field(None, max_length=60)
    amount: Money | None = Field(None, ge=0, max_digits=20, decimal_places=2)
    currency: str | None = Field(None, min_length=3, max_length=3)
    status: ParticipationStatus | None = None
    probability: Decimal | None = Field(None, ge=0, le=1, max_digits=4, decimal_places=3)
    fee_income: Money | None = Field(None, ge=0, max_digits=20, decimal_places=2)
    notes: str | None = None


class ParticipationFilters(Schema):
    project: int | None = None
    organization: int | None = None
    status: ParticipationStatus | None = None


class ProjectFilters(Schema):
    q: SearchText | None = None
    sector: Sector | None = None
    stage: ProjectStage | None = None


def _clean(payload: Schema, *, partial: bool) -> dict:
    data = payload.dict(exclude_unset=partial)
    data.pop("version", None)
    for key in ("local_name", "description", "notes", "tranche"):
        if key in data and data[key] is None:
            data[key] = ""
    return data


def _with_refs(request, data: dict) -> dict:
    resolve(data, "sponsor", lambda pk: organization_get_for_user(user=request.auth, pk=pk))
    resolve(data, "organization", lambda pk: organization_get_for_user(user=request.auth, pk=pk))
    resolve(data, "project", lambda pk: selectors.project_get_for_user(user=request.auth, pk=pk))
    return data


@router.get("/projects", response=PageOut[ProjectOut], summary="List projects")
def list_projects(request, filters: Query[ProjectFilters], page: Query[PageIn]):
    return page_response(selectors.project_list(actor=request.auth, filters=filters.dict(exclude_none=True)), page)


@router.post("/projects", response={201: ProjectOut, **ERRORS}, summary="Create a project")
def create_project(request, payload: ProjectIn):
    return Status(201, services.project_create(actor=request.auth, data=_with_refs(request, _clean(payload, partial=False))))


@router.get("/projects/{int:pk}", response={200: ProjectOut, **ERRORS}, summary="Read a project")
def get_project(request, pk: int):
    return selectors.project_get_for_user(user=request.auth, pk=pk)


@router.patch("/projects/{int:pk}", response={200: ProjectOut, **ERRORS}, summary="Update a project")
def update_project(request, pk: int, payload: ProjectPatch):
    project = selectors.project_get_for_user(user=request.auth, pk=pk)
    data = _with_refs(request, _clean(payload, partial=True))
    return services.project_update(actor=request.auth, project=project, data=data, expected_version=payload.version)


@router.delete("/projects/{int:pk}", response={204: None, **ERRORS}, summary="Delete a project")
def delete_project(request, pk: int):
    services.project_delete(actor=request.auth, project=selectors.project_get_for_user(user=request.auth, pk=pk))
    return Status(204, None)


@router.get("/participations", response=PageOut[ParticipationOut], summary="List participations")
def list_participations(request, filters: Query[ParticipationFilters], page: Query[PageIn]):
    return page_response(selectors.participation_list(actor=request.auth, filters=filters.dict(exclude_none=True)), page)


@router.post("/participations", response={201: ParticipationOut, **ERRORS}, summary="Add a participation")
def create_participation(request, payload: ParticipationIn):
    data = _with_refs(request, _clean(payload, partial=False))
    return Status(201, services.participation_create(actor=request.auth, data=data))


@router.get("/participations/{int:pk}", response={200: ParticipationOut, **ERRORS}, summary="Read a participation")
def get_participation(request, pk: int):
    return selectors.participation_get_for_user(user=request.auth, pk=pk)


@router.patch("/participations/{int:pk}", response={200: ParticipationOut, **ERRORS},
              summary="Update a participation (a status change is dated)")
def update_participation(request, pk: int, payload: ParticipationPatch):
    participation = selectors.participation_get_for_user(user=request.auth, pk=pk)
    return services.participation_update(
        actor=request.auth, participation=participation, data=_clean(payload, partial=True),
        expected_version=payload.version,
    )


@router.delete("/participations/{int:pk}", response={204: None, **ERRORS}, summary="Delete a participation")
def delete_participation(request, pk: int):
    services.participation_delete(
        actor=request.auth, participation=selectors.participation_get_for_user(user=request.auth, pk=pk)
    )
    return Status(204, None)


# --- deal walls (bcrm.financing.walls) ------------------------------------------------------------------

class WallIn(Schema):
    confidential: bool
    reason: str = Field(..., max_length=500)


class WallMemberIn(Schema):
    user: int | None = None
    team: int | None = None
    reason: str = Field(..., max_length=500)


class WallMemberOut(Schema):
    id: int
    project_id: int
    user_id: int | None
    team_id: int | None
    added_by_id: int | None
    reason: str
    at: dt.datetime


class WallCrossingOut(Schema):
    at: dt.datetime
    actor: str = Field(..., alias="actor_label")
    action: str
    member: str
    reason: str

    @staticmethod
    def resolve_member(obj) -> str:
        return "".join(str(v) for v in (obj.changes.get("member") or []))

    @staticmethod
    def resolve_reason(obj) -> str:
        return str(obj.changes.get("reason") or "")


class WallRegisterOut(Schema):
    project: ProjectOut
    members: list[WallMemberOut]
    crossings: list[WallCrossingOut]


def _member_refs(data: WallMemberIn) -> dict:
    from django.contrib.auth import get_user_model

    from bcrm.accounts.models import Team
    from bcrm.core.errors import InvalidInput

    refs: dict = {"user": None, "team": None}
    if data.user is not None:
        refs["user"] = get_user_model().objects.filter(pk=data.user, is_active=True).first()
        if refs["user"] is None:
            raise InvalidInput(fields={"user": [f"No active user {data.user}."]})
    if data.team is not None:
        refs["team"] = Team.objects.filter(pk=data.team).first()
        if refs["team"] is None:
            raise InvalidInput(fields={"team": [f"No team {data.team}."]})
    return refs


@router.put("/projects/{int:pk}/wall", response={200: ProjectOut, **ERRORS},
            summary="Raise or lift a project's deal wall (compliance; admin or lead inside it)")
def set_wall(request, pk: int, payload: WallIn):
    project = selectors.project_get_for_user(user=request.auth, pk=pk)
    return walls.wall_set_confidential(actor=request.auth, project=project, confidential=payload.confidential,
                                       reason=payload.reason)


@router.get("/projects/{int:pk}/wall/members", response={200: list[WallMemberOut], **ERRORS},
            summary="The deal team of a confidential project")
def list_wall_members(request, pk: int):
    project = selectors.project_get_for_user(user=request.auth, pk=pk)
    return list(walls.wall_members(actor=request.auth, project=project))


@router.post("/projects/{int:pk}/wall/members", response={201: WallMemberOut, **ERRORS},
             summary="Cross the wall: add a user or a team to the deal team, with a reason")
def add_wall_member(request, pk: int, payload: WallMemberIn):
    project = selectors.project_get_for_user(user=request.auth, pk=pk)
    walls.require_wall_manage(request.auth, project)  # before the user and team lookups answer anything
    return Status(201, walls.wall_add_member(actor=request.auth, project=project, reason=payload.reason,
                                             **_member_refs(payload)))


@router.delete("/projects/{int:pk}/wall/members/{int:member_id}", response={204: None, **ERRORS},
               summary="Take a user or a team out of the deal team")
def remove_wall_member(request, pk: int, member_id: int, reason: str = ""):
    project = selectors.project_get_for_user(user=request.auth, pk=pk)
    member = walls.wall_member_get(actor=request.auth, project=project, pk=member_id)
    walls.wall_remove_member(actor=request.auth, member=member, reason=reason)
    return Status(204, None)


@router.get("/walls", response={200: list[WallRegisterOut], **ERRORS},
            summary="The wall register: confidential projects, deal teams, crossings (compliance)")
def wall_register(request):
    return walls.wall_register(actor=request.auth)
