"""项目进度报告: milestones, team updates, progress reports (HTML and PDF) and their e-mail deliveries."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProgressConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.progress"
    label = "progress"
    verbose_name = _("Progress reports")

    def ready(self) -> None:
        from bcrm.core import schedule
        from bcrm.playbooks.choices import Action
        from bcrm.playbooks.hooks import set_deliverable
        from bcrm.progress.services import queue_progress_reports

        schedule.register("report deliveries", report_deliveries)
        # the automated playbook step "progress report": the month's reports for the clients it covers
        set_deliverable(Action.PROGRESS_REPORT, queue_progress_reports)


def report_deliveries() -> list[str]:
    """The worker's tick: sends the report deliveries that are due, retries whose time has come included
    (they are sent, not enqueued: nothing to name)."""
    from bcrm.progress.tasks import tick

    tick()
    return []
