"""Presentation helpers of the segmentation pages: label badges, feature names, shares."""

from __future__ import annotations

import math

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from bcrm.segmentation.choices import INSUFFICIENT, label_display, upper_label
from bcrm.segmentation.selectors import feature_name

register = template.Library()


def label_tone(dimension: str, code: str | None) -> str:
    if not code:
        return "none"
    if code == INSUFFICIENT:
        return "insufficient"
    return "upper" if code == upper_label(dimension) else "lower"


@register.simple_tag
def label_badge(dimension: str, code: str | None, title: str = "") -> str:
    """The class a client is in, as a coloured badge (upper class strong, lower plain, no data amber)."""
    if not code:
        return mark_safe('<span class="seg-badge seg-none">—</span>')
    return format_html('<span class="seg-badge seg-{}" data-dimension="{}" data-label="{}"{}>{}</span>',
                       label_tone(dimension, code), dimension, code,
                       format_html(' title="{}"', title) if title else "", label_display(dimension, code))


@register.filter
def label_name(code: str | None, dimension: str) -> str:
    return label_display(dimension, code) if code else ""


@register.filter
def feature_label(name: str) -> str:
    return feature_name(name)


@register.filter
def method_name(code: str | None) -> str:
    """A split method's name in the reader's language (``top_share`` → "Top share"); unknown codes as they are."""
    from bcrm.segmentation.forms import METHOD_SHORT_NAMES

    return str(METHOD_SHORT_NAMES.get(code or "", code or ""))


@register.filter
def pct(value, digits: int = 1) -> str:
    """0.2 → "20.0%"; empty for None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(number):
        return ""
    return f"{number * 100:.{int(digits)}f}%"


@register.filter
def num(value, digits: int = 3) -> str:
    """A score or margin with a fixed number of decimals; "—" when unknown."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(number):
        return "—"
    return f"{number:,.{int(digits)}f}"


@register.filter
def get_item(mapping, key):
    """``counts|get_item:"high"``: a dict entry by a key held in a variable."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None
