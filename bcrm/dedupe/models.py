"""Probable duplicates found by a scan, and the pairs people said are not duplicates.

Records are referred to by id, not by foreign key: a candidate is a finding about two rows, not a
relation of theirs (a merge moves every relation of a row, and these must not be among them), and
the rows it names may be merged or deleted before anyone looks at it. Reads skip ids that are gone.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Entity(models.TextChoices):
    ORGANIZATIONS = "organizations", _("Organisations")
    CONTACTS = "contacts", _("Contacts")


class ScanStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class DuplicateScan(models.Model):
    """One run of the detection over all records of an entity."""

    entity = models.CharField(_("records"), max_length=16, choices=Entity.choices)
    status = models.CharField(_("status"), max_length=8, choices=ScanStatus.choices, default=ScanStatus.QUEUED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    records = models.PositiveIntegerField(_("records read"), default=0)
    pairs = models.PositiveIntegerField(_("candidate pairs"), default=0)
    groups = models.PositiveIntegerField(_("candidate groups"), default=0)
    skipped_blocks = models.PositiveIntegerField(
        _("keys shared too widely to compare"), default=0,
        help_text=_("A key (a name, a domain) shared by more records than the block limit is not used."),
    )
    max_block = models.PositiveIntegerField(_("block limit"), default=20)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("duplicate scan")
        verbose_name_plural = _("duplicate scans")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["entity", "-created_at"], name="dedupe_scan_entity_idx")]

    def __str__(self) -> str:
        return f"{self.entity} scan {self.pk} ({self.status})"

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class DuplicateGroup(models.Model):
    """Records connected by candidate pairs: what a person reviews and merges in one go.

    ``key`` is the smallest record id in the group: groups of one entity never share a record, so it
    is unique, and a scan writes groups and pairs in bulk without waiting for generated ids.
    """

    entity = models.CharField(max_length=16, choices=Entity.choices)
    key = models.BigIntegerField()
    score = models.PositiveSmallIntegerField(_("score"))
    size = models.PositiveIntegerField(_("records"))
    found_at = models.DateTimeField(_("found"))

    class Meta:
        verbose_name = _("duplicate group")
        verbose_name_plural = _("duplicate groups")
        ordering = ["-score", "key"]
        constraints = [models.UniqueConstraint(fields=["entity", "key"], name="dedupe_group_unique")]
        indexes = [models.Index(fields=["entity", "-score", "key"], name="dedupe_group_list_idx")]

    def __str__(self) -> str:
        return f"{self.entity} group {self.key} ({self.size}, {self.score})"


class DuplicateCandidate(models.Model):
    """Two records that look like one client, with the score and the reasons (codes, see matching.py)."""

    entity = models.CharField(max_length=16, choices=Entity.choices)
    group_key = models.BigIntegerField()
    low_id = models.BigIntegerField()
    high_id = models.BigIntegerField()
    score = models.PositiveSmallIntegerField(_("score"))
    reasons = models.JSONField(_("reasons"), default=list)

    class Meta:
        verbose_name = _("duplicate candidate")
        verbose_name_plural = _("duplicate candidates")
        ordering = ["-score", "low_id", "high_id"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "low_id", "high_id"], name="dedupe_candidate_unique"),
            models.CheckConstraint(condition=Q(low_id__lt=F("high_id")), name="dedupe_candidate_ordered"),
        ]
        indexes = [
            models.Index(fields=["entity", "high_id"], name="dedupe_candidate_high_idx"),
            models.Index(fields=["entity", "group_key", "-score"], name="dedupe_candidate_group_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.entity} {self.low_id}~{self.high_id} ({self.score})"


class DuplicateDismissal(models.Model):
    """"Not a duplicate": remembered, so scans never propose the pair again."""

    entity = models.CharField(max_length=16, choices=Entity.choices)
    low_id = models.BigIntegerField()
    high_id = models.BigIntegerField()
    dismissed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", verbose_name=_("dismissed by"))
    dismissed_at = models.DateTimeField(_("dismissed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("dismissed duplicate")
        verbose_name_plural = _("dismissed duplicates")
        ordering = ["-dismissed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "low_id", "high_id"], name="dedupe_dismissal_unique"),
            models.CheckConstraint(condition=Q(low_id__lt=F("high_id")), name="dedupe_dismissal_ordered"),
        ]
        indexes = [models.Index(fields=["entity", "high_id"], name="dedupe_dismissal_high_idx")]

    def __str__(self) -> str:
        return f"{self.entity} {self.low_id}≠{self.high_id}"
