from django.db import models
from django.utils.translation import gettext_lazy as _


class OrganizationKind(models.TextChoices):
    EQUITY_INVESTOR = "equity_investor", _("Equity investor")
    COMMERCIAL_BANK = "commercial_bank", _("Commercial bank")
    DFI = "dfi", _("Development finance institution")
    ECA = "eca", _("Export credit agency")
    FUND = "fund", _("Fund")
    INSTITUTIONAL_INVESTOR = "institutional_investor", _("Institutional investor")
    SPONSOR = "sponsor", _("Sponsor")
    STRATEGIC_PARTNER = "strategic_partner", _("Strategic partner")
    OFFTAKER = "offtaker", _("Offtaker")
    CONTRACTOR = "contractor", _("EPC contractor")
    GOVERNMENT = "government", _("Government body")
    ADVISOR = "advisor", _("Advisor")
    OTHER = "other", _("Other")


class Sector(models.TextChoices):
    ENERGY = "energy", _("Energy")
    TRANSPORT = "transport", _("Transport")
    WATER = "water", _("Water")
    DIGITAL = "digital", _("Digital infrastructure")
    SOCIAL = "social", _("Social infrastructure")
    FINANCE = "finance", _("Financial services")
    INDUSTRY = "industry", _("Industry")
    OTHER = "other", _("Other")


class RatingAgency(models.TextChoices):
    SP = "sp", _("S&P")
    MOODYS = "moodys", _("Moody's")
    FITCH = "fitch", _("Fitch")
    DOMESTIC = "domestic", _("Domestic agency")
    INTERNAL = "internal", _("Internal rating")


class KycStatus(models.TextChoices):
    NOT_STARTED = "not_started", _("Not started")
    PENDING = "pending", _("Pending")
    VERIFIED = "verified", _("Verified")
    EXPIRED = "expired", _("Expired")
    REJECTED = "rejected", _("Rejected")


class Seniority(models.TextChoices):
    BOARD = "board", _("Board / chair")
    C_LEVEL = "c_level", _("C-level")
    SENIOR = "senior", _("Senior management")
    MIDDLE = "middle", _("Middle management")
    STAFF = "staff", _("Staff")


class Language(models.TextChoices):
    ZH_HANS = "zh-hans", _("Simplified Chinese")
    EN = "en", _("English")
