"""The automation's assignment within capacity (stage 4): by the step's owner rule, never beyond a member's
weekly capacity; what does not fit stays in its team's overflow queue and each team lead gets one task that
says so."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.core import texts
from bcrm.engagement.choices import TaskStatus
from bcrm.engagement.models import Task
from bcrm.playbooks.cadence import _day
from bcrm.playbooks.choices import Action, OwnerRule
from bcrm.playbooks.duesteps import _english, _NewTask
from bcrm.playbooks.population import _Population

OVERFLOW_IN_TEAM = texts.gettext_noop(
    "Capacity overflow: %(tasks)s tasks (%(hours)s h) without an owner in %(team)s")
OVERFLOW_NO_TEAM = texts.gettext_noop(
    "Capacity overflow: %(tasks)s tasks (%(hours)s h) without an owner and without a team")


class _Capacity(_Population):
    """Stage 4 of a run: owners within weekly capacity, and the overflow."""

    def _staff(self, tasks: list[_NewTask]) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models import Sum

        from bcrm.accounts.models import TeamMembership

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
        # The hours already planned per person and week: open tasks assigned to them — only of the people the
        # new tasks can go to (their relationship managers and their teams' pools), summed per due moment in SQL.
        candidates = {t.rm for t in tasks if t.rm is not None} | {
            user for team in {t.team for t in tasks if t.team is not None} for user in self.pool.get(team, ())}
        self.load: dict[tuple[int, tuple[int, int]], Decimal] = defaultdict(Decimal)
        this_week = self.today.isocalendar()[:2]
        users = sorted(candidates & active)
        for start in range(0, len(users), 500):
            for user, due_at, planned in (
                    Task.objects.filter(status=TaskStatus.OPEN, assignee_id__in=users[start:start + 500],
                                        planned_hours__isnull=False)
                    .order_by().values("assignee_id", "due_at").annotate(hours=Sum("planned_hours"))
                    .values_list("assignee_id", "due_at", "hours")):
                week = max(due_at.astimezone(self.tz).date().isocalendar()[:2], this_week) if due_at else this_week
                self.load[(user, week)] += planned or Decimal(0)

    def _room(self, user: int, week: tuple[int, int], hours: Decimal) -> bool:
        return self.load[(user, week)] + hours <= self.capacity.get(user, Decimal(0))

    def _assign(self, tasks: list[_NewTask]) -> None:
        self._staff(tasks)
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
        from bcrm.accounts.models import Team

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
