"""Presentation-only template tags: where am I, and how many rows is this."""

from __future__ import annotations

from django import template
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from bcrm.core import formatting, texts
from bcrm.core.pagination import Page

register = template.Library()


@register.simple_tag(takes_context=True)
def nav_current(context: template.Context, *prefixes: str) -> str:
    """``aria-current="page"`` on the navigation link of the section the page belongs to."""
    request = context.get("request")
    if request is not None and any(request.path.startswith(prefix) for prefix in prefixes):
        return mark_safe('aria-current="page"')
    return ""


@register.simple_tag(takes_context=True)
def main_nav(context: template.Context) -> list:
    """The main navigation entries the signed-in user may open (``bcrm.web.navigation``)."""
    from bcrm.web.navigation import main_nav as entries

    request = context.get("request")
    return entries(request) if request is not None else []


@register.simple_tag
def page_summary(page: Page) -> str:
    """"51–100 of 10,000+": the count stops at the cap, so the page says so instead of counting on."""
    if not page.items:
        return _("No rows")
    last = page.offset + len(page.items)
    # Past the cap the rows shown are themselves the best lower bound.
    total = f"{max(page.count, last):,}" + ("+" if page.count_is_capped else "")
    return _("%(first)s–%(last)s of %(total)s") % {"first": f"{page.offset + 1:,}", "last": f"{last:,}", "total": total}


@register.filter
def money(value: object, places: int = 2) -> str:
    """1,234,567.89 in every language: finance readers expect comma thousands in Chinese pages too
    (formatted by :func:`bcrm.core.formatting.money`, the one place amounts are formatted)."""
    return formatting.money(value, int(places))


@register.filter
def grouped(value: object, places: int | None = None) -> str:
    """A count or figure with thousand separators in the reader's locale (``None``: the value's own decimals)."""
    return formatting.number(value, None if places is None else int(places))


@register.filter
def rendered(value: object) -> str:
    """A stored ``{"template", "params"}`` text (or a plain string) in the reader's language."""
    if isinstance(value, dict):
        return texts.render(value)
    return texts.shipped(str(value)) if value is not None else ""
