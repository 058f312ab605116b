"""Shared write mechanics: validate, optimistic locking, audit. Every app's services use these."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext as _

from bcrm.audit.services import audit_record
from bcrm.core.errors import Conflict, InvalidInput

M = TypeVar("M", bound=models.Model)


def plain_value(value: Any) -> Any:
    """A JSON-safe rendering of a field value for the audit log."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def snapshot(instance: models.Model) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.name in {"search_text", "password"}:
            continue
        data[field.name] = plain_value(getattr(instance, field.attname))
    return data


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v and k != "updated_at"}


def validate_and_save(instance: models.Model, *, exclude: list[str] | None = None) -> None:
    """full_clean() then save(), so every door rejects the same things with the same messages."""
    try:
        instance.full_clean(exclude=exclude)
    except DjangoValidationError as exc:
        raise InvalidInput.from_django(exc) from exc
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        # Constraints are mirrored in full_clean(); reaching here means a race with another writer.
        raise InvalidInput(_("This change conflicts with data saved at the same moment. Reload and try again.")) from None


@transaction.atomic
def create_instance(*, actor, instance: M, m2m: dict[str, Any] | None = None) -> M:
    validate_and_save(instance)
    for name, values in (m2m or {}).items():
        getattr(instance, name).set(values)
    audit_record(actor=actor, action="create", instance=instance, changes={
        k: [None, v] for k, v in snapshot(instance).items() if v not in (None, "")
    })
    return instance


@transaction.atomic
def update_instance(
    *,
    actor,
    instance: M,
    data: dict[str, Any],
    expected_version: int | None,
    m2m: dict[str, Any] | None = None,
) -> M:
    """Apply ``data`` to ``instance`` if nobody changed it since ``expected_version``.

    The row is locked and its version compared inside the transaction, so of two editors who opened
    the same version, the second save is refused with a Conflict and nothing is overwritten.
    """
    model = type(instance)
    locked = model._default_manager.select_for_update().get(pk=instance.pk)
    if expected_version is not None and locked.version != expected_version:  # type: ignore[attr-defined]  # versioned models declare `version`, Model does not
        raise Conflict()
    before = snapshot(locked)
    for key, value in data.items():
        setattr(locked, key, value)
    locked.version = locked.version + 1  # type: ignore[attr-defined]  # as above
    validate_and_save(locked)
    for name, values in (m2m or {}).items():
        getattr(locked, name).set(values)
    changes = changed_fields(before, snapshot(locked))
    changes.pop("version", None)
    if changes or m2m:
        audit_record(actor=actor, action="update", instance=locked, changes=changes)
    return locked


def delete_instance(*, actor, instance: models.Model) -> None:
    from django.db.models import ProtectedError

    before = snapshot(instance)
    audit_record(actor=actor, action="delete", instance=instance, changes={k: [v, None] for k, v in before.items()})
    try:
        with transaction.atomic():
            instance.delete()
    except ProtectedError as exc:
        kinds = sorted({str(obj._meta.verbose_name_plural) for obj in exc.protected_objects})
        raise Conflict(_("Cannot delete: it still has %(kinds)s.") % {"kinds": ", ".join(kinds)}) from exc
