"""Survey invitations: one tokenised, single-use, expiring link per contact (满意度调查).

The raw token exists only in the e-mail it is sent in; the table keeps its SHA-256 digest, like API
tokens. A token is issued when the invitation is sent (a resend issues a new one, so the older link
stops working); until then ``token_digest`` is empty.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bcrm.core.delivery import Delivery
from bcrm.parties.choices import Language


class InvitationStatus(models.TextChoices):
    PENDING = "pending", _("Not sent yet")
    SENT = "sent", _("Sent")
    ANSWERED = "answered", _("Answered")
    EXPIRED = "expired", _("Expired")


def status_q(status: str, now: dt.datetime | None = None) -> Q:
    """The filter for one derived status: the same rule as ``SurveyInvitation.status``."""
    now = now or timezone.now()
    if status == InvitationStatus.ANSWERED:
        return Q(used_at__isnull=False)
    if status == InvitationStatus.EXPIRED:
        return Q(used_at__isnull=True, expires_at__lte=now)
    if status == InvitationStatus.SENT:
        return Q(used_at__isnull=True, expires_at__gt=now, sent_at__isnull=False)
    if status == InvitationStatus.PENDING:
        return Q(used_at__isnull=True, expires_at__gt=now, sent_at__isnull=True)
    raise ValueError(status)


class SurveyInvitation(models.Model):
    contact = models.ForeignKey("parties.Contact", on_delete=models.CASCADE, related_name="survey_invitations",
                                verbose_name=_("contact"))
    # Denormalised from the contact, so lists filter and restrict by organisation without a join.
    organization = models.ForeignKey("parties.Organization", on_delete=models.CASCADE,
                                     related_name="survey_invitations", verbose_name=_("organisation"))
    project = models.ForeignKey("financing.Project", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="survey_invitations", verbose_name=_("project"))
    token_digest = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.EN)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    send_error = models.TextField(_("last sending error"), blank=True)
    expires_at = models.DateTimeField(_("expires"))
    used_at = models.DateTimeField(_("answered"), null=True, blank=True)
    response = models.OneToOneField("engagement.SurveyResponse", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="invitation", verbose_name=_("survey response"))
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+", verbose_name=_("sent by"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("survey invitation")
        verbose_name_plural = _("survey invitations")
        ordering = ["-created_at", "-id"]
        constraints = [
            # Single use: a response belongs to at most one invitation (one-to-one), and an invitation
            # with a response has been used. The answer itself flips used_at with a conditional UPDATE.
            models.CheckConstraint(condition=Q(response__isnull=True) | Q(used_at__isnull=False),
                                   name="survey_invitation_response_used"),
            models.CheckConstraint(condition=Q(used_at__isnull=True) | Q(token_digest__isnull=False),
                                   name="survey_invitation_used_had_token"),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="survey_inv_org_idx"),
            models.Index(fields=["project", "-created_at"], name="survey_inv_project_idx"),
            models.Index(fields=["contact", "project", "used_at"], name="survey_inv_contact_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.contact} ({self.get_status_display()})"

    @property
    def status(self) -> str:
        if self.used_at is not None:
            return InvitationStatus.ANSWERED
        if self.expires_at <= timezone.now():
            return InvitationStatus.EXPIRED
        if self.sent_at is not None:
            return InvitationStatus.SENT
        return InvitationStatus.PENDING

    def get_status_display(self) -> str:
        return str(InvitationStatus(self.status).label)

    @property
    def is_open(self) -> bool:
        """Still answerable (or sendable): not answered and not expired."""
        return self.status in (InvitationStatus.PENDING, InvitationStatus.SENT)


class SurveyMail(Delivery):
    """One e-mail of an invitation (its first sending or a resend), sent by the one delivery loop
    (:mod:`bcrm.core.delivery`): claimed before it is sent, retried with backoff after a failure. The personal
    link is issued when the message is built, so it exists only in the e-mail that went out."""

    invitation = models.ForeignKey(SurveyInvitation, on_delete=models.CASCADE, related_name="mails",
                                   verbose_name=_("survey invitation"))
    email = models.EmailField(_("e-mail"))

    class Meta:
        verbose_name = _("survey e-mail")
        verbose_name_plural = _("survey e-mails")
        ordering = ["-queued_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="survey_mail_due_idx")]

    def __str__(self) -> str:
        return f"{self.email} ({self.status})"
