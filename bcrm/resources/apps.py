"""Resource planning: the team's capacity against the work the playbooks ask for."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ResourcesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.resources"
    label = "resources"
    verbose_name = _("Resource planning")
