"""Enumerations of the monitoring app: breakdowns of the KPI snapshot, run states, effect outcomes."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class Breakdown(models.TextChoices):
    """How a snapshot splits the clients: by one dimension's current label, or by service tier."""

    VALUE = "value", _("Value")
    RISK = "risk", _("Risk")
    RELATIONSHIP = "relationship", _("Relationship")
    TIER = "tier", _("Service tier")


LABEL_BREAKDOWNS = (Breakdown.VALUE, Breakdown.RISK, Breakdown.RELATIONSHIP)

#: The segment code of the row that adds up every client of the breakdown.
ALL = "all"
#: The segment of clients without a label (never classified) or without a tier.
UNCLASSIFIED = "unclassified"


class SnapshotStatus(models.TextChoices):
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class SnapshotTrigger(models.TextChoices):
    MANUAL = "manual", _("Manual")
    SCHEDULE = "schedule", _("Schedule")


class Outcome(models.TextChoices):
    """What the effect estimate measures after the run."""

    NPS = "nps", _("NPS")
    CSAT = "csat", _("CSAT")
    COMMITMENTS_AFTER = "commitments_after", _("Commitments after the run")


#: Figures the trend chart can follow: key → (label, path into the stored figures, is a share).
TREND_FIGURES: dict[str, tuple[Any, tuple[str, ...], bool]] = {
    "committed_share": (_("Share of commitments"), ("committed_share",), True),
    "fee_income_share": (_("Share of fee income"), ("fee_income_share",), True),
    "cadence": (_("Cadence adherence"), ("cadence", "share"), True),
    "sla_response": (_("First response within SLA"), ("sla_response", "share"), True),
    "sla_resolution": (_("Resolution within SLA"), ("sla_resolution", "share"), True),
    "hours_per_million": (_("Hours per million committed"), ("hours_per_million",), False),
    "nps": (_("NPS"), ("nps", "nps"), False),
    "csat": (_("CSAT"), ("csat", "mean"), False),
    "clients": (_("Clients"), ("clients",), False),
}
