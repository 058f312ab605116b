"""REST endpoints of the pages that span areas: the global search."""

from __future__ import annotations

from ninja import Router, Schema

from bcrm.core.schemas import ERRORS
from bcrm.web.search import global_search

router = Router(tags=["search"])


class SearchItemOut(Schema):
    id: int
    name: str
    detail: str
    url: str


class SearchGroupOut(Schema):
    kind: str
    label: str
    more: bool
    more_url: str
    note: str
    items: list[SearchItemOut]


class SearchOut(Schema):
    q: str
    groups: list[SearchGroupOut]


@router.get("/search", response={200: SearchOut, **ERRORS},
            summary="Search clients, contacts and projects you may see (at least 2 characters)")
def search(request, q: str = ""):
    return global_search(actor=request.auth, q=q).as_dict()
