"""监控看板: KPI snapshots per period, class and tier; the effect estimate of the dedicated tier."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MonitoringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.monitoring"
    label = "monitoring"
    verbose_name = _("Monitoring")

    def ready(self) -> None:
        from bcrm.core import delivery, schedule

        delivery.register("management_report", "bcrm.monitoring.report.MANAGEMENT_REPORT_MAIL")  # its mail goes through the one delivery loop
        schedule.register("kpi snapshot", monthly_snapshot)


def monthly_snapshot() -> list[str]:
    """The worker's tick: once a new month has started, the previous month's KPI snapshot is enqueued."""
    from bcrm.monitoring.tasks import tick

    return ["kpi snapshot"] if tick() else []
