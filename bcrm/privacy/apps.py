"""Requests from the people whose data bcrm holds: access and portability (export), erasure, retention holds
that restrict processing, and the register of processing purposes every mailing is checked against."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.privacy"
    label = "privacy"
    verbose_name = _("Privacy requests")

    def ready(self) -> None:
        from bcrm.core import delivery
        from bcrm.privacy.services import mail_gate

        delivery.add_gate(mail_gate)  # every e-mail to a contact passes the purpose, consent and hold checks
