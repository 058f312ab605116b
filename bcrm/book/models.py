from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bcrm.core.delivery import Delivery
from bcrm.core.models import VersionedModel
from bcrm.financing.choices import CURRENCY_CHOICES
from bcrm.parties.choices import Language
from bcrm.parties.classes import Dimension


def money_field(verbose_name, **kwargs) -> models.DecimalField:
    return models.DecimalField(verbose_name, max_digits=20, decimal_places=2, **kwargs)


class AllocationPolicy(models.TextChoices):
    PRO_RATA = "pro_rata", _("Pro rata (by firm ask)")
    PRIORITY = "priority", _("Class priority, pro rata within a class")
    MANUAL = "manual", _("Manual")


DEFAULT_PRIORITY = "relationship,value"


def validate_priority_order(value: str) -> None:
    names = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [name for name in names if name not in Dimension.values]
    if unknown or len(set(names)) != len(names):
        raise ValidationError(_("List dimensions (value, risk, relationship) once each, separated by commas."))


class Book(VersionedModel):
    """The book of one tranche of a project (簿记): its target and the rules of allocation. Its lines are the
    project's participations with the same ``tranche`` (financing.Participation.tranche)."""

    project = models.ForeignKey("financing.Project", on_delete=models.CASCADE, related_name="books",
                                verbose_name=_("project"))
    tranche = models.CharField(_("tranche"), max_length=60, blank=True)
    target = money_field(_("target amount"))
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    min_ticket = money_field(_("minimum ticket"), default=Decimal(0))
    lot_size = money_field(_("lot size"), default=Decimal("0.01"))
    closing_date = models.DateField(_("closing date"), null=True, blank=True)
    priority_order = models.CharField(
        _("class priority"), max_length=60, default=DEFAULT_PRIORITY, validators=[validate_priority_order],
        help_text=_("Whose lines the priority policy fills first: the upper classes, most important first."))

    class Meta:
        verbose_name = _("book")
        verbose_name_plural = _("books")
        ordering = ["project", "tranche"]
        constraints = [
            models.UniqueConstraint(fields=["project", "tranche"], name="book_unique_tranche",
                                    violation_error_message=_("This tranche of the project already has a book.")),
            models.CheckConstraint(condition=Q(target__gt=0), name="book_target_positive",
                                   violation_error_message=_("The target must be positive.")),
            models.CheckConstraint(condition=Q(min_ticket__gte=0), name="book_min_ticket_non_negative",
                                   violation_error_message=_("The minimum ticket cannot be negative.")),
            models.CheckConstraint(condition=Q(lot_size__gt=0), name="book_lot_positive",
                                   violation_error_message=_("The lot size must be positive.")),
        ]

    def __str__(self) -> str:
        return f"{self.project} – {self.tranche or '—'}"

    def clean(self) -> None:
        super().clean()
        if self.lot_size and self.lot_size > 0 and self.min_ticket is not None and self.min_ticket % self.lot_size:
            raise ValidationError({"min_ticket": _("The minimum ticket must be a whole number of lots.")})

    @property
    def priority_dimensions(self) -> list[str]:
        return [part.strip() for part in self.priority_order.split(",") if part.strip()]


class Allocation(models.Model):
    """A committed allocation of a book: who asked what and got what (``lines``), by which policy, by whom."""

    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="allocations", verbose_name=_("book"))
    policy = models.CharField(_("policy"), max_length=12, choices=AllocationPolicy.choices)
    target = money_field(_("amount to allocate"))
    allocated = money_field(_("allocated"))
    demand = money_field(_("firm demand"))
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    lines = models.JSONField(_("lines"), default=list)
    committed_at = models.DateTimeField(_("committed at"))
    committed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", verbose_name=_("committed by"))

    class Meta:
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        ordering = ["-committed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.book} {self.committed_at:%Y-%m-%d} ({self.policy})"


class AllocationNotice(Delivery):
    """One participant's allocation notice (e-mail with a PDF, in the contact's language)."""

    allocation = models.ForeignKey(Allocation, on_delete=models.CASCADE, related_name="notices",
                                   verbose_name=_("allocation"))
    participation = models.ForeignKey("financing.Participation", on_delete=models.CASCADE, related_name="+",
                                      verbose_name=_("participation"))
    contact = models.ForeignKey("parties.Contact", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+", verbose_name=_("contact"))
    email = models.EmailField(_("e-mail"))
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.EN)
    ask = money_field(_("ask"))
    amount = money_field(_("allocated amount"))

    class Meta:
        verbose_name = _("allocation notice")
        verbose_name_plural = _("allocation notices")
        ordering = ["-queued_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["allocation", "participation", "email"], name="allocation_notice_once"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="allocation_notice_due_idx")]
