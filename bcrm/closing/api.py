"""REST endpoints for closing checklists: show with readiness, create from the sector template, move an item,
upload evidence, sign off. Thin: parse, call selectors/services, serialise."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.utils import timezone
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from bcrm.closing import selectors, services
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.core.schemas import ERRORS

router = Router(tags=["closing checklists"])


class ItemStatusIn(Schema):
    to: Literal["open", "submitted", "satisfied", "waived"]
    reason: str = ""
    version: int | None = None


class ItemIn(Schema):
    due_on: dt.date | None = None
    owner_user: int | None = Field(None, description="user id; owner_user or owner_contact, or neither")
    owner_contact: int | None = Field(None, description="contact id of a client taking part in the project")
    version: int | None = None


def _checklist(user, pk: int):
    project, checklist = selectors.project_closing(user=user, pk=pk)
    if checklist is None:
        raise NotFound("This project has no closing checklist.")
    return project, checklist


@router.get("/projects/{pk}/closing", response={200: dict[str, Any], **ERRORS},
            summary="A project's closing checklist: items and readiness")
def get_checklist(request, pk: int):
    project, checklist = selectors.project_closing(user=request.auth, pk=pk)
    return selectors.checklist_as_dict(project, checklist, today=timezone.localdate())


@router.post("/projects/{pk}/closing", response={201: dict[str, Any], **ERRORS},
             summary="Make the project's checklist from its sector's template")
def create_checklist(request, pk: int):
    project, _checklist_ = selectors.project_closing(user=request.auth, pk=pk)
    checklist = services.checklist_create(actor=request.auth, project=project)
    return Status(201, selectors.checklist_as_dict(project, checklist))


@router.post("/closing-items/{pk}/status", response={200: dict[str, Any], **ERRORS},
             summary="Move an item: open → submitted → satisfied, or waived with a reason (lead)")
def item_status(request, pk: int, payload: ItemStatusIn):
    item = selectors.item_get_for_user(user=request.auth, pk=pk)
    item = services.item_set_status(actor=request.auth, item=item, to=payload.to, reason=payload.reason,
                                    expected_version=payload.version)
    return selectors.item_as_dict(item, timezone.localdate())


@router.patch("/closing-items/{pk}", response={200: dict[str, Any], **ERRORS},
              summary="Set an item's owner and due date")
def item_edit(request, pk: int, payload: ItemIn):
    from django.contrib.auth import get_user_model

    from bcrm.parties.models import Contact

    item = selectors.item_get_for_user(user=request.auth, pk=pk)
    data: dict[str, Any] = {"due_on": payload.due_on, "owner_user": None, "owner_contact": None}
    if payload.owner_user is not None:
        data["owner_user"] = get_user_model().objects.filter(pk=payload.owner_user, is_active=True).first()
        if data["owner_user"] is None:
            raise InvalidInput(fields={"owner_user": ["No active user with this id."]})
    if payload.owner_contact is not None:
        data["owner_contact"] = Contact.objects.filter(pk=payload.owner_contact).first()
        if data["owner_contact"] is None:
            raise InvalidInput(fields={"owner_contact": ["No contact with this id."]})
    item = services.item_update(actor=request.auth, item=item, data=data, expected_version=payload.version)
    return selectors.item_as_dict(item, timezone.localdate())


@router.post("/closing-items/{pk}/evidence", response={201: dict[str, Any], **ERRORS},
             summary="Upload an evidence file (PDF, image, Word, Excel, text)")
def item_evidence(request, pk: int, file: File[UploadedFile]):
    item = selectors.item_get_for_user(user=request.auth, pk=pk)
    limit = services.evidence_max_bytes()
    content = file.read(limit + 1)
    evidence = services.evidence_upload(actor=request.auth, item=item, file_name=file.name or "", content=content)
    return Status(201, {"id": evidence.pk, "file_name": evidence.file_name, "size": evidence.size,
                        "sha256": evidence.sha256})


@router.post("/projects/{pk}/closing/sign-off", response={200: dict[str, Any], **ERRORS},
             summary="Sign the checklist off (a lead; every item satisfied or waived)")
def sign_off(request, pk: int):
    project, checklist = _checklist(request.auth, pk)
    checklist = services.checklist_sign_off(actor=request.auth, checklist=checklist)
    return selectors.checklist_as_dict(project, checklist)
