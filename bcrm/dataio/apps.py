"""CSV/XLSX import and export."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DataioConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.dataio"
    label = "dataio"
    verbose_name = _("Data import and export")

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from bcrm.dataio.models import ImportJob

        post_delete.connect(_remove_job_files, sender=ImportJob, dispatch_uid="dataio_remove_job_files")

        from bcrm.core import schedule

        # Every worker, when it starts and on each tick: imports whose worker died are failed and queued again.
        schedule.register("imports.heartbeat", _sweep_imports)


def _sweep_imports() -> list[str]:
    from bcrm.dataio.services import import_jobs_sweep

    return import_jobs_sweep()


def _remove_job_files(sender, instance, **kwargs) -> None:
    """However a job is deleted (service, admin, cascade), its stored upload and error file go with it."""
    import shutil

    from bcrm.dataio.services import job_directory

    shutil.rmtree(job_directory(instance), ignore_errors=True)
