"""Enumerations of the monitoring app: breakdowns of the KPI snapshot, run states, effect outcomes."""

from __future__ import annotations

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
