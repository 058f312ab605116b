"""Page slicing shared by the web lists, the API lists and exports.

Counting stops at settings.BCRM_COUNT_CAP: on a million rows an exact COUNT(*) on every page view
costs more than the page itself, and nobody pages to row 900,000.

Page numbers are bounded (``MAX_PAGE``) before any query runs: an offset past what the database's integers
hold used to be a 500 (SQLite's "Python int too large", PostgreSQL's "bigint out of range"). The API refuses
such a page with a 422 (``InvalidInput``, ``strict=True``); the pages clamp (the default): a number past the
end shows the last page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from bcrm.core.errors import InvalidInput

# Offsets stay far below 2**63 whatever the page size: 1,000,000 pages of 500 rows.
MAX_PAGE = 1_000_000
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Page:
    items: list[Any]
    number: int
    size: int
    count: int
    count_is_capped: bool

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.items) < self.count or (self.count_is_capped and len(self.items) == self.size)

    @property
    def previous_number(self) -> int:
        return self.number - 1

    @property
    def next_number(self) -> int:
        return self.number + 1

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // self.size))


def capped_count(queryset: QuerySet, cap: int | None = None) -> tuple[int, bool]:
    cap = cap or settings.BCRM_COUNT_CAP
    n = queryset.order_by()[: cap + 1].count()
    return (cap, True) if n > cap else (n, False)


def check_page(number: int, size: int) -> None:
    """Refuse (422) a page number or page size outside the bounds every list shares."""
    fields: dict[str, list[str]] = {}
    if not 1 <= number <= MAX_PAGE:
        fields["page"] = [str(_("The page must be a whole number from 1 to %(max)s.") % {"max": f"{MAX_PAGE:,}"})]
    if not 1 <= size <= MAX_PAGE_SIZE:
        fields["page_size"] = [str(_("The page size must be a whole number from 1 to %(max)s.")
                                   % {"max": MAX_PAGE_SIZE})]
    if fields:
        raise InvalidInput(fields=fields)


def clamp_page(number: int) -> int:
    return max(1, min(number, MAX_PAGE))


def paginate(queryset: QuerySet, *, number: int = 1, size: int | None = None, strict: bool = False) -> Page:
    """One page of ``queryset``.

    ``strict=True`` (the API): a number or size out of bounds raises ``InvalidInput``; a page past the end
    is empty. Otherwise (the pages) the number is brought into bounds and a page past the end shows the
    last page.
    """
    size = size or settings.BCRM_PAGE_SIZE
    clamp = not strict
    if strict:
        check_page(number, size)
    else:
        size = max(1, min(size, MAX_PAGE_SIZE))
        number = clamp_page(number)
    items = list(queryset[(number - 1) * size : number * size])
    if number == 1 and len(items) < size:
        count, capped = len(items), False
    else:
        count, capped = capped_count(queryset)
        if clamp and not items and number > 1:
            number = max(1, -(-count // size))
            items = list(queryset[(number - 1) * size : number * size])
    return Page(items=items, number=number, size=size, count=count, count_is_capped=capped)
