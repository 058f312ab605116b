"""Demo logins and teams: one user per role so every screen can be tried with every permission.

The scale data set (``bcrm.demo.scale``, from 50,000 clients) also gets a staff that grows with the portfolio:
desks of relationship managers with their lead, one manager for about :data:`CLIENTS_PER_MANAGER` clients, so
the automation's first run assigns nearly every task within someone's weekly capacity (three managers for a
million clients would leave millions of tasks in the overflow queue). They are seed data like the clients:
written in bulk, without a password (nobody signs in as them), not through the audited account services."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from bcrm.accounts.choices import Role
from bcrm.accounts.models import Team, TeamMembership
from bcrm.accounts.services import roles_ensure, team_create, team_member_set, user_create

# Demo only: printed by `bcrm demo` so anyone trying the app can log in. Never a real deployment's.
DEMO_PASSWORD = "demo-password-2026"

CORE, FI, PLATFORM = "core", "fi", "platform"
TEAMS: dict[str, tuple[str, str, str]] = {
    CORE: ("Core Investors", "核心投资人", "Equity investors, funds and insurers behind the large projects."),
    FI: ("Financial Institutions", "金融机构", "Banks, development finance institutions and export credit agencies."),
    PLATFORM: ("Platform Clients", "平台客户", "Clients of the supply-chain finance platform."),
}
# username, role, first name, last name, {team: weekly hours}
USERS: list[tuple[str, str, str, str, dict[str, int]]] = [
    ("admin", "admin", "Min", "Zhou", {}),
    ("lead", "lead", "Jing", "Chen", {CORE: 10, FI: 10, PLATFORM: 5}),
    ("rm.wang", "relationship_manager", "Lei", "Wang", {CORE: 32, PLATFORM: 8}),
    ("rm.smith", "relationship_manager", "Emily", "Smith", {FI: 32, PLATFORM: 8}),
    ("rm.zhao", "relationship_manager", "Hui", "Zhao", {CORE: 32, FI: 8}),
    ("analyst", "analyst", "Yang", "Liu", {CORE: 10, FI: 10, PLATFORM: 10}),
    ("compliance", "compliance", "Sarah", "Green", {}),
    ("viewer", "viewer", "Na", "Li", {}),
]


#: The scale data set's staff: one relationship manager for about this many clients of a team, in desks of
#: DESK_MANAGERS managers and a lead (a team each, so the team pool a task is shared in stays a desk's size).
CLIENTS_PER_MANAGER = 100
DESK_MANAGERS = 8
DESK_MANAGER_HOURS = Decimal(40)
DESK_LEAD_HOURS = Decimal(8)
# The scale data set's desk names and their managers' names (pinyin, Chinese), combined by index.
DESK_SURNAMES = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma",
                 "Zhu", "Hu", "Guo", "He", "Lin", "Gao", "Luo"]
DESK_GIVEN = ["Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Jun", "Tao", "Ming", "Chao", "Xin", "Hao", "Ying", "Bo",
              "Lin", "Qiang", "Yu", "Ning", "Peng", "Li", "Hong", "Kai", "Xue", "Dan"]


@dataclass
class DemoStaff:
    users: dict[str, Any] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    # (username, role, password or a note when the user already existed)
    logins: list[tuple[str, str, str]] = field(default_factory=list)

    # The scale data set's desks: team key -> [(team id, [manager ids])], the login team first (see scale_staff).
    desks: dict[str, list[tuple[int, list[int]]]] = field(default_factory=dict)

    def team_managers(self, team_key: str) -> list[Any]:
        """Relationship managers who work for ``team_key``, in a fixed order."""
        return [self.users[u] for u, role, _f, _l, hours in USERS
                if role == "relationship_manager" and team_key in hours]

    def team_desks(self, team_key: str) -> list[tuple[int, list[int]]]:
        """The desks that look after ``team_key``'s clients: the team of the demo logins, then the scale data
        set's desks (none below it): (team id, its relationship managers' ids)."""
        return [(self.teams[team_key].pk, [u.pk for u in self.team_managers(team_key)]),
                *self.desks.get(team_key, [])]


def desk_managers(clients: int, share: float) -> int:
    """How many relationship managers look after a team's ``share`` of a portfolio of ``clients``."""
    return max(0, round(clients * share / CLIENTS_PER_MANAGER))


@transaction.atomic
def demo_users() -> DemoStaff:
    """Create the demo teams and users through the account services; existing ones are kept as they are,
    so `bcrm demo` can run again on a database that already has them."""
    User = get_user_model()
    staff = DemoStaff()
    for key, (name, name_local, _description) in TEAMS.items():
        team = Team.objects.filter(name=name).first()
        staff.teams[key] = team or team_create(actor=None, name=name, name_local=name_local)
    for username, role, first, last, hours in USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = user_create(actor=None, username=username, password=DEMO_PASSWORD, roles=[role],
                               first_name=first, last_name=last, email=f"{username}@bcrm-demo.example",
                               validate=False)
            staff.logins.append((username, role, DEMO_PASSWORD))
            for team_key, weekly in hours.items():
                team_member_set(actor=None, team=staff.teams[team_key], user=user,
                                weekly_capacity_hours=Decimal(weekly))
        else:
            staff.logins.append((username, role, f"{DEMO_PASSWORD} (existing user: unless changed since)"))
        staff.users[username] = user
    return staff


def scale_staff(staff: DemoStaff, *, clients: int, shares: dict[str, float]) -> dict[str, int]:
    """Desks for a portfolio of ``clients``: each team key gets managers for its ``shares`` of the clients (less
    the demo logins who already work for it), in desks of :data:`DESK_MANAGERS` with a lead. Written in bulk,
    once: desks already there (an earlier load) are kept and read back. Returns the desks and users it has."""
    User = get_user_model()
    roles_ensure()
    groups = dict(Group.objects.filter(name__in=[Role.RELATIONSHIP_MANAGER, Role.LEAD]).values_list("name", "pk"))
    plan: list[tuple[str, int, list[str]]] = []  # (team key, desk number, manager usernames)
    for key, share in shares.items():
        wanted = desk_managers(clients, share) - len(staff.team_managers(key))
        for desk in range(1, (max(0, wanted) + DESK_MANAGERS - 1) // DESK_MANAGERS + 1):
            size = min(DESK_MANAGERS, wanted - (desk - 1) * DESK_MANAGERS)
            plan.append((key, desk, [f"rm.{key}.{desk:03d}.{k + 1}" for k in range(size)]))
    names = {key: TEAMS[key] for key in shares}

    def desk_name(key: str, desk: int) -> tuple[str, str]:
        return f"{names[key][0]} · Desk {desk}", f"{names[key][1]} 第{desk}组"

    with transaction.atomic():
        existing = {t.name: t for t in Team.objects.filter(name__in=[desk_name(k, d)[0] for k, d, _m in plan])}
        new_teams = [Team(name=desk_name(k, d)[0], name_local=desk_name(k, d)[1],
                          description=TEAMS[k][2]) for k, d, _m in plan if desk_name(k, d)[0] not in existing]
        Team.objects.bulk_create(new_teams, batch_size=1000)
        teams = {t.name: t for t in Team.objects.filter(name__in=[desk_name(k, d)[0] for k, d, _m in plan])}
        usernames = [u for _k, d, managers in plan for u in (*managers, f"lead.{_k}.{d:03d}")]
        known = set(User.objects.filter(username__in=usernames).values_list("username", flat=True))
        people = []
        for n, username in enumerate(usernames):
            if username in known:
                continue
            user = User(username=username, email=f"{username}@bcrm-demo.example",
                        first_name=DESK_GIVEN[n % len(DESK_GIVEN)],
                        last_name=DESK_SURNAMES[(n // len(DESK_GIVEN)) % len(DESK_SURNAMES)])
            user.set_unusable_password()
            people.append(user)
        User.objects.bulk_create(people, batch_size=1000)
        ids = dict(User.objects.filter(username__in=usernames).values_list("username", "pk"))
        if people:
            created = {u.username for u in people}
            Through = User.groups.through
            Through.objects.bulk_create(
                [Through(user_id=ids[u], group_id=groups[Role.LEAD if u.startswith("lead.") else
                                                         Role.RELATIONSHIP_MANAGER]) for u in created],
                batch_size=1000)
            TeamMembership.objects.bulk_create(
                [TeamMembership(team=teams[desk_name(k, d)[0]], user_id=ids[u],
                                weekly_capacity_hours=DESK_MANAGER_HOURS if u in managers else DESK_LEAD_HOURS)
                 for k, d, managers in plan for u in (*managers, f"lead.{k}.{d:03d}") if u in created],
                batch_size=1000)
    for key, desk, managers in plan:
        staff.desks.setdefault(key, []).append((teams[desk_name(key, desk)[0]].pk, [ids[u] for u in managers]))
    return {"desks": len(plan), "managers": sum(len(m) for _k, _d, m in plan), "leads": len(plan)}
