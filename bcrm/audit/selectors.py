from django.contrib.contenttypes.models import ContentType
from django.db import models

from bcrm.audit.models import AuditEntry


def audit_history(*, instance: models.Model):
    ct = ContentType.objects.get_for_model(type(instance))
    return AuditEntry.objects.filter(content_type=ct, object_id=str(instance.pk)).select_related("actor")
