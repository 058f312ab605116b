"""Relationship intelligence: connected mailboxes and calendars, what was captured from them, the review
queue of unknown addresses from known domains, and each user's exclusion list."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from bcrm.core.models import TimestampedModel


class AccountKind(models.TextChoices):
    IMAP = "imap", _("Mailbox (IMAP)")
    CALDAV = "caldav", _("Calendar (CalDAV)")


class SyncStatus(models.TextChoices):
    NEVER = "never", _("Not synced yet")
    OK = "ok", _("Synced")
    AUTH_FAILED = "auth_failed", _("Sign-in refused")
    UNREACHABLE = "unreachable", _("Server unreachable")
    INTERRUPTED = "interrupted", _("Interrupted; resumes at the next sync")
    ERROR = "error", _("Error")


class ConnectedAccount(TimestampedModel):
    """One user's opt-in connection to a mailbox or calendar. The password is stored encrypted
    (:mod:`bcrm.intel.crypto`), never in clear."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connected_accounts")
    kind = models.CharField(_("kind"), max_length=8, choices=AccountKind.choices, default=AccountKind.IMAP)
    host = models.CharField(_("server"), max_length=255)
    port = models.PositiveIntegerField(_("port"), default=993)
    use_tls = models.BooleanField(_("TLS"), default=True)
    username = models.CharField(_("user name"), max_length=255)
    password_encrypted = models.TextField(editable=False)
    folder = models.CharField(_("folder or calendar path"), max_length=255, default="INBOX")
    keep_subject = models.BooleanField(_("keep subjects"), default=True)
    active = models.BooleanField(_("active"), default=True)
    # Incremental sync state: IMAP UIDVALIDITY and the next UID to read; CalDAV ctag / sync-token.
    uidvalidity = models.BigIntegerField(null=True, blank=True, editable=False)
    next_uid = models.BigIntegerField(default=1, editable=False)
    sync_token = models.CharField(max_length=500, blank=True, default="", editable=False)
    status = models.CharField(_("status"), max_length=12, choices=SyncStatus.choices, default=SyncStatus.NEVER)
    status_detail = models.CharField(_("detail"), max_length=500, blank=True, default="")
    last_sync_at = models.DateTimeField(_("last sync"), null=True, blank=True)
    captured_count = models.PositiveIntegerField(_("captured"), default=0)

    class Meta:
        verbose_name = _("connected account")
        verbose_name_plural = _("connected accounts")
        ordering = ["user_id", "id"]

    def __str__(self) -> str:
        return f"{self.username}@{self.host}"


class Source(models.TextChoices):
    IMAP = "imap", _("IMAP")
    MBOX = "mbox", _("Mail file")
    ICS = "ics", _("Calendar file")
    CALDAV = "caldav", _("CalDAV")


class ItemKind(models.TextChoices):
    EMAIL = "email", _("E-mail")
    MEETING = "meeting", _("Meeting")


class Direction(models.TextChoices):
    OUT = "out", _("Sent by us")
    IN = "in", _("Received")
    BOTH = "both", _("Meeting")


class ItemStatus(models.TextChoices):
    MATCHED = "matched", _("Matched to contacts")
    UNMATCHED = "unmatched", _("No known contact")
    INTERNAL = "internal", _("Internal only")
    EXCLUDED = "excluded", _("Excluded")
    CANCELLED = "cancelled", _("Cancelled")


class CapturedItem(models.Model):
    """One message's headers or one calendar event, as captured for ``user``: idempotent by ``key`` (the
    message-id, or the event's UID). Only headers are kept; never bodies or attachments."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="captured_items")
    account = models.ForeignKey(ConnectedAccount, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="items")
    source = models.CharField(max_length=8, choices=Source.choices)
    kind = models.CharField(max_length=8, choices=ItemKind.choices)
    key = models.CharField(max_length=500)
    in_reply_to = models.CharField(max_length=500, blank=True, default="")
    occurred_at = models.DateTimeField()
    sender = models.CharField(max_length=320, blank=True, default="")
    recipients = models.JSONField(default=list)
    subject = models.CharField(max_length=500, blank=True, default="")
    direction = models.CharField(max_length=4, choices=Direction.choices)
    status = models.CharField(max_length=10, choices=ItemStatus.choices)
    organization = models.ForeignKey("parties.Organization", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="captured_items")
    contacts = models.ManyToManyField("parties.Contact", blank=True, related_name="captured_items")
    interaction = models.ForeignKey("engagement.Interaction", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="captured_items")
    #: The interaction was created by the capture (a cancelled meeting removes it), not logged by someone.
    created_interaction = models.BooleanField(default=False)
    captured_at = models.DateTimeField(auto_now_add=True)
    #: Where the whole message can be read again if the user asks to keep it: ``imap:<uidvalidity>:<uid>``
    #: (on the item's account) or ``file:<byte offset>:<path>`` (an imported mail file); empty if unknown.
    locator = models.CharField(max_length=1100, blank=True, default="")

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="captured_item_unique_key")]
        indexes = [models.Index(fields=["organization", "-occurred_at"], name="captured_org_idx")]

    def __str__(self) -> str:
        return self.key


class ReviewStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for review")
    ACCEPTED = "accepted", _("Accepted as contact")
    REJECTED = "rejected", _("Rejected")


class ReviewCandidate(TimestampedModel):
    """An unknown address from an organisation's e-mail domain, offered as a new contact: never created
    silently."""

    address = models.CharField(_("e-mail"), max_length=320, unique=True)
    display_name = models.CharField(_("name"), max_length=200, blank=True, default="")
    organization = models.ForeignKey("parties.Organization", on_delete=models.CASCADE,
                                     related_name="review_candidates", verbose_name=_("organisation"))
    seen_count = models.PositiveIntegerField(_("seen"), default=1)
    last_seen_at = models.DateTimeField(_("last seen"))
    status = models.CharField(_("status"), max_length=10, choices=ReviewStatus.choices,
                              default=ReviewStatus.PENDING)
    contact = models.ForeignKey("parties.Contact", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="review_suggestions")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = _("contact suggestion")
        verbose_name_plural = _("contact suggestions")
        ordering = ["-seen_count", "address"]

    def __str__(self) -> str:
        return self.address


class Exclusion(models.Model):
    """An address or a whole domain a user never wants captured."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="capture_exclusions")
    value = models.CharField(_("address or domain"), max_length=320)

    class Meta:
        verbose_name = _("capture exclusion")
        verbose_name_plural = _("capture exclusions")
        ordering = ["value"]
        constraints = [models.UniqueConstraint(fields=["user", "value"], name="capture_exclusion_unique")]

    def __str__(self) -> str:
        return self.value


class KeepStatus(models.TextChoices):
    KEPT = "kept", _("Kept")
    TRUNCATED = "truncated", _("Kept in part (the message is larger than the limit)")
    UNAVAILABLE = "unavailable", _("No longer available at its source")
    FAILED = "failed", _("Could not be read")


class KeptMessage(models.Model):
    """A message its capturing user chose to keep: its body text and the names and sizes of its attachments
    (never the attachments' content). Read only by the capturing user and by roles that see the client, within
    deal walls (:mod:`bcrm.intel.keep`)."""

    item = models.OneToOneField(CapturedItem, on_delete=models.CASCADE, related_name="kept")
    status = models.CharField(_("status"), max_length=12, choices=KeepStatus.choices)
    #: Why it is not (fully) kept: a code the page renders in the reader's language, and its parameters.
    status_code = models.CharField(max_length=40, blank=True, default="")
    status_params = models.JSONField(default=dict, blank=True)
    body_text = models.TextField(_("body"), blank=True, default="")
    attachments = models.JSONField(_("attachments"), default=list, blank=True)  # [{"name", "size", "type"}]
    size = models.BigIntegerField(_("size"), null=True, blank=True)
    kept_at = models.DateTimeField(_("kept"), auto_now=True)

    class Meta:
        verbose_name = _("kept message")
        verbose_name_plural = _("kept messages")

    def __str__(self) -> str:
        return f"kept {self.item_id}"
