"""Reads shared by the pages, the API and the CLI: the tier policy, the playbooks, a person's day, a team's
board and the task lists, each restricted to what the reader may see and bounded in queries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Case, Count, DateTimeField, F, Max, Prefetch, Q, QuerySet, Sum, When
from django.db.models.functions import Coalesce, Least
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.models import Team, TeamMembership
from bcrm.accounts.permissions import (
    can_view_organization,
    has_any,
    require,
    restrict_organizations,
    sees_all_organizations,
    user_team_ids,
)
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.engagement.choices import TaskSource, TaskStatus
from bcrm.engagement.models import ServiceRequest, Task
from bcrm.financing.walls import restrict_projects
from bcrm.playbooks.choices import Action, AddOn, Tier
from bcrm.playbooks.models import AutomationRun, ClientTier, Playbook, PlaybookStep, TierPolicy
from bcrm.segmentation.models import ClientLabels

MY_DAY_LIMIT = 50          # rows per list on My day; the counts stay exact
BOARD_QUEUE_LIMIT = 100
BREACH_HORIZON_HOURS = 8   # requests due within this many business hours count as about to breach
TASK_RELATED = ("organization", "assignee", "step", "team", "participation__project", "service_request")


# --- tier policy and playbooks ---------------------------------------------------------------------


def active_policy() -> TierPolicy:
    from bcrm.playbooks.defaults import ensure_defaults

    ensure_defaults()
    policy = TierPolicy.objects.select_related("created_by").filter(is_active=True).first()
    if policy is None:  # every version deactivated by hand: the newest one applies
        policy = TierPolicy.objects.select_related("created_by").order_by("-version").first()
    assert policy is not None
    return policy


def policy_versions() -> QuerySet[TierPolicy]:
    return TierPolicy.objects.select_related("created_by").order_by("-version")


def policy_version_get(version: int) -> TierPolicy:
    policy = policy_versions().filter(version=version).first()
    if policy is None:
        raise NotFound()
    return policy


def playbooks_with_steps() -> QuerySet[Playbook]:
    from bcrm.playbooks.defaults import ensure_defaults

    ensure_defaults()
    return Playbook.objects.prefetch_related(
        Prefetch("steps", queryset=PlaybookStep.objects.order_by("position", "id"))).order_by("id")


def playbook_get(code: str) -> Playbook:
    playbook = playbooks_with_steps().filter(code=code).first()
    if playbook is None:
        raise NotFound()
    return playbook


def step_get(pk: int) -> PlaybookStep:
    step = PlaybookStep.objects.select_related("playbook").filter(pk=pk).first()
    if step is None:
        raise NotFound()
    return step


def tier_counts(actor=None) -> dict[str, Any]:
    """Clients per tier and per add-on (one GROUP BY over ClientTier), over the clients ``actor`` sees."""
    queryset = ClientTier.objects.all()
    if actor is not None:
        queryset = restrict_organizations(actor, queryset, prefix="organization__")
    tiers = dict.fromkeys(Tier.values, 0)
    addons = dict.fromkeys(AddOn.values, 0)
    total = 0
    for row in queryset.values("tier", "addons").annotate(n=Count("pk")).order_by():
        n = row["n"]
        total += n
        tiers[row["tier"]] = tiers.get(row["tier"], 0) + n
        for code in filter(None, (row["addons"] or "").split(",")):
            addons[code] = addons.get(code, 0) + n
    return {"total": total, "tiers": tiers, "addons": addons}


# --- tasks -----------------------------------------------------------------------------------------


def lead_team_ids(user) -> list[int] | None:
    """The teams whose overflow and escalations a lead watches: the teams they belong to, or every team
    (None) for a lead or administrator who belongs to none. Other roles: no team."""
    if not has_any(user, {Role.LEAD, Role.ADMIN}):
        return []
    teams = user_team_ids(user)
    return teams or None


def _visible_tasks(user) -> QuerySet[Task]:
    """Tasks on clients the user sees, plus tasks without a client that are theirs or their teams'."""
    queryset = restrict_projects(user, Task.objects.select_related(*TASK_RELATED), "participation__project")
    if sees_all_organizations(user):
        return queryset
    visible = restrict_organizations(user, queryset, prefix="organization__")
    own = queryset.filter(Q(organization__isnull=True) & (Q(assignee_id=user.pk) | Q(team_id__in=user_team_ids(user))))
    return visible | own


def task_get_for_user(*, user, pk: int) -> Task:
    task = _visible_tasks(user).filter(pk=pk).first()
    if task is None:
        raise NotFound()
    return label_tasks([task])[0]


TASK_SCOPES = ("mine", "team", "overdue")


def task_queryset(user, scope: str, *, team: int | None = None, now: dt.datetime | None = None) -> QuerySet[Task]:
    """Open tasks for the API lists: ``mine`` (assigned to the user), ``team`` (of the user's teams, or of
    ``team``), ``overdue`` (past due among those the user may see)."""
    now = now or timezone.now()
    open_tasks = _visible_tasks(user).filter(status=TaskStatus.OPEN)
    if scope == "mine":
        queryset = open_tasks.filter(assignee_id=user.pk)
    elif scope == "team":
        if team is not None:
            team_get_for_user(user=user, pk=team)
            queryset = open_tasks.filter(team_id=team)
        elif sees_all_organizations(user) and not user_team_ids(user):
            queryset = open_tasks.filter(team__isnull=False)
        else:
            queryset = open_tasks.filter(team_id__in=user_team_ids(user))
    elif scope == "overdue":
        queryset = open_tasks.filter(due_at__lt=now)
        if not sees_all_organizations(user):
            queryset = queryset.filter(Q(assignee_id=user.pk) | Q(team_id__in=user_team_ids(user))
                                       | Q(organization__relationship_manager_id=user.pk))
    else:
        raise InvalidInput(fields={"scope": [_("Unknown scope %(scope)s.") % {"scope": scope}]})
    return queryset.order_by("due_at", "id")


def overflow_tasks(team_ids: list[int] | None, user=None) -> QuerySet[Task]:
    """Open playbook tasks no member had room for (assignee None), of ``team_ids`` (None: every team); with
    ``user``, without those on projects behind a wall ``user`` is outside of."""
    queryset = (Task.objects.select_related(*TASK_RELATED)
                .filter(status=TaskStatus.OPEN, assignee__isnull=True, team__isnull=False,
                        source=TaskSource.PLAYBOOK)
                .exclude(action__in=[Action.SLA_ESCALATION, Action.CAPACITY_OVERFLOW]))
    if team_ids is not None:
        queryset = queryset.filter(team_id__in=team_ids)
    if user is not None:
        queryset = restrict_projects(user, queryset, "participation__project")
    return queryset.order_by("due_at", "id")


def escalation_tasks(user, team_ids: list[int] | None) -> QuerySet[Task]:
    queryset = Task.objects.select_related(*TASK_RELATED).filter(
        status=TaskStatus.OPEN, action__in=[Action.SLA_ESCALATION, Action.CAPACITY_OVERFLOW])
    if team_ids is not None:
        queryset = queryset.filter(Q(team_id__in=team_ids) | Q(assignee_id=user.pk))
    return queryset.order_by("due_at", "id")


# --- My day ----------------------------------------------------------------------------------------


@dataclass
class Bucket:
    items: list[Any]
    count: int

    @property
    def more(self) -> int:
        return max(0, self.count - len(self.items))


@dataclass
class Breach:
    request: ServiceRequest
    which: str            # "response" or "resolution"
    due_at: dt.datetime
    hours_left: float     # business hours; negative when already past
    breached: bool


@dataclass
class MyDay:
    now: dt.datetime
    overdue: Bucket
    today: Bucket
    week: Bucket
    breaches: Bucket
    is_lead: bool = False
    overflow: Bucket = field(default_factory=lambda: Bucket([], 0))
    overflow_hours: Decimal = Decimal("0")
    escalations: Bucket = field(default_factory=lambda: Bucket([], 0))

    @property
    def nothing_due(self) -> bool:
        return not (self.overdue.count or self.today.count or self.week.count)


def day_bounds(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The end of the user's day and the end of the coming week (seven days from tomorrow's start), in the
    active time zone."""
    local = timezone.localtime(now)
    tomorrow = (local + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    end_of_today = timezone.make_aware(dt.datetime.combine(tomorrow.date(), dt.time()), local.tzinfo)
    end_of_week = timezone.make_aware(dt.datetime.combine(tomorrow.date() + dt.timedelta(days=6), dt.time()),
                                      local.tzinfo)
    return end_of_today, end_of_week


def label_tasks(tasks: list[Task]) -> list[Task]:
    """Give each task its action in words (``action_label``): Task.action is free text to the engagement app."""
    names = dict(Action.choices)
    for task in tasks:
        task.action_label = str(names[task.action]) if task.action in names else ""  # type: ignore[attr-defined]  # for the template only
    return tasks


def _bucket(queryset: QuerySet, count: int, limit: int) -> Bucket:
    return Bucket(items=label_tasks(list(queryset[:limit])) if count else [], count=count)


def requests_about_to_breach(user, now: dt.datetime, *, limit: int = MY_DAY_LIMIT,
                             mine_only: bool = True, team_id: int | None = None,
                             horizon_hours: int = BREACH_HORIZON_HOURS) -> Bucket:
    """Open requests whose first response or resolution is due within ``horizon_hours`` business hours or is
    already past; ``mine_only``: of the user's clients (owner = user or the client's RM = user)."""
    from bcrm.playbooks.calendars import default_calendar

    calendar = default_calendar()
    horizon = calendar.add_business_hours(now, horizon_hours) if horizon_hours else now
    due = (Q(first_response_at__isnull=True, response_due_at__lte=horizon)
           | Q(resolution_due_at__lte=horizon))
    queryset = ServiceRequest.objects.filter(due, resolved_at__isnull=True)
    if mine_only:
        queryset = queryset.filter(Q(owner_id=user.pk) | Q(organization__relationship_manager_id=user.pk))
    if team_id is not None:
        queryset = queryset.filter(organization__team_id=team_id)
    queryset = restrict_organizations(user, queryset, prefix="organization__")
    count = queryset.count()
    pending_response = Case(When(first_response_at__isnull=True, then=F("response_due_at")), default=None,
                            output_field=DateTimeField())
    first_due = Least(Coalesce(pending_response, F("resolution_due_at")),
                      Coalesce(F("resolution_due_at"), pending_response))
    rows = list(queryset.select_related("organization", "owner").annotate(first_due=first_due)
                .order_by("first_due", "id")[:limit]) if count else []
    items = []
    for request in rows:
        candidates = []
        if request.first_response_at is None and request.response_due_at is not None:
            candidates.append(("response", request.response_due_at))
        if request.resolution_due_at is not None:
            candidates.append(("resolution", request.resolution_due_at))
        which, due_at = min(candidates, key=lambda c: c[1])
        hours = calendar.business_hours_between(now, due_at)
        items.append(Breach(request=request, which=which, due_at=due_at, hours_left=round(hours, 1),
                            breached=due_at <= now))
    return Bucket(items=items, count=count)


def my_day(user, now: dt.datetime | None = None, *, limit: int = MY_DAY_LIMIT) -> MyDay:
    """What a person has to do: overdue, due today, due in the coming week; requests about to breach; and
    for a lead the overflow and escalations of their teams. A fixed number of queries at any size."""
    now = now or timezone.now()
    end_of_today, end_of_week = day_bounds(now)
    # only tasks on clients the user still sees (moved to another team: the old clients' tasks drop out)
    mine = _visible_tasks(user).filter(assignee_id=user.pk, status=TaskStatus.OPEN)
    counts = mine.aggregate(
        overdue=Count("pk", filter=Q(due_at__lt=now)),
        today=Count("pk", filter=Q(due_at__gte=now, due_at__lt=end_of_today)),
        week=Count("pk", filter=Q(due_at__gte=end_of_today, due_at__lt=end_of_week)),
    )
    ordered = mine.order_by("due_at", "id")
    result = MyDay(
        now=now,
        overdue=_bucket(ordered.filter(due_at__lt=now), counts["overdue"], limit),
        today=_bucket(ordered.filter(due_at__gte=now, due_at__lt=end_of_today), counts["today"], limit),
        week=_bucket(ordered.filter(due_at__gte=end_of_today, due_at__lt=end_of_week), counts["week"], limit),
        breaches=requests_about_to_breach(user, now, limit=limit),
    )
    if has_any(user, {Role.LEAD, Role.ADMIN}):
        teams = lead_team_ids(user)
        overflow = overflow_tasks(teams, user)
        totals = overflow.aggregate(n=Count("pk"), hours=Sum("planned_hours"))
        result.is_lead = True
        result.overflow = _bucket(overflow, totals["n"], limit)
        result.overflow_hours = totals["hours"] or Decimal("0")
        escalations = escalation_tasks(user, teams)
        result.escalations = _bucket(escalations, escalations.count(), limit)
    return result


# --- team board ------------------------------------------------------------------------------------


def teams_for_user(user) -> QuerySet[Team]:
    if sees_all_organizations(user):
        return Team.objects.order_by("name")
    return Team.objects.filter(pk__in=user_team_ids(user)).order_by("name")


def team_get_for_user(*, user, pk: int) -> Team:
    team = teams_for_user(user).filter(pk=pk).first()
    if team is None:
        raise NotFound()
    return team


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def parse_week(text: str | None, today: dt.date) -> dt.date:
    """``2026-W48``, a date (its week), or nothing (this week) → the Monday of that week."""
    if not text:
        return week_start(today)
    try:
        if "W" in text.upper():
            year, week = text.upper().split("-W")
            return dt.date.fromisocalendar(int(year), int(week), 1)
        return week_start(dt.date.fromisoformat(text))
    except ValueError:
        raise InvalidInput(fields={"week": [_("Give a week as 2026-W48 or a date as 2026-11-23.")]}) from None


@dataclass
class MemberLoad:
    user: Any
    capacity: Decimal
    this_week: Decimal
    next_week: Decimal
    open_count: int
    overdue_count: int

    @property
    def load_share(self) -> float | None:
        return float(self.this_week / self.capacity) if self.capacity else None

    @property
    def over_capacity(self) -> bool:
        return self.this_week > self.capacity

    @property
    def bar_width(self) -> int:
        share = self.load_share
        return 100 if share is None and self.this_week else min(100, round((share or 0) * 100))

    @property
    def next_bar_width(self) -> int:
        if not self.capacity:
            return 100 if self.next_week else 0
        return min(100, round(float(self.next_week / self.capacity) * 100))


@dataclass
class TeamBoard:
    team: Team
    week: dt.date
    members: list[MemberLoad]
    overflow: Bucket
    overflow_hours: Decimal
    breaches: Bucket
    capacity: Decimal = Decimal("0")
    planned: Decimal = Decimal("0")
    planned_next: Decimal = Decimal("0")

    @property
    def week_label(self) -> str:
        year, week, _day = self.week.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def previous_week(self) -> str:
        year, week, _day = (self.week - dt.timedelta(days=7)).isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def next_week(self) -> str:
        year, week, _day = (self.week + dt.timedelta(days=7)).isocalendar()
        return f"{year}-W{week:02d}"


def team_board(user, team: Team, week: dt.date, *, now: dt.datetime | None = None,
               limit: int = BOARD_QUEUE_LIMIT) -> TeamBoard:
    """Per member: weekly capacity against the planned hours of open tasks due this week and next, open and
    overdue counts; the unassigned (overflow) queue; the team's open SLA breaches."""
    require(teams_for_user(user).filter(pk=team.pk).exists())
    now = now or timezone.now()
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(dt.datetime.combine(week, dt.time()), tz)
    middle = start + dt.timedelta(days=7)
    end = start + dt.timedelta(days=14)
    memberships = list(TeamMembership.objects.filter(team=team).select_related("user")
                       .order_by("user__first_name", "user__last_name", "user__username"))
    member_ids = [m.user_id for m in memberships]
    loads = {}
    if member_ids:
        rows = (Task.objects.filter(status=TaskStatus.OPEN, assignee_id__in=member_ids)
                .filter(Q(team=team) | Q(team__isnull=True))
                .values("assignee_id").order_by()
                .annotate(this_week=Sum("planned_hours", filter=Q(due_at__gte=start, due_at__lt=middle)),
                          next_week=Sum("planned_hours", filter=Q(due_at__gte=middle, due_at__lt=end)),
                          open_count=Count("pk"), overdue_count=Count("pk", filter=Q(due_at__lt=now))))
        loads = {row["assignee_id"]: row for row in rows}
    members = []
    for m in memberships:
        row = loads.get(m.user_id, {})
        members.append(MemberLoad(user=m.user, capacity=Decimal(m.weekly_capacity_hours),
                                  this_week=row.get("this_week") or Decimal("0"),
                                  next_week=row.get("next_week") or Decimal("0"),
                                  open_count=row.get("open_count", 0), overdue_count=row.get("overdue_count", 0)))
    overflow = overflow_tasks([team.pk], user)
    totals = overflow.aggregate(n=Count("pk"), hours=Sum("planned_hours"))
    breaches = requests_about_to_breach(user, now, limit=limit, mine_only=False, team_id=team.pk, horizon_hours=0)
    return TeamBoard(
        team=team, week=week, members=members, overflow=_bucket(overflow, totals["n"], limit),
        overflow_hours=totals["hours"] or Decimal("0"), breaches=breaches,
        capacity=sum((m.capacity for m in members), Decimal("0")),
        planned=sum((m.this_week for m in members), Decimal("0")),
        planned_next=sum((m.next_week for m in members), Decimal("0")),
    )


def team_members(team: Team):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(memberships__team=team, is_active=True).order_by(
        "first_name", "last_name", "username")


# --- automation runs -------------------------------------------------------------------------------


def may_see_automation_runs(user) -> bool:
    return sees_all_organizations(user) or has_any(user, {Role.RELATIONSHIP_MANAGER})


def automation_runs(user) -> QuerySet[AutomationRun]:
    require(may_see_automation_runs(user))
    return AutomationRun.objects.select_related("started_by").order_by("-started_at", "-id")


def automation_run_get(user, pk: int) -> AutomationRun:
    run = automation_runs(user).filter(pk=pk).first()
    if run is None:
        raise NotFound()
    return run


def tiers_pending(now: dt.datetime | None = None) -> dict[str, Any] | None:
    """None when every client's tier follows its labels; otherwise when the automation run that brings
    them up to date is due (``at``: local time, None when the daily run is switched off)."""
    from bcrm.playbooks.calendars import default_calendar
    from bcrm.playbooks.models import AutomationSchedule

    row = AutomationSchedule.objects.filter(key="daily").first()
    if row is None or row.tiers_stale_since is None:
        return None
    if not row.enabled:
        return {"at": None}
    cal = default_calendar()
    local = (now or timezone.now()).astimezone(cal.tz)
    day = local.date()
    if not cal.is_business_day(day) or local.hour >= row.hour or row.last_day == day:
        day += dt.timedelta(days=1)
        for _ in range(366):
            if cal.is_business_day(day):
                break
            day += dt.timedelta(days=1)
    return {"at": dt.datetime.combine(day, dt.time(row.hour), tzinfo=cal.tz)}


# --- a client's service: tier and next playbook step (the 360° page) --------------------------------


@dataclass
class NextStep:
    what: str
    when: dt.date
    who: str
    #: "task": an open task exists; "planned": the playbook's cadence says when the next one falls due
    source: str
    overdue: bool = False
    task: Task | None = None
    channel: str = ""


@dataclass
class ClientService:
    tier: str
    tier_label: str
    classified: bool
    addons: list[str] = field(default_factory=list)
    next_step: NextStep | None = None


def _person(user) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else ""


def _one_to_one(organization, name: str, model):
    """The organisation's one-to-one row ``name`` (None when it has none): from the instance when the query
    that loaded it joined it (select_related), else one query."""
    cache = organization._state.fields_cache
    if name in cache:
        return cache[name]
    return model.objects.filter(organization_id=organization.pk).first()


def client_service(*, actor, organization, today: dt.date | None = None) -> ClientService:
    """The client's service tier (专属服务 / 标准服务) and its next playbook step: what, when, who.

    The next step is the client's earliest open playbook task when there is one (the automation made it,
    so its due date and owner are the real ones); otherwise the earliest of the cadence steps its tier
    and add-ons apply, a cadence after the last matching interaction (``calendar.next_due``, the rule
    the automation applies), with the owner the step's owner rule names. Two queries when a task is open."""
    from bcrm.playbooks.businesstime import next_due
    from bcrm.playbooks.calendars import team_calendar
    from bcrm.playbooks.choices import ACTION_KINDS, OwnerRule, Trigger

    if not can_view_organization(actor, organization):
        raise NotFound()
    today = today or timezone.localdate()
    row = _one_to_one(organization, "service_tier", ClientTier)
    tier = row.tier if row is not None else Tier.STANDARD
    addons = [code for code in (row.addons.split(",") if row is not None and row.addons else []) if code]
    service = ClientService(tier=tier, tier_label=str(Tier(tier).label), classified=row is not None,
                            addons=[str(AddOn(code).label) if code in AddOn.values else code for code in addons])

    task = (Task.objects.filter(organization_id=organization.pk, status=TaskStatus.OPEN, source=TaskSource.PLAYBOOK)
            .select_related("assignee", "team", "step").order_by("due_at", "id").first())
    if task is not None:
        due = timezone.localdate(task.due_at) if task.due_at else today
        who = _person(task.assignee) or (_("%(team)s overflow queue") % {"team": task.team} if task.team else "")
        service.next_step = NextStep(what=task.display_title, when=due, who=who or _("Unassigned"), source="task",
                                     overdue=due < today, task=task,
                                     channel=task.step.get_channel_display() if task.step else "")
        return service
    if row is None:
        return service  # never classified: automation plans nothing for it until its first run

    labels = _one_to_one(organization, "labels", ClientLabels)
    steps = [step for step in PlaybookStep.objects.filter(
        is_active=True, playbook__is_active=True, trigger=Trigger.CADENCE,
        playbook__code__in=[tier, *addons]).select_related("playbook").order_by("position", "id")
        if not step.only_dimension or (labels is not None
                                       and getattr(labels, step.only_dimension, "") == step.only_label)]
    if not steps:
        return service
    last_by_kind = dict(organization.interactions.order_by().values_list("kind").annotate(last=Max("occurred_at")))
    calendar = team_calendar(organization.team_id)
    planned = []
    for step in steps:
        times = [last_by_kind[k] for k in ACTION_KINDS.get(step.action, ()) if last_by_kind.get(k)]
        last = timezone.localdate(max(times)) if times else None
        planned.append((next_due(last, count=step.cadence_count, unit=step.cadence_unit, today=today,
                                 calendar=calendar), step.position, step.pk, step))
    when, _position, _pk, step = min(planned, key=lambda p: p[:3])
    if step.owner_rule == OwnerRule.AUTOMATION:
        who = str(OwnerRule.AUTOMATION.label)
    elif step.owner_rule == OwnerRule.TEAM_POOL and organization.team_id:
        who = _("%(team)s team pool") % {"team": organization.team}
    else:
        who = _person(organization.relationship_manager) or _("No relationship manager")
    service.next_step = NextStep(what=step.get_action_display(), when=when, who=who, source="planned",
                                 overdue=False, channel=step.get_channel_display())
    return service
