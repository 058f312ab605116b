"""REST endpoints for organisations and contacts: parse, call a service or selector, serialise."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.contrib.auth import get_user_model
from ninja import Query, Router, Schema, Status
from pydantic import AwareDatetime, Field

from bcrm.accounts.models import Team
from bcrm.accounts.permissions import can_see_compliance
from bcrm.core.schemas import ERRORS, PageIn, PageOut, SearchText, page_response, resolve_model
from bcrm.parties import selectors, services
from bcrm.parties.choices import KycStatus, Language, OrganizationKind, RatingAgency, Sector, Seniority
from bcrm.parties.filters import SORT_COLUMNS

router = Router(tags=["clients"])


class OrganizationFilters(Schema):
    q: SearchText | None = Field(None, description="legal or local name, contact name or e-mail")
    kind: OrganizationKind | None = None
    country: str | None = Field(None, min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    team: int | None = None
    relationship_manager: int | None = None
    tier: Literal["dedicated", "standard"] | None = Field(None, description="current service tier")
    sort: str | None = Field(None, description=(
        "one of " + ", ".join(f"{k}, -{k}" for k in SORT_COLUMNS) + "; ties are broken by id; an unknown key is a 422"))
    value: Literal["high", "general", "insufficient"] | None = Field(None, description="current value label")
    risk: Literal["low", "high", "insufficient"] | None = Field(None, description="current risk label")
    relationship: Literal["strategic", "ordinary", "insufficient"] | None = Field(
        None, description="current relationship label")


class OrganizationOut(Schema):
    id: int
    legal_name: str
    local_name: str
    kind: str
    country: str
    sector: str
    website: str
    rating_agency: str
    rating_grade: str
    rating_score: int | None
    kyc_status: str | None = Field(None, description="null unless you are compliance, lead or admin")
    kyc_expires_on: dt.date | None = None
    sanctions_flag: bool | None = None
    relationship_since: dt.date | None
    team_id: int | None
    relationship_manager_id: int | None
    external_id: str | None
    tags: list[str]
    notes: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_country(obj) -> str:
        return obj.country.code or ""

    @staticmethod
    def resolve_tags(obj) -> list[str]:
        return [t.name for t in obj.tags.all()]

    @staticmethod
    def resolve_kyc_status(obj, context):
        return obj.kyc_status if can_see_compliance(context["request"].auth) else None

    @staticmethod
    def resolve_kyc_expires_on(obj, context):
        return obj.kyc_expires_on if can_see_compliance(context["request"].auth) else None

    @staticmethod
    def resolve_sanctions_flag(obj, context):
        return obj.sanctions_flag if can_see_compliance(context["request"].auth) else None


class OrganizationIn(Schema):
    legal_name: str = Field(..., min_length=1, max_length=255)
    local_name: str = Field("", max_length=255)
    kind: OrganizationKind
    country: str = Field(..., min_length=2, max_length=2)
    sector: Sector | None = None
    website: str = ""
    rating_agency: RatingAgency | None = None
    rating_grade: str = Field("", max_length=8)
    kyc_status: KycStatus | None = None
    kyc_expires_on: dt.date | None = None
    sanctions_flag: bool | None = None
    relationship_since: dt.date | None = None
    team: int | None = None
    relationship_manager: int | None = None
    external_id: str | None = Field(None, max_length=64)
    notes: str = ""
    tags: list[str] | None = None


class OrganizationPatch(Schema):
    version: int = Field(..., description="the version you read; a stale one gets 409")
    legal_name: str | None = Field(None, min_length=1, max_length=255)
    local_name: str | None = Field(None, max_length=255)
    kind: OrganizationKind | None = None
    country: str | None = Field(None, min_length=2, max_length=2)
    sector: Sector | None = None
    website: str | None = None
    rating_agency: RatingAgency | None = None
    rating_grade: str | None = Field(None, max_length=8)
    kyc_status: KycStatus | None = None
    kyc_expires_on: dt.date | None = None
    sanctions_flag: bool | None = None
    relationship_since: dt.date | None = None
    team: int | None = None
    relationship_manager: int | None = None
    external_id: str | None = Field(None, max_length=64)
    notes: str | None = None
    tags: list[str] | None = None


class ContactOut(Schema):
    id: int
    organization_id: int
    full_name: str
    local_name: str
    title: str
    seniority: str
    email: str
    phone: str
    language: str
    report_consent: bool
    consent_given_at: dt.datetime | None
    is_primary: bool
    version: int


class ContactIn(Schema):
    full_name: str = Field(..., min_length=1, max_length=200)
    local_name: str = Field("", max_length=200)
    title: str = Field("", max_length=200)
    seniority: Seniority = Seniority.MIDDLE
    email: str | None = None
    phone: str = Field("", max_length=40)
    language: Language = Language.EN
    report_consent: bool = False
    consent_given_at: AwareDatetime | None = None
    is_primary: bool = False


class ContactPatch(Schema):
    version: int
    full_name: str | None = Field(None, min_length=1, max_length=200)
    local_name: str | None = Field(None, max_length=200)
    title: str | None = Field(None, max_length=200)
    seniority: Seniority | None = None
    email: str | None = None
    phone: str | None = Field(None, max_length=40)
    language: Language | None = None
    report_consent: bool | None = None
    consent_given_at: AwareDatetime | None = None
    is_primary: bool | None = None


BLANKABLE = {"sector", "rating_agency", "website", "local_name", "notes", "rating_grade", "email", "phone", "title"}


def organization_data(payload: Schema, *, partial: bool) -> tuple[dict, list[str] | None]:
    data = payload.dict(exclude_unset=partial)
    data.pop("version", None)
    tags = data.pop("tags", None)
    for key in list(data):
        if data[key] is None and key in BLANKABLE:
            data[key] = ""
        elif data[key] is None and key in {"kyc_status", "sanctions_flag"} and not partial:
            data.pop(key)
    resolve_model(data, "team", Team)
    resolve_model(data, "relationship_manager", get_user_model())
    return data, tags


def contact_data(payload: Schema, *, partial: bool) -> dict:
    data = payload.dict(exclude_unset=partial)
    data.pop("version", None)
    for key in ("email", "phone", "title", "local_name"):
        if key in data and data[key] is None:
            data[key] = ""
    return data


@router.get("/organizations", response=PageOut[OrganizationOut], summary="List organisations")
def list_organizations(request, filters: Query[OrganizationFilters], page: Query[PageIn]):
    queryset = selectors.organization_list(
        actor=request.auth, filters=filters.dict(exclude_none=True)
    ).prefetch_related("tags")
    return page_response(queryset, page)


class BulkIn(Schema):
    ids: list[int] = Field(..., min_length=1, max_length=services.BULK_LIMIT, description="organisation ids")
    action: Literal["assign_team", "assign_relationship_manager", "add_tag"]
    team: int | None = Field(None, description="for assign_team")
    relationship_manager: int | None = Field(None, description="for assign_relationship_manager")
    tag: str | None = Field(None, max_length=60, description="for add_tag")


class BulkRefusalOut(Schema):
    id: int
    code: str
    message: str


class BulkOut(Schema):
    changed: list[int]
    unchanged: list[int] = Field(..., description="already had the value; not written")
    refused: list[BulkRefusalOut]


@router.post("/organizations/bulk", response={200: BulkOut, **ERRORS}, summary="Edit many organisations at once")
def bulk_organizations(request, payload: BulkIn):
    """Assign a team or a relationship manager, or add a tag, row by row through the single edit's service
    (same permissions, audit and versioning). Not all or nothing: rows you may not edit or see are listed
    in ``refused`` with the reason and the others are saved. A viewer gets 403; a relationship manager
    assigning a team that is not theirs gets 403 and nothing changes."""
    value = {"assign_team": payload.team, "assign_relationship_manager": payload.relationship_manager,
             "add_tag": payload.tag}[payload.action]
    result = services.organization_bulk_update(actor=request.auth, ids=payload.ids, action=payload.action, value=value)
    return {"changed": result.changed, "unchanged": result.unchanged, "refused": result.refused}


@router.post("/organizations", response={201: OrganizationOut, **ERRORS}, summary="Create an organisation")
def create_organization(request, payload: OrganizationIn):
    data, tags = organization_data(payload, partial=False)
    return Status(201, services.organization_create(actor=request.auth, data=data, tags=tags))


@router.get("/organizations/{int:pk}", response={200: OrganizationOut, **ERRORS}, summary="Read an organisation")
def get_organization(request, pk: int):
    return selectors.organization_get_for_user(user=request.auth, pk=pk)


@router.patch("/organizations/{int:pk}", response={200: OrganizationOut, **ERRORS}, summary="Update an organisation")
def update_organization(request, pk: int, payload: OrganizationPatch):
    organization = selectors.organization_get_for_user(user=request.auth, pk=pk)
    data, tags = organization_data(payload, partial=True)
    return services.organization_update(
        actor=request.auth, organization=organization, data=data, expected_version=payload.version, tags=tags
    )


@router.delete("/organizations/{int:pk}", response={204: None, **ERRORS}, summary="Delete an organisation")
def delete_organization(request, pk: int):
    services.organization_delete(actor=request.auth, organization=selectors.organization_get_for_user(user=request.auth, pk=pk))
    return Status(204, None)


@router.get("/organizations/{int:pk}/contacts", response={200: list[ContactOut], **ERRORS}, summary="An organisation's contacts")
def list_contacts(request, pk: int):
    organization = selectors.organization_get_for_user(user=request.auth, pk=pk)
    return list(selectors.contact_list(actor=request.auth, organization=organization))


@router.post("/organizations/{int:pk}/contacts", response={201: ContactOut, **ERRORS}, summary="Add a contact")
def create_contact(request, pk: int, payload: ContactIn):
    organization = selectors.organization_get_for_user(user=request.auth, pk=pk)
    return Status(201, services.contact_create(actor=request.auth, organization=organization, data=contact_data(payload, partial=False)))


@router.get("/contacts/{int:pk}", response={200: ContactOut, **ERRORS}, summary="Read a contact")
def get_contact(request, pk: int):
    return selectors.contact_get_for_user(user=request.auth, pk=pk)


@router.patch("/contacts/{int:pk}", response={200: ContactOut, **ERRORS}, summary="Update a contact")
def update_contact(request, pk: int, payload: ContactPatch):
    contact = selectors.contact_get_for_user(user=request.auth, pk=pk)
    return services.contact_update(
        actor=request.auth, contact=contact, data=contact_data(payload, partial=True), expected_version=payload.version
    )


@router.delete("/contacts/{int:pk}", response={204: None, **ERRORS}, summary="Delete a contact")
def delete_contact(request, pk: int):
    services.contact_delete(actor=request.auth, contact=selectors.contact_get_for_user(user=request.auth, pk=pk))
    return Status(204, None)
