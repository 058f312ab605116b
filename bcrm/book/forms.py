"""The book settings form: parses, leaves the rules to bcrm.book.services."""

from __future__ import annotations

from itertools import permutations
from typing import Any

from django import forms
from django.utils.text import capfirst

from bcrm.book.models import Book
from bcrm.parties.classes import LABELS, Dimension, label_display
from bcrm.ui.forms import ServiceModelForm


def priority_choices() -> list[tuple[str, str]]:
    """Every order of one to three dimensions, named by their upper classes ("Strategic partner → High value")."""
    out = []
    for size in (2, 1, 3):
        for dims in permutations(Dimension.values, size):
            out.append((",".join(dims), " → ".join(label_display(d, LABELS[d][0]) for d in dims)))
    return out


class BookForm(ServiceModelForm):
    priority_order = forms.ChoiceField(choices=priority_choices)

    class Meta(ServiceModelForm.Meta):
        model = Book
        fields = ["tranche", "target", "currency", "min_ticket", "lot_size", "closing_date", "priority_order"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model_field = Book._meta.get_field("priority_order")
        field = self.fields["priority_order"]
        field.label, field.help_text = capfirst(model_field.verbose_name), model_field.help_text
        field.initial = self.initial.get("priority_order") or model_field.default
