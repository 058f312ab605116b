"""Numbers and money for people, in the reader's locale: the one place pages, reports, the API's display
strings and the CLI format them (thousand separators in every language: ``bcrm/formats`` gives Chinese the
comma grouping of three that finance readers expect)."""

from __future__ import annotations

import functools
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import formats, translation


def number(value: Any, places: int | None = None) -> str:
    """``1,234,567.89``: grouped, ``places`` decimals (None: as many as the value has: a Decimal or numeric text
    keeps its own, ``"3.0"`` stays ``3.0``; a float at most 2)."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return "—"
        value = Decimal(str(round(value, 2 if places is None else places)))
        if places is None and value == value.to_integral_value():
            value = value.quantize(Decimal(1))
    try:
        value = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not value.is_finite():
        return str(value)
    if places is None:
        exponent = value.as_tuple().exponent
        places = max(0, -exponent) if isinstance(exponent, int) else 0
    # Rounded here (half to even, as Python's format did): Django's number_format cuts extra digits off.
    value = value.quantize(Decimal(1).scaleb(-int(places)))
    return formats.number_format(value, decimal_pos=int(places), use_l10n=True, force_grouping=True)


def money(value: Any, places: int = 2, currency: str | None = None) -> str:
    """An amount with ``places`` decimals, grouped; with ``currency`` the ISO code follows it."""
    if value is None or value == "":
        return ""
    shown = number(value, places)
    return f"{shown} {currency}" if currency else shown


def display_width(text: str) -> int:
    """Columns a terminal gives ``text``: East Asian wide and full-width characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def ljust(text: str, width: int) -> str:
    """``text`` padded on the right to ``width`` terminal columns (``str.ljust`` counts a Chinese
    character as one column, so the columns of a Chinese report drift)."""
    return text + " " * max(0, width - display_width(text))


def rjust(text: str, width: int) -> str:
    """``text`` padded on the left to ``width`` terminal columns."""
    return " " * max(0, width - display_width(text)) + text


def choice_name(choices_class: Any, value: Any) -> str:
    """The label of ``value`` among ``choices_class``'s choices (a Django ``TextChoices``), in the reader's
    language — what ``get_FOO_display()`` gives. That method hashes every lazy label of the field on each
    call (a gettext each): a page of 50 rows paid ~7 ms for its kind badges alone. An unknown value is itself."""
    return _choice_names(choices_class, translation.get_language()).get(value, value)


@functools.cache
def _choice_names(choices_class: Any, language: str | None) -> dict[Any, str]:
    with translation.override(language):
        return {value: str(label) for value, label in choices_class.choices}
