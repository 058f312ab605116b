"""analyst tools on any file: `bcrm analyse ...`."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalysisConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.fileanalysis"
    label = "analysis"
    verbose_name = _("Analysis")
