from django.db import models
from django.utils.translation import gettext_lazy as _


class InteractionKind(models.TextChoices):
    MEETING = "meeting", _("Meeting")
    CALL = "call", _("Call")
    EMAIL = "email", _("E-mail")
    VISIT = "visit", _("Site visit")
    EVENT = "event", _("Event")
    REPORT_SENT = "report_sent", _("Report sent")
    SENIOR_MEETING = "senior_meeting", _("Senior-level meeting")
    PLAN_REVIEW = "plan_review", _("Financing-plan review")
    KYC_REVIEW = "kyc_review", _("KYC review")
    DUE_DILIGENCE = "due_diligence", _("Due-diligence review")
    SURVEY_SENT = "survey_sent", _("Survey sent")
    DATA_REQUEST = "data_request", _("Data request")


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class TaskStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class TaskSource(models.TextChoices):
    MANUAL = "manual", _("Manual")
    PLAYBOOK = "playbook", _("Playbook step")
