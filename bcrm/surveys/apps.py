"""client satisfaction surveys by tokenised link."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SurveysConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.surveys"
    label = "surveys"
    verbose_name = _("Surveys")

    def ready(self) -> None:
        from bcrm.core import delivery

        delivery.register("survey_invitation", "bcrm.surveys.services.SURVEY_MAIL")  # its mail goes through the one delivery loop
