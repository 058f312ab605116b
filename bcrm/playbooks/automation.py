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
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.models import Team, TeamMembership
from bcrm.accounts.permissions import has_any
from bcrm.core import texts
from bcrm.core.errors import PermissionDenied
from bcrm.engagement.choices import TaskSource, TaskStatus
from bcrm.engagement.models import Interaction, ServiceRequest, Task
from bcrm.financing.choices import ParticipationStatus
from bcrm.financing.models import Participation
from bcrm.playbooks.businesstime import BusinessCalendar, add_months
from bcrm.playbooks.calendars import team_calendars
from bcrm.playbooks.choices import (
    ACTION_KINDS,
    Action,
    CadenceUnit,
    OwnerRule,
    RunStatus,
    Tier,
    Trigger,
)
from bcrm.playbooks.defaults import ensure_defaults
from bcrm.playbooks.hooks import deliverable
from bcrm.playbooks.models import (
    AutomationRun,
    AutomationSchedule,
    ClientTier,
    Playbook,
    PlaybookStep,
    TierPolicy,
)
from bcrm.playbooks.policy import tier_table, validate_rules
from bcrm.segmentation.choices import Dimension
from bcrm.segmentation.features import column, to_epoch

RUN_ROLES = {Role.ADMIN, Role.LEAD}
DAY = 86_400
TIER_RANK = {Tier.DEDICATED.value: 0, Tier.STANDARD.value: 1}
ESCALATION_HOURS = Decimal("0.5")
LOCK_KEY = "lock"
# The titles the engine writes (codes of bcrm.core.texts: rendered in each reader's language).
SLA_RESPONSE = texts.gettext_noop("SLA breached: first response overdue on request #%(request)s")
SLA_RESOLUTION = texts.gettext_noop("SLA breached: resolution overdue on request #%(request)s")
OVERFLOW_IN_TEAM = texts.gettext_noop(
    "Capacity overflow: %(tasks)s tasks (%(hours)s h) without an owner in %(team)s")
OVERFLOW_NO_TEAM = texts.gettext_noop(
    "Capacity overflow: %(tasks)s tasks (%(hours)s h) without an owner and without a team")
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

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run.pk if self.run else None, "as_of": self.as_of.isoformat(),
                "dry_run": self.dry_run, "policy_version": self.policy_version, "counts": self.counts,
                "overflow": self.overflow, "errors": self.errors, "timings_ms": self.timings,
                "duration_ms": self.duration_ms}


class _DryRunRollback(Exception):
    pass


def as_of_moment(day: dt.date) -> dt.datetime:
    """A date given to the automation means the close of that working day on the default calendar."""
    from bcrm.playbooks.calendars import default_calendar

    return default_calendar().closes(day)


def run_automation(*, actor, as_of: dt.datetime | None = None, dry_run: bool = False,
                   trigger: str = "manual") -> AutomationReport:
    """One automation pass as of ``as_of`` (now by default). Lead/admin, or the system (actor None)."""
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
        run = AutomationRun.objects.create(as_of=now, dry_run=False, trigger=trigger, started_by=user,
                                           started_at=timezone.now())
    report = AutomationReport(run=run, as_of=now, dry_run=dry_run)
    try:
        with transaction.atomic():
            # Runs take turns: a second worker waits here, then finds everything already done.
            list(AutomationSchedule.objects.select_for_update().filter(key=LOCK_KEY))
            population_read = timezone.now()
            _Engine(now=now, report=report, run_id=run.pk if run else None).run()
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
            AutomationRun.objects.filter(pk=run.pk).update(
                status=RunStatus.FAILED, finished_at=timezone.now(), duration_ms=report.duration_ms,
                errors=report.errors, timings=report.timings)
            run.refresh_from_db()
        raise
    report.duration_ms = int((time.perf_counter() - started) * 1000)
    if run is not None:
        AutomationRun.objects.filter(pk=run.pk).update(
            status=RunStatus.DONE, finished_at=timezone.now(), duration_ms=report.duration_ms,
            counts=report.counts, overflow=report.overflow, errors=report.errors, timings=report.timings,
            policy_version=report.policy_version)
        run.refresh_from_db()
    return report


# --- reading in bulk -----------------------------------------------------------------------------------

def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def _table(model) -> str:
    return _qn(model._meta.db_table)


def _rows(sql: str, params: Iterable[Any] = ()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def _epoch_days(epochs: np.ndarray, offset_seconds: int) -> np.ndarray:
    """Seconds since the epoch (UTC) → local calendar day numbers (days since 1970-01-01)."""
    return np.floor((epochs + offset_seconds) / DAY).astype(np.int64)


def _day(number: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(number))


def _day_number(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def _add_cadence_days(days: np.ndarray, count: int, unit: str) -> np.ndarray:
    """Day numbers plus a cadence, months as calendar months (clamped to the month's length)."""
    if unit == CadenceUnit.DAY:
        return days + count
    if unit == CadenceUnit.WEEK:
        return days + 7 * count
    as_dates = days.astype("datetime64[D]")
    month = as_dates.astype("datetime64[M]")
    offset = (as_dates - month.astype("datetime64[D]")).astype(np.int64)
    target = month + count
    last = ((target + 1).astype("datetime64[D]") - 1)
    out = np.minimum(target.astype("datetime64[D]") + offset, last)
    return out.astype(np.int64)


class _BusinessDays:
    """Next-business-day lookup over a range of day numbers, built once per calendar per run."""

    def __init__(self, calendar: BusinessCalendar, first: int, last: int):
        self.first = first
        size = max(0, last - first) + 1
        table = np.empty(size, dtype=np.int64)
        following: int | None = None
        for i in range(size - 1, -1, -1):
            day = _day(first + i)
            if calendar.is_business_day(day):
                following = first + i
            table[i] = following if following is not None else _day_number(calendar.next_business_day(day))
        self.table = table

    def forward(self, days: np.ndarray) -> np.ndarray:
        return self.table[days - self.first]


@dataclass(slots=True)
class _NewTask:
    step: PlaybookStep | None
    action: str
    org: int
    team: int | None
    rm: int | None
    due_day: int
    hours: Decimal
    key: str
    basis: float | None = None
    participation: int | None = None
    project: int | None = None
    service_request: int | None = None
    tier_rank: int = 1
    assignee: int | None = None
    title: str = ""
    description: str = ""
    title_code: str = ""
    title_params: dict[str, Any] = field(default_factory=dict)


class _Engine:
    def __init__(self, *, now: dt.datetime, report: AutomationReport, run_id: int | None):
        self.now = now
        self.report = report
        self.run_id = run_id
        self.counts: dict[str, Any] = report.counts
        self.default_cal, self.team_cal = team_calendars()
        self.tz = self.default_cal.tz
        local_now = now.astimezone(self.tz)
        self.today = local_now.date()
        self.today_n = _day_number(self.today)
        offset = local_now.utcoffset()
        self.offset = int(offset.total_seconds()) if offset else 0
        self.stage_started = time.perf_counter()

    def _stage(self, name: str) -> None:
        now = time.perf_counter()
        self.report.timings[name] = int((now - self.stage_started) * 1000)
        self.stage_started = now

    def calendar_of(self, team: int | None) -> BusinessCalendar:
        if team is not None and team in self.team_cal:
            return self.team_cal[team]
        return self.default_cal

    # ------------------------------------------------------------------------------------------------
    def run(self) -> None:
        policy = TierPolicy.objects.filter(is_active=True).order_by("-version").first()
        if policy is None:
            raise RuntimeError("No active tier policy.")
        self.report.policy_version = policy.version
        self.rules = validate_rules(policy.rules)
        self.policy_version = policy.version
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
        counts: Any = np.bincount(tier_now, minlength=len(tier_names)) if self.ids.size else []
        self.counts["tiers"] = {name: int(counts[code]) for code, name in enumerate(tier_names) if len(counts)
                                and counts[code]}
        self.tier_rank = np.array([TIER_RANK.get(n or "", 1) for n in tier_names] or [1], dtype=np.int8)[tier_now] \
            if self.ids.size else np.zeros(0, dtype=np.int8)

    # --- the population ----------------------------------------------------------------------------------
    def _load_population(self) -> None:
        """Every client's id, team, relationship manager, tier and add-ons, and its labels: arrays by id."""
        orgs = _table(ClientTier._meta.get_field("organization").related_model)
        sql = (f"SELECT o.id, o.team_id, o.relationship_manager_id, t.tier, t.addons, "
               f"COALESCE(l.value, ''), COALESCE(l.risk, ''), COALESCE(l.relationship, '') "
               f"FROM {orgs} o LEFT JOIN {_table(ClientTier)} t ON t.organization_id = o.id "
               f"LEFT JOIN {_qn('segmentation_clientlabels')} l ON l.organization_id = o.id ORDER BY o.id")
        ids: list[int] = []
        teams: list[int] = []
        rms: list[int] = []
        # Tiers, add-on sets and labels come as a handful of distinct strings: kept as small integer codes.
        codes: list[dict[Any, int]] = [{} for _ in range(5)]
        coded: list[list[int]] = [[] for _ in range(5)]
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql)
            while rows := cursor.fetchmany(100_000):
                ids.extend(column(rows, 0))
                teams.extend(-1 if r[1] is None else r[1] for r in rows)
                rms.extend(-1 if r[2] is None else r[2] for r in rows)
                for k in range(5):
                    table = codes[k]
                    coded[k].extend(table.setdefault(v, len(table)) for v in column(rows, 3 + k))
        self.ids = np.array(ids, dtype=np.int64)
        self.teams = np.array(teams, dtype=np.int64)
        self.rms = np.array(rms, dtype=np.int64)
        self.codes = codes
        self.coded = [np.array(c, dtype=np.int16) for c in coded]
        self.counts["clients"] = int(self.ids.size)

    def _is(self, k: int, wanted) -> np.ndarray:
        """Clients whose coded column ``k`` satisfies ``wanted(text)``."""
        names = sorted(self.codes[k], key=self.codes[k].__getitem__)
        table = np.array([bool(wanted(n)) for n in names] or [False], dtype=bool)
        return table[self.coded[k]] if self.ids.size else np.zeros(0, dtype=bool)

    def _members_of(self, playbook_code: str) -> np.ndarray:
        if playbook_code in Tier.values:
            return self._is(0, lambda name: name == playbook_code)
        return self._is(1, lambda name: playbook_code in name.split(","))

    def _has_label(self, dimension: str, label: str) -> np.ndarray:
        return self._is(2 + Dimension.values.index(dimension), lambda name: name == label)

    def _applies(self, step: PlaybookStep) -> np.ndarray:
        mask = self._members_of(step.playbook.code)
        if step.only_dimension:
            mask &= self._has_label(step.only_dimension, step.only_label)
        return mask

    # --- 2. last interactions and open tasks -------------------------------------------------------------
    def _last_interactions(self) -> None:
        """The last interaction per client and group of kinds, one aggregate over the interactions."""
        groups: dict[str, int] = {}
        for kinds in ACTION_KINDS.values():
            for kind in kinds:
                groups.setdefault(kind, len(groups))
        self.kind_group = groups
        case = "CASE kind " + " ".join(f"WHEN '{k}' THEN {g}" for k, g in groups.items()) + " ELSE -1 END"
        qs_sql = (f"SELECT organization_id, {case} AS g, MAX(occurred_at) FROM {_table(Interaction)} "
                  f"GROUP BY organization_id, {case}")
        by_group: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        org_parts: dict[int, list] = defaultdict(list)
        at_parts: dict[int, list] = defaultdict(list)
        with connection.chunked_cursor() as cursor:
            cursor.execute(qs_sql)
            while rows := cursor.fetchmany(200_000):
                orgs = np.array(column(rows, 0), dtype=np.int64)
                g = np.array(column(rows, 1), dtype=np.int64)
                at = to_epoch(column(rows, 2))
                for group in np.unique(g):
                    if group < 0:
                        continue
                    sel = g == group
                    org_parts[int(group)].append(orgs[sel])
                    at_parts[int(group)].append(at[sel])
        for group in org_parts:
            by_group[group] = (np.concatenate(org_parts[group]), np.concatenate(at_parts[group]))
        self.last_by_group = by_group

    def _last_for(self, action: str) -> np.ndarray:
        """Seconds since the epoch of each client's last interaction fulfilling ``action`` (NaN: never)."""
        out = np.full(self.ids.size, np.nan)
        for kind in ACTION_KINDS[action]:
            group = self.kind_group[kind]
            if group not in self.last_by_group:
                continue
            orgs, at = self.last_by_group[group]
            pos = np.searchsorted(self.ids, orgs)
            pos = np.clip(pos, 0, max(self.ids.size - 1, 0))
            hit = (self.ids.size > 0) & (self.ids[pos] == orgs) if self.ids.size else np.zeros(0, bool)
            if not np.any(hit):
                continue
            idx = pos[hit]
            current = out[idx]
            out[idx] = np.where(np.isnan(current), at[hit], np.fmax(current, at[hit]))
        return out

    def _open_tasks(self) -> None:
        """Open playbook tasks per step, as arrays: clients (sorted), task ids, bases (epoch, NaN = none)."""
        if connection.vendor == "postgresql":
            epoch = "EXTRACT(EPOCH FROM basis_at)"
        else:
            epoch = "(julianday(basis_at) - 2440587.5) * 86400.0"  # keeps the fraction of a second
        sql = (f"SELECT step_id, COALESCE(organization_id, 0), COALESCE(participation_id, -1), {epoch}, id "
               f"FROM {_table(Task)} WHERE status = %s AND source = %s AND step_id IS NOT NULL")
        parts: list[np.ndarray] = []
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql, [TaskStatus.OPEN.value, TaskSource.PLAYBOOK.value])
            while rows := cursor.fetchmany(200_000):
                parts.append(np.array([(r[0], r[1], r[2], np.nan if r[3] is None else float(r[3]), r[4])
                                       for r in rows], dtype=np.float64))
        data = np.concatenate(parts) if parts else np.zeros((0, 5))
        self.open_by_step: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.open_participations: dict[int, set[int]] = defaultdict(set)
        steps = data[:, 0].astype(np.int64)
        for step in np.unique(steps).tolist():
            rows_of = data[steps == step]
            by_participation = rows_of[:, 2] >= 0
            if by_participation.any():
                self.open_participations[step] = set(rows_of[by_participation, 2].astype(np.int64).tolist())
            rest = rows_of[~by_participation]
            order = np.argsort(rest[:, 1], kind="stable")
            rest = rest[order]
            self.open_by_step[step] = (rest[:, 1].astype(np.int64), rest[:, 4].astype(np.int64), rest[:, 3])

    # --- 3. due steps ------------------------------------------------------------------------------------
    def _cadence_step(self, step: PlaybookStep, due_counts: dict[str, int]) -> list[_NewTask]:
        mask = self._applies(step)
        last = self._last_for(step.action)
        empty = np.zeros(0, dtype=np.int64)
        task_orgs, task_ids, bases = self.open_by_step.get(step.pk, (empty, empty, np.zeros(0)))
        # Open tasks of this step that a newer interaction has fulfilled are closed.
        if task_orgs.size and self.ids.size:
            pos = np.searchsorted(self.ids, task_orgs).clip(0, self.ids.size - 1)
            known = self.ids[pos] == task_orgs
            seen = np.where(known, last[pos], np.nan)
            newer = ~np.isnan(seen) & (np.isnan(bases) | (seen > bases + 0.5))
            if newer.any():
                self._close_fulfilled(task_ids[newer].tolist())
                task_orgs = task_orgs[~newer]
        idx = np.nonzero(mask)[0]
        if idx.size == 0:
            return []
        last_sel = last[idx]
        never = np.isnan(last_sel)
        last_days = np.where(never, self.today_n, _epoch_days(np.nan_to_num(last_sel), self.offset))
        due = np.where(never, self.today_n, _add_cadence_days(last_days, step.cadence_count, step.cadence_unit))
        due = self._forward(due, self.teams[idx])
        ready = due <= self.today_n + step.lead_days
        # A cycle missed long ago is due now, not on its old date: the task is work for this week (its basis
        # still says when the client was last served).
        due = self._forward(np.maximum(due, self.today_n), self.teams[idx])
        due_counts[step.action] += int(ready.sum())
        created: list[_NewTask] = []
        title = _english(step.get_action_display)
        code = _action_code(step.action)
        # Clients with an open task for this step get nothing new.
        ready &= ~np.isin(self.ids[idx], task_orgs, assume_unique=False)
        picked = idx[ready]
        for i, due_day, basis in zip(picked.tolist(), due[ready].tolist(), last_sel[ready].tolist(), strict=True):
            org = int(self.ids[i])
            team = int(self.teams[i])
            rm = int(self.rms[i])
            basis_key = "new" if basis != basis else str(int(round(basis)))
            created.append(_NewTask(
                step=step, action=step.action, org=org, team=team if team >= 0 else None,
                rm=rm if rm >= 0 else None, due_day=int(due_day), hours=step.hours,
                key=f"pb:{step.pk}:{org}:{basis_key}", basis=None if basis != basis else basis,
                tier_rank=int(self.tier_rank[i]), title=title, title_code=code))
        return created

    def _forward(self, days: np.ndarray, teams: np.ndarray) -> np.ndarray:
        """Due days moved forward to business days of each client's team calendar."""
        if days.size == 0:
            return days
        out = days.copy()
        first, last = int(days.min()), int(days.max()) + 40
        cal_ids: dict[int, BusinessCalendar] = {}
        for team in np.unique(teams).tolist():
            cal_ids[team] = self.calendar_of(team if team >= 0 else None)
        by_cal: dict[int, list[int]] = defaultdict(list)
        for team, cal in cal_ids.items():
            by_cal[id(cal)].append(team)
        for teams_of_cal in by_cal.values():
            cal = cal_ids[teams_of_cal[0]]
            lookup = _BusinessDays(cal, first, last)
            sel = np.isin(teams, teams_of_cal)
            out[sel] = lookup.forward(days[sel])
        return out

    def _close_fulfilled(self, ids: list[int]) -> None:
        for start in range(0, len(ids), 5000):
            Task.objects.filter(pk__in=ids[start:start + 5000], status=TaskStatus.OPEN).update(
                status=TaskStatus.DONE, completed_at=self.now, updated_at=self.now)
        self.counts["fulfilled"] = self.counts.get("fulfilled", 0) + len(ids)

    def _participation_step(self, step: PlaybookStep, due_counts: dict[str, int]) -> list[_NewTask]:
        """A review of each new participation of the clients the step applies to (enhanced due diligence):
        every participation still in the pipeline without a review of its project since it was created."""
        mask = self._applies(step)
        if not mask.any():
            return []
        closed = [ParticipationStatus.DECLINED, ParticipationStatus.WITHDRAWN, ParticipationStatus.FUNDED]
        tiers = _table(ClientTier)
        parts = _table(Participation)
        code = step.playbook.code
        member_sql = ("t.tier = %s" if code in Tier.values else "t.addons LIKE %s")
        member_param = code if code in Tier.values else f"%{code}%"
        placeholders = ", ".join(["%s"] * len(closed))
        rows = _rows(
            f"SELECT p.id, p.organization_id, p.project_id, p.created_at FROM {parts} p "
            f"JOIN {tiers} t ON t.organization_id = p.organization_id "
            f"WHERE {member_sql} AND p.status NOT IN ({placeholders}) "
            f"AND NOT EXISTS (SELECT 1 FROM {_table(Interaction)} i WHERE i.organization_id = p.organization_id "
            f"AND i.project_id = p.project_id AND i.kind IN ({', '.join(['%s'] * len(ACTION_KINDS[step.action]))}) "
            f"AND i.occurred_at >= p.created_at) ORDER BY p.id",
            [member_param, *[str(c) for c in closed], *ACTION_KINDS[step.action]])
        if not rows:
            return []
        created_days = _epoch_days(to_epoch(column(rows, 3)), self.offset)
        org_ids = np.array(column(rows, 1), dtype=np.int64)
        pos = np.searchsorted(self.ids, org_ids).clip(0, max(self.ids.size - 1, 0))
        known = self.ids[pos] == org_ids
        ok = known & mask[pos]
        if step.only_dimension:
            ok &= self._has_label(step.only_dimension, step.only_label)[pos]
        due = _add_cadence_days(created_days, step.cadence_count, step.cadence_unit)
        due = self._forward(due, self.teams[pos])
        title = _english(step.get_action_display)
        code = _action_code(step.action)
        out: list[_NewTask] = []
        open_parts = self.open_participations.get(step.pk, set())
        for (pid, org, project, _c), p, good, due_day in zip(rows, pos.tolist(), ok.tolist(), due.tolist(),
                                                             strict=True):
            if not good or due_day > self.today_n + step.lead_days:
                continue
            due_counts[step.action] += 1
            if pid in open_parts:
                continue
            team, rm = int(self.teams[p]), int(self.rms[p])
            out.append(_NewTask(step=step, action=step.action, org=int(org), team=team if team >= 0 else None,
                                rm=rm if rm >= 0 else None, due_day=int(due_day), hours=step.hours,
                                key=f"pb:{step.pk}:p{pid}", participation=int(pid), project=int(project),
                                tier_rank=int(self.tier_rank[p]), title=title, title_code=code))
        return out

    # --- 4. assignment within capacity -------------------------------------------------------------------
    def _staff(self) -> None:
        from django.contrib.auth import get_user_model

        User = get_user_model()
        active = set(User.objects.filter(is_active=True).values_list("pk", flat=True))
        rms = set(User.objects.filter(is_active=True, groups__name=Role.RELATIONSHIP_MANAGER)
                  .values_list("pk", flat=True))
        leads = set(User.objects.filter(is_active=True, groups__name=Role.LEAD).values_list("pk", flat=True))
        leads |= set(User.objects.filter(is_active=True, is_superuser=True).values_list("pk", flat=True)) \
            if not leads else set()
        self.capacity: dict[int, Decimal] = defaultdict(Decimal)
        self.pool: dict[int, list[int]] = defaultdict(list)
        self.team_leads: dict[int, list[int]] = defaultdict(list)
        for team, user, hours in TeamMembership.objects.order_by("team_id", "user_id").values_list(
                "team_id", "user_id", "weekly_capacity_hours"):
            if user not in active:
                continue
            self.capacity[user] += hours or Decimal(0)
            if user in rms and hours and hours > 0:
                self.pool[team].append(user)
            if user in leads:
                self.team_leads[team].append(user)
        self.all_leads = sorted(leads)
        self.active = active
        # The hours already planned per person and week: open tasks assigned to them.
        self.load: dict[tuple[int, tuple[int, int]], Decimal] = defaultdict(Decimal)
        this_week = self.today.isocalendar()[:2]
        for user, due_at, planned in Task.objects.filter(status=TaskStatus.OPEN, assignee__isnull=False,
                                                       planned_hours__isnull=False).order_by().values_list(
                "assignee_id", "due_at", "planned_hours"):
            week = max(due_at.astimezone(self.tz).date().isocalendar()[:2], this_week)
            self.load[(user, week)] += planned or Decimal(0)

    def _room(self, user: int, week: tuple[int, int], hours: Decimal) -> bool:
        return self.load[(user, week)] + hours <= self.capacity.get(user, Decimal(0))

    def _assign(self, tasks: list[_NewTask]) -> None:
        self._staff()
        this_week = self.today.isocalendar()[:2]
        tasks.sort(key=lambda t: (t.due_day, t.tier_rank, t.org, t.step.position if t.step else 0, t.key))
        assigned = overflow = 0
        for task in tasks:
            week = max(_day(task.due_day).isocalendar()[:2], this_week)
            rule = task.step.owner_rule if task.step else OwnerRule.RELATIONSHIP_MANAGER
            candidate = None
            if rule == OwnerRule.RELATIONSHIP_MANAGER and task.rm is not None and task.rm in self.active:
                if self._room(task.rm, week, task.hours):
                    candidate = task.rm
            elif task.team is not None:  # the team pool, or a client without a relationship manager
                best = None
                for user in self.pool.get(task.team, ()):
                    cap = self.capacity.get(user, Decimal(0))
                    if cap <= 0 or not self._room(user, week, task.hours):
                        continue
                    ratio = (self.load[(user, week)] + task.hours) / cap
                    if best is None or ratio < best[0]:
                        best = (ratio, user)
                candidate = best[1] if best else None
            if candidate is not None:
                self.load[(candidate, week)] += task.hours
                task.assignee = candidate
                assigned += 1
            else:
                overflow += 1
        self.counts["assigned"] = assigned
        self.counts["overflow"] = overflow

    def _overflow_tasks(self, tasks: list[_NewTask]) -> list[_NewTask]:
        """One task per team lead naming the work their team has no capacity for this week."""
        by_team: dict[int | None, list[_NewTask]] = defaultdict(list)
        for task in tasks:
            if task.assignee is None:
                by_team[task.team].append(task)
        if not by_team:
            return []
        names = dict(Team.objects.filter(pk__in=[t for t in by_team if t is not None]).values_list("pk", "name"))
        year, week, _weekday = self.today.isocalendar()
        out: list[_NewTask] = []
        summary = []
        for team, items in sorted(by_team.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
            hours = sum((t.hours for t in items), Decimal(0))
            leads = self.team_leads.get(team, []) if team is not None else []
            leads = leads or self.all_leads
            team_name = names.get(team, "—") if team is not None else _english(lambda: _("No team"))
            summary.append({"team_id": team, "team": team_name, "tasks": len(items), "hours": str(hours),
                            "leads": leads})
            if team is not None:
                message = texts.text(OVERFLOW_IN_TEAM, tasks=len(items), hours=float(hours), team=team_name)
            else:
                message = texts.text(OVERFLOW_NO_TEAM, tasks=len(items), hours=float(hours))
            for lead in leads:
                out.append(_NewTask(step=None, action=Action.CAPACITY_OVERFLOW, org=0, team=team, rm=None,
                                    due_day=self.today_n, hours=Decimal("0.5"),
                                    key=f"overflow:{team or 0}:{year}-W{week:02d}:{lead}", assignee=lead,
                                    title=message["message"][:200], title_code=message["template"],
                                    title_params=message["params"]))
        self.report.overflow = summary
        return out

    # --- 5. service requests -----------------------------------------------------------------------------
    def _service_requests(self) -> list[_NewTask]:
        """SLA due dates for open requests that lack them; one escalation per breached promise."""
        orgs = _table(ClientTier._meta.get_field("organization").related_model)
        rows = _rows(
            f"SELECT r.id, r.organization_id, r.opened_at, r.first_response_at, r.response_due_at, "
            f"r.resolution_due_at, r.escalated_at, r.owner_id, o.team_id, o.relationship_manager_id, t.tier "
            f"FROM {_table(ServiceRequest)} r JOIN {orgs} o ON o.id = r.organization_id "
            f"LEFT JOIN {_table(ClientTier)} t ON t.organization_id = r.organization_id "
            f"WHERE r.resolved_at IS NULL ORDER BY r.id")
        if not rows:
            self.counts["sla_stamped"] = 0
            self.counts["escalated"] = 0
            return []
        opened = to_epoch(column(rows, 2))
        response_due = to_epoch(column(rows, 4))
        resolution_due = to_epoch(column(rows, 5))
        now_epoch = self.now.timestamp()
        stamps: list[tuple[int, dt.datetime | None, dt.datetime | None]] = []
        escalate: list[tuple[int, str, int | None, int | None, int | None, int]] = []
        for i, (pk, org, _o, first_response, _rd, _sd, _escalated, owner, team, rm, tier) in enumerate(rows):
            playbook = self.playbooks.get(tier or Tier.STANDARD)
            cal = self.calendar_of(team)
            resp, reso = response_due[i], resolution_due[i]
            if resp != resp or reso != reso:
                opened_at = dt.datetime.fromtimestamp(opened[i], dt.UTC)
                new_resp = cal.add_business_hours(opened_at, playbook.response_sla_hours) \
                    if playbook and playbook.response_sla_hours else None
                new_reso = cal.add_business_hours(opened_at, playbook.resolution_sla_hours) \
                    if playbook and playbook.resolution_sla_hours else None
                stamps.append((pk, new_resp, new_reso))
                resp = new_resp.timestamp() if new_resp else np.nan
                reso = new_reso.timestamp() if new_reso else np.nan
            if first_response is None and resp == resp and resp < now_epoch:
                escalate.append((pk, "response", team, rm, owner, org))
            if reso == reso and reso < now_epoch:
                escalate.append((pk, "resolution", team, rm, owner, org))
        if stamps:
            with connection.cursor() as cursor:
                _bulk_set(cursor, _table(ServiceRequest), ["response_due_at", "resolution_due_at"],
                          [(pk, _db_datetime(resp_at), _db_datetime(reso_at)) for pk, resp_at, reso_at in stamps])
        self.counts["sla_stamped"] = len(stamps)
        out: list[_NewTask] = []
        escalated_ids: list[int] = []
        self._staff_for_escalation()
        for pk, which, team, rm, owner, org in escalate:
            leads = (self.esc_team_leads.get(team) if team is not None else None) or self.esc_all_leads
            assignee = leads[0] if leads else (rm or owner)
            message = texts.text(SLA_RESPONSE if which == "response" else SLA_RESOLUTION, request=str(pk))
            out.append(_NewTask(step=None, action=Action.SLA_ESCALATION, org=org, team=team, rm=rm,
                                due_day=self.today_n, hours=ESCALATION_HOURS, key=f"sla:{pk}:{which}",
                                service_request=pk, assignee=assignee, title=message["message"],
                                title_code=message["template"], title_params=message["params"]))
            escalated_ids.append(pk)
        if escalated_ids:
            for start in range(0, len(escalated_ids), 5000):
                ServiceRequest.objects.filter(pk__in=escalated_ids[start:start + 5000],
                                              escalated_at__isnull=True).update(escalated_at=self.now)
        self.counts["breaches"] = len(out)
        return out

    def _staff_for_escalation(self) -> None:
        from django.contrib.auth import get_user_model

        User = get_user_model()
        leads = list(User.objects.filter(is_active=True, groups__name=Role.LEAD).order_by("pk")
                     .values_list("pk", flat=True))
        self.esc_all_leads = leads
        self.esc_team_leads: dict[int, list[int]] = defaultdict(list)
        for team, user in TeamMembership.objects.filter(user_id__in=leads).order_by("team_id", "user_id") \
                .values_list("team_id", "user_id"):
            self.esc_team_leads[team].append(user)

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

        def due_at(task: _NewTask) -> dt.datetime:
            key = (task.due_day, task.team)
            if key not in due_cache:
                due_cache[key] = _db_datetime(self.calendar_of(task.team).closes(_day(task.due_day)))
            return due_cache[key]

        with connection.cursor() as cursor:
            for action, items in by_action.items():
                for start in range(0, len(items), INSERT_BATCH):
                    chunk = items[start:start + INSERT_BATCH]
                    rows = [(t.title, t.title_code, json.dumps(t.title_params), t.description, t.org or None, t.assignee, due_at(t), TaskStatus.OPEN.value,
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


def _db_datetime(value: dt.datetime | None):
    """A datetime as the ORM would store it: raw SQL must not hand SQLite an aware datetime (its adapter
    keeps the offset, and text with an offset does not compare with the ORM's naive UTC text)."""
    return None if value is None else connection.ops.adapt_datetimefield_value(value)


def _bulk_set(cursor, table: str, cols: list[str], rows: list[tuple]) -> None:
    """Set ``cols`` of many rows by id (rows are (id, *values)): executemany on SQLite; on PostgreSQL a COPY
    into a scratch table and one UPDATE … FROM."""
    if connection.vendor == "postgresql":
        quoted = ", ".join(_qn(c) for c in ["id", *cols])
        cursor.execute("DROP TABLE IF EXISTS bcrm_bulk_set")
        cursor.execute(f"CREATE TEMP TABLE bcrm_bulk_set ON COMMIT DROP AS SELECT {quoted} FROM {table} WITH NO DATA")
        with cursor.cursor.copy(f"COPY bcrm_bulk_set ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        sets = ", ".join(f"{_qn(c)} = s.{_qn(c)}" for c in cols)
        cursor.execute(f"UPDATE {table} SET {sets} FROM bcrm_bulk_set s WHERE {table}.id = s.id")
        return
    sets = ", ".join(f"{_qn(c)} = %s" for c in cols)
    cursor.executemany(f"UPDATE {table} SET {sets} WHERE id = %s", [(*row[1:], row[0]) for row in rows])


def _upsert(cursor, table: str, cols: list[str], rows: list[tuple], *, conflict: str) -> int:
    """Insert ``rows`` with an ON CONFLICT clause: COPY into a scratch table then one INSERT … SELECT on
    PostgreSQL, executemany on SQLite."""
    quoted = ", ".join(_qn(c) for c in cols)
    if connection.vendor == "postgresql":
        cursor.execute("DROP TABLE IF EXISTS bcrm_upsert")
        cursor.execute(f"CREATE TEMP TABLE bcrm_upsert ON COMMIT DROP AS SELECT {quoted} FROM {table} WITH NO DATA")
        with cursor.cursor.copy(f"COPY bcrm_upsert ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(f"INSERT INTO {table} ({quoted}) SELECT {quoted} FROM bcrm_upsert WHERE true {conflict}")
        return max(cursor.rowcount, 0)
    before = connection.connection.total_changes
    cursor.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({', '.join(['%s'] * len(cols))}) {conflict}", rows)
    return connection.connection.total_changes - before


def _action_code(action: str) -> str:
    """A playbook task's title code: its action's English label, which is the label's message id."""
    return _english(lambda: Action(action).label)


def _english(label) -> str:
    """Task titles are stored in English; pages show the action in the reader's language."""
    with translation.override("en"):
        return str(label())


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
