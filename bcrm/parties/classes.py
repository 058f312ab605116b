"""The classes a client is put in: the three binary dimensions with their labels (DESIGN.md section 2) and
the service tier derived from them.

Segmentation computes the labels and playbooks derives the tier, but the words belong to the client: the
client list filters and sorts by them, exports name them, every app above parties shows them. So they live
here, on the parties layer; ``bcrm.segmentation.choices`` and ``bcrm.playbooks.choices`` re-export them.
"""

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


class Tier(models.TextChoices):
    DEDICATED = "dedicated", _("Dedicated service")
    STANDARD = "standard", _("Standard service")
