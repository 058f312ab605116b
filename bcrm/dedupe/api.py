"""REST endpoints for probable duplicates: list the groups, preview or carry out a merge, dismiss a pair."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field, WithJsonSchema

from bcrm.core.errors import InvalidInput
from bcrm.core.schemas import ERRORS, Id, PageIn
from bcrm.dedupe import selectors, services
from bcrm.dedupe.models import Entity as EntityChoices

# The records duplicates are looked for in. Named apart from the importer's Entity (five values): the OpenAPI
# document keeps one schema per name, and the two shared "Entity", so the imports listed only these two.
Entity = Annotated[EntityChoices, WithJsonSchema({"title": "DuplicateEntity", "type": "string",
                                                  "enum": [choice.value for choice in EntityChoices]})]

router = Router(tags=["duplicates"])


class DuplicateFilters(Schema):
    entity: Entity = Field(EntityChoices.ORGANIZATIONS, description="organizations or contacts")
    member: int | None = Field(None, description="only groups containing this record id")
    min_score: int | None = Field(None, ge=0, le=100, description="only groups scoring at least this")


class ReasonOut(Schema):
    code: str
    value: str = Field(description="the evidence: a domain, an e-mail address; may be empty")
    message: str


class PairOut(Schema):
    low: int
    high: int
    score: int = Field(description="0–99, from the reasons that hold now")
    reasons: list[ReasonOut]


class MemberOut(Schema):
    id: int
    label: str
    version: int
    url: str
    fields: dict[str, str]
    counts: dict[str, int]


class GroupOut(Schema):
    id: int = Field(description="the group's key: the smallest record id in it")
    score: int
    size: int
    found_at: dt.datetime
    members: list[MemberOut]
    pairs: list[PairOut]


class DuplicatePageOut(Schema):
    items: list[GroupOut]
    page: int
    page_size: int
    count: int
    count_is_capped: bool
    has_next: bool
    scanned_at: dt.datetime | None = Field(description="when the candidates were last computed")
    scan_status: str | None


class MergeIn(Schema):
    entity: Entity = EntityChoices.ORGANIZATIONS
    survivor: int = Field(description="the record that stays")
    others: list[int] = Field(..., min_length=1, description="the records merged into it and deleted")
    preview: bool = Field(False, description="true: say what would happen, change nothing")
    versions: dict[int, int] | None = Field(
        None, description="{id: version} of every record as previewed; required to merge, a changed one gets 409")


class RecordOut(Schema):
    id: int
    label: str
    version: int


class FieldChangeOut(Schema):
    field: str
    label: str
    before: str
    after: str
    source: int


class RelationMoveOut(Schema):
    relation: str
    label: str
    moved: int
    dropped: int
    demoted: int


class MergeOut(Schema):
    entity: str
    survivor: RecordOut
    others: list[RecordOut]
    versions: dict[str, int]
    fields: list[FieldChangeOut]
    relations: list[RelationMoveOut]
    resolutions: list[str]
    conflicts: list[str]
    notes: str
    can_merge: bool
    merged: bool


class DismissIn(Schema):
    entity: Entity = EntityChoices.ORGANIZATIONS
    ids: list[Id] = Field(..., min_length=2, description="every pair among these is not a duplicate")


class DismissOut(Schema):
    entity: str
    pairs: list[list[int]]


class ScanIn(Schema):
    entity: Entity = EntityChoices.ORGANIZATIONS


class ScanOut(Schema):
    id: int
    entity: str
    status: str
    created_at: dt.datetime
    finished_at: dt.datetime | None
    records: int
    pairs: int
    groups: int


def _group(view: selectors.GroupView) -> dict:
    return {
        "id": view.group.key, "score": view.score, "size": len(view.members), "found_at": view.group.found_at,
        "members": [{"id": m.record.pk, "label": str(m.record), "version": m.record.version, "url": m.url,
                     "fields": selectors.member_fields(view.entity, m.record), "counts": m.counts}
                    for m in view.members],
        "pairs": [{"low": p.low, "high": p.high, "score": p.score, "reasons": p.reasons} for p in view.pairs],
    }


@router.get("/duplicates", response={200: DuplicatePageOut, **ERRORS}, summary="Probable duplicates, by group")
def list_duplicates(request, filters: Query[DuplicateFilters], page: Query[PageIn]):
    result, views = selectors.find_duplicates(
        actor=request.auth, entity=filters.entity, page=page.page, page_size=page.page_size,
        member=filters.member, min_score=filters.min_score,
    )
    scan = selectors.latest_scan(entity=filters.entity)
    finished = selectors.last_finished_scan(entity=filters.entity)
    return {
        "items": [_group(v) for v in views], "page": result.number, "page_size": result.size,
        "count": result.count, "count_is_capped": result.count_is_capped, "has_next": result.has_next,
        "scanned_at": finished.finished_at if finished else None, "scan_status": scan.status if scan else None,
    }


@router.post("/duplicates/merge", response={200: MergeOut, **ERRORS}, summary="Preview or merge duplicates")
def merge_duplicates(request, payload: MergeIn):
    if not payload.preview and payload.versions is None:
        raise InvalidInput(fields={"versions": [
            _("Required to merge: preview first and send the versions the preview returned.")]})
    plan = services.merge(entity=payload.entity, actor=request.auth, survivor=payload.survivor,
                          others=payload.others, preview=payload.preview, versions=payload.versions)
    return plan.as_dict()


@router.post("/duplicates/dismiss", response={200: DismissOut, **ERRORS}, summary="Mark records as not duplicates")
def dismiss_duplicates(request, payload: DismissIn):
    dismissals = services.duplicate_dismiss(actor=request.auth, entity=payload.entity, ids=payload.ids)
    return {"entity": payload.entity, "pairs": [[d.low_id, d.high_id] for d in dismissals]}


@router.post("/duplicates/scan", response={202: ScanOut, **ERRORS}, summary="Queue a fresh scan (lead, admin)")
def scan_duplicates(request, payload: ScanIn):
    return Status(202, services.duplicate_scan_request(actor=request.auth, entity=payload.entity))
