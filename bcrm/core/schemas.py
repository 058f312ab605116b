"""Pieces every API router shares: the error and page schemas, and resolving ids to visible rows."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from django.db.models import Model, QuerySet
from ninja import Schema
from pydantic import Field, StringConstraints

from bcrm.core.errors import InvalidInput, NotFound
from bcrm.core.pagination import MAX_PAGE, MAX_PAGE_SIZE, paginate

T = TypeVar("T")


class FieldErrorOut(Schema):
    path: str
    message: str


class ErrorDetail(Schema):
    code: str
    message: str
    fields: list[FieldErrorOut] = []


class ErrorOut(Schema):
    error: ErrorDetail


# A row id in a body or a query: past the databases' 64-bit integers it is a 422, not an overflow in the driver.
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]

#: Free text a list is searched by: at most 100 characters and no NUL (PostgreSQL's text cannot hold one; the
#: pages' forms refuse it the same way). ``q: SearchText | None = None``.
SearchText = Annotated[str, StringConstraints(max_length=100, pattern=r"^[^\x00]*$")]

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class PageIn(Schema):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class PageOut(Schema, Generic[T]):
    items: list[T]
    page: int
    page_size: int
    count: int = Field(description=(
        "Rows matching the filters, counted up to the server's count cap (10,000): when "
        "`count_is_capped` is true there are more than this many and `count` is the cap, not the total. "
        "Counting stops there so a list over a million rows costs no more than a page; page on with `has_next`."))
    count_is_capped: bool = Field(description="true: more rows match than `count` says (the count stopped at the cap)")
    has_next: bool = Field(description="true: another page follows (also past the cap)")


def page_response(queryset: QuerySet, page: PageIn) -> dict[str, Any]:
    result = paginate(queryset, number=page.page, size=page.page_size, strict=True)
    return {
        "items": result.items, "page": result.number, "page_size": result.size, "count": result.count,
        "count_is_capped": result.count_is_capped, "has_next": result.has_next,
    }


def resolve(data: dict[str, Any], field: str, getter) -> None:
    """Replace the id in ``data[field]`` by the row ``getter(pk)`` returns; an unknown id is a field error."""
    if field not in data or data[field] is None:
        return
    try:
        data[field] = getter(data[field])
    except NotFound:
        raise InvalidInput(fields={field: [f"No such {field.replace('_', ' ')} (id {data[field]}), or you may not see it."]}) from None


def resolve_model(data: dict[str, Any], field: str, model: type[Model]) -> None:
    def get(pk):
        obj = model._default_manager.filter(pk=pk).first()
        if obj is None:
            raise NotFound()
        return obj

    resolve(data, field, get)
