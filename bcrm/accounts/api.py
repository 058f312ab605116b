"""REST endpoints for the caller's own account and personal tokens."""

from __future__ import annotations

import datetime as dt

from ninja import Router, Schema, Status
from pydantic import AwareDatetime, Field

from bcrm.accounts import services
from bcrm.accounts.models import ApiToken
from bcrm.accounts.permissions import user_roles
from bcrm.core.errors import NotFound
from bcrm.core.schemas import ERRORS

router = Router(tags=["account"])


class MeOut(Schema):
    id: int
    username: str
    email: str
    roles: list[str]
    team_ids: list[int]


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenCreated(TokenOut):
    token: str = Field(..., description="shown once; store it now")


class TokenIn(Schema):
    name: str = Field("api", min_length=1, max_length=100)
    expires_at: AwareDatetime | None = None


@router.get("/me", response=MeOut, summary="Who am I")
def me(request):
    user = request.auth
    return {
        "id": user.pk, "username": user.get_username(), "email": user.email,
        "roles": sorted(user_roles(user)), "team_ids": list(user.memberships.values_list("team_id", flat=True)),
    }


@router.get("/tokens", response=list[TokenOut], summary="My API tokens")
def list_tokens(request):
    return list(ApiToken.objects.filter(user=request.auth))


@router.post("/tokens", response={201: TokenCreated, **ERRORS}, summary="Create a personal API token")
def create_token(request, payload: TokenIn):
    token, raw = services.token_create(actor=request.auth, user=request.auth, name=payload.name, expires_at=payload.expires_at)
    return Status(201, {**TokenOut.from_orm(token).dict(), "token": raw})


@router.delete("/tokens/{int:pk}", response={204: None, **ERRORS}, summary="Revoke a token")
def revoke_token(request, pk: int):
    token = ApiToken.objects.filter(pk=pk, user=request.auth).first()
    if token is None:
        raise NotFound()
    services.token_revoke(actor=request.auth, token=token)
    return Status(204, None)
