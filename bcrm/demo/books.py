"""The demo's syndication book: the project tranche with the most firm commitments gets a book whose target
is below its firm demand (an oversubscribed book, ready to preview an allocation). One query per step."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Sum

from bcrm.book.models import Book
from bcrm.financing.choices import ParticipationStatus
from bcrm.financing.models import Participation, Project


def demo_books(counts: dict[str, int]) -> None:
    firm = (Participation.objects.filter(status=ParticipationStatus.FIRM_COMMITMENT)
            .values("project_id", "tranche", "currency").annotate(n=Count("id"), total=Sum("amount"))
            .order_by("-n", "project_id", "tranche"))
    best = next((row for row in firm if row["n"] >= 3), None)
    if best is None:
        return
    project = Project.objects.get(pk=best["project_id"])
    demand: Decimal = best["total"]  # its lines in other currencies are converted and add to the demand
    lot = Decimal(10) ** max(0, len(str(int(demand))) - 4)  # about a thousandth of the book
    target = max(lot, (demand * Decimal("0.7") / lot).to_integral_value() * lot)
    Book.objects.create(project=project, tranche=best["tranche"], target=target, currency=best["currency"],
                        lot_size=lot, min_ticket=lot * 5, closing_date=project.expected_close)
    counts[Book._meta.label] = counts.get(Book._meta.label, 0) + 1
