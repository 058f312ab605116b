"""``{% closing_card project %}``: the closing readiness card on the project page (the financing app sits
below closing, so its template asks for it by tag rather than its view importing closing)."""

from __future__ import annotations

from django import template

from bcrm.closing import selectors

register = template.Library()


@register.inclusion_tag("closing/_readiness_card.html")
def closing_card(project) -> dict:
    checklist = selectors.checklist_of(project)
    return {"project": project, "checklist": checklist, "state": selectors.checklist_readiness(checklist),
            "blocking": selectors.blocking_items(checklist, limit=5)}


@register.filter
def shipped(value: str | None) -> str:
    """A condition's title: translated while it is still bcrm's default wording, as typed otherwise."""
    from bcrm.core.texts import shipped as render

    return render(value)
