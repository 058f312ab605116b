from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class LegalBasis(models.TextChoices):
    CONSENT = "consent", _("Consent")
    CONTRACT = "contract", _("Performance of a contract")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation")
    LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest")


#: The purposes bcrm mails for out of the box: satisfaction surveys (legitimate interest, as the surveys app
#: decided) and monthly progress reports (consent, ``Contact.report_consent``). A row in the register with the
#: same code replaces one (e.g. to switch it off); being code, they survive a flushed database.
BUILTIN_PURPOSES = {
    "satisfaction-survey": (_("Satisfaction surveys about services received"), "survey_invitation",
                            LegalBasis.LEGITIMATE_INTEREST),
    "progress-reports": (_("Monthly project progress reports"), "progress_report", LegalBasis.CONSENT),
}


class ProcessingPurpose(models.Model):
    """One entry of the register of processing purposes: why bcrm mails a contact (a delivery kind) and on
    which legal basis. A mail kind with no active purpose is not sent to contacts; on the basis of consent the
    contact's consent (``Contact.report_consent``) is required too."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    mail_kind = models.CharField(_("mail kind"), max_length=40, blank=True,
                                 help_text=_("The kind of e-mail this purpose covers (e.g. survey_invitation)."))
    legal_basis = models.CharField(_("legal basis"), max_length=24, choices=LegalBasis.choices)
    description = models.TextField(_("description"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("processing purpose")
        verbose_name_plural = _("processing purposes")
        ordering = ["code"]

    def __str__(self) -> str:
        return str(self.display_name)

    @property
    def display_name(self) -> str:
        """The name in the reader's language for a built-in purpose, else as registered."""
        builtin = BUILTIN_PURPOSES.get(self.code)
        return str(builtin[0]) if builtin else self.name


class RetentionHold(models.Model):
    """A legal duty to keep a contact's records until a date (PIPL Art. 47): erasure is refused until then, and
    processing is restricted instead (no mailings, surveys or automated mail)."""

    contact = models.ForeignKey("parties.Contact", on_delete=models.CASCADE, related_name="retention_holds",
                                verbose_name=_("contact"))
    until = models.DateField(_("until"))
    reason = models.CharField(_("reason"), max_length=500)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("placed by"))
    created_at = models.DateTimeField(_("placed"), auto_now_add=True)

    class Meta:
        verbose_name = _("retention hold")
        verbose_name_plural = _("retention holds")
        ordering = ["-until", "-id"]
        indexes = [models.Index(fields=["contact", "until"], name="privacy_hold_contact_idx")]

    def __str__(self) -> str:
        return f"hold on contact {self.contact_id} until {self.until}"


class Erasure(models.Model):
    """That a contact's personal data was erased: when, by whom, why, and how many rows and files were rewritten.
    Holds nothing of the erased data."""

    contact = models.ForeignKey("parties.Contact", on_delete=models.SET_NULL, null=True, related_name="+",
                                verbose_name=_("contact"))
    reference = models.CharField(_("reference"), max_length=40, unique=True)
    reason = models.CharField(_("reason"), max_length=500)
    at = models.DateTimeField(_("when"))
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+", verbose_name=_("by"))
    summary = models.JSONField(_("summary"), default=dict, blank=True)

    class Meta:
        verbose_name = _("erasure")
        verbose_name_plural = _("erasures")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"erasure {self.reference}"
