"""A financing plan (定制化融资方案) belongs to a client and a project (optionally a tranche); every change of
terms is a new :class:`PlanVersion` (who, when, why); every status move is a :class:`PlanStatusChange`."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from bcrm.core.delivery import Delivery
from bcrm.core.models import VersionedModel
from bcrm.financing.choices import CURRENCY_CHOICES
from bcrm.plans.terms import TERM_FIELDS


class PlanStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    INTERNAL_REVIEW = "internal_review", _("Internal review")
    PROPOSED = "proposed", _("Proposed")
    NEGOTIATING = "negotiating", _("Negotiating")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    WITHDRAWN = "withdrawn", _("Withdrawn")


#: the moves the service allows, from each status
TRANSITIONS: dict[str, tuple[str, ...]] = {
    PlanStatus.DRAFT: (PlanStatus.INTERNAL_REVIEW, PlanStatus.WITHDRAWN),
    PlanStatus.INTERNAL_REVIEW: (PlanStatus.PROPOSED, PlanStatus.DRAFT, PlanStatus.WITHDRAWN),
    PlanStatus.PROPOSED: (PlanStatus.NEGOTIATING, PlanStatus.ACCEPTED, PlanStatus.DECLINED, PlanStatus.WITHDRAWN),
    PlanStatus.NEGOTIATING: (PlanStatus.INTERNAL_REVIEW, PlanStatus.ACCEPTED, PlanStatus.DECLINED,
                             PlanStatus.WITHDRAWN),
    PlanStatus.ACCEPTED: (),
    PlanStatus.DECLINED: (),
    PlanStatus.WITHDRAWN: (),
}
FINAL_STATUSES = (PlanStatus.ACCEPTED, PlanStatus.DECLINED, PlanStatus.WITHDRAWN)
#: terms may change (a new version) only while the plan is still being worked on
EDITABLE_STATUSES = (PlanStatus.DRAFT, PlanStatus.INTERNAL_REVIEW, PlanStatus.NEGOTIATING)


class Instrument(models.TextChoices):
    SENIOR_DEBT = "senior_debt", _("Senior debt")
    MEZZANINE = "mezzanine", _("Mezzanine")
    EQUITY = "equity", _("Equity")
    GUARANTEE = "guarantee", _("Guarantee")
    BOND = "bond", _("Bond")


class Repayment(models.TextChoices):
    AMORTISING = "amortising", _("Amortising (equal instalments)")
    SCULPTED = "sculpted", _("Sculpted to cash flow")
    BALLOON = "balloon", _("Amortising with balloon")
    BULLET = "bullet", _("Bullet at maturity")


_NOT_NEGATIVE = [MinValueValidator(Decimal("0"))]
_PERCENT = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


class Terms(models.Model):
    """The structure offered: instrument, amount, tenor, pricing, fees, security, covenants, conditions."""

    instrument = models.CharField(_("instrument"), max_length=16, choices=Instrument.choices)
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2, validators=_NOT_NEGATIVE)
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    tenor_months = models.PositiveSmallIntegerField(_("tenor (months)"), validators=[MaxValueValidator(600)])
    grace_months = models.PositiveSmallIntegerField(_("grace period (months)"), default=0,
                                                    validators=[MaxValueValidator(600)])
    repayment = models.CharField(_("repayment profile"), max_length=12, choices=Repayment.choices,
                                 default=Repayment.AMORTISING)
    reference_rate = models.CharField(_("reference rate"), max_length=40, blank=True)
    margin_bps = models.DecimalField(_("margin (bp)"), max_digits=8, decimal_places=2, null=True, blank=True,
                                     validators=_NOT_NEGATIVE)
    upfront_fee_pct = models.DecimalField(_("upfront fee (%)"), max_digits=7, decimal_places=4, null=True,
                                          blank=True, validators=_PERCENT)
    commitment_fee_pct = models.DecimalField(_("commitment fee (%)"), max_digits=7, decimal_places=4, null=True,
                                             blank=True, validators=_PERCENT)
    arrangement_fee = models.DecimalField(_("arrangement fee (amount)"), max_digits=18, decimal_places=2,
                                          null=True, blank=True, validators=_NOT_NEGATIVE)
    security = models.TextField(_("security"), blank=True)
    covenants = models.TextField(_("covenants"), blank=True)
    conditions = models.TextField(_("conditions"), blank=True)
    rationale = models.TextField(_("rationale"), blank=True)

    class Meta:
        abstract = True

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.tenor_months is not None and self.grace_months is not None and self.grace_months > self.tenor_months:
            raise ValidationError({"grace_months": _("The grace period cannot be longer than the tenor.")})

    def terms(self) -> dict:
        return {name: getattr(self, name) for name in TERM_FIELDS}


class FinancingPlan(VersionedModel):
    organization = models.ForeignKey("parties.Organization", on_delete=models.CASCADE, related_name="financing_plans",
                                     verbose_name=_("client"))
    project = models.ForeignKey("financing.Project", on_delete=models.CASCADE, related_name="financing_plans",
                                verbose_name=_("project"))
    tranche = models.CharField(_("tranche"), max_length=60, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=PlanStatus.choices, default=PlanStatus.DRAFT)
    current_number = models.PositiveIntegerField(_("current version"), default=1)
    relationship_manager = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                             on_delete=models.SET_NULL, related_name="+",
                                             verbose_name=_("relationship manager"))
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+", verbose_name=_("approver"))
    template = models.ForeignKey("plans.PlanTemplate", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="plans", verbose_name=_("from template"))

    class Meta:
        verbose_name = _("financing plan")
        verbose_name_plural = _("financing plans")
        indexes = [models.Index(fields=["organization", "status"], name="plan_org_status_idx"),
                   models.Index(fields=["project", "tranche"], name="plan_project_idx")]

    def __str__(self) -> str:
        return f"plan {self.pk}"

    @property
    def current(self) -> PlanVersion:
        cached = getattr(self, "_current", None)
        if cached is None or cached.number != self.current_number:
            cached = self._current = self.versions.get(number=self.current_number)
        return cached


class PlanVersion(Terms):
    plan = models.ForeignKey(FinancingPlan, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    reason = models.TextField(_("why"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("by"))
    created_at = models.DateTimeField(_("when"))

    class Meta:
        verbose_name = _("plan version")
        verbose_name_plural = _("plan versions")
        constraints = [models.UniqueConstraint(fields=["plan", "number"], name="plan_version_unique")]
        ordering = ["plan", "number"]

    def __str__(self) -> str:
        return f"plan {self.plan_id} v{self.number}"


class PlanStatusChange(models.Model):
    plan = models.ForeignKey(FinancingPlan, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=PlanStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=PlanStatus.choices)
    changed_at = models.DateTimeField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["changed_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"


class PlanTemplate(Terms, VersionedModel):
    """Standard terms for a project (and tranche), applied in bulk to standard-tier clients."""

    name = models.CharField(_("name"), max_length=120)
    project = models.ForeignKey("financing.Project", on_delete=models.CASCADE, related_name="plan_templates",
                                verbose_name=_("project"))
    tranche = models.CharField(_("tranche"), max_length=60, blank=True)

    class Meta:
        verbose_name = _("plan template")
        verbose_name_plural = _("plan templates")

    def __str__(self) -> str:
        return self.name


class ProposalDelivery(Delivery):
    """A plan's proposal (cover e-mail with the PDF) to one contact of the client, once per plan version."""

    plan = models.ForeignKey(FinancingPlan, on_delete=models.CASCADE, related_name="deliveries")
    version_number = models.PositiveIntegerField()
    contact = models.ForeignKey("parties.Contact", on_delete=models.CASCADE, related_name="+")
    email = models.EmailField()
    language = models.CharField(max_length=8)
    key = models.CharField(max_length=80, unique=True)
    queued_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")

    class Meta:
        verbose_name = _("proposal delivery")
        verbose_name_plural = _("proposal deliveries")
