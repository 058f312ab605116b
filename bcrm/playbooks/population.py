"""The automation run's view of the book: its clock and working calendars, and every client as arrays by id
(team, relationship manager, tier, add-ons, labels as small integer codes), with the masks the stages select
clients by."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import connection

from bcrm.playbooks.bulksql import _qn, _table
from bcrm.playbooks.businesstime import BusinessCalendar
from bcrm.playbooks.cadence import _day_number
from bcrm.playbooks.calendars import team_calendars
from bcrm.playbooks.choices import Tier
from bcrm.playbooks.models import ClientTier, Playbook, PlaybookStep
from bcrm.segmentation.choices import Dimension
from bcrm.segmentation.features import column

if TYPE_CHECKING:
    from bcrm.playbooks.automation import AutomationReport


class _Population:
    """The state every stage of a run shares; :class:`bcrm.playbooks.automation._Engine` builds on it."""

    # Set by the run (automation.py) before the stages that read them.
    playbooks: dict[str, Playbook]
    tier_rank: np.ndarray

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
