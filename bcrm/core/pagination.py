"""Page slicing shared by the web lists, the API lists and exports.

Counting stops at settings.BCRM_COUNT_CAP: on a million rows an exact COUNT(*) on every page view
costs more than the page itself, and nobody pages to row 900,000.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet


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


def paginate(queryset: QuerySet, *, number: int = 1, size: int | None = None) -> Page:
    size = max(1, min(size or settings.BCRM_PAGE_SIZE, 500))
    number = max(1, number)
    items = list(queryset[(number - 1) * size : number * size])
    if number == 1 and len(items) < size:
        count, capped = len(items), False
    else:
        count, capped = capped_count(queryset)
    return Page(items=items, number=number, size=size, count=count, count_is_capped=capped)
