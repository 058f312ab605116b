"""What `bcrm import` and `bcrm export` share."""

from __future__ import annotations

from django.core.management.base import CommandError

from bcrm.accounts.services import user_get_by_username
from bcrm.core.errors import ServiceError


def resolve_actor(username: str | None):
    """The user named by ``--as``; None (the system operator) without it."""
    if not username:
        return None
    try:
        return user_get_by_username(username)
    except ServiceError:
        raise CommandError(f"No user {username!r}.") from None
