"""The vocabulary of classification: the three binary dimensions and their labels (DESIGN.md section 2, defined
in :mod:`bcrm.parties.classes`), feature transforms, schedules and runs."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

# The dimensions and their labels are the client's words: defined in parties (the client list filters by
# them), re-exported here where the engine that computes them is.
from bcrm.parties.classes import (  # noqa: F401
    ALL_LABEL_CODES,
    INSUFFICIENT,
    INSUFFICIENT_NAME,
    LABEL_NAMES,
    LABELS,
    Dimension,
    label_choices,
    label_display,
    labels_for,
    lower_label,
    upper_label,
)


class Transform(models.TextChoices):
    RAW = "raw", _("Raw value")
    LOG1P = "log1p", _("Logarithm, log(1 + x)")
    PCT_RANK = "pct_rank", _("Percentile rank")
    MINMAX = "minmax", _("Min-max scaled")


class Direction(models.TextChoices):
    HIGHER = "higher", _("Higher is better")
    LOWER = "lower", _("Lower is better")


class Schedule(models.TextChoices):
    NONE = "", _("Not scheduled")
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


class RunTrigger(models.TextChoices):
    MANUAL = "manual", _("By hand")
    SCHEDULE = "schedule", _("Schedule")


class RunStatus(models.TextChoices):
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class RunMode(models.TextChoices):
    FULL = "full", _("Full")
    INCREMENTAL = "incremental", _("Incremental")
