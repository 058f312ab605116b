"""Demo logins and teams: one user per role so every screen can be tried with every permission."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from bcrm.accounts.models import Team
from bcrm.accounts.services import team_create, team_member_set, user_create

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


@dataclass
class DemoStaff:
    users: dict[str, Any] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    # (username, role, password or a note when the user already existed)
    logins: list[tuple[str, str, str]] = field(default_factory=list)

    def team_managers(self, team_key: str) -> list[Any]:
        """Relationship managers who work for ``team_key``, in a fixed order."""
        return [self.users[u] for u, role, _f, _l, hours in USERS
                if role == "relationship_manager" and team_key in hours]


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
