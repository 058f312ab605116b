"""Reads of the resource plan and the working-calendar pages, shared by the page and the API.

The plan reads in bulk whatever the number of clients: four plain scans (clients' teams, tiers and add-ons,
labels, the latest value scores — two numbers a row, computed by the database) lined up and counted into
groups in NumPy; one GROUP BY of new participations over the last year; one of members' hours. The
arithmetic is in :mod:`bcrm.resources.planning` (NumPy).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import (
    Case,
    Count,
    IntegerField,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.models import Team, TeamMembership
from bcrm.accounts.permissions import has_any, user_team_ids
from bcrm.core.errors import InvalidInput, NotFound, PermissionDenied
from bcrm.financing.models import Participation
from bcrm.financing.walls import unwalled
from bcrm.parties.models import Organization
from bcrm.playbooks.calendars import parse_weekend
from bcrm.playbooks.choices import Action, AddOn, DayKind, Tier
from bcrm.playbooks.defaults import ensure_defaults
from bcrm.playbooks.models import CalendarDay, ClientTier, PlaybookStep, TierPolicy, WorkCalendar
from bcrm.playbooks.policy import DEFAULT_RULES, LABEL_STATES, tier_table
from bcrm.resources import planning as resource
from bcrm.segmentation.choices import Dimension
from bcrm.segmentation.models import Assignment, ClientLabels, Run
from bcrm.segmentation.selectors import effective_assignments, latest_run_ids

SEE_ALL_TEAMS = {Role.ADMIN, Role.LEAD, Role.ANALYST, Role.VIEWER}
NEW_PARTICIPATION_WINDOW_DAYS = 365
# A client's labels as one number 0..63: each dimension's state is its index in LABEL_STATES.
COMBOS: list[tuple[str, str, str]] = [
    (v, r, rel) for v in LABEL_STATES["value"] for r in LABEL_STATES["risk"] for rel in LABEL_STATES["relationship"]]


# --- who sees which teams --------------------------------------------------------------------------------

def may_see_resource_plan(user) -> bool:
    """Who may open the resource plan at all (the page's access rule and this module's)."""
    return has_any(user, SEE_ALL_TEAMS | {Role.RELATIONSHIP_MANAGER})


def resource_team_ids(user) -> list[int] | None:
    """Teams whose plan ``user`` may see: None = every team (lead, admin, analyst, viewer); an RM their own."""
    if not may_see_resource_plan(user):
        raise PermissionDenied(_("The resource plan is for team leads, relationship managers, analysts and viewers."))
    if has_any(user, SEE_ALL_TEAMS):
        return None
    return list(user_team_ids(user))


def resource_teams(user) -> list[Team]:
    ids = resource_team_ids(user)
    qs = Team.objects.order_by("name")
    return list(qs if ids is None else qs.filter(pk__in=ids))


def _resolve_team(user, team: Team | int | str | None) -> tuple[list[int] | None, Team | None]:
    allowed = resource_team_ids(user)
    if team is None or team == "":
        return allowed, None
    if isinstance(team, Team):
        row = team
    else:
        try:
            pk = int(team)
        except (TypeError, ValueError):
            raise InvalidInput(_("Choose a team."), fields={"team": [_("A team is given by its id.")]}) from None
        found = Team.objects.filter(pk=pk).first()
        if found is None:
            raise NotFound(_("No such team."))
        row = found
    if allowed is not None and row.pk not in allowed:
        raise PermissionDenied(_("You can see the resource plan of your own teams only."))
    return [row.pk], row


# --- the plan --------------------------------------------------------------------------------------------

@dataclass
class PlanLine:
    playbook: str
    playbook_name: str
    is_tier: bool
    action: str
    action_name: str
    clients: int
    hours: float


@dataclass
class TeamPlan:
    team_id: int | None
    name: str
    members: int
    clients: int
    dedicated_clients: int
    capacity: float
    demand: float
    lines: list[PlanLine] = field(default_factory=list)
    what_if: resource.WhatIf | None = None

    @property
    def gap(self) -> float:
        """Hours a month to spare (positive) or missing (negative)."""
        return self.capacity - self.demand

    @property
    def utilisation(self) -> float | None:
        return self.demand / self.capacity if self.capacity > 0 else None

    @property
    def over_capacity(self) -> bool:
        return self.demand > self.capacity

    def by_playbook(self) -> list[dict[str, Any]]:
        """Demand per tier and add-on (the playbook's hours summed over its actions)."""
        out: dict[str, dict[str, Any]] = {}
        for line in self.lines:
            row = out.setdefault(line.playbook, {"playbook": line.playbook, "name": line.playbook_name,
                                                 "is_tier": line.is_tier, "clients": 0, "hours": 0.0})
            row["clients"] = max(row["clients"], line.clients)
            row["hours"] += line.hours
        return list(out.values())


@dataclass
class ResourcePlan:
    as_of: dt.datetime
    teams: list[TeamPlan]
    value_run_id: int | None
    policy_version: int | None
    team: Team | None = None

    @property
    def capacity(self) -> float:
        return sum(t.capacity for t in self.teams)

    @property
    def demand(self) -> float:
        return sum(t.demand for t in self.teams)

    def get(self, team_id: int | None) -> TeamPlan | None:
        return next((t for t in self.teams if t.team_id == team_id), None)


def _steps() -> list[resource.StepSpec]:
    rows = PlaybookStep.objects.filter(is_active=True, playbook__is_active=True).select_related("playbook")
    return [resource.StepSpec(playbook=s.playbook.code, action=s.action, hours=float(s.hours), trigger=s.trigger,
                              cadence_count=s.cadence_count, cadence_unit=s.cadence_unit,
                              only_dimension=s.only_dimension, only_label=s.only_label) for s in rows]


def _tier_lookup() -> tuple[dict[tuple[str, str, str], tuple[str, tuple[str, ...]]], int | None]:
    """The active policy's tier of every label combination, for clients the engine has not tiered yet."""
    policy = TierPolicy.objects.filter(is_active=True).only("version", "rules").first()
    return tier_table(policy.rules if policy else DEFAULT_RULES), (policy.version if policy else None)


ADDON_BITS = {code: 1 << i for i, code in enumerate(AddOn.values)}
READ_CHUNK = 100_000
ADDON_SPAN = 1 << len(ADDON_BITS)


def _addons_of_bits(bits: int) -> tuple[str, ...]:
    return tuple(sorted(code for code, bit in ADDON_BITS.items() if bits & bit))


def _addons_of_text(text: str | None) -> tuple[str, ...]:
    return tuple(sorted(a for a in (text or "").split(",") if a in ADDON_BITS))


def _label_code(dimension: str, path: str) -> Case:
    """A client's label on ``dimension`` as its index in LABEL_STATES (0: never classified)."""
    return Case(*[When(**{path: code}, then=Value(i)) for i, code in enumerate(LABEL_STATES[dimension]) if code],
                default=Value(0), output_field=IntegerField())


def _read(queryset) -> np.ndarray:
    """Two numbers a row straight into NumPy through a plain cursor (a million model instances or dicts
    would take seconds). Converted a piece at a time: psycopg keeps the result in libpq's compact form until
    fetched; a server-side cursor (WITH HOLD outside a transaction) was slower here, as it copies the result."""
    sql, params = queryset.query.sql_with_params()
    chunks = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(READ_CHUNK):
            flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64, count=2 * len(rows))
            chunks.append(flat.reshape(-1, 2))
    return np.concatenate(chunks) if chunks else np.zeros((0, 2))


def _client_codes(team_ids: list[int] | None, run_id: int | None) -> np.ndarray:
    """One row per client: team (-1 none), tier (1 dedicated, 0 standard, -1 not tiered yet), add-ons as bits,
    label combination (0..63), whether it has a value score, the score.

    Four plain scans (clients, tiers, labels, the latest value run's scores), each two numbers a row that the
    database computes, lined up by client id in NumPy. Joining the four tables in SQL costs a random index
    lookup per client and table: five times slower on SQLite at a million clients (11 s against 2 s)."""
    orgs = Organization.objects.order_by()
    tiers = ClientTier.objects.order_by()
    labels = ClientLabels.objects.order_by()
    run = Run.objects.filter(pk=run_id).only("id", "chain", "threshold").first() if run_id else None
    scores = (effective_assignments(run) if run is not None else Assignment.objects.none()).filter(
        score__isnull=False).order_by()
    if team_ids is not None:
        orgs = orgs.filter(team_id__in=team_ids)
        tiers = tiers.filter(organization__team_id__in=team_ids)
        labels = labels.filter(organization__team_id__in=team_ids)
        scores = scores.filter(organization__team_id__in=team_ids)
    combo = (_label_code("value", "value") * 16 + _label_code("risk", "risk") * 4
             + _label_code("relationship", "relationship"))
    addon_bits = sum((Case(When(addons__contains=code, then=Value(bit)), default=Value(0), output_field=IntegerField())
                      for code, bit in ADDON_BITS.items()), Value(0))
    tier_code = Case(When(tier=Tier.DEDICATED, then=Value(ADDON_SPAN)), default=Value(0),
                     output_field=IntegerField()) + addon_bits
    org_rows = _read(orgs.annotate(r=Coalesce("team_id", Value(-1))).values_list("id", "r"))
    order = np.argsort(org_rows[:, 0], kind="stable")
    ids = org_rows[order, 0].astype(np.int64)
    out = np.zeros((ids.size, 6))
    out[:, 0] = org_rows[order, 1]
    out[:, 1] = -1

    def place(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        oid = rows[:, 0].astype(np.int64)
        pos = np.clip(np.searchsorted(ids, oid), 0, max(ids.size - 1, 0))
        found = (ids[pos] == oid) if ids.size else np.zeros(oid.size, dtype=bool)
        return pos[found], rows[found, 1]

    pos, code = place(_read(tiers.annotate(r=tier_code).values_list("organization_id", "r")))
    code = code.astype(np.int64)
    out[pos, 1] = code // ADDON_SPAN
    out[pos, 2] = code % ADDON_SPAN
    pos, code = place(_read(labels.annotate(r=combo).values_list("organization_id", "r")))
    out[pos, 3] = code
    if run_id is not None:
        pos, score = place(_read(scores.values_list("organization_id", "score")))
        out[pos, 4] = 1
        out[pos, 5] = score
    return out


def _groups(codes: np.ndarray, new_rows, table) -> list[resource.ClientGroup]:
    """Clients per (team, tier, add-ons, labels), counted in NumPy, with their new participations of the
    last 12 months / 12. A client the engine has not tiered yet gets what the active policy says."""
    team = codes[:, 0].astype(np.int64)
    tier = codes[:, 1].astype(np.int64)
    bits = codes[:, 2].astype(np.int64)
    combo = codes[:, 3].astype(np.int64)
    untiered = tier < 0
    if untiered.any():
        policy_tier = np.array([table[c][0] == Tier.DEDICATED for c in COMBOS], dtype=np.int64)
        policy_bits = np.array([sum(ADDON_BITS.get(a, 0) for a in table[c][1]) for c in COMBOS], dtype=np.int64)
        tier = np.where(untiered, policy_tier[combo], tier)
        bits = np.where(untiered, policy_bits[combo], bits)
    teams, team_pos = np.unique(team, return_inverse=True)
    key = ((team_pos.astype(np.int64) * 2 + tier) * (1 << len(ADDON_BITS)) + bits) * len(COMBOS) + combo
    keys, counts = np.unique(key, return_counts=True)
    new: dict[tuple, int] = {}
    for team_id, tier_code, addons, value, risk, relationship, n in new_rows:
        labels = (value or "", risk or "", relationship or "")
        if tier_code is None:
            tier_code, addon_tuple = table[labels]
        else:
            addon_tuple = _addons_of_text(addons)
        k = (-1 if team_id is None else team_id, tier_code, addon_tuple, labels)
        new[k] = new.get(k, 0) + n
    groups = []
    for k, n in zip(keys.tolist(), counts.tolist(), strict=True):
        rest, c = divmod(k, len(COMBOS))
        rest, b = divmod(rest, 1 << len(ADDON_BITS))
        pos, t = divmod(rest, 2)
        team_id = int(teams[pos])
        tier_code = Tier.DEDICATED.value if t else Tier.STANDARD.value
        addon_tuple = _addons_of_bits(b)
        g_key = (team_id, tier_code, addon_tuple, COMBOS[c])
        groups.append(resource.ClientGroup(team=None if team_id < 0 else team_id, tier=tier_code,
                                           addons=addon_tuple, labels=COMBOS[c], clients=int(n),
                                           new_per_month=new.get(g_key, 0) / 12))
    return groups


def _new_participations(team_ids: list[int] | None, since: dt.datetime, until: dt.datetime):
    """New participations of the last 12 months per (team, tier, add-ons, labels): one GROUP BY."""
    qs = unwalled(Participation.objects.filter(created_at__gte=since, created_at__lt=until)).order_by()
    if team_ids is not None:
        qs = qs.filter(organization__team_id__in=team_ids)
    return qs.values_list("organization__team_id", "organization__service_tier__tier",
                          "organization__service_tier__addons", "organization__labels__value",
                          "organization__labels__risk", "organization__labels__relationship").annotate(n=Count("id"))


def _capacity(team_ids: list[int] | None) -> dict[int, tuple[float, int]]:
    qs = TeamMembership.objects.order_by()
    if team_ids is not None:
        qs = qs.filter(team_id__in=team_ids)
    return {row["team_id"]: (resource.monthly_capacity([float(row["hours"] or 0)]), row["members"])
            for row in qs.values("team_id").annotate(hours=Sum("weekly_capacity_hours"), members=Count("id"))}


def _what_ifs(plans: dict[Hashable, TeamPlan], codes: np.ndarray, groups: list[resource.ClientGroup],
              steps: list[resource.StepSpec], table) -> None:
    baseline = resource.demand_by_team(resource.demand_lines(groups, steps, tier=resource.STANDARD))
    # Expected new participations a month per client of each (team, label combination).
    rate: dict[tuple[Hashable, int], list[float]] = {}
    combo_index = {c: i for i, c in enumerate(COMBOS)}
    for g in groups:
        acc = rate.setdefault((g.team, combo_index[g.labels]), [0.0, 0.0])
        acc[0] += g.clients
        acc[1] += g.new_per_month
    fixed, per_new = resource.increment_by_labels(steps, COMBOS)
    policy_dedicated = np.array([table[c][0] == Tier.DEDICATED for c in COMBOS])
    scored = codes[codes[:, 4] > 0]
    team = scored[:, 0].astype(np.int64)
    order = np.argsort(team, kind="stable")
    bounds = np.searchsorted(team[order], np.array([k if k is not None else -1 for k in plans]), side="left")
    ends = np.searchsorted(team[order], np.array([k if k is not None else -1 for k in plans]), side="right")
    for (team_id, plan), lo, hi in zip(plans.items(), bounds, ends, strict=True):
        if team_id is None:
            continue
        mine = scored[order[lo:hi]]
        combo = mine[:, 3].astype(np.int64)
        team_rate = np.zeros(len(COMBOS))
        for c in np.unique(combo).tolist():
            clients_new = rate.get((team_id, c))
            if clients_new and clients_new[0]:
                team_rate[c] = clients_new[1] / clients_new[0]
        costs = fixed[combo] + per_new[combo] * team_rate[combo]
        tier = mine[:, 1]
        current = (tier == 1) | ((tier == -1) & policy_dedicated[combo])
        plan.what_if = resource.what_if(mine[:, 5], costs, capacity=plan.capacity,
                                        base_hours=baseline.get(team_id, 0.0), current=current)


def resource_plan(user, team: Team | int | str | None = None, as_of: dt.datetime | None = None) -> ResourcePlan:
    """Per team: hours a month the playbooks ask for the clients' current tiers and labels (by tier, add-on
    and action), the members' capacity, the gap and utilisation; the what-if of the dedicated tier."""
    team_ids, team_row = _resolve_team(user, team)
    ensure_defaults()
    as_of = as_of or timezone.now()
    table, policy_version = _tier_lookup()
    steps = _steps()
    run_id = latest_run_ids().get(Dimension.VALUE)
    codes = _client_codes(team_ids, run_id)
    new_rows = _new_participations(team_ids, as_of - dt.timedelta(days=NEW_PARTICIPATION_WINDOW_DAYS), as_of)
    groups = _groups(codes, new_rows, table)
    lines = resource.demand_lines(groups, steps)
    capacity = _capacity(team_ids)
    teams = Team.objects.order_by("name")
    if team_ids is not None:
        teams = teams.filter(pk__in=team_ids)
    names = {**dict(Tier.choices), **dict(AddOn.choices)}
    actions = dict(Action.choices)
    plans: dict[Hashable, TeamPlan] = {}
    for t in teams.only("id", "name"):
        hours, members = capacity.get(t.pk, (0.0, 0))
        plans[t.pk] = TeamPlan(team_id=t.pk, name=t.name, members=members, clients=0, dedicated_clients=0,
                               capacity=hours, demand=0.0)
    for g in groups:
        if g.team not in plans:            # clients of no team: only shown to those who see every team
            plans[None] = TeamPlan(team_id=None, name=_("No team"), members=0, clients=0, dedicated_clients=0,
                                   capacity=0.0, demand=0.0)
        plan = plans[g.team]
        plan.clients += g.clients
        if g.tier == Tier.DEDICATED:
            plan.dedicated_clients += g.clients
    order = {code: i for i, code in enumerate([*Tier.values, *AddOn.values])}
    action_order = {code: i for i, code in enumerate(Action.values)}
    for line in sorted(lines, key=lambda x: (order.get(x.playbook, 99), action_order.get(x.action, 99))):
        plan = plans[line.team]
        plan.demand += line.hours
        plan.lines.append(PlanLine(playbook=line.playbook, playbook_name=str(names.get(line.playbook, line.playbook)),
                                   is_tier=line.playbook in Tier.values, action=line.action,
                                   action_name=str(actions.get(line.action, line.action)), clients=line.clients,
                                   hours=line.hours))
    _what_ifs(plans, codes, groups, steps, table)
    ordered = sorted(plans.values(), key=lambda p: (p.team_id is None, p.name))
    return ResourcePlan(as_of=as_of, teams=ordered, value_run_id=run_id, policy_version=policy_version,
                        team=team_row)


# --- working calendars (read-only page) ------------------------------------------------------------------

def calendar_overview(*, year: int) -> list[dict[str, Any]]:
    """Every working calendar with its hours, weekly rest days, the teams that use it and the holidays and
    make-up working days of ``year``: three queries whatever the number of calendars."""
    if not 1900 <= year <= 2200:
        raise InvalidInput(_("Choose a year between 1900 and 2200."), fields={"year": [_("Not a valid year.")]})
    calendars = list(WorkCalendar.objects.prefetch_related("teams__team").order_by("-is_default", "name"))
    days: dict[int, list[CalendarDay]] = {}
    for day in CalendarDay.objects.filter(calendar__in=calendars, date__year=year).order_by("date"):
        days.setdefault(day.calendar_id, []).append(day)
    out = []
    for cal in calendars:
        try:
            weekend = sorted(parse_weekend(cal.weekend))
        except InvalidInput:
            weekend = []
        mine = days.get(cal.pk, [])
        for day in mine:
            day.calendar = cal  # the holiday names read its country (no query per day)
        out.append({
            "calendar": cal,
            "weekend": weekend,
            "weekend_names": [str(WEEKDAYS_ABBR[d - 1]) for d in weekend],
            "teams": [link.team for link in cal.teams.all()],
            "holidays": [d for d in mine if d.kind == DayKind.HOLIDAY],
            "workdays": [d for d in mine if d.kind == DayKind.WORKDAY],
        })
    return out
