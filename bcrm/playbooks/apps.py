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
