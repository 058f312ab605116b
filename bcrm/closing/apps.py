"""放款前提条件清单: the closing checklist of a project (conditions precedent), its evidence and readiness."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClosingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.closing"
    label = "closing"
    verbose_name = _("Closing checklists")
