"""KPI snapshots (监控看板): figures per period, breakdown, segment and team, computed in bulk and stored,
so a page or an API call reads a few rows instead of aggregating the whole history."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from bcrm.core.delivery import Delivery, DeliveryStatus
from bcrm.monitoring.choices import Breakdown, SnapshotStatus, SnapshotTrigger


class KpiSnapshot(models.Model):
    """One row of the snapshot: the figures of one segment of one breakdown, for one team or all teams.

    ``figures`` holds counts, Decimal strings for money (reporting currency) and floats for shares and
    intervals; ``None`` where a figure cannot be computed (no data), never a false 0."""

    period = models.CharField(_("period"), max_length=7)
    computed_at = models.DateTimeField(_("computed"))
    breakdown = models.CharField(_("breakdown"), max_length=16, choices=Breakdown.choices)
    segment = models.CharField(_("segment"), max_length=16)
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.CASCADE,
                             related_name="kpi_snapshots", verbose_name=_("team"))
    figures = models.JSONField(_("figures"), default=dict)

    class Meta:
        verbose_name = _("KPI snapshot")
        verbose_name_plural = _("KPI snapshots")
        ordering = ["period", "breakdown", "segment", "team_id"]
        constraints = [
            models.UniqueConstraint(fields=["period", "breakdown", "segment", "team"], name="kpi_snapshot_unique",
                                    nulls_distinct=False),
        ]
        indexes = [models.Index(fields=["period", "breakdown", "team"], name="kpi_snapshot_read_idx")]

    def __str__(self) -> str:
        return f"{self.period} {self.breakdown}/{self.segment} team {self.team_id or 'all'}"


class KpiCurve(models.Model):
    """A chart's points stored once per period, e.g. the Lorenz curve of commitments (thinned)."""

    period = models.CharField(_("period"), max_length=7)
    name = models.CharField(_("curve"), max_length=32)
    computed_at = models.DateTimeField(_("computed"))
    points = models.JSONField(_("points"), default=dict)

    class Meta:
        verbose_name = _("KPI curve")
        verbose_name_plural = _("KPI curves")
        constraints = [models.UniqueConstraint(fields=["period", "name"], name="kpi_curve_unique")]

    def __str__(self) -> str:
        return f"{self.period} {self.name}"


class SnapshotRun(models.Model):
    """One computation of a period's snapshot: when, how long, how many rows, and whether it failed."""

    period = models.CharField(_("period"), max_length=7)
    started_at = models.DateTimeField(_("started"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    status = models.CharField(_("status"), max_length=8, choices=SnapshotStatus.choices)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    trigger = models.CharField(_("trigger"), max_length=8, choices=SnapshotTrigger.choices,
                               default=SnapshotTrigger.MANUAL)
    timings = models.JSONField(_("timings"), default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = _("snapshot run")
        verbose_name_plural = _("snapshot runs")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["period", "-started_at"], name="snapshot_run_period_idx")]

    def __str__(self) -> str:
        return f"KPI snapshot {self.period} ({self.status})"


class SnapshotSchedule(models.Model):
    """The row two workers lock to agree on which month's snapshot has been started."""

    key = models.CharField(max_length=16, primary_key=True, default="monthly")
    last_period = models.CharField(max_length=7, blank=True, default="")
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        verbose_name = _("snapshot schedule")
        verbose_name_plural = _("snapshot schedule")

    def __str__(self) -> str:
        return f"{self.key}: {self.last_period or '-'}"


class ManagementReportDelivery(Delivery):
    """One e-mail of a month's management report to one address: the log, and what makes the monthly send
    happen once. ``(period, email)`` is unique, and a delivery is claimed before it is sent (the loop of
    :mod:`bcrm.core.delivery`, which owns the status columns), so two workers never send the same month's report
    twice; "send again" is an explicit act."""

    Status = DeliveryStatus

    period = models.CharField(_("period"), max_length=7)
    email = models.EmailField(_("e-mail"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+", verbose_name=_("recipient"))
    languages = models.CharField(_("languages"), max_length=32, default="en")
    trigger = models.CharField(_("trigger"), max_length=8, choices=SnapshotTrigger.choices,
                               default=SnapshotTrigger.MANUAL)

    class Meta:
        verbose_name = _("management report delivery")
        verbose_name_plural = _("management report deliveries")
        ordering = ["-queued_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["period", "email"], name="mgmt_delivery_unique")]

    def __str__(self) -> str:
        return f"management report {self.period} → {self.email} ({self.status})"
