"""Backup and restore of a bcrm installation: its database and its data folder."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackupConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.backup"
    label = "backup"
    verbose_name = _("Backup and restore")
