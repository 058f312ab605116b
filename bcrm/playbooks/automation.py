"""The automation engine (执行): labels → tiers → due playbook steps → tasks for people, within capacity;
SLA escalations; automated deliverables. Idempotent: a second run, or a second worker at the same time,
creates nothing twice.

One run, in one transaction (a failure leaves the database as it was; a dry run does the same work and
rolls it back, so its counts are exactly what a real run would do):

1. **tiers** — each client's tier and add-ons from its current labels by the active policy, in one
   INSERT … SELECT … ON CONFLICT that rewrites only the clients whose tier changed;
2. **fulfilled** — open playbook tasks whose step has since been done (a newer matching interaction) are
   closed;
3. **due** — for every step of every playbook, the clients it applies to and the date it is next due: a
   cadence after the last matching interaction, moved to a business day of the team's working calendar;
   a task is made when that date is within the step's lead time and no open task exists for it. Its key
   ``pb:<step>:<client>:<basis>`` names the cycle, so it is made once;
4. **assignment** — by the step's owner rule (the relationship manager; the team pool, least loaded
   first), never beyond a member's weekly capacity: what does not fit stays unassigned in its team's
   overflow queue and each team lead gets one task that says so;
5. **SLA** — open service requests get their due dates from their tier's playbook on the working
   calendar; a breach gets one escalation task for the team lead;
6. **deliverables** — the monthly progress report is queued for the clients whose playbook leaves it to
   automation (sent by the worker, each delivery once).

Everything reads in bulk (one query per kind of fact, never one per client) and writes in bulk.

**Full and incremental runs.** Each run records, per client it examines, the first day one of its steps falls
due by date alone and the inputs that decide which steps apply (:class:`~bcrm.playbooks.models.ClientDue`).
The next run, when the configuration (policy, playbooks, steps, calendars: :func:`config_digest`) is the one
the previous completed run had, examines only the clients due by its day, those whose labels, team or
relationship manager differ from what was recorded, and those with interactions, closed playbook tasks or
participations written or deleted since the previous run started (less ``BCRM_AUTOMATION_SLACK_SECONDS``);
it makes the same tasks, tiers and deliveries a full run would. ``full=True`` (or a new configuration)
examines every client. On PostgreSQL the run checks its foreign keys as each statement ends.

This module is the run itself (the order of the stages, the tiers, the insert, the deliverables) and the
daily schedule; its pieces: :mod:`~bcrm.playbooks.population` (the clients as arrays, the run's clock and
calendars), :mod:`~bcrm.playbooks.duesteps` (stages 2–3), :mod:`~bcrm.playbooks.capacity` (stage 4),
:mod:`~bcrm.playbooks.escalation` (stage 5), :mod:`~bcrm.playbooks.cadence` (vectorised day arithmetic) and
:mod:`~bcrm.playbooks.bulksql` (raw SQL in bulk).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.permissions import has_any
from bcrm.audit.models import AuditAction
from bcrm.audit.services import audit_record, id_ranges
from bcrm.core import events, heartbeat
from bcrm.core.errors import PermissionDenied
from bcrm.core.texts import gettext_noop
from bcrm.engagement.choices import TaskSource, TaskStatus
from bcrm.engagement.models import Task
from bcrm.playbooks.bulksql import _db_datetime, _table, _upsert
from bcrm.playbooks.businesstime import add_months
from bcrm.playbooks.cadence import _day
from bcrm.playbooks.capacity import _Capacity
from bcrm.playbooks.choices import (
    Action,
    CadenceUnit,
    OwnerRule,
    RunMode,
    RunStatus,
    Tier,
    Trigger,
)
from bcrm.playbooks.defaults import ensure_defaults
from bcrm.playbooks.duesteps import _DueSteps, _NewTask
from bcrm.playbooks.escalation import _Escalations
from bcrm.playbooks.hooks import deliverable
from bcrm.playbooks.models import (
    AutomationRun,
    AutomationSchedule,
    CalendarDay,
    ClientTier,
    Playbook,
    PlaybookStep,
    TeamCalendar,
    TierPolicy,
    WorkCalendar,
)
from bcrm.playbooks.policy import tier_table, validate_rules

RUN_ROLES = {Role.ADMIN, Role.LEAD}
TIER_RANK = {Tier.DEDICATED.value: 0, Tier.STANDARD.value: 1}
LOCK_KEY = "lock"
INSERT_BATCH = 20_000


def can_run_automation(user) -> bool:
    return user is None or has_any(user, RUN_ROLES)


@dataclass
class AutomationReport:
    run: AutomationRun | None
    as_of: dt.datetime
    dry_run: bool
    counts: dict[str, Any] = field(default_factory=dict)
    overflow: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    timings: dict[str, int] = field(default_factory=dict)
    duration_ms: int = 0
    policy_version: int | None = None
    mode: str = RunMode.FULL.value
    examined: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run.pk if self.run else None, "as_of": self.as_of.isoformat(),
                "dry_run": self.dry_run, "policy_version": self.policy_version, "mode": self.mode,
                "examined": self.examined, "counts": self.counts,
                "overflow": self.overflow, "errors": self.errors, "timings_ms": self.timings,
                "duration_ms": self.duration_ms}


class _DryRunRollback(Exception):
    pass


def as_of_moment(day: dt.date) -> dt.datetime:
    """A date given to the automation means the close of that working day on the default calendar."""
    from bcrm.playbooks.calendars import default_calendar

    return default_calendar().closes(day)


def config_digest() -> str:
    """A digest of everything besides the clients' own data that decides what a run makes: the active tier
    policy, the playbooks and their steps, the working calendars and which team uses which. A run whose digest
    differs from the previous run's is a full run."""
    policy = TierPolicy.objects.filter(is_active=True).order_by("-version").values_list("version", "rules").first()
    parts = [
        policy,
        list(Playbook.objects.order_by("id").values_list("id", "code", "is_active", "response_sla_hours",
                                                         "resolution_sla_hours", "version", "updated_at")),
        list(PlaybookStep.objects.order_by("id").values_list(
            "id", "playbook_id", "position", "action", "trigger", "cadence_count", "cadence_unit", "channel",
            "owner_rule", "hours", "lead_days", "only_dimension", "only_label", "is_active", "phase_in_days",
            "phase_in_from", "version", "updated_at")),
        list(WorkCalendar.objects.order_by("id").values_list("id", "timezone", "day_start", "day_end", "weekend",
                                                             "country", "is_default")),
        list(CalendarDay.objects.order_by("calendar_id", "date").values_list("calendar_id", "date", "kind")),
        list(TeamCalendar.objects.order_by("team_id").values_list("team_id", "calendar_id")),
    ]
    return hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()


def _choose_mode(full: bool, digest: str) -> tuple[str, dt.datetime | None]:
    """Incremental when the previous completed run had the same configuration; full otherwise (or when asked)."""
    if full:
        return RunMode.FULL.value, None
    previous = AutomationRun.objects.filter(status=RunStatus.DONE, dry_run=False).order_by("-started_at", "-id") \
        .values_list("started_at", "config_digest").first()
    if previous is None or previous[1] != digest:
        return RunMode.FULL.value, None
    # Writes committed shortly before the previous run started are looked at again (settings.py says why).
    return RunMode.INCREMENTAL.value, previous[0] - dt.timedelta(seconds=settings.BCRM_AUTOMATION_SLACK_SECONDS)


def run_automation(*, actor, as_of: dt.datetime | None = None, dry_run: bool = False,
                   trigger: str = "manual", full: bool = False) -> AutomationReport:
    """One automation pass as of ``as_of`` (now by default). Lead/admin, or the system (actor None).

    By default the run is incremental: it examines the clients due by date or changed since the previous run
    (same tasks, tiers and deliveries as a full run, at the cost of what changed); ``full`` examines every
    client, and a run after a change of policy, playbooks or calendars is always full."""
    if not can_run_automation(actor):
        raise PermissionDenied(_("Only team leads and administrators run the automation."))
    if as_of is not None and timezone.is_naive(as_of):
        raise ValueError("as_of must be timezone-aware")
    now = as_of or timezone.now()
    ensure_defaults()
    AutomationSchedule.objects.get_or_create(key=LOCK_KEY)
    started = time.perf_counter()
    user = actor if getattr(actor, "pk", None) and getattr(actor, "is_authenticated", False) else None
    run = None
    if not dry_run:
        started_at = timezone.now()
        run = AutomationRun.objects.create(as_of=now, dry_run=False, trigger=trigger, started_by=user,
                                           started_at=started_at, heartbeat_at=started_at)
    report = AutomationReport(run=run, as_of=now, dry_run=dry_run)
    beating: AbstractContextManager[Any] = heartbeat.beating(run_heartbeat_key(run.pk), on_beat=lambda at: AutomationRun.objects.filter(
        pk=run.pk, status=RunStatus.RUNNING).update(heartbeat_at=at)) if run is not None else nullcontext()
    try:
        with beating, transaction.atomic():
            # Runs take turns: a second worker waits here, then finds everything already done.
            list(AutomationSchedule.objects.select_for_update().filter(key=LOCK_KEY))
            population_read = timezone.now()
            newest_before = Task.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            digest = config_digest()
            report.mode, since = _choose_mode(full, digest)
            _Engine(now=now, report=report, run_id=run.pk if run else None, since=since).run()
            report.examined = int(report.counts.get("examined", 0))
            if run is not None:
                AutomationRun.objects.filter(pk=run.pk).update(mode=report.mode, examined=report.examined,
                                                               config_digest=digest)
            if run is not None:
                _audit_created_tasks(actor=user, run=run, now=now, after_id=newest_before)
            # Every client's tier now follows its labels: lists stop saying "tiers update at the next run".
            AutomationSchedule.objects.filter(key="daily", tiers_stale_since__lte=population_read).update(
                tiers_stale_since=None)
            if dry_run:
                raise _DryRunRollback
    except _DryRunRollback:
        pass
    except Exception as exc:
        report.errors.append(f"{type(exc).__name__}: {exc}")
        report.duration_ms = int((time.perf_counter() - started) * 1000)
        if run is not None:
            AutomationRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
                status=RunStatus.FAILED, finished_at=timezone.now(), duration_ms=report.duration_ms,
                errors=report.errors, timings=report.timings)
            run.refresh_from_db()
        raise
    report.duration_ms = int((time.perf_counter() - started) * 1000)
    if run is not None:
        AutomationRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.DONE, finished_at=timezone.now(), duration_ms=report.duration_ms,
            counts=report.counts, overflow=report.overflow, errors=report.errors, timings=report.timings,
            policy_version=report.policy_version)
        run.refresh_from_db()
    return report


def _audit_created_tasks(*, actor, run: AutomationRun, now: dt.datetime, after_id: int) -> None:
    """One audit entry on the run listing the ids of the tasks it created, as ranges (in the run's own
    transaction, so the entry and the tasks commit together); ``task_origin`` reads it back."""
    ids = Task.objects.filter(pk__gt=after_id, source=TaskSource.PLAYBOOK, created_at=now).values_list(
        "pk", flat=True)
    ranges = id_ranges(ids.iterator(chunk_size=20_000))
    if not ranges:
        return
    audit_record(actor=actor, action=AuditAction.AUTOMATION, instance=run, changes={
        "tasks": sum(high - low + 1 for low, high in ranges), "task_ranges": ranges,
        "first_task": ranges[0][0], "last_task": ranges[-1][1]})
    if events.wanted("task.created"):
        # Webhook subscribers hear of automation's tasks as of any other (read back in bulk, only when wanted).
        rows = Task.objects.filter(pk__gt=after_id, source=TaskSource.PLAYBOOK, created_at=now).order_by("pk")
        events.emit_many("task.created", (
            {"task": pk, "organization": org, "assignee": assignee, "due_at": due, "status": status,
             "source": source, "completed_at": None, "run": run.pk}
            for pk, org, assignee, due, status, source in rows.values_list(
                "pk", "organization_id", "assignee_id", "due_at", "status", "source").iterator(chunk_size=5000)))


@contextmanager
def _immediate_constraints() -> Iterator[None]:
    """On PostgreSQL the foreign keys Django makes are DEFERRABLE INITIALLY DEFERRED: a million rows written
    in bulk would queue their checks for COMMIT. The run checks them as each statement ends instead (the same
    checks, done where the rows are written, so COMMIT is short), and puts the default back afterwards."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    yield  # a failure rolls the whole run back: nothing to put back then
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


class _Engine(_DueSteps, _Capacity, _Escalations):
    """One run: the stages in order (population and label masks in :class:`_Population`, the other stages in
    the mixins), each timed."""

    # ------------------------------------------------------------------------------------------------
    def run(self) -> None:
        policy = TierPolicy.objects.filter(is_active=True).order_by("-version").first()
        if policy is None:
            raise RuntimeError("No active tier policy.")
        self.report.policy_version = policy.version
        self.rules = validate_rules(policy.rules)
        self.policy_version = policy.version
        with _immediate_constraints():
            self._stages()

    def _stages(self) -> None:
        self._load_population()
        self._stage("population")
        self._tiers()
        self._stage("tiers")
        self.playbooks = {p.code: p for p in Playbook.objects.filter(is_active=True)}
        steps = list(PlaybookStep.objects.filter(is_active=True, playbook__is_active=True)
                     .select_related("playbook").order_by("playbook_id", "position", "id"))
        self._last_interactions()
        self._stage("interactions")
        self._open_tasks()
        self._stage("open_tasks")
        new: list[_NewTask] = []
        due_counts: dict[str, int] = defaultdict(int)
        for step in steps:
            if step.owner_rule == OwnerRule.AUTOMATION:
                continue
            if step.trigger == Trigger.NEW_PARTICIPATION:
                new.extend(self._participation_step(step, due_counts))
            else:
                new.extend(self._cadence_step(step, due_counts))
        new = self._not_made(new)
        self.counts["due"] = dict(due_counts)
        self._stage("due")
        escalations = self._service_requests()
        self._stage("sla")
        self._assign(new)
        overflow_tasks = self._overflow_tasks(new)
        self._stage("assign")
        created = self._insert(new + escalations + overflow_tasks)
        self._stage("insert")
        self._deliverables(steps)
        self._stage("deliverables")
        self.counts["created"] = created
        self.counts["due_rows_written"] = self._store_due()
        self._drop_scope()
        self._stage("next_due")

    # --- 1. tiers ----------------------------------------------------------------------------------------
    def _tiers(self) -> None:
        """Each client's tier and add-ons from its labels by the policy's 64-entry table, computed on the
        population's label codes; only the clients whose tier or add-ons changed (or who have none yet) are
        written, so the daily run on an unchanged book writes nothing."""
        table = tier_table(self.rules)
        label_names = [sorted(self.codes[k], key=self.codes[k].__getitem__) for k in (2, 3, 4)]
        sizes = [max(len(n), 1) for n in label_names]
        new_codes: dict[Any, int] = {}
        new_addon_codes: dict[Any, int] = {}
        combo_tier = np.zeros(sizes[0] * sizes[1] * sizes[2], dtype=np.int16)
        combo_addons = np.zeros(combo_tier.size, dtype=np.int16)
        for i, v in enumerate(label_names[0] or [""]):
            for j, r in enumerate(label_names[1] or [""]):
                for k, rel in enumerate(label_names[2] or [""]):
                    tier, addons = table.get((v, r, rel), (Tier.STANDARD.value, ()))
                    cell = (i * sizes[1] + j) * sizes[2] + k
                    combo_tier[cell] = new_codes.setdefault(tier, len(new_codes))
                    combo_addons[cell] = new_addon_codes.setdefault(",".join(addons), len(new_addon_codes))
        if self.ids.size:
            flat = (self.coded[2].astype(np.int64) * sizes[1] + self.coded[3]) * sizes[2] + self.coded[4]
            tier_now, addons_now = combo_tier[flat], combo_addons[flat]
        else:
            tier_now = addons_now = np.zeros(0, dtype=np.int16)
        # Compare with what is stored: the stored strings mapped into the new codes (None = no row yet).
        stored_tier = np.array([new_codes.get(n, -1) for n in sorted(self.codes[0], key=self.codes[0].__getitem__)]
                               or [-1], dtype=np.int16)[self.coded[0]] if self.ids.size else tier_now
        stored_addons = np.array([new_addon_codes.get(n, -1) if n is not None else -1
                                  for n in sorted(self.codes[1], key=self.codes[1].__getitem__)]
                                 or [-1], dtype=np.int16)[self.coded[1]] if self.ids.size else addons_now
        changed = (stored_tier != tier_now) | (stored_addons != addons_now)
        tier_names = sorted(new_codes, key=new_codes.__getitem__)
        addon_names = sorted(new_addon_codes, key=new_addon_codes.__getitem__)
        idx = np.nonzero(changed)[0]
        if idx.size:
            since = _db_datetime(self.now)
            rows = [(int(self.ids[i]), tier_names[t], addon_names[a], self.policy_version, since)
                    for i, t, a in zip(idx.tolist(), tier_now[idx].tolist(), addons_now[idx].tolist(), strict=True)]
            tiers = _table(ClientTier)
            cols = ["organization_id", "tier", "addons", "policy_version", "since"]
            with connection.cursor() as cursor:
                for start in range(0, len(rows), INSERT_BATCH * 5):
                    _upsert(cursor, tiers, cols, rows[start:start + INSERT_BATCH * 5], conflict=(
                        f"ON CONFLICT (organization_id) DO UPDATE SET tier = excluded.tier, "
                        f"addons = excluded.addons, policy_version = excluded.policy_version, "
                        f"since = CASE WHEN {tiers}.tier <> excluded.tier THEN excluded.since ELSE {tiers}.since END"))
        self.counts["tiers_changed"] = int(idx.size)
        # From here on the population carries the new tiers.
        self.codes[0] = {name: code for code, name in enumerate(tier_names)}
        self.codes[1] = {name: code for code, name in enumerate(addon_names)}
        self.coded[0], self.coded[1] = tier_now, addons_now
        if self.incremental:  # the book's tiers, not the examined clients'
            self.counts["tiers"] = dict(ClientTier.objects.order_by().values_list("tier").annotate(n=Count("pk")))
        else:
            counts: Any = np.bincount(tier_now, minlength=len(tier_names)) if self.ids.size else []
            self.counts["tiers"] = {name: int(counts[code]) for code, name in enumerate(tier_names) if len(counts)
                                    and counts[code]}
        self.tier_rank = np.array([TIER_RANK.get(n or "", 1) for n in tier_names] or [1], dtype=np.int8)[tier_now] \
            if self.ids.size else np.zeros(0, dtype=np.int8)

    # --- writing -----------------------------------------------------------------------------------------
    def _insert(self, tasks: list[_NewTask]) -> dict[str, int]:
        """Insert the tasks; a key that exists already (a cycle done or cancelled, or another worker) is
        skipped by the database, so nothing is ever made twice."""
        created: dict[str, int] = defaultdict(int)
        if not tasks:
            return {}
        table = _table(Task)
        cols = ["title", "title_code", "title_params", "description", "organization_id", "assignee_id", "due_at", "status", "source",
                "source_key", "action", "step_id", "team_id", "planned_hours", "basis_at", "service_request_id",
                "participation_id", "version", "created_at", "updated_at"]
        now = _db_datetime(self.now)
        by_action: dict[str, list[_NewTask]] = defaultdict(list)
        for t in tasks:
            by_action[t.action].append(t)
        due_cache: dict[tuple[int, int | None], dt.datetime] = {}
        no_params = json.dumps({})

        def due_at(task: _NewTask) -> dt.datetime:
            key = (task.due_day, task.team)
            if key not in due_cache:
                calendar = self.calendar_of(task.team)
                moment = calendar.closes(_day(task.due_day))
                if moment <= self.now:
                    # Due today, made after today's close (a run in the evening): due at the next working day's
                    # close, not born overdue.
                    moment = calendar.closes(calendar.next_business_day(_day(task.due_day), include=False))
                due_cache[key] = _db_datetime(moment)
            return due_cache[key]

        with connection.cursor() as cursor:
            for action, items in by_action.items():
                for start in range(0, len(items), INSERT_BATCH):
                    chunk = items[start:start + INSERT_BATCH]
                    rows = [(t.title, t.title_code, json.dumps(t.title_params) if t.title_params else no_params, t.description, t.org or None, t.assignee, due_at(t), TaskStatus.OPEN.value,
                             TaskSource.PLAYBOOK.value, t.key, t.action, t.step.pk if t.step else None, t.team,
                             t.hours, _db_datetime(dt.datetime.fromtimestamp(t.basis, dt.UTC)) if t.basis is not None else None,
                             t.service_request, t.participation, 1, now, now) for t in chunk]
                    created[action] += _upsert(cursor, table, cols, rows,
                                               conflict="ON CONFLICT (source_key) DO NOTHING")
        return {action: n for action, n in created.items() if n}

    # --- 6. deliverables ---------------------------------------------------------------------------------
    def _deliverables(self, steps: list[PlaybookStep]) -> None:
        """Automated steps: the progress report of the previous month for the clients whose playbook leaves it
        to automation, once per period (the deliveries' keys make a second run queue nothing)."""
        month_index = self.today.year * 12 + self.today.month - 1
        codes = []
        for step in steps:
            if step.owner_rule != OwnerRule.AUTOMATION or step.action != Action.PROGRESS_REPORT:
                continue
            if step.cadence_unit == CadenceUnit.MONTH and month_index % step.cadence_count != 0:
                continue
            codes.append(step.playbook.code)
        self.counts["deliveries_queued"] = 0
        if not codes:
            return
        queue_progress_reports = deliverable(Action.PROGRESS_REPORT)  # the progress app's, when installed
        if queue_progress_reports is None:
            return
        period_day = add_months(self.today.replace(day=1), -1)
        period = f"{period_day:%Y-%m}"
        self.counts["report_period"] = period
        # The month's report is queued once, by the first automation run of the month that completes;
        # later runs (daily) do not re-scan a million contacts to find nothing new.
        done = AutomationRun.objects.filter(status=RunStatus.DONE, counts__report_period=period) \
            .exclude(counts__deliveries_queued=None).exists()
        if done:
            self.counts["deliveries_skipped"] = "period already queued"
            return
        from django.db.models import Q

        cond = Q()
        for code in codes:
            cond |= Q(tier=code) if code in Tier.values else Q(addons__contains=code)
        org_ids = ClientTier.objects.filter(cond).values_list("organization_id", flat=True)
        result = queue_progress_reports(period=period, organization_ids=org_ids, now=self.now, run_id=self.run_id,
                                        count_skipped=False)
        self.counts["deliveries_queued"] = int(getattr(result, "created", 0))


A_NEW_RUN = gettext_noop("a new run")


def run_heartbeat_key(run_id: int) -> str:
    return f"automation-{run_id}"


def automation_runs_sweep(now: dt.datetime | None = None) -> list[str]:
    """Runs still "running" whose heartbeat stopped (their process died): marked failed with the reason. A run
    is one transaction, so nothing of it was kept, and running it again creates nothing twice (every task is
    named by its step and period): the scheduled ones are queued again for the same moment; one started by hand
    (`bcrm automate`, the page) is for its user to start again. The names of the runs queued."""
    from bcrm.playbooks.tasks import scheduled_automation

    now = now or timezone.now()
    queued: list[str] = []
    for run_id, beat_at, started_at in AutomationRun.objects.filter(status=RunStatus.RUNNING).values_list(
            "pk", "heartbeat_at", "started_at"):
        if not heartbeat.stopped(run_heartbeat_key(run_id), beat_at, started_at, now):
            continue
        with transaction.atomic():
            run = AutomationRun.objects.select_for_update().filter(pk=run_id, status=RunStatus.RUNNING).first()
            if run is None:
                continue
            again = run.trigger == "schedule"
            reason = heartbeat.reason(requeued_as={"template": A_NEW_RUN, "params": {}} if again else None)
            AutomationRun.objects.filter(pk=run_id).update(
                status=RunStatus.FAILED, finished_at=now, reason=reason, errors=[*run.errors, reason["message"]])
            if again:
                as_of = run.as_of.isoformat()
                transaction.on_commit(lambda as_of=as_of: scheduled_automation.enqueue(as_of))  # type: ignore[misc]
                queued.append(f"automation as of {as_of}")
        heartbeat.forget(run_heartbeat_key(run_id))
    return queued


def automation_tick(now: dt.datetime | None = None) -> bool:
    """Called by `bcrm worker` every tick: once per business day, from the scheduled hour on, the first
    worker to lock the schedule row claims the day and queues the automation; the others see it taken."""
    from bcrm.playbooks.calendars import default_calendar
    from bcrm.playbooks.tasks import scheduled_automation

    now = now or timezone.now()
    ensure_defaults()
    cal = default_calendar()
    local = now.astimezone(cal.tz)
    AutomationSchedule.objects.get_or_create(key="daily")
    with transaction.atomic():
        state = AutomationSchedule.objects.select_for_update().get(key="daily")
        if not state.enabled or not cal.is_business_day(local.date()) or local.hour < state.hour:
            return False
        if state.last_day is not None and state.last_day >= local.date():
            return False
        state.last_day = local.date()
        state.save(update_fields=["last_day"])
        transaction.on_commit(lambda: scheduled_automation.enqueue(now.isoformat()))
    return True
