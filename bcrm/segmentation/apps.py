"""客户分类: features, criteria, split methods, runs, assignments, overrides."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.segmentation"
    label = "segmentation"
    verbose_name = _("Segmentation")

    def ready(self) -> None:
        from bcrm.core import schedule

        schedule.register("segmentation", scheduled_runs)


def scheduled_runs() -> list[str]:
    """The worker's tick: ends expired overrides and enqueues each dimension's scheduled run that is due."""
    from bcrm.segmentation.services import schedule_tick

    return schedule_tick()
