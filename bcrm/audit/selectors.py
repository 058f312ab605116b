from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q

from bcrm.audit.models import AuditEntry


def audit_history(*, instance: models.Model):
    """The entries about ``instance``: its own, and those of batches that created it among many (an import's)."""
    ct = ContentType.objects.get_for_model(type(instance))
    about = Q(object_id=str(instance.pk))
    ranged = ranged_entry_ids([ct], str(instance.pk))
    if ranged:
        about |= Q(pk__in=ranged)
    return AuditEntry.objects.filter(about, content_type=ct).select_related("actor")


def task_origin(task: models.Model) -> AuditEntry | None:
    """The audit entry of the automation run that created ``task`` (its ``object_id`` is the run's id), or
    None for a task made by hand or by a run before runs listed their tasks."""
    from bcrm.audit.models import AuditAction
    from bcrm.audit.services import in_ranges

    if task.pk is None:
        return None
    candidates = AuditEntry.objects.filter(action=AuditAction.AUTOMATION, changes__first_task__lte=task.pk,
                                           changes__last_task__gte=task.pk).order_by("-id")
    for entry in candidates:
        if in_ranges(task.pk, entry.changes.get("task_ranges", [])):
            return entry
    return None


def ranged_entry_ids(types, object_id: str) -> list[int]:
    """The entries about many rows at once (no ``object_id``; ``changes`` give ``first_id``, ``last_id`` and the
    closed id ``ranges``, as a capture or import batch's) of the content ``types`` that cover ``object_id``."""
    from bcrm.audit.services import in_ranges

    if not str(object_id).isdigit():
        return []
    value = int(object_id)
    candidates = AuditEntry.objects.filter(content_type__in=types, object_id="", changes__first_id__lte=value,
                                           changes__last_id__gte=value).values_list("pk", "changes__ranges")
    return [pk for pk, ranges in candidates if in_ranges(value, ranges or [])]
