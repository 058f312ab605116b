"""Reads shared by the web pages, the API and the CLI, already restricted to what the actor may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from bcrm.accounts.permissions import restrict_organizations, user_team_ids
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.parties.filters import OrganizationFilterForm
from bcrm.parties.models import Contact, Organization, SavedView
from bcrm.parties.pickers import assignable_teams, relationship_managers  # noqa: F401 (read here by the doors)


def organization_base(*, actor) -> QuerySet[Organization]:
    return restrict_organizations(actor, Organization.objects.all())


def organization_list(*, actor, filters: dict[str, Any] | None = None) -> QuerySet[Organization]:
    form = OrganizationFilterForm(filters or {})
    if not form.is_valid():
        raise InvalidInput(fields={k: [str(m) for m in v] for k, v in form.errors.items()})
    queryset = organization_base(actor=actor).select_related("team", "relationship_manager")
    return form.filter(queryset)


def organization_get_for_user(*, user, pk: int) -> Organization:
    """The organisation ``pk`` if ``user`` may see it; NotFound otherwise (no hint that it exists)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound() from None
    # the labels and the service tier (one-to-ones) come in the same query: the 360° page reads both
    queryset = organization_base(actor=user).select_related("team", "relationship_manager", "labels", "service_tier")
    organization = queryset.filter(pk=pk).first()
    if organization is None:
        raise NotFound()
    return organization


def contact_list(*, actor, organization: Organization | None = None) -> QuerySet[Contact]:
    queryset = restrict_organizations(actor, Contact.objects.select_related("organization"), prefix="organization__")
    if organization is not None:
        queryset = queryset.filter(organization=organization)
    return queryset


def contact_get_for_user(*, user, pk: int) -> Contact:
    contact = contact_list(actor=user).filter(pk=pk).first()
    if contact is None:
        raise NotFound()
    return contact


def saved_view_list(*, actor, page: str) -> QuerySet[SavedView]:
    """The actor's own views of ``page`` and those shared by the members of the actor's teams."""
    teams = user_team_ids(actor)
    mine = Q(owner_id=actor.pk)
    if teams:
        mine |= Q(shared=True, owner__memberships__team_id__in=teams)
    return SavedView.objects.filter(mine, page=page).select_related("owner").distinct().order_by("name", "id")


def saved_view_get_for_user(*, user, pk: int) -> SavedView:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound() from None
    view = SavedView.objects.filter(pk=pk).first()
    if view is None or not saved_view_list(actor=user, page=view.page).filter(pk=pk).exists():
        raise NotFound()
    return view
