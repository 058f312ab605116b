"""Data quality: how complete and how fresh the data behind each classification is."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DataQualityConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.dataquality"
    label = "dataquality"
    verbose_name = _("Data quality")
