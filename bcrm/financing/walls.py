"""Information barriers (deal walls, issue 15): a confidential project is seen only by its deal team.

The rule, in one place:

- a project marked ``confidential`` is seen by the users and teams of its deal team
  (:class:`~bcrm.financing.models.DealWallMember`) and by compliance — by nobody else, whatever their role
  (an administrator or a team lead outside the deal team does not see it either); the ``bcrm`` commands run
  on the server without ``--as`` act as the system and see everything (they hold the database anyway);
- inside the wall: the project, its participations, their commitment steps, the interactions and survey
  invitations linked to it, its milestones, updates and progress reports. Every query that reads them
  goes through :func:`restrict_projects` (or :func:`hidden_project_ids` for raw SQL), and the financing
  selectors ``project_list``/``project_get_for_user``/``participation_list`` are the entry points;
- figures stored once for every reader (the monthly KPI snapshot, the effect study, resource plans) count
  only unwalled projects (:func:`unwalled`), so a pipeline sum or count reveals no walled deal; the
  client's classification still uses walled data (the label is the firm's view), but its explanation
  leaves out deal-derived features for readers outside the wall (``segmentation.compliance``);
- crossing a wall — adding a user or a team to the deal team — is a recorded act with a reason (a
  ``DealWallMember`` row and an audit entry ``wall.cross``); leaving is ``wall.leave``. Compliance may mark
  any project confidential and add or remove members; an administrator or a team lead only for projects
  they see (inside the wall once it stands). Whoever marks a project confidential without being compliance
  is put inside its wall, so they keep seeing it. Compliance reads the wall register
  (:func:`wall_register`): confidential projects, their members, and every crossing with its reason.
"""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.models import Team
from bcrm.accounts.permissions import SystemOperator, has_any, require
from bcrm.audit.models import AuditAction, AuditEntry
from bcrm.audit.services import audit_record
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.financing.models import DealWallMember, Participation, Project

#: Roles that may manage the wall of a project they see (compliance manages every wall).
WALL_KEEPERS = {Role.ADMIN, Role.LEAD}

# Bumped on every change of a wall in this process: the per-user cache of hidden projects is then stale.
_generation = itertools.count()
_current = [next(_generation)]


def _changed() -> None:
    _current[0] = next(_generation)


def sees_every_wall(user) -> bool:
    """Compliance, and the system (``bcrm`` commands without ``--as``)."""
    return isinstance(user, SystemOperator) or has_any(user, {Role.COMPLIANCE})


def _member_q(user) -> Q:
    """Wall members that are ``user`` or one of their teams (a join, not a query of its own)."""
    return Q(user_id=user.pk) | Q(team__memberships__user_id=user.pk)


def hidden_project_ids(user) -> list[int]:
    """The confidential projects ``user`` is outside of (one query, kept on the user for the request)."""
    if sees_every_wall(user):
        return []
    cached = getattr(user, "_bcrm_walls", None)
    if cached is not None and cached[0] == _current[0]:
        return cached[1]
    walled = Project.objects.filter(confidential=True)
    if user is not None and getattr(user, "is_authenticated", False) and user.pk is not None:
        walled = walled.exclude(pk__in=DealWallMember.objects.filter(_member_q(user)).values("project_id"))
    ids = list(walled.order_by().values_list("pk", flat=True))
    if user is not None:
        try:
            user._bcrm_walls = (_current[0], ids)
        except AttributeError:  # an object that takes no attributes (e.g. AnonymousUser on some paths)
            pass
    return ids


def organizations_behind_walls(user) -> set[int]:
    """Clients taking part in a confidential project ``user`` is outside of (their deal-derived explanations
    are not shown to ``user``; ``segmentation.compliance``)."""
    hidden = hidden_project_ids(user)
    if not hidden:
        return set()
    cached = getattr(user, "_bcrm_walled_orgs", None)
    if cached is not None and cached[0] == _current[0]:
        return cached[1]
    ids = set(Participation.objects.filter(project_id__in=hidden).values_list("organization_id", flat=True))
    if user is not None:
        user._bcrm_walled_orgs = (_current[0], ids)
    return ids


def restrict_projects(user, queryset: QuerySet, field: str = "project") -> QuerySet:
    """``queryset`` without rows on projects ``user`` is outside the wall of. ``field`` leads from the row to
    the project: ``"pk"`` for projects, ``"project"`` for participations and interactions (rows without a
    project stay), ``"participation__project"`` for commitment steps…"""
    hidden = hidden_project_ids(user)
    if not hidden:
        return queryset
    return queryset.exclude(**{f"{field}__in": hidden})


def unwalled(queryset: QuerySet, field: str = "project") -> QuerySet:
    """For figures stored once and shown to every reader: only rows on projects without a wall."""
    return queryset.exclude(**{f"{field}__confidential": True})


def inside_wall(user, project: Project) -> bool:
    if user is None or getattr(user, "pk", None) is None:
        return False
    return DealWallMember.objects.filter(Q(project=project) & _member_q(user)).exists()


def can_see_project(user, project: Project) -> bool:
    return not project.confidential or sees_every_wall(user) or project.pk not in hidden_project_ids(user)


def require_project_visible(user, project) -> None:
    """A write naming a project (a participation, an interaction) behind a wall ``user`` is outside of is
    answered as for a project that does not exist."""
    pk = getattr(project, "pk", project)
    if pk is not None and pk in hidden_project_ids(user):
        raise NotFound()


def can_manage_wall(user, project: Project) -> bool:
    """Compliance always; an administrator or a team lead when they see the project."""
    if sees_every_wall(user):
        return True
    return has_any(user, WALL_KEEPERS) and can_see_project(user, project)


def require_wall_manage(actor, project: Project) -> None:
    if not can_see_project(actor, project):
        raise NotFound()
    require(can_manage_wall(actor, project),
            _("Only compliance, or an administrator or team lead inside the deal team, may manage this wall."))


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(fields={"reason": [_("Give the reason for crossing the wall.")]}, code="reason_required")
    return reason


def _member_label(member: DealWallMember) -> str:
    if member.user is not None:
        return member.user.get_username()
    return _("team %(name)s") % {"name": member.team.name if member.team is not None else ""}


# --- services -------------------------------------------------------------------------------------------

@transaction.atomic
def wall_set_confidential(*, actor, project: Project, confidential: bool, reason: str = "") -> Project:
    """Raise or lift the wall. Raising it without being compliance puts ``actor`` inside it."""
    require_wall_manage(actor, project)
    locked = Project.objects.select_for_update().get(pk=project.pk)
    if locked.confidential == confidential:
        project.confidential = confidential
        return project
    reason = _reason(reason)
    locked.confidential = confidential
    locked.version += 1
    locked.save(update_fields=["confidential", "version", "updated_at"])
    project.confidential, project.version, project.updated_at = locked.confidential, locked.version, locked.updated_at
    audit_record(actor=actor, action=AuditAction.UPDATE, instance=project,
                 changes={"confidential": [not confidential, confidential], "reason": reason})
    _changed()
    if confidential and not sees_every_wall(actor) and not inside_wall(actor, project):
        _add(actor, project, actor, None, reason)
    return project


def _add(actor, project: Project, user, team: Team | None, reason: str) -> DealWallMember:
    member = DealWallMember.objects.create(project=project, user=user, team=team, reason=reason,
                                           added_by=actor if getattr(actor, "pk", None) else None,
                                           at=timezone.now())
    audit_record(actor=actor, action=AuditAction.WALL_CROSS, instance=project,
                 changes={"member": ["", _member_label(member)], "reason": reason,
                          "user": member.user_id, "team": member.team_id})
    _changed()
    return member


@transaction.atomic
def wall_add_member(*, actor, project: Project, reason: str, user=None, team: Team | None = None
                    ) -> DealWallMember:
    """Cross the wall: ``user`` or ``team`` (exactly one) joins the deal team, for ``reason``."""
    require_wall_manage(actor, project)
    if (user is None) == (team is None):
        raise InvalidInput(fields={"user": [_("Give a user or a team, not both.")]}, code="member_required")
    if not Project.objects.select_for_update().filter(pk=project.pk, confidential=True).exists():
        raise InvalidInput(_("The project has no wall: mark it confidential first."), code="not_confidential")
    reason = _reason(reason)
    existing = DealWallMember.objects.filter(project=project, **({"user": user} if user else {"team": team}))
    if existing.exists():
        raise InvalidInput(fields={"user" if user else "team": [_("Already inside this wall.")]},
                           code="already_member")
    return _add(actor, project, user, team, reason)


@transaction.atomic
def wall_remove_member(*, actor, member: DealWallMember, reason: str = "") -> None:
    project = member.project
    require_wall_manage(actor, project)
    label = _member_label(member)
    changes: dict[str, Any] = {"member": [label, ""], "user": member.user_id, "team": member.team_id}
    if reason.strip():
        changes["reason"] = reason.strip()
    member.delete()
    audit_record(actor=actor, action=AuditAction.WALL_LEAVE, instance=project, changes=changes)
    _changed()


# --- reads ----------------------------------------------------------------------------------------------

def wall_members(*, actor, project: Project) -> QuerySet[DealWallMember]:
    if not can_see_project(actor, project):
        raise NotFound()
    return DealWallMember.objects.filter(project=project).select_related("user", "team", "added_by")


def wall_member_get(*, actor, project: Project, pk: int) -> DealWallMember:
    member = wall_members(actor=actor, project=project).filter(pk=pk).first()
    if member is None:
        raise NotFound()
    return member


def wall_crossings(*, actor, project: Project | None = None) -> QuerySet[AuditEntry]:
    """Every crossing and leaving (audit entries), newest first."""
    require(sees_every_wall(actor), _("Only compliance reads the wall register."))
    entries = AuditEntry.objects.filter(action__in=[AuditAction.WALL_CROSS, AuditAction.WALL_LEAVE],
                                        content_type=ContentType.objects.get_for_model(Project))
    if project is not None:
        entries = entries.filter(object_id=str(project.pk))
    return entries.order_by("-at", "-id")


def wall_register(*, actor) -> list[dict[str, Any]]:
    """Compliance's register: every confidential project with its members and its crossings."""
    require(sees_every_wall(actor), _("Only compliance reads the wall register."))
    projects = list(Project.objects.filter(confidential=True).order_by("name", "id"))
    members: dict[int, list[DealWallMember]] = {p.pk: [] for p in projects}
    for member in (DealWallMember.objects.filter(project__in=projects)
                   .select_related("user", "team", "added_by").order_by("at", "id")):
        members[member.project_id].append(member)
    crossings: dict[str, list[AuditEntry]] = {str(p.pk): [] for p in projects}
    for entry in wall_crossings(actor=actor).filter(object_id__in=list(crossings)):
        crossings[entry.object_id].append(entry)
    return [{"project": p, "members": members[p.pk], "crossings": crossings[str(p.pk)]} for p in projects]
