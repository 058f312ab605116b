from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from bcrm.core.models import VersionedModel
from bcrm.parties import ratings
from bcrm.parties.choices import KycStatus, Language, OrganizationKind, RatingAgency, Sector, Seniority


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=60, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def prefers_local_names() -> bool:
    """Readers of the Chinese UI know their clients by the local name; others by the legal name."""
    return (translation.get_language() or "").lower().startswith("zh")


class Organization(VersionedModel):
    """A client or counterparty (机构客户)."""

    legal_name = models.CharField(_("legal name"), max_length=255)
    local_name = models.CharField(_("local name"), max_length=255, blank=True)
    kind = models.CharField(_("kind"), max_length=32, choices=OrganizationKind.choices)
    country = CountryField(_("country"))
    sector = models.CharField(_("sector"), max_length=16, choices=Sector.choices, blank=True)
    website = models.URLField(_("website"), blank=True)
    # Lower-case domains its people write from (e.g. ["example.com"]): captured mail from an unknown
    # address at one of them is offered as a new contact (bcrm.intel).
    email_domains = models.JSONField(_("e-mail domains"), default=list, blank=True)

    rating_agency = models.CharField(_("rating agency"), max_length=16, choices=RatingAgency.choices, blank=True)
    rating_grade = models.CharField(_("rating grade"), max_length=8, blank=True)
    rating_score = models.PositiveSmallIntegerField(
        _("rating score (1 = best)"), null=True, blank=True, editable=False
    )

    kyc_status = models.CharField(
        _("KYC status"), max_length=16, choices=KycStatus.choices, default=KycStatus.NOT_STARTED
    )
    kyc_expires_on = models.DateField(_("KYC expires on"), null=True, blank=True)
    sanctions_flag = models.BooleanField(_("sanctions hit"), default=False)

    relationship_since = models.DateField(_("relationship since"), null=True, blank=True)
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="organizations",
        verbose_name=_("owning team"),
    )
    relationship_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="managed_organizations", verbose_name=_("relationship manager"),
    )
    external_id = models.CharField(_("external id"), max_length=64, null=True, blank=True, unique=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="organizations", verbose_name=_("tags"))
    notes = models.TextField(_("notes"), blank=True)
    # Lower-cased names, contact names and e-mails: the one column the client search reads.
    search_text = models.TextField(editable=False, blank=True, default="")

    COMPLIANCE_FIELDS = ("kyc_status", "kyc_expires_on", "sanctions_flag")

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["legal_name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(legal_name=""), name="org_legal_name_not_empty",
                violation_error_message=_("The legal name is required."),
            ),
            models.CheckConstraint(
                condition=Q(rating_grade="") | ~Q(rating_agency=""), name="org_rating_needs_agency",
                violation_error_message=_("A rating grade needs its agency."),
            ),
            models.CheckConstraint(
                condition=Q(external_id__isnull=True) | ~Q(external_id=""), name="org_external_id_not_blank",
            ),
        ]
        indexes = [
            models.Index(fields=["kind", "legal_name"], name="org_kind_name_idx"),
            models.Index(fields=["kind", "country", "legal_name"], name="org_kind_country_idx"),
            models.Index(fields=["country", "legal_name"], name="org_country_name_idx"),
            models.Index(fields=["team", "legal_name"], name="org_team_name_idx"),
            models.Index(fields=["relationship_manager", "legal_name"], name="org_rm_name_idx"),
            models.Index(fields=["legal_name", "id"], name="org_name_idx"),
            models.Index(Lower("local_name"), name="org_local_name_idx"),
            models.Index(Lower("legal_name"), name="org_legal_name_lower_idx"),
            models.Index(fields=["updated_at"], name="org_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.other_name})" if self.local_name else self.legal_name

    @property
    def display_name(self) -> str:
        """The name a reader knows it by: the local (Chinese) name first in the Chinese UI, where there is one."""
        if self.local_name and prefers_local_names():
            return self.local_name
        return self.legal_name

    @property
    def other_name(self) -> str:
        """The name shown second, under or after :attr:`display_name` ("" when there is only one)."""
        if not self.local_name:
            return ""
        return self.legal_name if prefers_local_names() else self.local_name

    def clean(self) -> None:
        if self.external_id == "":
            self.external_id = None
        self.rating_grade = (self.rating_grade or "").strip()
        if self.rating_grade:
            score = ratings.rating_score(self.rating_agency, self.rating_grade)
            if score is None:
                raise ValidationError({"rating_grade": _("%(grade)s is not a grade on this agency's scale.")
                                       % {"grade": self.rating_grade}})
        if self.kyc_status == KycStatus.VERIFIED and not self.kyc_expires_on:
            raise ValidationError({"kyc_expires_on": _("A verified KYC needs its expiry date.")})

    def save(self, *args, **kwargs):
        if self.external_id == "":
            self.external_id = None
        self.rating_score = self.score_of(self.rating_agency, self.rating_grade)
        super().save(*args, **kwargs)

    @staticmethod
    def score_of(agency: str | None, grade: str | None) -> int | None:
        """The derived ``rating_score``: one rule for a single save and for the batch writers."""
        return ratings.rating_score(agency or "", grade or "")


class Contact(VersionedModel):
    """A person at an organisation (联系人)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="contacts", verbose_name=_("organisation")
    )
    full_name = models.CharField(_("name"), max_length=200)
    local_name = models.CharField(_("local name"), max_length=200, blank=True)
    title = models.CharField(_("title"), max_length=200, blank=True)
    seniority = models.CharField(_("seniority"), max_length=16, choices=Seniority.choices, default=Seniority.MIDDLE)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.EN)
    report_consent = models.BooleanField(_("consents to receive reports"), default=False)
    consent_given_at = models.DateTimeField(_("consent given at"), null=True, blank=True)
    is_primary = models.BooleanField(_("primary contact"), default=False)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-is_primary", "full_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], condition=Q(is_primary=True), name="contact_one_primary",
                violation_error_message=_("This organisation already has a primary contact."),
            ),
            models.CheckConstraint(
                condition=Q(report_consent=False) | Q(consent_given_at__isnull=False),
                name="contact_consent_dated",
                violation_error_message=_("Consent to receive reports needs the date it was given."),
            ),
            models.CheckConstraint(
                condition=~Q(full_name=""), name="contact_name_not_empty",
                violation_error_message=_("The name is required."),
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "full_name"], name="contact_org_idx"),
            models.Index(fields=["email"], name="contact_email_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.local_name})" if self.local_name else self.full_name


class SavedView(models.Model):
    """A named set of list filters and sort (保存的视图) a user keeps for a list page, optionally shared with
    the members of their teams. ``query`` is the list's query string, normalised (only known filters)."""

    class Page(models.TextChoices):
        CLIENTS = "clients", _("Clients")

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views",
                              verbose_name=_("owner"))
    page = models.CharField(_("page"), max_length=20, choices=Page.choices, default=Page.CLIENTS)
    name = models.CharField(_("name"), max_length=80)
    query = models.CharField(_("filters"), max_length=1000, blank=True, default="")
    shared = models.BooleanField(_("shared with my teams"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "page", "name"], name="saved_view_name_unique",
                                    violation_error_message=_("You already have a view with this name.")),
            models.CheckConstraint(condition=~Q(name=""), name="saved_view_name_not_empty",
                                   violation_error_message=_("Give the view a name.")),
        ]

    def __str__(self) -> str:
        return self.name
