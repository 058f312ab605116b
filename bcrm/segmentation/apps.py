"""客户分类: features, criteria, split methods, runs, assignments, overrides."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.segmentation"
    label = "segmentation"
    verbose_name = _("Segmentation")
