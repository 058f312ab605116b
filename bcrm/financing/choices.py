from django.db import models
from django.utils.translation import gettext_lazy as _


class ProjectStage(models.TextChoices):
    ORIGINATION = "origination", _("Origination")
    DEVELOPMENT = "development", _("Development")
    STRUCTURING = "structuring", _("Structuring")
    MARKETING = "marketing", _("Financing / marketing")
    FINANCIAL_CLOSE = "financial_close", _("Financial close")
    CONSTRUCTION = "construction", _("Construction")
    OPERATION = "operation", _("Operation")


class ParticipationRole(models.TextChoices):
    EQUITY = "equity", _("Equity")
    SENIOR_DEBT = "senior_debt", _("Senior debt")
    MEZZANINE = "mezzanine", _("Mezzanine")
    GUARANTEE = "guarantee", _("Guarantee")
    OFFTAKE = "offtake", _("Offtake")
    ADVISORY = "advisory", _("Advisory")


class ParticipationStatus(models.TextChoices):
    """The commitment ladder, in order, then the two ways out."""

    PROSPECT = "prospect", _("Prospect")
    CONTACTED = "contacted", _("Contacted")
    SOFT_INTEREST = "soft_interest", _("Soft interest")
    CREDIT_APPROVED = "credit_approved", _("Credit approved")
    TERM_SHEET = "term_sheet", _("Term sheet")
    FIRM_COMMITMENT = "firm_commitment", _("Firm commitment")
    ALLOCATED = "allocated", _("Allocated")
    FUNDED = "funded", _("Funded")
    DECLINED = "declined", _("Declined")
    WITHDRAWN = "withdrawn", _("Withdrawn")


COMMITMENT_LADDER = [
    ParticipationStatus.PROSPECT,
    ParticipationStatus.CONTACTED,
    ParticipationStatus.SOFT_INTEREST,
    ParticipationStatus.CREDIT_APPROVED,
    ParticipationStatus.TERM_SHEET,
    ParticipationStatus.FIRM_COMMITMENT,
    ParticipationStatus.ALLOCATED,
    ParticipationStatus.FUNDED,
]
CLOSED_STATUSES = {ParticipationStatus.DECLINED, ParticipationStatus.WITHDRAWN}
# From firm commitment up, an amount counts as committed.
COMMITTED_STATUSES = [ParticipationStatus.FIRM_COMMITMENT, ParticipationStatus.ALLOCATED, ParticipationStatus.FUNDED]

# ISO 4217 codes the portfolio deals in; extend here, not in forms.
CURRENCIES = [
    "USD", "EUR", "CNY", "HKD", "GBP", "JPY", "SGD", "AUD", "CAD", "CHF", "KRW", "INR", "IDR", "MYR",
    "THB", "VND", "PHP", "PKR", "BDT", "AED", "SAR", "QAR", "KZT", "TRY", "EGP", "ZAR", "NGN", "KES",
    "BRL", "MXN", "CLP", "PEN", "COP",
]
CURRENCY_CHOICES = [(c, c) for c in CURRENCIES]
