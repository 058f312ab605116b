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
import json
import random
from collections import defaultdict
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone, translation

from bcrm.engagement.choices import TaskSource, TaskStatus
from bcrm.engagement.models import Interaction, ServiceRequest, Task
from bcrm.financing.choices import ParticipationStatus
from bcrm.financing.models import Participation
from bcrm.parties.models import Organization
from bcrm.playbooks.bulksql import _bulk_set as bulk_set
from bcrm.playbooks.bulksql import _db_datetime, _upsert
from bcrm.playbooks.bulksql import _db_datetime as db_datetime
from bcrm.playbooks.businesstime import add_cadence, add_months
from bcrm.playbooks.calendars import default_calendar
from bcrm.playbooks.choices import ACTION_KINDS, AddOn, OwnerRule, Tier, Trigger
from bcrm.playbooks.models import ClientTier, Playbook, PlaybookStep, TierPolicy
from bcrm.playbooks.policy import tier_table, validate_rules
from bcrm.playbooks.services import CHANNEL_KINDS
from bcrm.segmentation.models import ClientLabels

HISTORY_MONTHS = 3
#: The share of a tier's playbook tasks done on or before the due date, before the manager's own factor.
ON_TIME: dict[str, float] = {Tier.DEDICATED.value: 0.86, Tier.STANDARD.value: 0.7}
#: A contact not made by its due date is made late, within a cycle; only those of the last weeks are still open.
MISSED_OPEN_DAYS = 10
BATCH = 20_000


class _Interactions:
    """The history's interactions, written in bulk with ids assigned here (so the tasks they fulfil can name
    them before they are written): a multi-row INSERT (COPY on PostgreSQL), the sequence moved past them at the
    end. A million-client portfolio logs a few million; ``bulk_create`` compiled SQL per value for each."""

    def __init__(self, now: dt.datetime) -> None:
        fields = list(Interaction._meta.concrete_fields)
        self.cols = [f.column for f in fields]
        self.names = [f.attname for f in fields]
        self.defaults: dict[str, Any] = {}
        stamp = _db_datetime(now)
        for f in fields:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                self.defaults[f.attname] = stamp
            elif isinstance(f, models.JSONField):
                self.defaults[f.attname] = json.dumps(f.get_default())  # JSON text: SQLite binds no dict
            elif f.attname != "id":
                self.defaults[f.attname] = f.get_default()
        self.next_id = (Interaction.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        self.rows: list[tuple] = []
        self.count = 0
        self.table = connection.ops.quote_name(Interaction._meta.db_table)

    def add(self, **values: Any) -> int:
        pk = self.next_id
        self.next_id += 1
        values["occurred_at"] = _db_datetime(values["occurred_at"])
        row = {**self.defaults, **values, "id": pk}
        self.rows.append(tuple(row[name] for name in self.names))
        return pk

    def flush(self, cursor) -> None:
        if self.rows:
            _upsert(cursor, self.table, self.cols, self.rows, conflict="")
            self.count += len(self.rows)
            self.rows = []

    def close(self, cursor) -> None:
        self.flush(cursor)
        if self.count:
            from django.core.management.color import no_style

            for sql in connection.ops.sequence_reset_sql(no_style(), [Interaction]):
                cursor.execute(sql)


def _back(day: dt.date, step: PlaybookStep) -> dt.date:
    """One cadence before ``day``."""
    return add_cadence(day, -step.cadence_count, step.cadence_unit)


def _tiers_and_addons() -> tuple[dict[int, str], dict[int, tuple[str, ...]], dict[int, dict[str, str]]]:
    """Each client's tier and add-ons as the first automation run will set them: the active policy applied to
    the current labels (standard, no add-on, for a client never classified), and the labels themselves.

    Not the stored tiers: a classification that moves more than ``BCRM_TIER_INLINE_LIMIT`` labels (the first run
    over a book of 50,000 clients or more) leaves the tiers to the next automation run, and the few rows the later,
    smaller runs store were computed before every dimension had its labels (a value run stores tiers without
    risk labels, so without the KYC and due-diligence add-ons). The automation re-tiers the whole book from the
    labels; a history built on those stale rows left 2,000 of 39,000 high-risk clients of a 100,000-client demo
    without a KYC refresh in their past, all due in the first run's week. Without an active policy, the stored
    tiers."""
    labels = {org: {"value": v or "", "risk": r or "", "relationship": rel or ""} for org, v, r, rel in
              ClientLabels.objects.values_list("organization_id", "value", "risk", "relationship").iterator(
                  chunk_size=BATCH)}
    policy = TierPolicy.objects.filter(is_active=True).order_by("-version").first()
    if policy is None:
        stored = {org: (tier, tuple(a for a in (addons or "").split(",") if a)) for org, tier, addons in
                  ClientTier.objects.values_list("organization_id", "tier", "addons").iterator(chunk_size=BATCH)}
        return ({org: t for org, (t, _a) in stored.items()}, {org: a for org, (_t, a) in stored.items()}, labels)
    table = tier_table(validate_rules(policy.rules))
    unclassified = table[("", "", "")]
    tiers: dict[int, str] = {}
    addons: dict[int, tuple[str, ...]] = {}
    for org in list(Organization.objects.order_by().values_list("pk", flat=True)):
        held = labels.get(org)
        tier, extra = table.get((held["value"], held["risk"], held["relationship"]), unclassified) if held \
            else unclassified
        tiers[org] = tier
        if extra:
            addons[org] = extra
    return tiers, addons, labels


def _kind_for(step: PlaybookStep) -> str | None:
    """The kind of interaction that fulfils ``step`` (the one completing its task logs), None for none."""
    kinds = ACTION_KINDS.get(step.action, ())
    if not kinds:
        return None
    channel = CHANNEL_KINDS.get(step.channel)
    return channel if channel in kinds else kinds[0]


def demo_service_history(*, now: dt.datetime | None = None, seed: int = 1, months: int = HISTORY_MONTHS,
                         log_interactions: bool = True) -> dict[str, int]:
    """Write the history once (a second call finds it and writes nothing). Returns what it wrote.

    Every cadence step of the client's tier and add-on playbooks (senior-level meetings for strategic partners
    only, as the step says) falls due each cycle since the start of the history; a cycle done logs the
    interaction it stands for, as completing the task in the app does, so the automation that runs afterwards
    counts the next cycle from it; the cycle before the history is the interaction the first one counts from.
    Pipeline participations of clients with enhanced due diligence got their review when they were recorded.
    ``log_interactions`` (default on, at every size: without them the first automation run finds every cycle
    overdue) writes those interactions, in bulk."""
    now = now or timezone.now()
    if Task.objects.filter(source_key__startswith="hist:").exists():
        return {}
    rng = random.Random(seed * 7919 + 17)
    tz = timezone.get_default_timezone()
    today = timezone.localtime(now, tz).date()
    steps: dict[str, list[PlaybookStep]] = defaultdict(list)
    for step in (PlaybookStep.objects.filter(is_active=True, playbook__is_active=True, trigger=Trigger.CADENCE)
                 .exclude(owner_rule=OwnerRule.AUTOMATION).select_related("playbook").order_by("playbook_id",
                                                                                               "position", "pk")):
        steps[step.playbook.code].append(step)
    tiers, addons, labels = _tiers_and_addons()
    calendar = default_calendar()
    logged = _Interactions(now) if log_interactions else None
    history = _History(now=now, rng=rng, today=today, start=add_months(today.replace(day=1), -months),
                       calendar=calendar, steps=[step for items in steps.values() for step in items],
                       logged=logged)
    pending = history.pending
    written = interactions = 0
    table = connection.ops.quote_name(Task._meta.db_table)
    cols = ["title", "title_code", "title_params", "description", "organization_id", "assignee_id", "due_at", "status", "completed_at", "source",
            "source_key", "action", "step_id", "team_id", "planned_hours", "basis_at", "version", "created_at",
            "updated_at", "interaction_id"]

    def flush(cursor) -> int:
        if logged is not None:
            logged.flush(cursor)  # first: the tasks name them
        rows = [(*row, i) for row, i in pending if row]
        pending.clear()
        return _upsert(cursor, table, cols, rows, conflict="ON CONFLICT (source_key) DO NOTHING") if rows else 0

    with transaction.atomic(), connection.cursor() as cursor:
        for org_id, rm_id, team_id in _clients():
            tier = tiers.get(org_id)
            if tier is None:
                continue
            if rm_id not in history.quality:
                history.quality[rm_id] = rng.choice((0.62, 0.85, 0.95, 1.0, 1.0, 1.05))
            held = labels.get(org_id, {})
            for code in (tier, *addons.get(org_id, ())):
                for step in steps.get(code, ()):
                    if step.only_dimension and held.get(step.only_dimension) != step.only_label:
                        continue
                    history.cycles(org_id, rm_id, team_id, tier, step)
            if len(pending) >= BATCH:
                interactions += sum(1 for _r, i in pending if i is not None)
                written += flush(cursor)
        interactions += sum(1 for _r, i in pending if i is not None)
        written += flush(cursor)
        reviews = 0
        if logged is not None:
            before = logged.count
            _due_diligence_reviews(rng, addons, AddOn.ENHANCED_DD.value, now, logged)
            logged.close(cursor)
            reviews = logged.count - before
        stamped = _stamp_sla(cursor, tiers, now, calendar)
    return {"tasks": written, **history.counts, "interactions": interactions + reviews, "sla_stamped": stamped}


def _clients():
    """Every client's (id, relationship manager, team), by id, a page of BATCH at a time (keyset paging: no
    cursor held open across the history's writes on the same connection)."""
    last = 0
    while True:
        page = list(Organization.objects.filter(pk__gt=last).order_by("pk")
                    .values_list("pk", "relationship_manager_id", "team_id")[:BATCH])
        yield from page
        if len(page) < BATCH:
            return
        last = page[-1][0]


class _History:
    """One write of the history: the cycles of each client's steps, as task rows (and the interactions they
    stand for) waiting in ``pending`` to be written in bulk."""

    def __init__(self, *, now: dt.datetime, rng: random.Random, today: dt.date, start: dt.date, calendar,
                 steps: list[PlaybookStep], logged: _Interactions | None) -> None:

        self.now, self.rng, self.today, self.start, self.calendar = now, rng, today, start, calendar
        self.logged = logged
        self.closes: dict[dt.date, dt.datetime] = {}
        # task titles are stored in English with the action's label as their code, as the automation does
        with translation.override("en"):
            self.titles = {step.pk: str(step.get_action_display()) for step in steps}
        self.kinds = {step.pk: _kind_for(step) for step in steps}
        self.quality: dict[int | None, float] = {}
        self.pending: list[tuple[tuple, int | None]] = []  # (task row or (), the id of the interaction it logged)
        self.stamp = _db_datetime(now)
        self.counts = {"on_time": 0, "late": 0, "missed": 0}
        self.recent = now - dt.timedelta(days=MISSED_OPEN_DAYS)

    def due_time(self, day: dt.date) -> dt.datetime:
        if day not in self.closes:
            self.closes[day] = self.calendar.closes(day)
        return self.closes[day]

    def interaction(self, org_id: int, owner: int | None, step: PlaybookStep, at: dt.datetime) -> int | None:
        kind = self.kinds[step.pk]
        if kind is None or self.logged is None:
            return None
        return self.logged.add(organization_id=org_id, owner_id=owner, kind=kind, occurred_at=at,
                               summary=self.titles[step.pk], minutes_spent=max(5, int(step.hours * 60)))

    def cycles(self, org_id: int, rm_id: int | None, team_id: int | None, tier: str, step: PlaybookStep) -> None:
        """Every cycle of ``step`` for one client since the start of the history: done on time, late, or
        missed."""

        rng, now, stamp, titles, pending = self.rng, self.now, self.stamp, self.titles, self.pending
        assignee = rm_id if step.owner_rule == OwnerRule.RELATIONSHIP_MANAGER else None
        first = add_cadence(self.start, step.cadence_count, step.cadence_unit)
        day = self.start + dt.timedelta(days=rng.randrange(max(1, (first - self.start).days)))
        # the cycle before the history: the contact the first due date counts from
        basis = self.due_time(_back(day, step)) - dt.timedelta(days=rng.randint(0, 3), hours=rng.randint(1, 5))
        before = self.interaction(org_id, rm_id, step, basis)
        if before is not None:
            pending.append(((), before))
        while day < self.today:
            due = self.due_time(self.calendar.next_business_day(day))
            on_time = min(0.98, ON_TIME.get(tier, 0.7) * self.quality[rm_id])
            roll = rng.random()
            if roll < on_time:
                done = min(due - dt.timedelta(days=rng.randint(0, 4), hours=rng.randint(0, 5)),
                           now - dt.timedelta(hours=1))
                status, kind = TaskStatus.DONE, "on_time"
            elif roll < on_time + (1 - on_time) * 0.7 or due < self.recent:
                # late: made within the cycle (a contact missed long ago was made late, not never)
                done, status, kind = due + dt.timedelta(days=rng.randint(1, 18)), TaskStatus.DONE, "late"
                if done >= now and due < now - dt.timedelta(days=2):
                    done = due + (now - due) * rng.uniform(0.3, 0.9)  # made late, but made
                elif done >= now:
                    done, status, kind = None, TaskStatus.OPEN, "missed"
            else:
                done, status, kind = None, TaskStatus.OPEN, "missed"
            self.counts[kind] += 1
            made = self.interaction(org_id, assignee or rm_id, step, done) if done is not None else None
            pending.append(((titles[step.pk], titles[step.pk], "{}", "", org_id, assignee, _db_datetime(due), status.value,
                             _db_datetime(done), TaskSource.PLAYBOOK.value,
                             f"hist:{step.pk}:{org_id}:{day:%Y%m%d}", step.action, step.pk, team_id,
                             step.hours, _db_datetime(basis), 1, stamp, stamp), made))
            if done is not None:
                basis = done
            day = add_cadence(day, step.cadence_count, step.cadence_unit)


def _due_diligence_reviews(rng: random.Random, addons: dict[int, tuple[str, ...]], addon: str,
                           now: dt.datetime, logged: _Interactions) -> None:
    """The enhanced due diligence the team did on each pipeline participation of the clients that need it, a few
    days after it was recorded (the newest ones are still waiting for theirs: the automation makes those tasks)."""
    orgs = [org for org, held in addons.items() if addon in held]
    if not orgs:
        return
    closed = [ParticipationStatus.DECLINED, ParticipationStatus.WITHDRAWN, ParticipationStatus.FUNDED]
    for start in range(0, len(orgs), BATCH):
        for org, project, created, rm in (Participation.objects.filter(organization_id__in=orgs[start:start + BATCH])
                                          .exclude(status__in=closed).order_by("pk")
                                          .values_list("organization_id", "project_id", "created_at",
                                                       "organization__relationship_manager_id")):
            at = created + dt.timedelta(days=rng.randint(2, 9), hours=rng.randint(0, 6))
            if at < now - dt.timedelta(days=1):
                logged.add(organization_id=org, project_id=project, owner_id=rm, kind="due_diligence",
                           occurred_at=at, summary="Enhanced due diligence", minutes_spent=360)


def _stamp_sla(cursor, tiers: dict[int, str], now: dt.datetime, calendar) -> int:
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
