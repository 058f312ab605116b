"""Small factories for tests: real rows through the real services where that is the behaviour under test,
straight ORM inserts for background data."""

from __future__ import annotations

import itertools
from decimal import Decimal

from django.utils import timezone

from bcrm.accounts.services import team_create, team_member_set, user_create
from bcrm.financing.models import Participation, Project
from bcrm.parties.models import Contact, Organization

_seq = itertools.count(1)


def make_user(username: str | None = None, *roles: str, team=None, password: str = "pw-for-tests-2026"):
    username = username or f"user{next(_seq)}"
    user = user_create(actor=None, username=username, password=password, roles=list(roles), validate=False)
    if team is not None:
        team_member_set(team=team, user=user, weekly_capacity_hours=40)
    return user


def make_team(name: str | None = None):
    return team_create(name=name or f"Team {next(_seq)}")


def make_org(**fields) -> Organization:
    n = next(_seq)
    defaults = {"legal_name": f"Org {n:05d} Capital", "kind": "fund", "country": "CN"}
    defaults.update(fields)
    org = Organization.objects.create(**defaults)
    from bcrm.parties.services import organization_search_refresh

    organization_search_refresh(org)
    org.refresh_from_db()
    return org


def make_contact(organization: Organization, **fields) -> Contact:
    n = next(_seq)
    defaults = {"full_name": f"Contact {n}", "email": f"c{n}@example.com"}
    defaults.update(fields)
    contact = Contact.objects.create(organization=organization, **defaults)
    from bcrm.parties.services import organization_search_refresh

    organization_search_refresh(organization)
    return contact


def make_project(**fields) -> Project:
    n = next(_seq)
    defaults = {"name": f"Project {n}", "sector": "energy", "country": "CN", "currency": "USD",
                "total_cost": Decimal("1000000"), "financing_target": Decimal("800000")}
    defaults.update(fields)
    return Project.objects.create(**defaults)


def make_participation(project: Project, organization: Organization, **fields) -> Participation:
    defaults = {"role": "equity", "amount": Decimal("100000"), "currency": "USD", "status_changed_at": timezone.now()}
    defaults.update(fields)
    return Participation.objects.create(project=project, organization=organization, **defaults)


def make_staff(count: int, *, prefix: str = "desk", active: bool = True) -> list:
    """``count`` relationship managers written in bulk (seed data, as the demo's scale staff), each on a desk
    of their own named "<prefix> desk <n>"."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from bcrm.accounts.choices import Role
    from bcrm.accounts.models import Team, TeamMembership
    from bcrm.accounts.services import roles_ensure

    roles_ensure()
    User = get_user_model()
    users = User.objects.bulk_create([
        User(username=f"rm.{prefix}.{n:05d}", first_name="Manager", last_name=f"{prefix.title()}{n:05d}",
             is_active=active) for n in range(count)])
    users = list(User.objects.filter(username__startswith=f"rm.{prefix}.").order_by("username"))
    group = Group.objects.get(name=Role.RELATIONSHIP_MANAGER)
    group.user_set.add(*users)
    teams = Team.objects.bulk_create([Team(name=f"{prefix.title()} desk {n:05d}") for n in range(count)])
    teams = list(Team.objects.filter(name__startswith=f"{prefix.title()} desk ").order_by("name"))
    TeamMembership.objects.bulk_create([TeamMembership(team=t, user=u) for t, u in zip(teams, users, strict=True)])
    return users
