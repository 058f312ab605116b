"""Who may do what. Services call these; templates only mirror them.

- admin, lead, analyst, compliance, viewer see every organisation;
  a relationship manager sees those of the teams they belong to and those they manage.
- admin and lead edit everything; a relationship manager edits what they see;
  compliance edits only KYC and sanctions fields; analyst and viewer read only.
- only lead and admin delete.
- only compliance, lead and admin see and edit KYC and sanctions fields.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.core.errors import PermissionDenied

SEE_ALL = {Role.ADMIN, Role.LEAD, Role.ANALYST, Role.COMPLIANCE, Role.VIEWER}
EDIT_ALL = {Role.ADMIN, Role.LEAD}
DELETE = {Role.ADMIN, Role.LEAD}
COMPLIANCE_FIELDS = {Role.ADMIN, Role.LEAD, Role.COMPLIANCE}
WRITE_ROLES = {Role.ADMIN, Role.LEAD, Role.RELATIONSHIP_MANAGER}


def user_roles(user) -> frozenset[str]:
    if user is None or not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_bcrm_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            names.add(Role.ADMIN)
        cached = frozenset(names)
        user._bcrm_roles = cached
    return cached


def user_team_ids(user) -> list[int]:
    cached = getattr(user, "_bcrm_team_ids", None)
    if cached is None:
        cached = list(user.memberships.values_list("team_id", flat=True))
        user._bcrm_team_ids = cached
    return cached


def has_any(user, roles: Iterable[str]) -> bool:
    return bool(user_roles(user) & {str(r) for r in roles})


def sees_all_organizations(user) -> bool:
    return has_any(user, SEE_ALL)


def organization_scope(user) -> Q | None:
    """The filter restricting organisations to what ``user`` may see; None means no restriction."""
    if sees_all_organizations(user):
        return None
    if has_any(user, {Role.RELATIONSHIP_MANAGER}):
        return Q(team_id__in=user_team_ids(user)) | Q(relationship_manager_id=user.pk)
    return Q(pk__in=[])


def team_scope(user) -> list[int] | None:
    """The teams whose clients ``user`` sees as a team, by the rule of :func:`organization_scope`: ``None`` for
    every team (roles that see every client), the teams a relationship manager belongs to, none otherwise.
    Figures that add up a team's clients (the dashboard, resource plans) are shown for these teams only;
    figures over all teams only when this is ``None``."""
    if sees_all_organizations(user):
        return None
    if has_any(user, {Role.RELATIONSHIP_MANAGER}):
        return list(user_team_ids(user))
    return []


def sees_some_organizations(user) -> bool:
    """Whether the client list can show ``user`` anything at all: roles that see every client, and relationship
    managers (their teams' clients and those they manage)."""
    return sees_all_organizations(user) or has_any(user, {Role.RELATIONSHIP_MANAGER})


def restrict_organizations(user, queryset: QuerySet, prefix: str = "") -> QuerySet:
    scope = organization_scope(user)
    if scope is None:
        return queryset
    if not prefix:
        return queryset.filter(scope)
    # Re-root the same rule on a related path, e.g. "organization__".
    if not has_any(user, {Role.RELATIONSHIP_MANAGER}):
        return queryset.none()
    return queryset.filter(
        Q(**{f"{prefix}team_id__in": user_team_ids(user)}) | Q(**{f"{prefix}relationship_manager_id": user.pk})
    )


def can_view_organization(user, organization) -> bool:
    if sees_all_organizations(user):
        return True
    if has_any(user, {Role.RELATIONSHIP_MANAGER}):
        return organization.team_id in user_team_ids(user) or organization.relationship_manager_id == user.pk
    return False


def can_edit_organization(user, organization) -> bool:
    if has_any(user, EDIT_ALL):
        return True
    if has_any(user, {Role.RELATIONSHIP_MANAGER}):
        return can_view_organization(user, organization)
    return False


def can_see_compliance(user) -> bool:
    return has_any(user, COMPLIANCE_FIELDS)


def can_delete(user) -> bool:
    return has_any(user, DELETE)


def can_write(user) -> bool:
    return has_any(user, WRITE_ROLES)


def require(condition: bool, message: str | None = None) -> None:
    if not condition:
        raise PermissionDenied(message)


def require_organization_write(user, organization) -> None:
    """Writes on an organisation's contacts, participations, interactions… follow the organisation."""
    require(can_edit_organization(user, organization))


def require_delete(user) -> None:
    require(can_delete(user), _("Only a team lead or an administrator may delete."))


class SystemOperator:
    """The actor of a command run without ``--as``: whoever runs ``bcrm`` on the server already holds
    the database, so permission checks would protect nothing; it acts as an administrator and the
    audit trail records "system", as it does for ``bcrm createuser``."""

    pk = None
    id = None
    is_authenticated = True
    is_active = True
    is_superuser = True
    is_staff = True
    username = "system"
    _bcrm_roles = frozenset({str(Role.ADMIN)})
    _bcrm_team_ids: list[int] = []

    def get_username(self) -> str:
        return "system"

    def get_full_name(self) -> str:
        return "system"

    def __str__(self) -> str:
        return "system"
