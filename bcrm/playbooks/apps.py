"""策略制定与执行: tier policy, playbooks, working calendars, the automation engine and the resource plan."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PlaybooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.playbooks"
    label = "playbooks"
    verbose_name = _("Service playbooks")

    def ready(self) -> None:
        from bcrm.playbooks import defaults  # noqa: F401  (registers the shipped texts with bcrm.core.texts)
        from bcrm.segmentation.services import on_labels_changed

        on_labels_changed(tiers_after_labels)


def tiers_after_labels(organization_ids) -> None:
    """Segmentation's label listener: the clients whose label moved get their tier now, not at the next
    automation run (beyond a limit, the run does it and the client list says when)."""
    from bcrm.playbooks.services import tiers_after_labels as refresh

    refresh(organization_ids)
