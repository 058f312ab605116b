"""The demo's service history: what the team did for each client over the last months, so the monitoring
dashboard has cadence and SLA figures to judge, and the first KPI snapshots.

Fictional and seeded. Each client's playbook steps (its current tier's contact, call and plan review) fall
due every cadence since the start of the history; a task is done on time, done late or missed with a
probability that depends on the tier and on the relationship manager (some keep to the cadence better than
others), so the dashboard has a shortfall to find. Requests opened in the last year get the SLA due times
their tier's playbook sets, on the default working calendar. Written in bulk (the 1,000,000-client data set
runs this too)."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from typing import Any

from django.db import connection, transaction
from django.utils import timezone, translation

from bcrm.engagement.choices import TaskSource, TaskStatus
from bcrm.engagement.models import ServiceRequest, Task
from bcrm.parties.models import Organization
from bcrm.playbooks.calendar import add_cadence, add_months
from bcrm.playbooks.choices import OwnerRule, Tier, Trigger
from bcrm.playbooks.models import ClientTier, Playbook, PlaybookStep

HISTORY_MONTHS = 3
#: The share of a tier's playbook tasks done on or before the due date, before the manager's own factor.
ON_TIME: dict[str, float] = {Tier.DEDICATED.value: 0.86, Tier.STANDARD.value: 0.7}
BATCH = 20_000


def _back(day: dt.date, step: PlaybookStep) -> dt.date:
    """One cadence before ``day``."""
    return add_cadence(day, -step.cadence_count, step.cadence_unit)


def demo_service_history(*, now: dt.datetime | None = None, seed: int = 1,
                         months: int = HISTORY_MONTHS) -> dict[str, int]:
    """Write the history once (a second call finds it and writes nothing). Returns what it wrote."""
    from bcrm.playbooks.calendars import default_calendar
    from bcrm.playbooks.engine import _bulk_set, _db_datetime, _upsert

    now = now or timezone.now()
    if Task.objects.filter(source_key__startswith="hist:").exists():
        return {}
    rng = random.Random(seed * 7919 + 17)
    tz = timezone.get_default_timezone()
    today = timezone.localtime(now, tz).date()
    start = add_months(today.replace(day=1), -months)
    steps: dict[str, list[PlaybookStep]] = defaultdict(list)
    for step in (PlaybookStep.objects.filter(playbook__code__in=[Tier.DEDICATED, Tier.STANDARD], is_active=True,
                                             playbook__is_active=True, trigger=Trigger.CADENCE, only_dimension="")
                 .exclude(owner_rule=OwnerRule.AUTOMATION).select_related("playbook")):
        steps[step.playbook.code].append(step)
    tiers = dict(ClientTier.objects.values_list("organization_id", "tier"))
    calendar = default_calendar()
    closes = {}

    def due_time(day: dt.date) -> dt.datetime:
        if day not in closes:
            closes[day] = calendar.closes(day)
        return closes[day]

    # task titles are stored in English with the action's label as their code, as the automation does
    with translation.override("en"):
        titles = {step.pk: str(step.get_action_display()) for items in steps.values() for step in items}
    quality: dict[int | None, float] = {}
    rows: list[tuple] = []
    written = 0
    stamp = _db_datetime(now)
    table = connection.ops.quote_name(Task._meta.db_table)
    cols = ["title", "title_code", "title_params", "description", "organization_id", "assignee_id", "due_at", "status", "completed_at", "source",
            "source_key", "action", "step_id", "team_id", "planned_hours", "basis_at", "version", "created_at",
            "updated_at"]
    counts = {"on_time": 0, "late": 0, "missed": 0}
    with transaction.atomic(), connection.cursor() as cursor:
        for org_id, rm_id, team_id in (Organization.objects.order_by("pk")
                                       .values_list("pk", "relationship_manager_id", "team_id").iterator(chunk_size=BATCH)):
            tier = tiers.get(org_id)
            if tier is None:
                continue
            if rm_id not in quality:
                quality[rm_id] = rng.choice((0.62, 0.85, 0.95, 1.0, 1.0, 1.05))
            for step in steps.get(tier, ()):
                first = add_cadence(start, step.cadence_count, step.cadence_unit)
                day = start + dt.timedelta(days=rng.randrange(max(1, (first - start).days)))
                while day < today:
                    # the cycle's basis: the previous due day, as the engine counts a cadence from it
                    basis = due_time(_back(day, step))
                    due = due_time(calendar.next_business_day(day))
                    on_time = min(0.98, ON_TIME.get(tier, 0.7) * quality[rm_id])
                    roll = rng.random()
                    if roll < on_time:
                        done, status, kind = due - dt.timedelta(days=rng.randint(0, 4), hours=rng.randint(0, 5)), \
                            TaskStatus.DONE, "on_time"
                    elif roll < on_time + (1 - on_time) * 0.7:
                        done, status, kind = due + dt.timedelta(days=rng.randint(1, 18)), TaskStatus.DONE, "late"
                        if done >= now:
                            done, status, kind = None, TaskStatus.OPEN, "missed"
                    else:
                        done, status, kind = None, TaskStatus.OPEN, "missed"
                    counts[kind] += 1
                    assignee = rm_id if step.owner_rule == OwnerRule.RELATIONSHIP_MANAGER else None
                    rows.append((titles[step.pk], titles[step.pk], "{}", "", org_id, assignee, _db_datetime(due), status.value,
                                 _db_datetime(done), TaskSource.PLAYBOOK.value,
                                 f"hist:{step.pk}:{org_id}:{day:%Y%m%d}", step.action, step.pk, team_id, step.hours,
                                 _db_datetime(basis), 1, stamp, stamp))
                    day = add_cadence(day, step.cadence_count, step.cadence_unit)
            if len(rows) >= BATCH:
                written += _upsert(cursor, table, cols, rows, conflict="ON CONFLICT (source_key) DO NOTHING")
                rows = []
        if rows:
            written += _upsert(cursor, table, cols, rows, conflict="ON CONFLICT (source_key) DO NOTHING")
        stamped = _stamp_sla(cursor, tiers, now, calendar, _bulk_set, _db_datetime)
    return {"tasks": written, **counts, "sla_stamped": stamped}


def _stamp_sla(cursor, tiers: dict[int, str], now: dt.datetime, calendar, bulk_set, db_datetime) -> int:
    """SLA due times of the requests opened in the last year that have none, from their tier's playbook."""
    hours: dict[str, tuple[Any, Any]] = {code: (resp, reso) for code, resp, reso in Playbook.objects.values_list(
        "code", "response_sla_hours", "resolution_sla_hours")}
    rows = []
    for pk, org_id, opened in (ServiceRequest.objects.filter(response_due_at__isnull=True,
                                                             opened_at__gte=now - dt.timedelta(days=365))
                               .values_list("pk", "organization_id", "opened_at").iterator(chunk_size=BATCH)):
        resp, reso = hours.get(tiers.get(org_id, Tier.STANDARD), (None, None))
        rows.append((pk, db_datetime(calendar.add_business_hours(opened, resp)) if resp else None,
                     db_datetime(calendar.add_business_hours(opened, reso)) if reso else None))
    table = connection.ops.quote_name(ServiceRequest._meta.db_table)
    for start in range(0, len(rows), BATCH):
        bulk_set(cursor, table, ["response_due_at", "resolution_due_at"], rows[start:start + BATCH])
    return len(rows)


def demo_snapshots(*, now: dt.datetime | None = None, months: int = HISTORY_MONTHS) -> list[str]:
    """Compute the KPI snapshots of the history's months and the current one (the trend has points)."""
    from bcrm.monitoring.services import compute_snapshot

    now = now or timezone.now()
    today = timezone.localtime(now, timezone.get_default_timezone()).date()
    periods = [f"{add_months(today.replace(day=1), -k):%Y-%m}" for k in range(months, -1, -1)]
    for period in periods:
        compute_snapshot(actor=None, period=period, now=now)
    return periods
