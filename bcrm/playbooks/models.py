"""Tier policy, playbooks, working calendars, each client's current tier and the automation runs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bcrm.core.models import VersionedModel
from bcrm.core.texts import shipped
from bcrm.playbooks.choices import (
    STEP_ACTIONS,
    AddOn,
    CadenceUnit,
    Channel,
    DayKind,
    OwnerRule,
    RunMode,
    RunStatus,
    Tier,
    Trigger,
)
from bcrm.segmentation.choices import ALL_LABEL_CODES, Dimension

PLAYBOOK_CODES = [*Tier.choices, *AddOn.choices]


class TierPolicy(models.Model):
    """One version of the rules that turn the three labels into a service tier and add-ons (服务层级规则).

    Versions are immutable; saving makes a new one and the newest active version applies."""

    version = models.PositiveIntegerField(_("version"), unique=True)
    is_active = models.BooleanField(_("active"), default=True)
    rules = models.JSONField(_("rules"))
    note = models.CharField(_("what changed"), max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("tier policy")
        verbose_name_plural = _("tier policies")
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True),
                                               name="tier_policy_one_active")]

    def __str__(self) -> str:
        return f"tier policy v{self.version}"

    @property
    def display_note(self) -> str:
        return shipped(self.note)


class Playbook(VersionedModel):
    """What a tier or an add-on gets (服务策略): its steps and, for a tier, its service-request SLAs."""

    code = models.CharField(_("tier or add-on"), max_length=20, choices=PLAYBOOK_CODES, unique=True)
    description = models.TextField(_("description"), blank=True)
    response_sla_hours = models.DecimalField(
        _("first response within (business hours)"), max_digits=6, decimal_places=1, null=True, blank=True)
    resolution_sla_hours = models.DecimalField(
        _("resolution within (business hours)"), max_digits=6, decimal_places=1, null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("playbook")
        verbose_name_plural = _("playbooks")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(response_sla_hours__isnull=True) | Q(response_sla_hours__gt=0),
                                   name="playbook_response_sla_positive",
                                   violation_error_message=_("A response time must be positive.")),
            models.CheckConstraint(
                condition=Q(resolution_sla_hours__isnull=True) | Q(resolution_sla_hours__gt=0),
                name="playbook_resolution_sla_positive",
                violation_error_message=_("A resolution time must be positive.")),
        ]

    def __str__(self) -> str:
        return str(self.get_code_display())

    @property
    def is_tier(self) -> bool:
        return self.code in Tier.values

    @property
    def display_description(self) -> str:
        """The shipped description in the reader's language until someone rewrites it."""
        return shipped(self.description)


class PlaybookStep(VersionedModel):
    """One recurring action of a playbook: what, how often, by which channel, by whom, and its hours."""

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="steps",
                                 verbose_name=_("playbook"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    action = models.CharField(_("action"), max_length=20, choices=[(a.value, a.label) for a in STEP_ACTIONS])
    trigger = models.CharField(_("trigger"), max_length=20, choices=Trigger.choices, default=Trigger.CADENCE)
    cadence_count = models.PositiveSmallIntegerField(_("every"), default=1)
    cadence_unit = models.CharField(_("unit"), max_length=8, choices=CadenceUnit.choices, default=CadenceUnit.MONTH)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, default=Channel.ANY)
    owner_rule = models.CharField(_("owner"), max_length=24, choices=OwnerRule.choices,
                                  default=OwnerRule.RELATIONSHIP_MANAGER)
    hours = models.DecimalField(_("hours each time"), max_digits=5, decimal_places=2, default=Decimal("1"))
    lead_days = models.PositiveSmallIntegerField(
        _("create the task this many days ahead"), default=7)
    only_dimension = models.CharField(_("only when dimension"), max_length=16, choices=Dimension.choices,
                                      blank=True)
    only_label = models.CharField(_("has label"), max_length=16, choices=[(c, c) for c in ALL_LABEL_CODES],
                                  blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    # Phase-in (分批启动): the clients already due when a step starts (never served, or overdue by its cadence)
    # get their first task spread over this many days from ``phase_in_from``, each on a working day of its own
    # (a stable hash of client and step), instead of all on the first day. 0: all at once.
    phase_in_days = models.PositiveSmallIntegerField(
        _("phase in over (days)"), default=0,
        help_text=_("Spread the first tasks of clients already due over this many days from the start date "
                    "(0: all at once)."))
    phase_in_from = models.DateField(_("phase-in starts"), null=True, blank=True,
                                     help_text=_("Empty: today, when a phase-in is set."))

    class Meta:
        verbose_name = _("playbook step")
        verbose_name_plural = _("playbook steps")
        ordering = ["playbook", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(cadence_count__gte=1) & Q(cadence_count__lte=365),
                                   name="step_cadence_range",
                                   violation_error_message=_("The cadence must be between 1 and 365.")),
            models.CheckConstraint(condition=Q(hours__gte=0) & Q(hours__lte=200), name="step_hours_range",
                                   violation_error_message=_("Hours each time must be between 0 and 200.")),
            models.CheckConstraint(condition=Q(lead_days__lte=90), name="step_lead_days_range",
                                   violation_error_message=_("Tasks can be created at most 90 days ahead.")),
            models.CheckConstraint(condition=Q(phase_in_days__lte=365), name="step_phase_in_range",
                                   violation_error_message=_("A phase-in lasts at most 365 days.")),
            models.CheckConstraint(
                condition=(Q(only_dimension="") & Q(only_label="")) | (~Q(only_dimension="") & ~Q(only_label="")),
                name="step_condition_complete",
                violation_error_message=_("A condition needs both a dimension and a label.")),
        ]

    def __str__(self) -> str:
        return f"{self.playbook}: {self.get_action_display()}"

    @property
    def phase_in_until(self) -> dt.date | None:
        """The last day of the phase-in window, if the step has one."""
        if not self.phase_in_days or self.phase_in_from is None:
            return None
        return self.phase_in_from + dt.timedelta(days=self.phase_in_days - 1)

    @property
    def cadence_days(self) -> float:
        """The average length of one cycle in days (months count as 365.25 / 12)."""
        per = {CadenceUnit.DAY: 1.0, CadenceUnit.WEEK: 7.0, CadenceUnit.MONTH: 365.25 / 12}
        return self.cadence_count * per[CadenceUnit(self.cadence_unit)]


class WorkCalendar(models.Model):
    """Working days and hours (工作日历): weekends, public holidays and make-up working days are data."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    timezone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    day_start = models.TimeField(_("working day starts"), default=dt.time(9, 0))
    day_end = models.TimeField(_("working day ends"), default=dt.time(18, 0))
    # ISO weekdays that are not worked (6 = Saturday, 7 = Sunday), as "6,7".
    weekend = models.CharField(_("weekend days"), max_length=20, default="6,7")
    country = models.CharField(_("holidays of"), max_length=2, blank=True,
                               help_text=_("ISO country code whose public holidays were loaded, if any."))
    is_default = models.BooleanField(_("default calendar"), default=False)

    class Meta:
        verbose_name = _("working calendar")
        verbose_name_plural = _("working calendars")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True),
                                    name="calendar_one_default"),
            models.CheckConstraint(condition=Q(day_end__gt=models.F("day_start")), name="calendar_day_order",
                                   violation_error_message=_("The working day must end after it starts.")),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return shipped(self.name)


class CalendarDay(models.Model):
    """An exception to the weekly pattern: a public holiday, or a weekend day that is worked (调休)."""

    calendar = models.ForeignKey(WorkCalendar, on_delete=models.CASCADE, related_name="days")
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=8, choices=DayKind.choices)
    name = models.CharField(_("name"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["calendar", "date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="calendar_day_unique")]

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()} {self.display_name}"

    @property
    def display_name(self) -> str:
        """In the reader's language: the make-up working day, and a public holiday as the `holidays` package
        names it (its calendar's country); a name a person typed as typed."""
        if self.kind == DayKind.HOLIDAY:
            from bcrm.playbooks.calendars import holiday_name

            return holiday_name(self, self.calendar.country)
        return shipped(self.name)


class TeamCalendar(models.Model):
    """The calendar a team's SLAs and due dates are measured on (the default calendar otherwise)."""

    team = models.OneToOneField("accounts.Team", primary_key=True, on_delete=models.CASCADE,
                                related_name="work_calendar")
    calendar = models.ForeignKey(WorkCalendar, on_delete=models.CASCADE, related_name="teams")

    class Meta:
        verbose_name = _("team calendar")
        verbose_name_plural = _("team calendars")

    def __str__(self) -> str:
        return f"{self.team}: {self.calendar}"


class ClientTier(models.Model):
    """Each client's current service tier and add-ons, derived from its labels by the active policy."""

    organization = models.OneToOneField("parties.Organization", primary_key=True, on_delete=models.CASCADE,
                                        related_name="service_tier")
    tier = models.CharField(_("tier"), max_length=12, choices=Tier.choices)
    # Add-on codes, sorted and comma-separated ("enhanced_dd,kyc_refresh"); empty for none.
    addons = models.CharField(_("add-ons"), max_length=120, blank=True, default="")
    policy_version = models.PositiveIntegerField(_("policy version"))
    since = models.DateTimeField(_("tier since"))

    class Meta:
        verbose_name = _("client tier")
        verbose_name_plural = _("client tiers")

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.tier} {self.addons}"

    @property
    def addon_list(self) -> list[str]:
        return [a for a in self.addons.split(",") if a]

    def get_addon_displays(self) -> list[str]:
        names = dict(AddOn.choices)
        return [str(names.get(a, a)) for a in self.addon_list]


class AutomationRun(models.Model):
    """One pass of the automation engine: what it found due, created, escalated and queued, and how long."""

    as_of = models.DateTimeField(_("as of"))
    dry_run = models.BooleanField(_("dry run"), default=False)
    status = models.CharField(_("status"), max_length=8, choices=RunStatus.choices, default=RunStatus.RUNNING)
    trigger = models.CharField(_("started by"), max_length=16, default="manual")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    policy_version = models.PositiveIntegerField(_("policy version"), null=True, blank=True)
    counts = models.JSONField(_("counts"), default=dict)
    overflow = models.JSONField(_("capacity overflow by team"), default=list)
    timings = models.JSONField(default=dict)
    errors = models.JSONField(_("errors"), default=list)
    # Crash safety (bcrm.core.heartbeat): the last beat recorded in the database, and why the run stopped when
    # the system says so (a text code with parameters, bcrm.core.texts).
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    reason = models.JSONField(_("reason"), default=dict, blank=True)
    # Which clients the run looked at: "full" (the whole book) or "incremental" (those due by date or changed
    # since the previous run), how many, and the configuration it ran with (a different one forces a full run).
    mode = models.CharField(_("mode"), max_length=12, choices=RunMode.choices, default=RunMode.FULL)
    examined = models.PositiveIntegerField(_("clients examined"), default=0)
    config_digest = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("automation run")
        verbose_name_plural = _("automation runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"automation {self.as_of:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def shown_reason(self) -> str:
        from bcrm.core.texts import render

        return render(self.reason) if self.reason else ""


class ClientDue(models.Model):
    """What the automation knew of a client when it last examined it: the first day one of its playbook steps
    becomes due by date alone (None: none will until something changes), and the inputs that decide which
    steps apply (labels, team, relationship manager). The daily run examines only the clients due by today,
    those whose inputs differ from these, and those with writes since the previous run."""

    organization = models.OneToOneField("parties.Organization", primary_key=True, on_delete=models.CASCADE,
                                        related_name="automation_due")
    next_due_on = models.DateField(null=True, blank=True)
    value = models.CharField(max_length=16, blank=True, default="")
    risk = models.CharField(max_length=16, blank=True, default="")
    relationship = models.CharField(max_length=16, blank=True, default="")
    team_id = models.BigIntegerField(null=True, blank=True)
    relationship_manager_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("client due date")
        verbose_name_plural = _("client due dates")
        indexes = [models.Index(fields=["next_due_on"], name="client_due_next_idx")]

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.next_due_on}"


class AutomationSchedule(models.Model):
    """The row two workers lock to agree on which business day's automation has been started."""

    key = models.CharField(max_length=16, primary_key=True, default="daily")
    last_day = models.DateField(null=True, blank=True)
    hour = models.PositiveSmallIntegerField(_("run at hour (local)"), default=7)
    enabled = models.BooleanField(_("enabled"), default=True)
    # Set when a classification moved more labels than are re-tiered at once: the next run brings the tiers
    # up to date and clears it; until then the client list says when.
    tiers_stale_since = models.DateTimeField(_("tiers wait for the next run since"), null=True, blank=True)

    class Meta:
        verbose_name = _("automation schedule")
        verbose_name_plural = _("automation schedule")

    def __str__(self) -> str:
        return f"{self.key}: {self.last_day}"
