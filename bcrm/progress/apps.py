"""项目进度报告: milestones, team updates, progress reports (HTML and PDF) and their e-mail deliveries."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProgressConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.progress"
    label = "progress"
    verbose_name = _("Progress reports")

    def ready(self) -> None:
        from bcrm.core import delivery

        delivery.register("progress_report", "bcrm.progress.services.REPORT_MAIL")  # its mail goes through the one delivery loop
