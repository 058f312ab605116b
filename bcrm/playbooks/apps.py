"""策略制定与执行: tier policy, playbooks, working calendars, the automation engine and the resource plan."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PlaybooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.playbooks"
    label = "playbooks"
    verbose_name = _("Service playbooks")

    def ready(self) -> None:
        from bcrm.core import schedule
        from bcrm.engagement import hooks as engagement_hooks
        from bcrm.engagement.choices import TaskSource
        from bcrm.parties.hooks import add_client_list_context
        from bcrm.playbooks import defaults  # noqa: F401  (registers the shipped texts with bcrm.core.texts)
        from bcrm.playbooks.selectors import tiers_pending
        from bcrm.playbooks.services import task_assign, task_complete
        from bcrm.playbooks.sla import sla_due_dates
        from bcrm.segmentation.services import on_labels_changed

        on_labels_changed(tiers_after_labels)
        # A new service request is due by its client's tier playbook, in the team's working calendar; a playbook
        # task is done by logging the interaction it stands for, and placed by a lead within its team.
        engagement_hooks.set_sla_policy(sla_due_dates)
        engagement_hooks.set_task_rules(TaskSource.PLAYBOOK,
                                        engagement_hooks.TaskRules(complete=task_complete, assign=task_assign))
        # A classification run re-tiers the clients it relabels at once; a very large one leaves it to the next
        # automation run, and the client list says when that is.
        add_client_list_context("tiers_pending", tiers_pending)
        schedule.register("automation", daily_automation)
        schedule.register("automation.heartbeat", sweep_automation_runs)


def sweep_automation_runs() -> list[str]:
    """Runs whose worker died are failed, and the scheduled ones queued again (bcrm.core.heartbeat)."""
    from bcrm.playbooks.automation import automation_runs_sweep

    return automation_runs_sweep()


def daily_automation() -> list[str]:
    """The worker's tick: the day's automation run, once per business day from its hour on."""
    from bcrm.playbooks.automation import automation_tick

    return ["automation"] if automation_tick() else []


def tiers_after_labels(organization_ids) -> None:
    """Segmentation's label listener: the clients whose label moved get their tier now, not at the next
    automation run (beyond a limit, the run does it and the client list says when)."""
    from bcrm.playbooks.services import tiers_after_labels as refresh

    refresh(organization_ids)
