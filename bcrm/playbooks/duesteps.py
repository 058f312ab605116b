"""The automation's due steps (stages 2 and 3): the last interaction per client and kind, the open playbook
tasks, and for each step the clients it applies to and the task each needs now (a cadence after the last
matching interaction, or a review of each new participation)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import connection
from django.utils import translation

from bcrm.engagement.choices import TaskSource, TaskStatus
from bcrm.engagement.models import Interaction, Task
from bcrm.playbooks.bulksql import _rows, _table
from bcrm.playbooks.businesstime import BusinessCalendar
from bcrm.playbooks.cadence import _add_cadence_days, _BusinessDays, _day_number, _epoch_days
from bcrm.playbooks.choices import ACTION_KINDS, Action, Tier
from bcrm.playbooks.models import ClientTier, PlaybookStep
from bcrm.playbooks.population import _Population
from bcrm.segmentation.features import column, to_epoch


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


class _DueSteps(_Population):
    """Stages 2 and 3 of a run: what was done last, what is open, what is due."""

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
                  f"WHERE 1 = 1{self._scope('organization_id')} GROUP BY organization_id, {case}")
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
               f"FROM {_table(Task)} WHERE status = %s AND source = %s AND step_id IS NOT NULL"
               f"{self._scope('organization_id')}")
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
        due = self._phase_in(step, idx, due, never)
        ready = due <= self.today_n + step.lead_days
        # What the next run needs to know: the day this step falls due for the clients it is not due for now and
        # who have no open task for it (a task made now, or already open, changes only by a write).
        waiting = ~ready & ~np.isin(self.ids[idx], task_orgs)
        if waiting.any():
            at = idx[waiting]
            self.next_due[at] = np.minimum(self.next_due[at], due[waiting] - step.lead_days)
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

    def _not_made(self, tasks: list[_NewTask]) -> list[_NewTask]:
        """The due tasks no task has the key of yet. A cycle done or cancelled keeps its key: it is not made again
        (the insert would skip it), and it must not be counted against anyone's capacity or in a lead's overflow
        task either, as a full run did while the daily run, which does not examine that client, did not."""
        if not tasks:
            return tasks
        keys = [t.key for t in tasks]
        made: set[str | None] = set()
        size = 20_000 if connection.vendor == "postgresql" else 900  # SQLite's parameters per statement
        for start in range(0, len(keys), size):
            made.update(Task.objects.filter(source_key__in=keys[start:start + size]).values_list("source_key", flat=True))
        return [t for t in tasks if t.key not in made] if made else tasks

    def _forward(self, days: np.ndarray, teams: np.ndarray) -> np.ndarray:
        """Due days moved forward to business days of each client's team calendar."""
        if days.size == 0:
            return days
        out = days.copy()
        first, last = int(days.min()), int(days.max()) + 40
        for cal, sel in self._by_calendar(teams):
            out[sel] = _BusinessDays(cal, first, last).forward(days[sel])
        return out

    def _by_calendar(self, teams: np.ndarray):
        """(calendar, mask of ``teams``) for each working calendar the teams use."""
        cal_ids: dict[int, BusinessCalendar] = {}
        for team in np.unique(teams).tolist():
            cal_ids[team] = self.calendar_of(team if team >= 0 else None)
        by_cal: dict[int, list[int]] = defaultdict(list)
        for team, cal in cal_ids.items():
            by_cal[id(cal)].append(team)
        for teams_of_cal in by_cal.values():
            yield cal_ids[teams_of_cal[0]], np.isin(teams, teams_of_cal)

    def _phase_in(self, step: PlaybookStep, idx: np.ndarray, due: np.ndarray, never: np.ndarray) -> np.ndarray:
        """A step phased in: the clients it applies to that were already due when the phase-in started (never
        served, or overdue by the cadence) fall due on a working day of the phase-in window of their own; the
        others keep their date. After the window every such day is past, so the step is as without one."""
        if not step.phase_in_days or step.phase_in_from is None or idx.size == 0:
            return due
        start = _day_number(step.phase_in_from)
        behind = never | (due <= start)
        if not behind.any():
            return due
        out = due.copy()
        at = np.nonzero(behind)[0]
        teams = self.teams[idx[at]]
        for cal, sel in self._by_calendar(teams):
            days = working_days(cal, start, step.phase_in_days)
            out[at[sel]] = days[phase_in_slot(self.ids[idx[at[sel]]], step.pk, days.size)]
        return out

    def _close_fulfilled(self, ids: list[int]) -> None:
        for start in range(0, len(ids), 5000):
            Task.objects.filter(pk__in=ids[start:start + 5000], status=TaskStatus.OPEN).update(
                status=TaskStatus.DONE, completed_at=self.now, updated_at=self.now)
        self.counts["fulfilled"] = self.counts.get("fulfilled", 0) + len(ids)

    def _participation_step(self, step: PlaybookStep, due_counts: dict[str, int]) -> list[_NewTask]:
        """A review of each new participation of the clients the step applies to (enhanced due diligence):
        every participation still in the pipeline without a review of its project since it was created."""
        from bcrm.financing.choices import ParticipationStatus
        from bcrm.financing.models import Participation

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
            f"WHERE {member_sql} AND p.status NOT IN ({placeholders}){self._scope('p.organization_id')} "
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
            if not good:
                continue
            if due_day > self.today_n + step.lead_days:
                if pid not in open_parts:
                    self.next_due[p] = min(int(self.next_due[p]), int(due_day) - step.lead_days)
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


def phase_in_slot(orgs: np.ndarray, step: int, size: int) -> np.ndarray:
    """Each client's place in a phase-in of ``size`` days: a stable hash of client and step (the same every run
    and on every database, so an incremental run agrees with a full one), spread evenly over the places."""
    h = orgs.astype(np.uint64) ^ (np.uint64(step) << np.uint64(32))  # splitmix64's finaliser, wrapping
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return (h % np.uint64(max(size, 1))).astype(np.int64)


def working_days(calendar: BusinessCalendar, start: int, length: int) -> np.ndarray:
    """The working days (day numbers) among the ``length`` days from ``start``; the first working day on or
    after ``start`` when none falls inside."""
    lookup = _BusinessDays(calendar, start, start + length + 40)
    days = np.unique(lookup.table[:length])
    inside = days[days < start + length]
    return inside if inside.size else days[:1]


def _action_code(action: str) -> str:
    """A playbook task's title code: its action's English label, which is the label's message id."""
    return _english(lambda: Action(action).label)


def _english(label) -> str:
    """Task titles are stored in English; pages show the action in the reader's language."""
    with translation.override("en"):
        return str(label())
