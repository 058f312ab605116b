"""REST endpoints for privacy requests (compliance officers and administrators only)."""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from ninja import Router, Schema, Status
from pydantic import Field

from bcrm.core.schemas import ERRORS
from bcrm.privacy import services

router = Router(tags=["privacy"])


class EraseIn(Schema):
    reason: str = Field(..., description="why: the request and its date (do not repeat the person's name)")


class EraseOut(Schema):
    reference: str
    rows: dict[str, int]
    audit_entries: int
    files_deleted: int
    files_rewritten: int
    files_left: list[str]


class HoldIn(Schema):
    until: dt.date
    reason: str


class HoldOut(Schema):
    id: int
    contact_id: int
    until: dt.date
    reason: str


class PurposeIn(Schema):
    code: str
    name: str
    mail_kind: str = ""
    legal_basis: str
    description: str = ""


class PurposeOut(Schema):
    id: int | None = Field(None, description="null for a built-in purpose no row of the register replaces")
    code: str
    name: str
    mail_kind: str
    legal_basis: str
    description: str
    active: bool


@router.get("/privacy/contacts/{pk}/export", response={200: None, **ERRORS},
            summary="A ZIP (JSON plus CSVs) of everything held on a contact (subject access, portability)")
def export(request, pk: int):
    name, content = services.export_package(actor=request.auth, contact_id=pk)
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@router.post("/privacy/contacts/{pk}/erase", response={200: EraseOut, **ERRORS},
             summary="Anonymise a contact everywhere (422 retention_hold while a hold keeps the records)")
def erase(request, pk: int, payload: EraseIn):
    result = services.erase(actor=request.auth, contact_id=pk, reason=payload.reason)
    return {"reference": result.erasure.reference, "rows": result.rows, "audit_entries": result.audit_entries,
            "files_deleted": len(result.files_deleted), "files_rewritten": len(result.files_rewritten),
            "files_left": result.files_left}


@router.post("/privacy/contacts/{pk}/holds", response={201: HoldOut, **ERRORS},
             summary="Keep a contact's records until a date; restricts processing (no mailings) meanwhile")
def hold(request, pk: int, payload: HoldIn):
    return Status(201, services.hold_place(actor=request.auth, contact_id=pk, until=payload.until,
                                           reason=payload.reason))


@router.get("/privacy/purposes", response={200: list[PurposeOut], **ERRORS},
            summary="The register of processing purposes")
def purposes(request):
    services.require_privacy(request.auth)
    return services.purposes()


@router.post("/privacy/purposes", response={201: PurposeOut, **ERRORS}, summary="Add a processing purpose")
def purpose_create(request, payload: PurposeIn):
    return Status(201, services.purpose_create(actor=request.auth, **payload.dict()))


class ActiveIn(Schema):
    active: bool


@router.post("/privacy/purposes/{code}/active", response={200: PurposeOut, **ERRORS},
             summary="Switch a processing purpose on or off (off: its kind of mail is no longer sent to contacts)")
def purpose_active(request, code: str, payload: ActiveIn):
    return services.purpose_set_active(actor=request.auth, code=code, active=payload.active)
