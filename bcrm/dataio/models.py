from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bcrm.dataio.choices import Entity, FileFormat, ImportMode, JobSource, JobStatus, Outcome


class ColumnMapping(models.Model):
    """A saved header → field map for sheets whose headers bcrm does not recognise by itself."""

    name = models.CharField(_("name"), max_length=100)
    entity = models.CharField(_("entity"), max_length=20, choices=Entity.choices)
    columns = models.JSONField(_("columns"), default=dict, help_text=_("File header → field name; empty means ignore."))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+", verbose_name=_("owner"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("column mapping")
        verbose_name_plural = _("column mappings")
        ordering = ["entity", "name"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "name"], name="dataio_mapping_unique_name",
                                    violation_error_message=_("A mapping with this name already exists for this entity.")),
            models.CheckConstraint(condition=~Q(name=""), name="dataio_mapping_name_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.entity})"


class ImportJob(models.Model):
    """One import of one file: who, when, what, how it went. Every import is recorded, dry runs and
    failures included; the uploaded file and the error file live in ``BCRM_DATA_DIR/imports/<id>/``."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="import_jobs", verbose_name=_("who"))
    user_label = models.CharField(_("who"), max_length=150, blank=True)
    entity = models.CharField(_("entity"), max_length=20, choices=Entity.choices)
    mode = models.CharField(_("mode"), max_length=16, choices=ImportMode.choices, default=ImportMode.COMMIT)
    source = models.CharField(_("source"), max_length=8, choices=JobSource.choices, default=JobSource.WEB)
    status = models.CharField(_("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING)
    message = models.TextField(_("message"), blank=True)

    file_name = models.CharField(_("file name"), max_length=255)
    file_format = models.CharField(_("format"), max_length=4, choices=FileFormat.choices, blank=True)
    file_size = models.BigIntegerField(_("file size"), default=0)
    file_sha256 = models.CharField(_("SHA-256 of the file"), max_length=64, blank=True)
    # Where the file is read from: relative to the import folder for uploads, absolute for CLI files.
    stored_path = models.CharField(max_length=1024, blank=True)
    error_file = models.CharField(_("error file"), max_length=1024, blank=True)
    mapping = models.ForeignKey(ColumnMapping, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                verbose_name=_("column mapping"))
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns",
                                 verbose_name=_("re-run of"))

    columns = models.JSONField(_("columns read"), default=dict, blank=True)
    ignored_columns = models.JSONField(_("ignored columns"), default=list, blank=True)
    header_row = models.PositiveIntegerField(_("header row"), default=0)

    rows = models.PositiveIntegerField(_("rows"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    progress = models.PositiveIntegerField(_("rows processed"), default=0)

    created_at = models.DateTimeField(_("submitted"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Crash safety (bcrm.core.heartbeat): the last beat recorded in the database, the queue entry running the
    # job, and why the job stopped when the system says so (a text code with parameters, bcrm.core.texts).
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    task_id = models.CharField(_("queue entry"), max_length=64, blank=True)
    reason = models.JSONField(_("reason"), default=dict, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="dataio_job_user_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.entity} {self.file_name}"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def is_finished(self) -> bool:
        return self.status in {JobStatus.DONE, JobStatus.FAILED, JobStatus.ROLLED_BACK}

    @property
    def shown_message(self) -> str:
        """The message in the reader's language where it was stored as a code, else as stored."""
        from bcrm.core.texts import render

        return render(self.reason) if self.reason else self.message

    @property
    def wrote_data(self) -> bool:
        return self.status == JobStatus.DONE and self.mode != ImportMode.DRY_RUN


class ImportRow(models.Model):
    """The outcome of one file row. Every rejected row is kept; of the others, the first
    ``BCRM_IMPORT_REPORT_ROWS`` (counts always cover the whole file)."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_reports")
    number = models.PositiveIntegerField(_("row"))
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    object_id = models.BigIntegerField(null=True, blank=True)
    label = models.CharField(_("record"), max_length=255, blank=True)
    errors = models.JSONField(_("reasons"), default=list, blank=True)  # [{"field": …, "message": …}]
    changes = models.JSONField(_("changes"), default=dict, blank=True)  # field → [before, after] on updates

    class Meta:
        verbose_name = _("import row")
        verbose_name_plural = _("import rows")
        ordering = ["job", "number", "id"]
        indexes = [
            models.Index(fields=["job", "number"], name="dataio_row_job_idx"),
            models.Index(fields=["job", "outcome", "number"], name="dataio_row_outcome_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.number} {self.outcome}"

    @property
    def reasons(self) -> list[dict[str, str]]:
        """The reasons in the reader's language, each field named by its label (and its code)."""
        from bcrm.dataio.specs import reason_items

        return reason_items(self.job.entity, self.errors)

    @property
    def reason_text(self) -> str:
        from bcrm.dataio.specs import reason_text

        return reason_text(self.job.entity, self.errors)
