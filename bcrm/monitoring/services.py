"""Use cases of the monitoring app: compute and store a month's KPI snapshot; estimate the dedicated tier's
effect. Doors (API, CLI, worker) call these; permissions are checked here."""

from __future__ import annotations

import datetime as dt
import time
import traceback
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.permissions import has_any, require, sees_some_organizations, team_scope
from bcrm.audit.services import audit_record
from bcrm.core.errors import InvalidInput, PermissionDenied
from bcrm.monitoring import snapshot
from bcrm.monitoring.choices import SnapshotStatus, SnapshotTrigger
from bcrm.monitoring.models import KpiCurve, KpiSnapshot, SnapshotRun
from bcrm.progress.periods import parse_period

COMPUTE_ROLES = {Role.ADMIN, Role.LEAD, Role.ANALYST}
#: PostgreSQL memory per sort/hash of the snapshot's grouped queries, for this transaction only: the
#: default 4 MB spills the cell sorts to disk from tens of thousands of clients on (measured: −25 %).
SNAPSHOT_WORK_MEM = "64MB"
LORENZ = "lorenz_commitments"


def parse_kpi_period(text: Any) -> tuple[dt.date, dt.date]:
    """The first and last day of the month ``text`` names, or InvalidInput on the field "period"."""
    try:
        return parse_period(str(text or ""))
    except ValueError:
        raise InvalidInput(fields={"period": [_("A period is a month written YYYY-MM, e.g. 2026-04; %(value)r is "
                                                "not one.") % {"value": str(text or "")}]}) from None


# --- who reads which figures --------------------------------------------------------------------------------

def can_view_dashboard(user) -> bool:
    """The dashboard and its stored figures are for whoever the client list shows clients to: roles that see
    every client (all teams' rows and the all-teams rows) and relationship managers (their own teams' rows)."""
    return sees_some_organizations(user)


def require_dashboard(user) -> None:
    require(can_view_dashboard(user), _("The dashboard is for roles that read the portfolio's figures."))


def readable_team_ids(user) -> list[int] | None:
    """The teams whose rows ``user`` reads (``None``: every team and the all-teams rows), by the client list's
    visibility rule (:func:`bcrm.accounts.permissions.team_scope`)."""
    return team_scope(user)


def require_team_figures(user, team_id: int | None) -> None:
    """Refuse the rows of ``team_id`` (``None``: all teams) unless ``user`` may read them: the all-teams rows
    and other teams' rows add up clients a relationship manager may not see."""
    scope = team_scope(user)
    if scope is None:
        return
    if not can_view_dashboard(user):
        raise PermissionDenied()
    if team_id is None:
        raise PermissionDenied(_("A relationship manager reads the figures of their own teams: choose one."))
    if team_id not in scope:
        raise PermissionDenied(_("You may read the figures of your own teams only."))


def can_compute(user) -> bool:
    """Computing snapshots is for leads, administrators and analysts; ``None`` is the system."""
    return user is None or has_any(user, COMPUTE_ROLES)


def require_compute(actor) -> None:
    require(can_compute(actor),
            _("Only a team lead, an analyst or an administrator may compute KPI snapshots."))


def compute_snapshot(*, actor, period: str, now: dt.datetime | None = None,
                     trigger: str = SnapshotTrigger.MANUAL) -> SnapshotRun:
    """Compute every KPI of ``period`` ("YYYY-MM") in bulk and replace the period's stored rows in one
    transaction. A failure leaves the old rows as they were and is recorded as a failed run (then raised).

    Figures are defined in :mod:`bcrm.monitoring.snapshot`."""
    require_compute(actor)
    first, last = parse_kpi_period(period)
    period = f"{first:%Y-%m}"
    now = now or timezone.now()
    if first > timezone.localtime(now, timezone.get_default_timezone()).date():
        raise InvalidInput(fields={"period": [_("The period %(period)s has not started yet.") % {"period": period}]})
    started = time.perf_counter()
    created_by = actor if getattr(actor, "pk", None) else None
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL work_mem = '{SNAPSHOT_WORK_MEM}'")
            result = snapshot.compute(period, first, last, now)
            computed_at = timezone.now()
            KpiSnapshot.objects.filter(period=period).delete()
            KpiSnapshot.objects.bulk_create([
                KpiSnapshot(period=period, computed_at=computed_at, breakdown=b, segment=s, team_id=t, figures=f)
                for (b, s, t), f in sorted(result.rows.items(), key=lambda item: (item[0][0], item[0][1],
                                                                                   item[0][2] or 0))
            ], batch_size=500)
            KpiCurve.objects.update_or_create(period=period, name=LORENZ,
                                              defaults={"computed_at": computed_at, "points": result.lorenz})
            run = SnapshotRun.objects.create(
                period=period, started_at=now, duration_ms=int((time.perf_counter() - started) * 1000),
                rows=len(result.rows), status=SnapshotStatus.DONE, trigger=trigger,
                timings={**result.timings, "queries": result.queries}, created_by=created_by)
            audit_record(actor=actor, action="kpi_snapshot", instance=run,
                         changes={"period": period, "rows": run.rows})
    except Exception as exc:
        SnapshotRun.objects.create(
            period=period, started_at=now, duration_ms=int((time.perf_counter() - started) * 1000),
            status=SnapshotStatus.FAILED, trigger=trigger, created_by=created_by,
            errors=[{"error": type(exc).__name__, "message": str(exc),
                     "where": traceback.format_exc(limit=3).splitlines()[-3:]}])
        raise
    return run


def effect_estimate(*, actor, dimension: str = "value", outcome: str = "nps", now: dt.datetime | None = None,
                    alpha: float = 0.05, run: Any = None) -> dict[str, Any]:
    """The regression-discontinuity estimate of the dedicated tier's effect at the dimension's line, with the
    before/after view of clients who migrated upward; see :mod:`bcrm.monitoring.effect`. Reads only.
    ``run``: the id of the run whose line and scores to use (default: see :func:`effect.pick_runs`)."""
    from bcrm.monitoring.effect import estimate_effect
    from bcrm.monitoring.selectors import require_portfolio

    require_portfolio(actor)
    return estimate_effect(dimension=dimension, outcome=outcome, now=now or timezone.now(), alpha=alpha, run_id=run)
