from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    CREATE = "create", _("created")
    UPDATE = "update", _("updated")
    DELETE = "delete", _("deleted")
    IMPORT_CREATE = "import.create", _("created by import")
    IMPORT_UPDATE = "import.update", _("updated by import")
    MERGE = "merge", _("merged")
    LOCKOUT = "lockout", _("locked out after failed sign-ins")
    UNLOCK = "unlock", _("unlocked")
    WALL_CROSS = "wall.cross", _("crossed a deal wall")
    WALL_LEAVE = "wall.leave", _("left a deal wall")
    PRIVACY_EXPORT = "privacy.export", _("personal data exported")
    PRIVACY_ERASE = "privacy.erase", _("personal data erased")
    LOGIN = "login", _("signed in")
    LOGOUT = "logout", _("signed out")
    LOGIN_FAILED = "login.failed", _("failed sign-in")
    EXPORT = "export", _("exported")
    ACCESS = "access.change", _("roles or access changed")
    TOKEN_USE = "token.use", _("API token used")
    AUTOMATION = "automation.run", _("automation run created tasks")
    BACKUP = "backup", _("backup taken")
    CAPTURE = "capture", _("captured from mail or calendars")
    MAIL_KEEP = "mail.keep", _("message kept")
    MAIL_DISCARD = "mail.discard", _("kept message deleted")
    KPI_SNAPSHOT = "kpi_snapshot", _("KPI snapshot computed")
    REPORT_SENT = "report_sent", _("management report sent")


class AuditEntry(models.Model):
    """Who changed which object when, with each field before and after. Written only by services."""

    at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    # The actor's id stays when the user is deleted (the trail is append-only; actor_label keeps the name).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(_("actor"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=16, choices=AuditAction.choices)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "-at"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_repr}"


class AuditDigest(models.Model):
    """An entry's content digest (:func:`bcrm.audit.chain.content_digest`) made as the entry was written, from the
    values it was written with, so that the sealer links it into the chain without reading the entry back: an
    import's entry for a batch holds a few hundred kB of JSON, and reading and hashing them again after COMMIT
    cost an import of a million rows about 3 s (issue 19). Written in the entry's own transaction (it goes
    with the entry if that rolls back); the check (:func:`bcrm.audit.trail.verify`) re-reads and re-hashes
    every entry as before, so a digest that did not match its entry would be named there."""

    entry = models.OneToOneField(AuditEntry, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False,
                                 related_name="+")
    content = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("audit entry digest")
        verbose_name_plural = _("audit entry digests")

    def __str__(self) -> str:
        return f"{self.entry_id} {self.content[:12]}"


class AuditSeal(models.Model):
    """An entry's place in the hash chain (see :mod:`bcrm.audit.chain`). Written once, by the sealer only.

    Kept beside the entry rather than in it, so the entry is never updated; the link to the entry has no
    database constraint, so an entry deleted behind bcrm's back leaves its seal and is named by the check."""

    position = models.BigIntegerField(primary_key=True)
    entry = models.OneToOneField(AuditEntry, on_delete=models.DO_NOTHING, db_constraint=False, related_name="seal")
    digest = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("audit seal")
        verbose_name_plural = _("audit seals")

    def __str__(self) -> str:
        return f"#{self.position} {self.digest[:12]}"


class AuditCheckpoint(models.Model):
    """A signed statement that the chain had ``digest`` at ``position`` (HMAC with the audit key)."""

    position = models.BigIntegerField()
    digest = models.CharField(max_length=64)
    at = models.DateTimeField()
    mac = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("audit checkpoint")
        verbose_name_plural = _("audit checkpoints")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"#{self.position} {self.digest[:12]} {self.at:%Y-%m-%d %H:%M}"


class AuditCheck(models.Model):
    """The result of one scheduled check of the chain (shown to administrators)."""

    at = models.DateTimeField(db_index=True)
    ok = models.BooleanField()
    checked = models.BigIntegerField(default=0)
    findings = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("audit check")
        verbose_name_plural = _("audit checks")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'broken'} ({self.checked})"


class AuditRedaction(models.Model):
    """An erasure rewrote the personal values of a sealed entry (see :mod:`bcrm.audit.chain`): the entry's content
    digest before (which the chain links over) and after, why (``reference``: the erasure), signed with the audit
    key. Append-only like the trail; the erased values are not kept anywhere."""

    # An entry naming two people erased one after the other has two redactions: the second's original digest
    # is the first's redacted one.
    entry = models.ForeignKey(AuditEntry, on_delete=models.DO_NOTHING, db_constraint=False,
                              related_name="redactions")
    original_digest = models.CharField(max_length=64)
    redacted_digest = models.CharField(max_length=64)
    reference = models.CharField(max_length=64)
    at = models.DateTimeField()
    mac = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("audit redaction")
        verbose_name_plural = _("audit redactions")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"entry #{self.entry_id} redacted ({self.reference})"
