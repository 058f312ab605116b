from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from bcrm.core.models import VersionedModel
from bcrm.financing.choices import CURRENCY_CHOICES, ParticipationRole, ParticipationStatus, ProjectStage
from bcrm.parties.choices import Sector


def money_field(verbose_name, **kwargs) -> models.DecimalField:
    """Amounts: Decimal with 2 places; the currency lives in a sibling field."""
    return models.DecimalField(verbose_name, max_digits=20, decimal_places=2, **kwargs)


class Project(VersionedModel):
    """An asset being financed (项目)."""

    name = models.CharField(_("name"), max_length=200)
    local_name = models.CharField(_("local name"), max_length=200, blank=True)
    external_id = models.CharField(_("external id"), max_length=64, null=True, blank=True, unique=True)
    sector = models.CharField(_("sector"), max_length=16, choices=Sector.choices)
    country = CountryField(_("country"))
    stage = models.CharField(_("stage"), max_length=20, choices=ProjectStage.choices, default=ProjectStage.ORIGINATION)
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES, default="USD")
    total_cost = money_field(_("total cost"), default=Decimal("0"))
    financing_target = money_field(_("financing target"), default=Decimal("0"))
    expected_close = models.DateField(_("expected financial close"), null=True, blank=True)
    sponsor = models.ForeignKey(
        "parties.Organization", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="sponsored_projects", verbose_name=_("sponsor"),
    )
    description = models.TextField(_("description"), blank=True)
    # An information barrier (deal wall, bcrm.financing.walls): only the deal team and compliance see it.
    confidential = models.BooleanField(_("confidential"), default=False, db_index=True)

    class Meta:
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(total_cost__gte=0), name="project_cost_non_negative",
                                   violation_error_message=_("The total cost cannot be negative.")),
            models.CheckConstraint(condition=Q(financing_target__gte=0), name="project_target_non_negative",
                                   violation_error_message=_("The financing target cannot be negative.")),
            models.CheckConstraint(condition=~Q(name=""), name="project_name_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.local_name})" if self.local_name else self.name


class Participation(VersionedModel):
    """An organisation's role and amount in a project (参与/承诺出资), moving along the commitment ladder."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="participations",
                                verbose_name=_("project"))
    organization = models.ForeignKey(
        "parties.Organization", on_delete=models.PROTECT, related_name="participations",
        verbose_name=_("organisation"),
    )
    role = models.CharField(_("role"), max_length=16, choices=ParticipationRole.choices)
    tranche = models.CharField(_("tranche"), max_length=60, blank=True)
    amount = money_field(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    status = models.CharField(_("status"), max_length=20, choices=ParticipationStatus.choices,
                              default=ParticipationStatus.PROSPECT)
    status_changed_at = models.DateTimeField(_("status changed at"))
    probability = models.DecimalField(_("probability"), max_digits=4, decimal_places=3, default=Decimal("0.1"),
                                      help_text=_("Between 0 and 1."))
    fee_income = money_field(_("fee income"), default=Decimal("0"))
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("participation")
        verbose_name_plural = _("participations")
        ordering = ["project", "-amount", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="participation_amount_non_negative",
                                   violation_error_message=_("The amount cannot be negative.")),
            models.CheckConstraint(condition=Q(fee_income__gte=0), name="participation_fee_non_negative",
                                   violation_error_message=_("Fee income cannot be negative.")),
            models.CheckConstraint(condition=Q(probability__gte=0) & Q(probability__lte=1),
                                   name="participation_probability_range",
                                   violation_error_message=_("Probability must be between 0 and 1.")),
            models.UniqueConstraint(fields=["project", "organization", "role", "tranche"],
                                    name="participation_unique_role",
                                    violation_error_message=_("This organisation already has this role and tranche in the project.")),
        ]
        indexes = [
            models.Index(fields=["organization", "status"], name="participation_org_idx"),
            models.Index(fields=["project", "status"], name="participation_project_idx"),
            # the daily classification finds the clients whose commitments crossed a date line (a day's worth)
            # by this index, not by reading the table (issue 19)
            models.Index(fields=["status_changed_at", "organization"], name="participation_date_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.organization} – {self.project} ({self.get_role_display()})"


class ParticipationStatusChange(models.Model):
    """Each dated step along the ladder; time in stage and fall-out are read from here."""

    participation = models.ForeignKey(Participation, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=20, choices=ParticipationStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=ParticipationStatus.choices)
    changed_at = models.DateTimeField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = _("participation status change")
        verbose_name_plural = _("participation status changes")
        ordering = ["participation", "changed_at", "id"]
        indexes = [
            models.Index(fields=["participation", "changed_at"], name="pstatus_idx"),
            models.Index(fields=["changed_at", "participation"], name="pstatus_date_idx"),  # as participation_date_idx
        ]
        constraints = [models.CheckConstraint(condition=~Q(from_status=F("to_status")), name="pstatus_changes")]

    def __str__(self) -> str:
        return f"{self.from_status or '—'} → {self.to_status} ({self.changed_at:%Y-%m-%d})"


class DealWallMember(models.Model):
    """Someone inside a confidential project's wall: a user or a whole team (one of the two). Adding one is
    crossing the wall: who, why and when are kept here and in the audit trail (``wall.cross``)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="wall_members",
                                verbose_name=_("project"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="deal_walls", verbose_name=_("user"))
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.CASCADE,
                             related_name="deal_walls", verbose_name=_("team"))
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+", verbose_name=_("added by"))
    reason = models.TextField(_("reason"))
    at = models.DateTimeField(_("added at"))

    class Meta:
        verbose_name = _("deal wall member")
        verbose_name_plural = _("deal wall members")
        ordering = ["project", "at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(user__isnull=False, team__isnull=True)
                                   | Q(user__isnull=True, team__isnull=False), name="wall_member_user_or_team"),
            models.UniqueConstraint(fields=["project", "user"], name="wall_member_unique_user"),
            models.UniqueConstraint(fields=["project", "team"], name="wall_member_unique_team"),
            models.CheckConstraint(condition=~Q(reason=""), name="wall_member_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.project} – {self.user or self.team}"


class ExchangeRate(models.Model):
    """Units of ``quote`` (the reporting currency) for one unit of ``currency``, as of a date."""

    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    quote = models.CharField(_("reporting currency"), max_length=3, choices=CURRENCY_CHOICES)
    as_of = models.DateField(_("as of"))
    rate = models.DecimalField(_("rate"), max_digits=20, decimal_places=10)

    class Meta:
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")
        ordering = ["currency", "-as_of"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "quote", "as_of"], name="fx_unique"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="fx_positive",
                                   violation_error_message=_("An exchange rate must be positive.")),
        ]

    def __str__(self) -> str:
        return f"{self.currency}/{self.quote} {self.as_of}: {self.rate}"
