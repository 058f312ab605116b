"""probable duplicates and merge."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DedupeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.dedupe"
    label = "dedupe"
    verbose_name = _("Duplicates")
