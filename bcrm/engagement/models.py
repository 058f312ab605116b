from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from bcrm.core.models import TimestampedModel, VersionedModel
from bcrm.core.texts import render
from bcrm.engagement.choices import InteractionKind, Priority, TaskSource, TaskStatus


class Interaction(VersionedModel):
    """A meeting, call, e-mail, visit or report sent (互动记录); minutes spent are the cost to serve."""

    organization = models.ForeignKey("parties.Organization", on_delete=models.CASCADE, related_name="interactions",
                                     verbose_name=_("organisation"))
    project = models.ForeignKey("financing.Project", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="interactions", verbose_name=_("project"))
    kind = models.CharField(_("kind"), max_length=16, choices=InteractionKind.choices)
    occurred_at = models.DateTimeField(_("when"))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="interactions", verbose_name=_("who"))
    contacts = models.ManyToManyField("parties.Contact", blank=True, related_name="interactions",
                                      verbose_name=_("contacts present"))
    minutes_spent = models.PositiveIntegerField(_("minutes spent"), default=30)
    summary = models.TextField(_("summary"))
    # A summary the system wrote (a report e-mailed, a plan reviewed) is also kept as its code and parameters
    # (bcrm.core.texts), so it reads in each reader's language; ``summary`` holds the English rendering (search,
    # exports). Empty for a summary a person typed, and cleared when a person edits the summary.
    summary_code = models.CharField(max_length=200, blank=True, default="")
    summary_params = models.JSONField(default=dict, blank=True)
    outcome = models.TextField(_("outcome"), blank=True)

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(minutes_spent__lte=24 * 60 * 7), name="interaction_minutes_range",
                                   violation_error_message=_("Minutes spent cannot exceed one week.")),
            models.CheckConstraint(condition=~Q(summary=""), name="interaction_summary_not_empty",
                                   violation_error_message=_("A summary is required.")),
        ]
        indexes = [
            models.Index(fields=["organization", "-occurred_at"], name="interaction_org_idx"),
            # the daily classification finds the clients whose interactions crossed a date line (a day's worth)
            # by this index, not by reading the table (issue 19)
            models.Index(fields=["occurred_at", "organization"], name="interaction_date_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.occurred_at:%Y-%m-%d} – {self.organization}"

    @property
    def display_summary(self) -> str:
        """The summary in the active language: a generated one rendered from its code, a typed one as typed."""
        if self.summary_code:
            return render(self.summary_code, self.summary_params)
        return self.summary


class ServiceRequest(VersionedModel):
    """Something a client asked for (客户诉求), measured against its tier's response SLA."""

    organization = models.ForeignKey("parties.Organization", on_delete=models.CASCADE,
                                     related_name="service_requests", verbose_name=_("organisation"))
    contact = models.ForeignKey("parties.Contact", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="service_requests", verbose_name=_("contact"))
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    priority = models.CharField(_("priority"), max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    opened_at = models.DateTimeField(_("opened"))
    first_response_at = models.DateTimeField(_("first response"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="service_requests", verbose_name=_("owner"))
    # The tier's SLA on the team's working calendar, set when the request is opened or by the automation.
    response_due_at = models.DateTimeField(_("first response due"), null=True, blank=True)
    resolution_due_at = models.DateTimeField(_("resolution due"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated"), null=True, blank=True)

    class Meta:
        verbose_name = _("service request")
        verbose_name_plural = _("service requests")
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(first_response_at__isnull=True) | Q(first_response_at__gte=F("opened_at")),
                name="request_response_after_open",
                violation_error_message=_("The first response cannot come before the request was opened."),
            ),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(resolved_at__gte=F("opened_at")),
                name="request_resolved_after_open",
                violation_error_message=_("A request cannot be resolved before it was opened."),
            ),
            models.CheckConstraint(condition=~Q(subject=""), name="request_subject_not_empty"),
        ]
        indexes = [
            models.Index(fields=["organization", "resolved_at", "opened_at"], name="request_org_open_idx"),
            models.Index(fields=["resolved_at", "opened_at"], name="request_open_idx"),
            models.Index(fields=["resolved_at", "response_due_at"], name="request_due_idx"),
        ]

    def __str__(self) -> str:
        return self.subject

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class Task(VersionedModel):
    """A unit of work for a person (待办), by hand or from a playbook step."""

    title = models.CharField(_("title"), max_length=200)
    # A title the system wrote (a playbook step, an escalation) is also kept as its code, the English message
    # id, and parameters (bcrm.core.texts), so it reads in each reader's language; ``title`` holds the English
    # rendering (search, exports). Empty for a title a person typed.
    title_code = models.CharField(max_length=200, blank=True, default="")
    title_params = models.JSONField(default=dict, blank=True)
    description = models.TextField(_("description"), blank=True)
    organization = models.ForeignKey("parties.Organization", null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="tasks", verbose_name=_("organisation"))
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="tasks", verbose_name=_("assignee"))
    due_at = models.DateTimeField(_("due"))
    status = models.CharField(_("status"), max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=10, choices=TaskSource.choices, default=TaskSource.MANUAL)
    # A generator (a playbook step) names each task it makes, so running it twice makes nothing twice.
    source_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    # What a playbook task stands for, who it was meant for and what it costs (cost to serve).
    action = models.CharField(_("action"), max_length=20, blank=True)
    step = models.ForeignKey("playbooks.PlaybookStep", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="tasks", verbose_name=_("playbook step"))
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="tasks", verbose_name=_("team"))
    planned_hours = models.DecimalField(_("planned hours"), max_digits=5, decimal_places=2, null=True, blank=True)
    # The last matching interaction when the task was made: a newer one fulfils the task.
    basis_at = models.DateTimeField(null=True, blank=True)
    service_request = models.ForeignKey(ServiceRequest, null=True, blank=True, on_delete=models.CASCADE,
                                        related_name="tasks", verbose_name=_("service request"))
    participation = models.ForeignKey("financing.Participation", null=True, blank=True, on_delete=models.CASCADE,
                                      related_name="tasks", verbose_name=_("participation"))
    interaction = models.OneToOneField(Interaction, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="task", verbose_name=_("logged as"))

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["due_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=TaskStatus.DONE, completed_at__isnull=False) | ~Q(status=TaskStatus.DONE),
                name="task_done_has_date",
            ),
            models.CheckConstraint(
                condition=Q(source=TaskSource.MANUAL) | Q(source_key__isnull=False),
                name="task_generated_has_key",
            ),
            models.CheckConstraint(condition=~Q(title=""), name="task_title_not_empty"),
        ]
        indexes = [
            models.Index(fields=["assignee", "status", "due_at"], name="task_assignee_idx"),
            # due_at too: the 360° page's open tasks and its next playbook step read one client's open tasks in due
            # order; without it both databases picked (status, source, step) and read every open task (issue 19).
            models.Index(fields=["organization", "status", "due_at"], name="task_org_idx"),
            models.Index(fields=["team", "status", "due_at"], name="task_team_idx"),
            models.Index(fields=["status", "source", "step"], name="task_open_step_idx"),
        ]

    def __str__(self) -> str:
        return self.display_title

    @property
    def display_title(self) -> str:
        """The title in the active language: a generated title rendered from its code, a typed one as typed."""
        if self.title_code:
            return render(self.title_code, self.title_params)
        return self.title

    def titles_shown(self) -> set[str]:
        """The title as any reader sees it: every language's rendering, and the stored English."""
        from django.utils import translation

        shown = {self.title}
        if self.title_code:
            for language, _name in settings.LANGUAGES:
                with translation.override(language):
                    shown.add(self.display_title)
        return shown


class SurveyResponse(TimestampedModel):
    """NPS (0–10) and CSAT (1–5) from a client contact (满意度调查)."""

    contact = models.ForeignKey("parties.Contact", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="survey_responses", verbose_name=_("contact"))
    organization = models.ForeignKey("parties.Organization", on_delete=models.CASCADE,
                                     related_name="survey_responses", verbose_name=_("organisation"))
    nps = models.PositiveSmallIntegerField(_("NPS (0–10)"), null=True, blank=True)
    csat = models.PositiveSmallIntegerField(_("CSAT (1–5)"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    responded_at = models.DateTimeField(_("answered"))

    class Meta:
        verbose_name = _("survey response")
        verbose_name_plural = _("survey responses")
        ordering = ["-responded_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(nps__isnull=True) | Q(nps__lte=10), name="survey_nps_range",
                                   violation_error_message=_("NPS is a score from 0 to 10.")),
            models.CheckConstraint(condition=Q(csat__isnull=True) | (Q(csat__gte=1) & Q(csat__lte=5)),
                                   name="survey_csat_range",
                                   violation_error_message=_("CSAT is a score from 1 to 5.")),
            models.CheckConstraint(condition=Q(nps__isnull=False) | Q(csat__isnull=False),
                                   name="survey_has_score",
                                   violation_error_message=_("A survey response needs an NPS or a CSAT score.")),
        ]
        indexes = [
            models.Index(fields=["organization", "-responded_at"], name="survey_org_idx"),
            models.Index(fields=["responded_at", "organization"], name="survey_date_idx"),  # as interaction_date_idx
        ]

    def __str__(self) -> str:
        return f"NPS {self.nps} / CSAT {self.csat} – {self.organization}"
