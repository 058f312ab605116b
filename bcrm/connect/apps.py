from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConnectConfig(AppConfig):
    name = "bcrm.connect"
    label = "connect"
    verbose_name = _("Standards out: calendar feeds, vCards, webhooks")

    def ready(self) -> None:
        from bcrm.connect import webhooks
        from bcrm.core import events, schedule

        events.listen(webhooks.record_events, interested=webhooks.anyone_subscribed)
        schedule.register("webhooks", webhooks.scheduled_send)
