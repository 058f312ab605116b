"""定制化融资方案: financing plans offered to clients, their versions and status, proposal documents and mail."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PlansConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.plans"
    label = "plans"
    verbose_name = _("Financing plans")

    def ready(self) -> None:
        from bcrm.core import delivery

        delivery.register("plan_proposal", "bcrm.plans.services.PROPOSAL_MAIL")
