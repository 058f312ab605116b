from __future__ import annotations

from collections.abc import Callable, Iterable
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


# -- entries about many created rows at once (an import's batch) -------------------------------------------------
#
# An import audits the rows one batch created in ONE entry (``object_id`` empty, like a capture batch's): the ids
# as closed ``ranges`` with ``first_id`` / ``last_id`` (what the object filters match), and the created values
# compactly: ``columns`` names each position once (``id``, the file's ``row`` number, then the fields) and ``rows``
# holds one array per created record. The helpers below read one record back out of such an entry.

def is_batch(changes: Any) -> bool:
    """Whether ``changes`` is a batch entry's (created records as ``columns`` + ``rows`` arrays)."""
    return (isinstance(changes, dict) and isinstance(changes.get("columns"), list)
            and isinstance(changes.get("rows"), list) and "ranges" in changes)


def batch_row(changes: dict[str, Any], object_id: Any) -> list[Any] | None:
    """The array a batch entry holds for the record ``object_id`` (None when it holds none)."""
    try:
        wanted = int(object_id)
    except (TypeError, ValueError):
        return None
    if not is_batch(changes) or not in_ranges(wanted, changes["ranges"]):
        return None
    for row in changes["rows"]:
        if row and row[0] == wanted:
            return row
    return None


def batch_record(changes: dict[str, Any], object_id: Any) -> dict[str, Any] | None:
    """What the batch entry says record ``object_id`` was created with, in the form a one-record entry has:
    ``{field: [None, value]}`` for each set field (blank ones left out), plus ``import_job``. None when the entry
    does not hold the record."""
    row = batch_row(changes, object_id)
    if row is None:
        return None
    record = {name: [None, value] for name, value in zip(changes["columns"][2:], row[2:], strict=False)
              if value is not None and value != ""}
    if changes.get("import_job") is not None:
        record["import_job"] = [None, changes["import_job"]]
    return record


def batch_only(changes: dict[str, Any], keep: Callable[[list[Any]], bool]) -> dict[str, Any]:
    """A copy of a batch entry's changes with only the records ``keep`` accepts (ranges and counts left as they
    were: they say what the batch created)."""
    return {**changes, "rows": [row for row in changes["rows"] if keep(row)]}
