"""REST endpoints of relationship intelligence: connected accounts, exclusions, the review queue, strength
and warm paths."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Router, Schema, Status
from pydantic import Field

from bcrm.core.schemas import ERRORS
from bcrm.intel import keep, selectors, services
from bcrm.intel.capture import interaction_origin
from bcrm.intel.models import ConnectedAccount

router = Router(tags=["relationship intelligence"])


class AccountIn(Schema):
    kind: str = Field("imap", description="imap (a mailbox) or caldav (calendars)")
    host: str
    port: int = 993
    username: str
    password: str = Field(description="an app password; stored encrypted, never returned")
    use_tls: bool = True
    folder: str = "INBOX"
    keep_subject: bool = True


class AccountPatch(Schema):
    keep_subject: bool | None = None
    active: bool | None = None


class AccountOut(Schema):
    id: int
    kind: str
    host: str
    port: int
    username: str
    folder: str
    keep_subject: bool
    active: bool
    status: str
    status_detail: str
    last_sync_at: dt.datetime | None
    captured_count: int


class ValueIn(Schema):
    value: str = Field(description="an e-mail address or a domain")


class SuggestionOut(Schema):
    id: int
    address: str
    display_name: str
    organization_id: int
    seen_count: int
    last_seen_at: dt.datetime
    status: str


class AcceptIn(Schema):
    full_name: str = ""


class DomainsIn(Schema):
    email_domains: list[str]


@router.get("/intel/accounts", response={200: list[AccountOut], **ERRORS}, summary="My connected accounts")
def list_accounts(request):
    return ConnectedAccount.objects.filter(user=request.auth)


@router.post("/intel/accounts", response={201: AccountOut, **ERRORS}, summary="Connect my mailbox (IMAPS)")
def connect_account(request, body: AccountIn):
    return 201, services.account_connect(actor=request.auth, **body.dict())


@router.patch("/intel/accounts/{account_id}", response={200: AccountOut, **ERRORS}, summary="Change a connection")
def update_account(request, account_id: int, body: AccountPatch):
    return services.account_update(actor=request.auth, account_id=account_id, **body.dict())


@router.delete("/intel/accounts/{account_id}", response={204: None, **ERRORS}, summary="Disconnect")
def disconnect_account(request, account_id: int):
    services.account_disconnect(actor=request.auth, account_id=account_id)
    return 204, None


@router.post("/intel/accounts/{account_id}/sync", response={200: dict[str, Any], **ERRORS},
             summary="Sync one of my mailboxes now")
def sync_account(request, account_id: int):
    from bcrm.intel.services import _own_account
    from bcrm.intel.sources import sync_account as sync

    account = _own_account(request.auth, account_id)
    result = sync(account)
    return {"status": account.status, "detail": account.status_detail, **result.as_dict()}


@router.get("/intel/exclusions", response={200: list[str], **ERRORS}, summary="My exclusion list")
def list_exclusions(request):
    return list(request.auth.capture_exclusions.values_list("value", flat=True))


@router.post("/intel/exclusions", response={201: dict[str, str], **ERRORS}, summary="Exclude an address or domain")
def add_exclusion(request, body: ValueIn):
    return 201, {"value": services.exclusion_add(actor=request.auth, value=body.value).value}


@router.delete("/intel/exclusions/{value}", response={204: None, **ERRORS}, summary="Remove an exclusion")
def remove_exclusion(request, value: str):
    services.exclusion_remove(actor=request.auth, value=value)
    return 204, None


@router.get("/intel/suggestions", response={200: list[SuggestionOut], **ERRORS},
            summary="Unknown addresses from known domains, waiting for review")
def list_suggestions(request):
    return list(selectors.review_queue(request.auth)[:500])


@router.post("/intel/suggestions/{candidate_id}/accept", response={200: SuggestionOut, **ERRORS},
             summary="Create the suggested contact")
def accept_suggestion(request, candidate_id: int, body: AcceptIn):
    return services.candidate_accept(actor=request.auth, candidate_id=candidate_id, full_name=body.full_name)


@router.post("/intel/suggestions/{candidate_id}/reject", response={200: SuggestionOut, **ERRORS},
             summary="Reject a suggestion")
def reject_suggestion(request, candidate_id: int):
    return services.candidate_reject(actor=request.auth, candidate_id=candidate_id)


@router.get("/intel/contacts/{contact_id}/strength", response={200: dict[str, Any], **ERRORS},
            summary="A contact's relationship strength and who on our side knows them best")
def contact_strength(request, contact_id: int):
    return selectors.contact_strength(selectors.visible_contact(request.auth, contact_id))


@router.get("/intel/organizations/{organization_id}/strength", response={200: dict[str, Any], **ERRORS},
            summary="An organisation's relationship strength, per contact")
def organization_strength(request, organization_id: int):
    return selectors.organization_strength(selectors.visible_organization(request.auth, organization_id))


@router.get("/intel/organizations/{organization_id}/paths", response={200: dict[str, Any], **ERRORS},
            summary="Warm paths into an organisation")
def organization_paths(request, organization_id: int):
    return selectors.organization_paths(selectors.visible_organization(request.auth, organization_id))


@router.put("/intel/organizations/{organization_id}/domains", response={200: DomainsIn, **ERRORS},
            summary="Set an organisation's e-mail domains")
def set_domains(request, organization_id: int, body: DomainsIn):
    organization = selectors.visible_organization(request.auth, organization_id)
    services.organization_set_domains(actor=request.auth, organization=organization, domains=body.email_domains)
    return {"email_domains": organization.email_domains}


class KeptOut(Schema):
    item_id: int
    status: str = Field(description="kept, truncated (larger than the limit: read in part), unavailable, failed")
    status_code: str = Field(description="why not (fully) kept, as a code: no_source, account_gone, not_found, "
                                         "file_gone, file_changed, auth_failed, unreachable, too_large, text_cut")
    status_text: str = Field(description="the status code in the reader's language")
    body_text: str
    attachments: list[dict[str, Any]] = Field(description="name, type and size of each; never the content")
    size: int | None
    kept_at: dt.datetime


class CapturedOut(Schema):
    id: int
    source: str
    kind: str
    occurred_at: dt.datetime
    sender: str
    subject: str
    mine: bool
    kept: KeptOut | None


class InteractionMailOut(Schema):
    interaction_id: int
    origin_audit_entry: int | None = Field(description="the audit entry of the capture that created it, if one did")
    messages: list[CapturedOut]


def _kept(kept) -> dict[str, Any] | None:
    if kept is None:
        return None
    return {"item_id": kept.item_id, "status": kept.status, "status_code": kept.status_code,
            "status_text": keep.status_text(kept.status_code, kept.status_params), "body_text": kept.body_text,
            "attachments": kept.attachments, "size": kept.size, "kept_at": kept.kept_at}


@router.get("/intel/interactions/{interaction_id}/messages", response={200: InteractionMailOut, **ERRORS},
            summary="The e-mails captured into an interaction, with their kept copies")
def interaction_messages(request, interaction_id: int):
    rows = keep.interaction_messages(actor=request.auth, interaction_id=interaction_id)
    origin = interaction_origin(interaction_id)
    return {"interaction_id": interaction_id, "origin_audit_entry": origin.pk if origin else None,
            "messages": [{"id": r["item"].pk, "source": r["item"].source, "kind": r["item"].kind,
                          "occurred_at": r["item"].occurred_at, "sender": r["item"].sender,
                          "subject": r["item"].subject, "mine": r["own"], "kept": _kept(r["kept"])} for r in rows]}


@router.post("/intel/items/{item_id}/keep", response={201: KeptOut, **ERRORS},
             summary="Keep this message: read its body and attachment list again at its source (my own mail)")
def keep_message(request, item_id: int):
    return Status(201, _kept(keep.message_keep(actor=request.auth, item_id=item_id)))


@router.get("/intel/items/{item_id}/kept", response={200: KeptOut, **ERRORS}, summary="A kept message")
def kept_message(request, item_id: int):
    return _kept(keep.kept_get(actor=request.auth, item_id=item_id))


@router.delete("/intel/items/{item_id}/kept", response={204: None, **ERRORS}, summary="Delete a kept copy")
def discard_message(request, item_id: int):
    keep.kept_delete(actor=request.auth, item_id=item_id)
    return Status(204, None)
