"""The three binary dimensions and their labels (DESIGN.md section 2)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Dimension(models.TextChoices):
    VALUE = "value", _("Value")
    RISK = "risk", _("Risk")
    RELATIONSHIP = "relationship", _("Relationship")


# Label codes per dimension, as DESIGN.md names them: (upper class, lower class). The upper class is
# where a higher score lands (high value, low risk, strategic partner).
LABELS: dict[str, tuple[str, str]] = {
    "value": ("high", "general"),
    "risk": ("low", "high"),
    "relationship": ("strategic", "ordinary"),
}
INSUFFICIENT = "insufficient"
LABEL_NAMES = {
    ("value", "high"): _("High value"),
    ("value", "general"): _("General"),
    ("risk", "low"): _("Low risk"),
    ("risk", "high"): _("High risk"),
    ("relationship", "strategic"): _("Strategic partner"),
    ("relationship", "ordinary"): _("Ordinary"),
}
INSUFFICIENT_NAME = _("Insufficient data")


def upper_label(dimension: str) -> str:
    return LABELS[dimension][0]


def lower_label(dimension: str) -> str:
    return LABELS[dimension][1]


def labels_for(dimension: str) -> list[str]:
    return [upper_label(dimension), lower_label(dimension), INSUFFICIENT]


def label_display(dimension: str, label: str | None) -> str:
    if not label:
        return ""
    if label == INSUFFICIENT:
        return str(INSUFFICIENT_NAME)
    return str(LABEL_NAMES.get((dimension, label), label))


def label_choices(dimension: str) -> list[tuple[str, str]]:
    return [(code, label_display(dimension, code)) for code in labels_for(dimension)]


ALL_LABEL_CODES = sorted({code for pair in LABELS.values() for code in pair} | {INSUFFICIENT})


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
