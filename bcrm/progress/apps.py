"""项目进度报告: milestones, team updates, progress reports (HTML and PDF) and their e-mail deliveries."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProgressConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.progress"
    label = "progress"
    verbose_name = _("Progress reports")

    def ready(self) -> None:
        from bcrm.core import delivery, schedule
        from bcrm.playbooks.choices import Action
        from bcrm.playbooks.hooks import set_deliverable
        from bcrm.progress.services import queue_progress_reports

        delivery.register("progress_report", "bcrm.progress.services.REPORT_MAIL")  # its mail goes through the one delivery loop
        schedule.register("e-mail deliveries", email_deliveries)
        # the automated playbook step "progress report": the month's reports for the clients it covers
        set_deliverable(Action.PROGRESS_REPORT, queue_progress_reports)


def email_deliveries() -> list[str]:
    """The worker's tick: sends the e-mails of every kind (bcrm.core.delivery: surveys, progress reports,
    management reports) that are due, retries whose time has come included (sent, not enqueued: nothing to
    name). Registered here, where the worker sent them before the schedule registry."""
    from bcrm.core.delivery import send_due

    send_due()
    return []
