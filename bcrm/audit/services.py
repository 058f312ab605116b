from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from bcrm.audit.models import AuditEntry
from bcrm.audit.trail import seal_after_commit


def audit_record(*, actor, action: str, instance: models.Model, changes: dict[str, Any]) -> AuditEntry:
    label = ""
    if actor is not None and getattr(actor, "is_authenticated", False):
        label = actor.get_username()
    elif actor is None:
        label = "system"
    seal_after_commit()
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=label,
        action=action,
        content_type=ContentType.objects.get_for_model(instance),  # an instance or a lazy one (request.user)
        object_id=str(instance.pk),
        object_repr=str(instance)[:255],
        changes=changes,
    )


def _actor_label(actor) -> str:
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return "system" if actor is None else ""


def audit_event(*, actor, action: str, model: type[models.Model], object_id: Any = "", object_repr: str = "",
                changes: dict[str, Any] | None = None) -> AuditEntry:
    """An entry about something that is not one saved row (an export of many rows, a failed sign-in under an
    unknown name): the object is the model and, when there is one, the row's id."""
    seal_after_commit()
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=_actor_label(actor),
        action=action,
        content_type=ContentType.objects.get_for_model(model),
        object_id="" if object_id in (None, "") else str(object_id),
        object_repr=object_repr[:255],
        changes=changes or {},
    )


def id_ranges(ids: Iterable[int]) -> list[list[int]]:
    """Ids as sorted, closed ``[first, last]`` ranges: ``[1, 2, 3, 7]`` → ``[[1, 3], [7, 7]]``."""
    ranges: list[list[int]] = []
    for value in sorted(set(ids)):
        if ranges and value == ranges[-1][1] + 1:
            ranges[-1][1] = value
        else:
            ranges.append([value, value])
    return ranges


def in_ranges(value: int, ranges: Iterable[Iterable[int]]) -> bool:
    return any(low <= value <= high for low, high in ranges)
