"""REST doors onto the audit and backup state (administrators and compliance; taking a backup: administrators)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Query, Router, Schema, Status
from pydantic import Field

from bcrm.backup import services
from bcrm.core.errors import PermissionDenied
from bcrm.core.schemas import ERRORS, PageIn, page_response

router = Router(tags=["audit"])


class CheckOut(Schema):
    at: dt.datetime
    ok: bool
    checked: int
    findings: list[dict[str, Any]]


class CheckpointOut(Schema):
    position: int
    digest: str
    at: dt.datetime


class StatusOut(Schema):
    entries: int
    last_check: CheckOut | None
    checkpoints: list[CheckpointOut]


class EntryOut(Schema):
    id: int
    at: dt.datetime
    actor_id: int | None
    actor_label: str
    action: str
    object_type: str
    object_id: str
    object_repr: str
    changes: Any


class EntryPageOut(Schema):
    items: list[EntryOut]
    page: int
    page_size: int
    count: int
    count_is_capped: bool
    has_next: bool


class EntryFilter(Schema):
    object: str = Field("", description="model:id (e.g. organization:12), app.model:id, or a model alone")
    actor: str = Field("", description="username or user id")
    start: str = Field("", alias="from", max_length=40,
                       description="inclusive: a date (local midnight) or an ISO time with its offset")
    end: str = Field("", alias="to", max_length=40, description="exclusive: a date or an ISO time with its offset")


class BackupOut(Schema):
    name: str
    size: int
    modified: dt.datetime
    checked_at: str | None
    ok: bool | None
    problem: str


def _check(check) -> dict[str, Any] | None:
    if check is None:
        return None
    return {"at": check.at, "ok": check.ok, "checked": check.checked, "findings": check.findings}


@router.get("/audit/status", response={200: StatusOut, **ERRORS}, summary="The audit trail's last check and checkpoints")
def audit_status(request):
    status = services.audit_status(actor=request.auth)
    return {"entries": status["entries"], "last_check": _check(status["last_check"]),
            "checkpoints": status["checkpoints"]}


@router.post("/audit/verify", response={200: CheckOut, **ERRORS}, summary="Check the audit trail now")
def audit_verify(request):
    """Seal what is pending, walk the whole chain and the signed checkpoints, sign the end when it holds, and
    record the result as the last check (200 either way: ``ok`` says whether the trail is intact)."""
    return _check(services.audit_check_now(actor=request.auth))


@router.get("/audit/entries", response={200: EntryPageOut, **ERRORS}, summary="Audit entries, newest first")
def audit_entries(request, filters: Query[EntryFilter], page: Query[PageIn]):
    entries = services.audit_entries(actor=request.auth, obj=filters.object, user=filters.actor,
                                     start=filters.start, end=filters.end)
    data = page_response(entries, page)
    data["items"] = [{
        "id": e.id, "at": e.at, "actor_id": e.actor_id, "actor_label": e.actor_label, "action": e.action,
        "object_type": f"{e.content_type.app_label}.{e.content_type.model}", "object_id": e.object_id,
        "object_repr": e.object_repr, "changes": services.object_changes(e.changes, filters.object)}
        for e in data["items"]]
    return data


@router.get("/backups", response={200: list[BackupOut], **ERRORS}, summary="The backups in BCRM_BACKUP_DIR")
def backups(request):
    return [b.as_dict() for b in services.backups_list(actor=request.auth)]


@router.post("/backups", response={201: BackupOut, **ERRORS}, summary="Take a backup now (administrators)")
def backup_now(request):
    if not services.can_take_backup(request.auth):
        raise PermissionDenied()
    return Status(201, services.backup_now(actor=request.auth).as_dict())
