"""The automation run's view of the book: its clock and working calendars, and every client as arrays by id
(team, relationship manager, tier, add-ons, labels as small integer codes), with the masks the stages select
clients by."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import connection

from bcrm.playbooks.bulksql import _db_datetime, _qn, _rows, _table, _upsert
from bcrm.playbooks.businesstime import BusinessCalendar
from bcrm.playbooks.cadence import _day, _day_number
from bcrm.playbooks.calendars import team_calendars
from bcrm.playbooks.choices import Tier
from bcrm.playbooks.models import ClientDue, ClientTier, Playbook, PlaybookStep
from bcrm.segmentation.choices import Dimension
from bcrm.segmentation.features import column

if TYPE_CHECKING:
    from bcrm.playbooks.automation import AutomationReport

# A day number no date reaches: "no step of this client falls due by date alone".
NEVER = np.iinfo(np.int64).max
SCOPE = "bcrm_automation_scope"


def _due_number(value) -> int:
    """A stored next-due date (a date, or ISO text from a raw SQLite read) as a day number; NEVER for none."""
    if value is None:
        return NEVER
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return _day_number(value)


class _Population:
    """The state every stage of a run shares; :class:`bcrm.playbooks.automation._Engine` builds on it."""

    # Set by the run (automation.py) before the stages that read them.
    playbooks: dict[str, Playbook]
    tier_rank: np.ndarray

    def __init__(self, *, now: dt.datetime, report: AutomationReport, run_id: int | None,
                 since: dt.datetime | None = None):
        self.now = now
        # None: a full run over every client; a moment: an incremental run over the clients due by date, whose
        # inputs changed, or with writes since that moment (the previous run's start, less some slack).
        self.since = since
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

    # --- the population ----------------------------------------------------------------------------------
    @property
    def incremental(self) -> bool:
        return self.since is not None

    def _select_examined(self) -> None:
        """The incremental run's clients, into a temporary table the stages' queries join: no due row yet, due
        by today, inputs (labels, team, relationship manager) other than when last examined, or interactions,
        closed playbook tasks or participations written (or deleted) since ``since``. One plain statement per
        source (no OR of subqueries for a planner to get wrong)."""
        from bcrm.engagement.choices import TaskSource, TaskStatus
        from bcrm.engagement.models import Interaction, Task
        from bcrm.financing.models import Participation

        orgs = _table(ClientTier._meta.get_field("organization").related_model)
        since = _db_datetime(self.since)
        postgres = connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {SCOPE}")
            cursor.execute(f"CREATE TEMP TABLE {SCOPE} (id bigint PRIMARY KEY)"
                           + (" ON COMMIT DROP" if postgres else ""))
            cursor.execute(
                f"INSERT INTO {SCOPE} (id) SELECT o.id FROM {orgs} o "
                f"LEFT JOIN {_qn('segmentation_clientlabels')} l ON l.organization_id = o.id "
                f"LEFT JOIN {_table(ClientDue)} d ON d.organization_id = o.id "
                "WHERE d.organization_id IS NULL OR d.next_due_on <= %s "
                "OR d.value <> COALESCE(l.value, '') OR d.risk <> COALESCE(l.risk, '') "
                "OR d.relationship <> COALESCE(l.relationship, '') "
                "OR COALESCE(d.team_id, -1) <> COALESCE(o.team_id, -1) "
                "OR COALESCE(d.relationship_manager_id, -1) <> COALESCE(o.relationship_manager_id, -1)",
                [self.today])
            for sql, params in (
                    (f"SELECT DISTINCT organization_id FROM {_table(Interaction)} WHERE created_at >= %s "
                     f"UNION SELECT organization_id FROM {_table(Interaction)} WHERE updated_at >= %s", [since, since]),
                    (f"SELECT DISTINCT organization_id FROM {_table(Task)} WHERE updated_at >= %s AND source = %s "
                     f"AND status <> %s AND organization_id IS NOT NULL",
                     [since, TaskSource.PLAYBOOK.value, TaskStatus.OPEN.value]),
                    (f"SELECT DISTINCT organization_id FROM {_table(Participation)} WHERE created_at >= %s "
                     f"UNION SELECT organization_id FROM {_table(Participation)} WHERE updated_at >= %s",
                     [since, since])):
                cursor.execute(f"INSERT INTO {SCOPE} (id) SELECT organization_id FROM ({sql}) AS w "
                               f"WHERE organization_id IS NOT NULL ON CONFLICT DO NOTHING", params)
            deleted = self._deleted_for()
            if deleted:
                cursor.executemany(f"INSERT INTO {SCOPE} (id) VALUES (%s) ON CONFLICT DO NOTHING",
                                   [(pk,) for pk in deleted])
            if postgres:
                cursor.execute(f"ANALYZE {SCOPE}")

    def _deleted_for(self) -> list[int]:
        """The clients of interactions, tasks and participations deleted since ``since`` (from the audit trail:
        a deleted interaction can make a step due sooner)."""
        from django.contrib.contenttypes.models import ContentType

        from bcrm.audit.models import AuditEntry
        from bcrm.engagement.models import Interaction, Task
        from bcrm.financing.models import Participation

        types = ContentType.objects.get_for_models(Interaction, Task, Participation).values()
        orgs: set[int] = set()
        for changes in AuditEntry.objects.filter(action="delete", at__gte=self.since, content_type__in=types) \
                .values_list("changes", flat=True).iterator(chunk_size=2000):
            before = (changes or {}).get("organization")
            value = before[0] if isinstance(before, list) and before else None
            if isinstance(value, int):
                orgs.add(value)
        return sorted(orgs)

    def _load_population(self) -> None:
        """Every client's id, team, relationship manager, tier and add-ons, and its labels: arrays by id (in an
        incremental run, only the clients it examines), with what the last examination stored."""
        orgs = _table(ClientTier._meta.get_field("organization").related_model)
        if self.incremental:
            self._select_examined()
        same = ("CASE WHEN d.organization_id IS NOT NULL AND d.value = COALESCE(l.value, '') "
                "AND d.risk = COALESCE(l.risk, '') AND d.relationship = COALESCE(l.relationship, '') "
                "AND COALESCE(d.team_id, -1) = COALESCE(o.team_id, -1) "
                "AND COALESCE(d.relationship_manager_id, -1) = COALESCE(o.relationship_manager_id, -1) "
                "THEN 1 ELSE 0 END")
        sql = (f"SELECT o.id, o.team_id, o.relationship_manager_id, t.tier, t.addons, "
               f"COALESCE(l.value, ''), COALESCE(l.risk, ''), COALESCE(l.relationship, ''), {same}, d.next_due_on "
               f"FROM {orgs} o {f'JOIN {SCOPE} s ON s.id = o.id ' if self.incremental else ''}"
               f"LEFT JOIN {_table(ClientTier)} t ON t.organization_id = o.id "
               f"LEFT JOIN {_qn('segmentation_clientlabels')} l ON l.organization_id = o.id "
               f"LEFT JOIN {_table(ClientDue)} d ON d.organization_id = o.id ORDER BY o.id")
        ids: list[int] = []
        teams: list[int] = []
        rms: list[int] = []
        same_inputs: list[int] = []
        stored_due: list[int] = []
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
                same_inputs.extend(column(rows, 8))
                stored_due.extend(_due_number(r[9]) for r in rows)
        self.ids = np.array(ids, dtype=np.int64)
        self.teams = np.array(teams, dtype=np.int64)
        self.rms = np.array(rms, dtype=np.int64)
        self.codes = codes
        self.coded = [np.array(c, dtype=np.int16) for c in coded]
        self.same_inputs = np.array(same_inputs, dtype=bool)
        self.stored_due = np.array(stored_due, dtype=np.int64)
        # The first day a step of each client becomes due by date alone (NEVER: none will), filled by stage 3.
        self.next_due = np.full(self.ids.size, NEVER, dtype=np.int64)
        self.counts["examined"] = int(self.ids.size)
        if self.incremental:
            self.counts["clients"] = _rows(f"SELECT COUNT(*) FROM {orgs}")[0][0]
        else:
            self.counts["clients"] = int(self.ids.size)

    def _drop_scope(self) -> None:
        if self.incremental and connection.vendor != "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {SCOPE}")

    def _scope(self, column_sql: str) -> str:
        """`` AND <column> IN (the run's clients)`` in an incremental run, nothing in a full one."""
        return f" AND {column_sql} IN (SELECT id FROM {SCOPE})" if self.incremental else ""

    def _store_due(self) -> int:
        """Write what this run knows of the clients it examined (only the rows that changed): the day each
        becomes due by date alone and the inputs it was examined with. Returns how many rows were written."""
        if not self.ids.size:
            return 0
        changed = ~self.same_inputs | (self.stored_due != self.next_due)
        idx = np.nonzero(changed)[0]
        if not idx.size:
            return 0
        names = [sorted(self.codes[k], key=self.codes[k].__getitem__) for k in (2, 3, 4)]
        value, risk, rel = (np.array(n or [""], dtype=object)[self.coded[2 + j]] for j, n in enumerate(names))
        rows = [(int(self.ids[i]), None if d == NEVER else _day(d), value[i], risk[i], rel[i],
                 None if t < 0 else t, None if r < 0 else r)
                for i, d, t, r in zip(idx.tolist(), self.next_due[idx].tolist(), self.teams[idx].tolist(),
                                      self.rms[idx].tolist(), strict=True)]
        cols = ["organization_id", "next_due_on", "value", "risk", "relationship", "team_id", "relationship_manager_id"]
        update = ", ".join(f"{c} = excluded.{c}" for c in cols[1:])
        with connection.cursor() as cursor:
            for start in range(0, len(rows), 100_000):
                _upsert(cursor, _table(ClientDue), cols, rows[start:start + 100_000],
                        conflict=f"ON CONFLICT (organization_id) DO UPDATE SET {update}")
        return len(rows)

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
