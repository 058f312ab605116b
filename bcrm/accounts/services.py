from __future__ import annotations

import datetime as dt
import logging
import secrets
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.models import ApiToken, Team, TeamMembership, token_digest
from bcrm.accounts.permissions import has_any, require
from bcrm.audit.models import AuditAction
from bcrm.audit.services import audit_record
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.core.services import create_instance

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "bcrm_"


def roles_ensure() -> None:
    for role in Role:
        Group.objects.get_or_create(name=role.value)


@transaction.atomic
def user_create(
    *,
    actor=None,
    username: str,
    password: str,
    email: str = "",
    roles: list[str] | None = None,
    first_name: str = "",
    last_name: str = "",
    validate: bool = True,
):
    """Create a user with roles. ``actor`` None means the command line (trusted operator)."""
    if actor is not None:
        require(has_any(actor, {Role.ADMIN}))
    User = get_user_model()
    roles = roles or []
    unknown = [r for r in roles if r not in Role.values]
    if unknown:
        raise InvalidInput(fields={"roles": [f"Unknown role: {r}. Choose from {', '.join(Role.values)}." for r in unknown]})
    if User.objects.filter(username=username).exists():
        raise InvalidInput(fields={"username": [f"A user named {username!r} already exists."]})
    user = User(username=username, email=email, first_name=first_name, last_name=last_name)
    if validate:
        try:
            validate_password(password, user)
        except DjangoValidationError as exc:
            raise InvalidInput(fields={"password": list(exc.messages)}) from exc
    user.set_password(password)
    user.is_staff = Role.ADMIN in roles
    user.is_superuser = Role.ADMIN in roles
    create_instance(actor=actor, instance=user)
    roles_ensure()
    user.groups.set(Group.objects.filter(name__in=roles))
    access_audit(actor=actor, user=user, before=access_snapshot(None))
    return user


@transaction.atomic
def team_create(*, actor=None, name: str, name_local: str = "") -> Team:
    if actor is not None:
        require(has_any(actor, {Role.ADMIN, Role.LEAD}))
    return create_instance(actor=actor, instance=Team(name=name, name_local=name_local))


@transaction.atomic
def team_member_set(*, actor=None, team: Team, user, weekly_capacity_hours: Decimal | int = 40) -> TeamMembership:
    if actor is not None:
        require(has_any(actor, {Role.ADMIN, Role.LEAD}))
    membership, created = TeamMembership.objects.get_or_create(team=team, user=user)
    before = None if created else str(Decimal(membership.weekly_capacity_hours).quantize(Decimal("0.1")))
    membership.weekly_capacity_hours = Decimal(weekly_capacity_hours).quantize(Decimal("0.1"))
    try:
        membership.full_clean()
    except DjangoValidationError as exc:
        raise InvalidInput.from_django(exc) from exc
    membership.save()
    if created or before != str(membership.weekly_capacity_hours):
        audit_record(actor=actor, action=AuditAction.ACCESS, instance=user, changes={
            "team": team.name, "member": [not created, True],
            "weekly_capacity_hours": [before, str(membership.weekly_capacity_hours)]})
    return membership


@transaction.atomic
def team_member_remove(*, actor=None, team: Team, user) -> bool:
    """Take ``user`` out of ``team``; audited on the user. False when they were not in it."""
    if actor is not None:
        require(has_any(actor, {Role.ADMIN, Role.LEAD}))
    deleted, _counts = TeamMembership.objects.filter(team=team, user=user).delete()
    if deleted:
        audit_record(actor=actor, action=AuditAction.ACCESS, instance=user,
                     changes={"team": team.name, "member": [True, False]})
    return bool(deleted)


ACCESS_FIELDS = ("is_active", "is_staff", "is_superuser")


def access_snapshot(user) -> dict[str, Any]:
    """What a user may do, as stored: the flags, the roles (groups) and direct permissions, by name."""
    if not getattr(user, "pk", None):
        return dict.fromkeys(ACCESS_FIELDS, False) | {"roles": [], "permissions": []}
    fresh = get_user_model().objects.get(pk=user.pk)
    return {name: getattr(fresh, name) for name in ACCESS_FIELDS} | {
        "roles": sorted(fresh.groups.values_list("name", flat=True)),
        "permissions": sorted(f"{app}.{code}" for app, code in fresh.user_permissions.values_list(
            "content_type__app_label", "codename")),
    }


def access_audit(*, actor, user, before: dict[str, Any], after: dict[str, Any] | None = None):
    """One audit entry on ``user`` with what changed in their access (none when nothing did)."""
    after = after if after is not None else access_snapshot(user)
    changes = {key: [before.get(key), value] for key, value in after.items() if before.get(key) != value}
    if changes:
        audit_record(actor=actor, action=AuditAction.ACCESS, instance=user, changes=changes)
    return changes


@transaction.atomic
def user_roles_set(*, actor=None, user, roles: list[str]):
    """Give ``user`` exactly these roles (an administrator also gets staff and superuser); audited."""
    if actor is not None:
        require(has_any(actor, {Role.ADMIN}))
    unknown = [r for r in roles if r not in Role.values]
    if unknown:
        raise InvalidInput(fields={"roles": [f"Unknown role: {r}. Choose from {', '.join(Role.values)}." for r in unknown]})
    before = access_snapshot(user)
    roles_ensure()
    user.groups.set(Group.objects.filter(name__in=roles))
    user.is_staff = user.is_superuser = Role.ADMIN in roles
    user.save(update_fields=["is_staff", "is_superuser"])
    access_audit(actor=actor, user=user, before=before)
    return user


@transaction.atomic
def token_default_expiry():
    """When a token made now expires unless told otherwise: ``BCRM_TOKEN_DAYS`` from now (None when 0)."""
    from datetime import timedelta

    from django.conf import settings

    days = int(settings.BCRM_TOKEN_DAYS)
    return timezone.now() + timedelta(days=days) if days > 0 else None


def token_create(*, actor=None, user, name: str = "api", expires_at=None) -> tuple[ApiToken, str]:
    """Make a token for ``user``; returns the row and the raw token, which is never stored. It expires at
    ``expires_at``, by default ``BCRM_TOKEN_DAYS`` (90) days from now; a time already past is refused."""
    if actor is not None and actor.pk != user.pk:
        require(has_any(actor, {Role.ADMIN}))
    if expires_at is None:
        expires_at = token_default_expiry()
    elif expires_at <= timezone.now():
        raise InvalidInput(_("A token cannot be created already expired."),
                           fields={"expires_at": [_("Choose a time in the future.")]})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=raw[: len(TOKEN_PREFIX) + 6], digest=token_digest(raw), expires_at=expires_at
    )
    audit_record(actor=actor, action="create", instance=token, changes={"user": [None, user.pk], "name": [None, name]})
    return token, raw


@transaction.atomic
def token_revoke(*, actor=None, token: ApiToken) -> ApiToken:
    if actor is not None and actor.pk != token.user_id:
        require(has_any(actor, {Role.ADMIN}))
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="update", instance=token, changes={"revoked_at": [None, token.revoked_at.isoformat()]})
    return token


def token_state(raw: str) -> str:
    """Why a raw bearer token does not sign anyone in: "expired", "revoked" or "invalid" (or "active")."""
    token = ApiToken.objects.filter(digest=token_digest(raw)).first() if raw else None
    if token is None:
        return "invalid"
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return "expired"
    return "active"


def token_authenticate(raw: str):
    """The active user a raw bearer token belongs to, or None (``token_state`` says why)."""
    if not raw or not raw.startswith(TOKEN_PREFIX):
        return None
    token = ApiToken.objects.select_related("user").filter(digest=token_digest(raw)).first()
    if token is None or not token.is_active or not token.user.is_active:
        return None
    token_touch(token)
    return token.user


def token_use_due(last_used, now) -> bool:
    """A token's use is audited once per clock hour (UTC) it is used in: not per request."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    return last_used is None or last_used < hour


#: A token's last-used time is written at most this often (seconds).
TOKEN_TOUCH_SECONDS = 60
_touched: dict[str, float] = {}   # token digest → when this process last wrote (or tried to write) its last use


def token_touch(token, now: dt.datetime | None = None) -> bool:
    """Record that ``token`` was used: at most once a minute (by the stored time, and per process without
    asking the database), never inside the request's transaction (after it commits, if there is one), and never
    at the cost of the request: on SQLite it waits at most a moment for the write lock and gives up while
    another write (an import) holds it — reads must not fail for a timestamp. The write that moves last-used on
    into a new clock hour also audits the token's use (once per hour, not per request). Whether it wrote."""
    import time

    now = now or timezone.now()
    if token.last_used_at is not None and (now - token.last_used_at).total_seconds() < TOKEN_TOUCH_SECONDS:
        return False
    clock = time.monotonic()
    if clock - _touched.get(token.digest, -TOKEN_TOUCH_SECONDS) < TOKEN_TOUCH_SECONDS:
        return False
    _touched[token.digest] = clock
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _write_last_used(token.pk, now, token=token))
        return True
    return _write_last_used(token.pk, now, token=token)


def _write_last_used(token_id: int, now: dt.datetime, *, token=None) -> bool:
    sqlite = connection.vendor == "sqlite"
    waited = None
    try:
        if sqlite:
            with connection.cursor() as cursor:
                waited = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
                cursor.execute("PRAGMA busy_timeout=100")
        with transaction.atomic():
            rows = ApiToken.objects.filter(pk=token_id)
            if token is not None:
                # Only the request that moves last-used on writes (two at once: one wins, the other writes nothing).
                rows = rows.filter(last_used_at=token.last_used_at)
            moved = rows.update(last_used_at=now)
            if moved and token is not None and token_use_due(token.last_used_at, now):
                audit_record(actor=token.user, action=AuditAction.TOKEN_USE, instance=token,
                             changes={"hour": now.replace(minute=0, second=0, microsecond=0).isoformat()})
        return bool(moved)
    except OperationalError as exc:
        logger.info("token %s: last use not recorded (%s)", token_id, exc)
        return False
    finally:
        if waited is not None:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout={int(waited)}")


def user_get_by_username(username: str):
    User = get_user_model()
    try:
        return User.objects.get(username=username)
    except User.DoesNotExist:
        raise NotFound(f"No user named {username!r}.") from None
