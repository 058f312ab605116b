"""Relationship intelligence (关系洞察): capture from mailboxes and calendars, strength and warm paths."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntelConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.intel"
    label = "intel"
    verbose_name = _("Relationship intelligence")

    def ready(self) -> None:
        from bcrm.core import schedule
        from bcrm.intel.tasks import due_syncs

        schedule.register("mailbox and calendar sync", due_syncs)
