"""Finding 9 of the security probe: a manager cannot place a client outside his teams, and My day does not
list tasks on clients he can no longer see."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from bcrm.accounts.models import TeamMembership
from bcrm.accounts.services import token_create
from bcrm.core.errors import InvalidInput
from bcrm.engagement.models import Task
from bcrm.parties import services
from bcrm.parties.models import Organization
from bcrm.playbooks import selectors as playbook_selectors
from tests.factories import make_org, make_user

pytestmark = pytest.mark.django_db


def test_a_manager_cannot_create_a_client_in_another_team(rm, other_team):
    with pytest.raises(InvalidInput) as err:
        services.organization_create(actor=rm, data={"legal_name": "Planted Ltd", "kind": "fund", "country": "CN",
                                                     "team": other_team})
    assert "team" in err.value.fields
    assert not Organization.objects.filter(legal_name="Planted Ltd").exists()


def test_a_manager_creates_clients_in_his_own_team(rm, team):
    org = services.organization_create(actor=rm, data={"legal_name": "Own Ltd", "kind": "fund", "country": "CN",
                                                       "team": team})
    assert org.team == team


def test_a_manager_cannot_move_a_client_to_another_team(rm, org, other_team):
    with pytest.raises(InvalidInput):
        services.organization_update(actor=rm, organization=org, data={"team": other_team},
                                     expected_version=org.version)
    org.refresh_from_db()
    assert org.team_id != other_team.pk


def test_a_lead_may_place_a_client_in_any_team(lead, other_team):
    org = services.organization_create(actor=lead, data={"legal_name": "Lead Ltd", "kind": "fund", "country": "CN",
                                                         "team": other_team})
    assert org.team == other_team


def test_the_api_refuses_another_team_with_422(rm, other_team):
    _, raw = token_create(user=rm)
    response = Client().post("/api/v1/organizations", {"legal_name": "Planted Ltd", "kind": "fund", "country": "CN",
                                                       "team": other_team.pk},
                             content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 422, response.content
    assert "team" in {f["path"] for f in response.json()["error"]["fields"]}


def test_my_day_drops_tasks_on_clients_the_manager_no_longer_sees(team, other_team):
    manager = make_user("moved_rm", "relationship_manager", team=team)
    client_org = make_org(legal_name="Left Behind Co", team=team)
    now = timezone.now()
    Task.objects.create(title="Call Left Behind", organization=client_org, assignee=manager,
                        due_at=now - dt.timedelta(hours=1))
    Task.objects.create(title="Personal reminder", organization=None, assignee=manager,
                        due_at=now - dt.timedelta(hours=1))
    day = playbook_selectors.my_day(manager, now)
    assert {t.title for t in day.overdue.items} == {"Call Left Behind", "Personal reminder"}
    # moved to another team: the old team's client is out of sight, so is its task
    TeamMembership.objects.filter(user=manager).delete()
    manager = type(manager).objects.get(pk=manager.pk)
    make_user("filler", "viewer")
    day = playbook_selectors.my_day(manager, now)
    assert {t.title for t in day.overdue.items} == {"Personal reminder"}
    assert day.overdue.count == 1
