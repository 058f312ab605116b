from django.contrib.contenttypes.models import ContentType
from django.db import models

from bcrm.audit.models import AuditEntry


def audit_history(*, instance: models.Model):
    ct = ContentType.objects.get_for_model(type(instance))
    return AuditEntry.objects.filter(content_type=ct, object_id=str(instance.pk)).select_related("actor")


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
