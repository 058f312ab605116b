"""Reads on books: the lines of a tranche, totals by ladder step, coverage, history, class labels.

Projects and participations are read only through ``bcrm.financing.selectors`` (project_get_for_user,
participation_list), so whatever restricts them (team scope, deal walls) restricts the book too."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from bcrm.book.models import Book
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.financing.choices import COMMITMENT_LADDER, ParticipationStatus
from bcrm.financing.models import Participation, ParticipationStatusChange, Project
from bcrm.financing.selectors import participation_list, project_get_for_user, rate_to_reporting
from bcrm.parties.classes import LABELS
from bcrm.segmentation.models import ClientLabels

CENT = Decimal("0.01")
FIRM = [ParticipationStatus.FIRM_COMMITMENT, ParticipationStatus.ALLOCATED, ParticipationStatus.FUNDED]
SOFT = [ParticipationStatus.SOFT_INTEREST, ParticipationStatus.CREDIT_APPROVED, ParticipationStatus.TERM_SHEET]
STEPS = [*COMMITMENT_LADDER, ParticipationStatus.DECLINED, ParticipationStatus.WITHDRAWN]


def book_list(*, actor, project: Project) -> QuerySet[Book]:
    return Book.objects.filter(project=project).order_by("tranche", "id")


def book_get(*, actor, project_id: int, tranche: str | None = None) -> Book:
    """The book of a project's tranche (the project's only book when ``tranche`` is None)."""
    project = project_get_for_user(user=actor, pk=project_id)
    books = book_list(actor=actor, project=project)
    if tranche is None:
        found = list(books[:2])
        if len(found) != 1:
            raise NotFound(_("Name the tranche: this project has %(n)s books.") % {"n": books.count()}
                           if found else _("This project has no book yet."))
        book = found[0]
    else:
        one = books.filter(tranche=tranche).first()
        if one is None:
            raise NotFound(_("This project has no book for tranche %(tranche)s.") % {"tranche": tranche or "—"})
        book = one
    book.project = project
    return book


def book_get_by_id(*, actor, pk: int) -> Book:
    book = Book.objects.filter(pk=pk).first()
    if book is None:
        raise NotFound()
    book.project = project_get_for_user(user=actor, pk=book.project_id)
    return book


def book_participations(*, actor, book: Book) -> QuerySet[Participation]:
    return participation_list(actor=actor, filters={"project": book.project_id}).filter(tranche=book.tranche)


@dataclass
class Rates:
    """Conversions of a book: line currency → book currency → reporting currency, on one date; a currency
    without a rate is a clear error (nothing is summed silently without it)."""

    book_currency: str
    on: dt.date = field(default_factory=dt.date.today)
    reporting: str = field(default_factory=lambda: settings.BCRM_REPORTING_CURRENCY)
    cache: dict[str, Decimal] = field(default_factory=dict)

    def rate(self, currency: str) -> Decimal:
        if currency not in self.cache:
            rate = rate_to_reporting(currency, self.on, self.reporting)
            if rate is None:
                raise InvalidInput(
                    _("There is no exchange rate from %(currency)s to %(reporting)s on or before %(date)s: add "
                      "one before reading this book.") % {"currency": currency, "reporting": self.reporting,
                                                           "date": self.on.isoformat()},
                    code="no_rate", fields={"currency": [currency]})
            self.cache[currency] = rate
        return self.cache[currency]

    def to_book(self, amount: Decimal, currency: str) -> Decimal:
        if currency == self.book_currency:
            return amount
        return (amount * self.rate(currency) / self.rate(self.book_currency)).quantize(CENT)

    def to_reporting(self, amount: Decimal) -> Decimal:
        return (amount * self.rate(self.book_currency)).quantize(CENT)


def current_labels(organization_ids) -> dict[int, dict[str, str]]:
    """Each organisation's current label per dimension (segmentation's denormalised ClientLabels)."""
    ids = list(organization_ids)
    out: dict[int, dict[str, str]] = {pk: dict.fromkeys(LABELS, "") for pk in ids}
    for row in ClientLabels.objects.filter(organization_id__in=ids).values("organization_id", *LABELS):
        out[row["organization_id"]] = {dim: row[dim] or "" for dim in LABELS}
    return out


def priority_rank(labels: dict[str, str], dimensions: list[str]) -> tuple[int, ...]:
    """The class of a client for the priority policy: per dimension in order, 0 for its upper label (strategic
    partner, high value, low risk) and 1 otherwise; tuples sort the first-served class first."""
    return tuple(0 if labels.get(dim) == LABELS[dim][0] else 1 for dim in dimensions)


def book_summary(*, actor, book: Book, on: dt.date | None = None) -> dict[str, Any]:
    """The book: its lines, totals and counts by ladder step (book currency), firm and soft demand, coverage
    (÷ target) and the same in the reporting currency."""
    rates = Rates(book.currency, on=on or dt.date.today())
    participations = list(book_participations(actor=actor, book=book))
    labels = current_labels({p.organization_id for p in participations})
    dims = book.priority_dimensions
    totals: dict[str, Decimal] = {str(s): Decimal(0) for s in STEPS}
    counts: dict[str, int] = dict.fromkeys((str(s) for s in STEPS), 0)
    lines = []
    for p in participations:
        amount = rates.to_book(p.amount, p.currency)
        totals[p.status] += amount
        counts[p.status] += 1
        lines.append({"participation": p, "id": p.pk, "organization_id": p.organization_id,
                      "organization": p.organization.display_name, "status": p.status,
                      "status_label": p.get_status_display(), "amount": p.amount, "currency": p.currency,
                      "amount_book": amount, "labels": labels[p.organization_id],
                      "rank": priority_rank(labels[p.organization_id], dims)})
    firm = sum((totals[str(s)] for s in FIRM), Decimal(0))
    soft = sum((totals[str(s)] for s in SOFT), Decimal(0))
    target = book.target
    return {
        "book": book, "currency": book.currency, "reporting_currency": rates.reporting,
        "target": target, "min_ticket": book.min_ticket, "lot_size": book.lot_size,
        "closing_date": book.closing_date,
        "steps": [{"status": str(s), "label": str(ParticipationStatus(s).label), "amount": totals[str(s)],
                   "count": counts[str(s)]} for s in STEPS],
        "firm": firm, "soft": soft,
        "firm_coverage": (firm / target).quantize(Decimal("0.0001")),
        "coverage": ((firm + soft) / target).quantize(Decimal("0.0001")),
        "oversubscribed": totals[str(ParticipationStatus.FIRM_COMMITMENT)] > remaining_target(book, totals),
        "reporting": {"target": rates.to_reporting(target), "firm": rates.to_reporting(firm),
                      "soft": rates.to_reporting(soft)},
        "lines": lines,
    }


def remaining_target(book: Book, totals: dict[Any, Decimal]) -> Decimal:
    """What an allocation may still give: the target less what is already allocated or funded."""
    return book.target - totals[str(ParticipationStatus.ALLOCATED)] - totals[str(ParticipationStatus.FUNDED)]


def book_history(*, actor, book: Book) -> list[dict[str, Any]]:
    """How the book built up: after each day with a status change, firm and soft demand and coverage,
    replayed from financing.ParticipationStatusChange (at today's amounts: amounts have no history)."""
    rates = Rates(book.currency)
    participations = {p.pk: p for p in book_participations(actor=actor, book=book)}
    amounts = {pk: rates.to_book(p.amount, p.currency) for pk, p in participations.items()}
    changes = (ParticipationStatusChange.objects.filter(participation_id__in=list(participations))
               .order_by("changed_at", "id").values_list("participation_id", "to_status", "changed_at"))
    status: dict[int, str] = {}
    points: list[dict[str, Any]] = []
    firm_set, soft_set = {str(s) for s in FIRM}, {str(s) for s in SOFT}

    def point(day: dt.date) -> dict[str, Any]:
        firm = sum((amounts[pk] for pk, s in status.items() if s in firm_set), Decimal(0))
        soft = sum((amounts[pk] for pk, s in status.items() if s in soft_set), Decimal(0))
        return {"date": day, "firm": firm, "soft": soft,
                "firm_coverage": (firm / book.target).quantize(Decimal("0.0001")),
                "coverage": ((firm + soft) / book.target).quantize(Decimal("0.0001"))}

    current: dt.date | None = None
    for pk, to_status, changed_at in changes:
        day = changed_at.date()
        if current is not None and day != current:
            points.append(point(current))
        current = day
        status[pk] = to_status
    if current is not None:
        points.append(point(current))
    return points
