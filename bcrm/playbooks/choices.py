"""Service tiers, add-ons and the vocabulary of playbook steps (DESIGN.md sections 1 and 3)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from bcrm.parties.classes import Tier  # noqa: F401  (the tier is the client's word: defined in parties)

# The name the system gives a weekend day that is worked (调休): a code, shown in the reader's language.
MAKEUP_WORKDAY = gettext_noop("Make-up working day")


class AddOn(models.TextChoices):
    ENHANCED_DD = "enhanced_dd", _("Enhanced due diligence")
    KYC_REFRESH = "kyc_refresh", _("KYC refresh")
    DATA_COLLECTION = "data_collection", _("Data collection")


class Action(models.TextChoices):
    CONTACT = "contact", _("Personal contact")
    SENIOR_MEETING = "senior_meeting", _("Senior-level meeting")
    PLAN_REVIEW = "plan_review", _("Financing-plan review")
    PROGRESS_REPORT = "progress_report", _("Progress report")
    KYC_REFRESH = "kyc_refresh", _("KYC refresh")
    DUE_DILIGENCE = "due_diligence", _("Due-diligence review")
    SURVEY_INVITATION = "survey_invitation", _("Survey invitation")
    DATA_COLLECTION = "data_collection", _("Data collection")
    SLA_ESCALATION = "sla_escalation", _("Service request escalation")
    CAPACITY_OVERFLOW = "capacity_overflow", _("Capacity overflow")


# The interactions that fulfil each action: the last one of these kinds starts the next cycle, and
# completing the action's task logs the first kind.
ACTION_KINDS: dict[str, tuple[str, ...]] = {
    Action.CONTACT: ("meeting", "call", "email", "visit", "senior_meeting", "event"),
    Action.SENIOR_MEETING: ("senior_meeting",),
    Action.PLAN_REVIEW: ("plan_review",),
    Action.PROGRESS_REPORT: ("report_sent",),
    Action.KYC_REFRESH: ("kyc_review",),
    Action.DUE_DILIGENCE: ("due_diligence",),
    Action.SURVEY_INVITATION: ("survey_sent",),
    Action.DATA_COLLECTION: ("data_request",),
}
# The steps the automation itself carries out (no task for a person).
AUTOMATABLE = {Action.PROGRESS_REPORT}
# Actions that belong to a playbook step (the other two are made by the engine itself).
STEP_ACTIONS = [a for a in Action if a not in (Action.SLA_ESCALATION, Action.CAPACITY_OVERFLOW)]


class Trigger(models.TextChoices):
    CADENCE = "cadence", _("On a cadence, from the last matching interaction")
    NEW_PARTICIPATION = "new_participation", _("On each new participation")


class CadenceUnit(models.TextChoices):
    DAY = "day", _("days")
    WEEK = "week", _("weeks")
    MONTH = "month", _("months")


class Channel(models.TextChoices):
    MEETING = "meeting", _("Meeting in person")
    CALL = "call", _("Phone or video call")
    EMAIL = "email", _("E-mail")
    AUTOMATED_EMAIL = "automated_email", _("Automated e-mail")
    ANY = "any", _("Any channel")


class OwnerRule(models.TextChoices):
    RELATIONSHIP_MANAGER = "relationship_manager", _("The client's relationship manager")
    TEAM_POOL = "team_pool", _("The team pool, balanced by load")
    AUTOMATION = "automation", _("Automation")


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class RunMode(models.TextChoices):
    FULL = "full", _("Full (every client)")
    INCREMENTAL = "incremental", _("Incremental (clients due or changed)")


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", _("Public holiday")
    WORKDAY = "workday", _("Working day (make-up)")
