"""Milestones, team updates and the e-mail deliveries of project progress reports (项目进展报告)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from bcrm.core.delivery import Delivery, DeliveryStatus  # noqa: F401 - DeliveryStatus is re-exported
from bcrm.core.models import VersionedModel
from bcrm.parties.choices import Language
from bcrm.progress.periods import validate_period


class Milestone(VersionedModel):
    project = models.ForeignKey("financing.Project", on_delete=models.CASCADE, related_name="milestones",
                                verbose_name=_("project"))
    name = models.CharField(_("name"), max_length=200)
    local_name = models.CharField(_("local name"), max_length=200, blank=True)
    due_on = models.DateField(_("due on"))
    completed_on = models.DateField(_("completed on"), null=True, blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("milestone")
        verbose_name_plural = _("milestones")
        ordering = ["project", "position", "due_on", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="milestone_name_not_empty",
                                   violation_error_message=_("The name is required.")),
        ]
        indexes = [models.Index(fields=["project", "due_on"], name="milestone_project_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.local_name})" if self.local_name else self.name


class ProjectUpdate(VersionedModel):
    """A note the team writes on how the project is going; the report quotes those of its period."""

    project = models.ForeignKey("financing.Project", on_delete=models.CASCADE, related_name="updates",
                                verbose_name=_("project"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="project_updates", verbose_name=_("author"))
    written_at = models.DateTimeField(_("written at"))
    body = models.TextField(_("text"))
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.EN)

    class Meta:
        verbose_name = _("project update")
        verbose_name_plural = _("project updates")
        ordering = ["-written_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(body=""), name="project_update_body_not_empty",
                                   violation_error_message=_("The text is required.")),
        ]
        indexes = [models.Index(fields=["project", "written_at"], name="project_update_idx")]

    def __str__(self) -> str:
        return f"{self.written_at:%Y-%m-%d} {self.body[:40]}"


class ReportDelivery(Delivery):
    """One progress report e-mailed (or to be e-mailed) to one contact for one project and month.

    ``key`` is unique, so queueing the same report twice — twice in a row or on two workers — adds
    nothing; ``status`` moves pending → sending (claimed by one worker) → sent, or back to pending
    with a later ``next_attempt_at`` after an SMTP failure, or failed after the last attempt: the loop of
    :mod:`bcrm.core.delivery`, which owns the common columns.
    """

    project = models.ForeignKey("financing.Project", on_delete=models.CASCADE, related_name="report_deliveries",
                                verbose_name=_("project"))
    period = models.CharField(_("period"), max_length=7, validators=[validate_period])
    organization = models.ForeignKey("parties.Organization", on_delete=models.CASCADE,
                                     related_name="report_deliveries", verbose_name=_("organisation"))
    contact = models.ForeignKey("parties.Contact", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="report_deliveries", verbose_name=_("contact"))
    email = models.EmailField(_("e-mail"))
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.EN)
    key = models.CharField(max_length=80, unique=True, editable=False)
    run_id = models.PositiveBigIntegerField(_("automation run"), null=True, blank=True)
    interaction = models.ForeignKey("engagement.Interaction", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", verbose_name=_("interaction"))

    class Meta:
        verbose_name = _("report delivery")
        verbose_name_plural = _("report deliveries")
        ordering = ["-queued_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status="sent", sent_at__isnull=False) | ~Q(status="sent"),
                                   name="delivery_sent_has_time"),
            models.CheckConstraint(condition=Q(sent_at__isnull=True) | Q(sent_at__gte=F("queued_at")),
                                   name="delivery_sent_after_queued"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx"),
            models.Index(fields=["project", "period"], name="delivery_project_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.email} ({self.status})"

    @staticmethod
    def make_key(project_id: int, period: str, contact_id: int) -> str:
        return f"{project_id}:{period}:{contact_id}"
