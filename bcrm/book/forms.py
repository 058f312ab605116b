"""The book settings form: parses, leaves the rules to bcrm.book.services."""

from __future__ import annotations

from bcrm.book.models import Book
from bcrm.ui.forms import ServiceModelForm


class BookForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = Book
        fields = ["tranche", "target", "currency", "min_ticket", "lot_size", "closing_date", "priority_order"]
