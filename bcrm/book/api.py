"""REST endpoints for the syndication book: read a tranche's book, set it up, preview or commit an allocation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ninja import Query, Router, Schema, Status
from pydantic import Field

from bcrm.book import output, selectors, services
from bcrm.book.models import AllocationPolicy
from bcrm.core.schemas import ERRORS
from bcrm.financing.selectors import project_get_for_user

router = Router(tags=["book"])

Money = Decimal


class LadderStepOut(Schema):
    status: str
    label: str
    count: int
    amount: str


class LineOut(Schema):
    participation_id: int
    organization_id: int
    organization: str
    status: str
    amount: str
    currency: str
    amount_in_book_currency: str
    labels: dict[str, str]


class HistoryPointOut(Schema):
    date: dt.date
    firm: str
    soft: str
    firm_coverage: str
    coverage: str


class BookOut(Schema):
    id: int
    project_id: int
    tranche: str
    currency: str
    target: str
    min_ticket: str
    lot_size: str
    closing_date: dt.date | None
    priority_order: list[str]
    version: int
    steps: list[LadderStepOut]
    firm: str = Field(..., description="firm commitment + allocated + funded, in the book's currency")
    soft: str = Field(..., description="soft interest + credit approved + term sheet")
    firm_coverage: str = Field(..., description="firm ÷ target")
    coverage: str = Field(..., description="(firm + soft) ÷ target")
    oversubscribed: bool
    reporting_currency: str
    reporting: dict[str, str]
    lines: list[LineOut]
    history: list[HistoryPointOut] | None = None


class AllottedOut(Schema):
    participation_id: int
    organization_id: int
    organization: str
    priority_class: list[int] = Field(..., description="per dimension of the priority order: 0 upper label, 1 not")
    ask: str
    amount: str


class AllocationOut(Schema):
    book_id: int
    project_id: int
    tranche: str
    policy: str
    currency: str
    target: str
    demand: str
    to_allocate: str
    allocated: str
    committed: bool
    allocation_id: int | None
    lines: list[AllottedOut]


class BookQuery(Schema):
    tranche: str | None = Field(None, max_length=60, description="the tranche; omit when the project has one book")
    history: bool = False


class BookIn(Schema):
    tranche: str = Field("", max_length=60)
    target: Money = Field(..., max_digits=20, decimal_places=2)
    currency: str | None = Field(None, min_length=3, max_length=3)
    min_ticket: Money = Field(Decimal(0), max_digits=20, decimal_places=2)
    lot_size: Money = Field(Decimal("0.01"), max_digits=20, decimal_places=2)
    closing_date: dt.date | None = None
    priority_order: str = Field("relationship,value", max_length=60)


class BookPatch(Schema):
    version: int
    target: Money | None = Field(None, max_digits=20, decimal_places=2)
    min_ticket: Money | None = Field(None, max_digits=20, decimal_places=2)
    lot_size: Money | None = Field(None, max_digits=20, decimal_places=2)
    closing_date: dt.date | None = None
    priority_order: str | None = Field(None, max_length=60)


class AllocateIn(Schema):
    tranche: str | None = Field(None, max_length=60)
    policy: AllocationPolicy
    dry_run: bool = Field(False, description="preview only: change nothing")
    manual: dict[int, Money] | None = Field(None, description="policy manual: amount by participation id")


@router.get("/projects/{pk}/book", response={200: BookOut, **ERRORS},
            summary="A tranche's book: totals by ladder step, coverage, lines (and its history)")
def get_book(request, pk: int, query: Query[BookQuery]):
    book = selectors.book_get(actor=request.auth, project_id=pk, tranche=query.tranche)
    summary = selectors.book_summary(actor=request.auth, book=book)
    history = selectors.book_history(actor=request.auth, book=book) if query.history else None
    return output.book_data(summary, history)


@router.post("/projects/{pk}/books", response={201: BookOut, **ERRORS}, summary="Set up a tranche's book")
def create_book(request, pk: int, payload: BookIn):
    project = project_get_for_user(user=request.auth, pk=pk)
    data = payload.dict(exclude_none=True)
    book = services.book_create(actor=request.auth, project=project, data=data)
    return Status(201, output.book_data(selectors.book_summary(actor=request.auth, book=book)))


@router.patch("/books/{pk}", response={200: BookOut, **ERRORS}, summary="Change a book's settings")
def update_book(request, pk: int, payload: BookPatch):
    book = selectors.book_get_by_id(actor=request.auth, pk=pk)
    data = payload.dict(exclude_unset=True)
    version = data.pop("version")
    book = services.book_update(actor=request.auth, book=book, data=data, expected_version=version)
    return output.book_data(selectors.book_summary(actor=request.auth, book=book))


@router.post("/projects/{pk}/book/allocate", response={200: AllocationOut, **ERRORS},
             summary="Allocate an oversubscribed book (dry_run: preview only); committing needs a team lead")
def allocate(request, pk: int, payload: AllocateIn):
    book = selectors.book_get(actor=request.auth, project_id=pk, tranche=payload.tranche)
    policy = str(payload.policy.value)
    if payload.dry_run:
        preview = services.allocation_preview(actor=request.auth, book=book, policy=policy, manual=payload.manual)
        return output.allocation_data(preview, committed=False)
    record, done = services.allocation_commit(actor=request.auth, book=book, policy=policy, manual=payload.manual)
    return output.allocation_data(done, committed=True, allocation_id=record.pk)
