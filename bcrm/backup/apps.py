"""Backup and restore of a bcrm installation: its database and its data folder."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackupConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.backup"
    label = "backup"
    verbose_name = _("Backup and restore")

    def ready(self) -> None:
        from bcrm.core import schedule

        schedule.register("audit seal", audit_seal)
        schedule.register("audit check", audit_check)
        schedule.register("backup", scheduled_backup)


def audit_seal() -> list[str]:
    """Every tick: chain the audit entries a commit left unsealed (a large import), a bounded amount at a time."""
    from bcrm.audit.trail import seal_pending

    return ["audit seal"] if seal_pending(limit=50_000) else []


def audit_check() -> list[str]:
    """Once a day: seal everything, check the whole chain, sign its end if it holds, record the result."""
    from django.utils import timezone

    from bcrm.audit.models import AuditCheck
    from bcrm.audit.trail import scheduled_check

    today = timezone.localdate()
    last = AuditCheck.objects.order_by("-at").values_list("at", flat=True).first()
    if last is not None and timezone.localdate(last) >= today:
        return []
    scheduled_check()
    return ["audit check"]


def scheduled_backup() -> list[str]:
    """Every BCRM_BACKUP_EVERY_HOURS (0: never): a backup into BCRM_BACKUP_DIR, keeping the newest few."""
    import datetime as dt

    from django.conf import settings
    from django.utils import timezone

    from bcrm.backup import archive

    hours = settings.BCRM_BACKUP_EVERY_HOURS
    if hours <= 0:
        return []
    newest = max(archive.backup_folder().glob("bcrm-*.tar.gz"), key=lambda p: p.stat().st_mtime, default=None)
    if newest is not None and timezone.now().timestamp() - newest.stat().st_mtime < hours * 3600:
        return []
    archive.scheduled_backup(now=timezone.now().astimezone(dt.UTC))
    return ["backup"]
