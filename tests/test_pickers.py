"""Pickers of managers and teams at the size of a big firm (issue 19: at a million clients the demo has 10,000
relationship managers and 1,250 desks, and the client list rendered a <select> of every one of them, twice
for a lead: filter and bulk bar — 700 ms a page). A picker now lists a bounded set, the reader's own first,
and finds any other by a few letters of the name; the fields still accept every member of the whole set."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bcrm.accounts.choices import Role
from bcrm.accounts.models import Team
from bcrm.parties.models import Organization
from bcrm.parties.pickers import PICKER_SHOWN, manager_options, team_options
from tests.doors import signed_in
from tests.factories import make_org, make_staff, make_team, make_user


def select_options(page: str, select_id: str) -> list[tuple[str, str]]:
    """The (value, label) options of the <select id=select_id> in ``page``."""
    found = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert found, f"no select #{select_id}"
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', found.group(1))


@pytest.fixture
def lead_of_a_desk(db):
    desk = make_team("Energy Desk")
    lead = make_user("lead_user", "lead", team=desk)
    mate = make_user("zz.mate", "relationship_manager", team=desk)  # sorts last by login: shown only as own
    return lead, desk, mate


def test_a_small_firm_sees_every_manager_and_no_lookup(client, lead_of_a_desk):
    lead, _desk, mate = lead_of_a_desk
    others = [make_user(f"rm.{n}", "relationship_manager") for n in range(3)]
    page = signed_in(lead, client).get("/clients/").content.decode()
    values = [v for v, _label in select_options(page, "id_relationship_manager")]
    assert values == ["", str(mate.pk), *[str(u.pk) for u in others]]  # own desk first, then by login
    assert 'name="relationship_manager_lookup"' not in page


def test_the_client_list_shows_a_bounded_picker_at_any_size(client, lead_of_a_desk):
    lead, desk, mate = lead_of_a_desk
    make_org(team=desk, relationship_manager=mate)
    browser = signed_in(lead, client)
    counts = []
    for size in (40, 400):
        make_staff(size, prefix=f"s{size}")
        with CaptureQueriesContext(connection) as queries:
            page = browser.get("/clients/").content.decode()
        managers = select_options(page, "id_relationship_manager")
        teams = select_options(page, "id_team")
        bulk = select_options(page, "bulk-relationship-manager")
        everyone = get_user_model().objects.filter(groups__name=Role.RELATIONSHIP_MANAGER).count()
        assert len(managers) == min(everyone, PICKER_SHOWN) + 1  # "Anyone" + the bounded list
        assert len(teams) == min(Team.objects.count(), PICKER_SHOWN) + 1
        assert len(bulk) == min(everyone, PICKER_SHOWN) + 1
        assert managers[1] == (str(mate.pk), "zz.mate")  # the reader's desk first, though last by login
        assert teams[1] == (str(desk.pk), "Energy Desk")
        # no query reads the managers or the teams unbounded
        for query in queries.captured_queries:
            sql = query["sql"]
            if 'FROM "auth_user" INNER JOIN "auth_user_groups"' in sql or 'FROM "accounts_team"' in sql:
                assert "LIMIT" in sql or "COUNT(" in sql, sql
        counts.append(len(queries.captured_queries))
    assert 'name="relationship_manager_lookup"' in page and 'name="team_lookup"' in page
    assert counts[0] == counts[1]  # as many queries at 441 managers as at 41


def test_lookup_finds_any_manager_and_the_list_filters_by_one_not_shown(client, lead_of_a_desk):
    lead, _desk, _mate = lead_of_a_desk
    users = make_staff(300)
    far = users[-1]  # rm.desk.00299: beyond the first PICKER_SHOWN
    browser = signed_in(lead, client)
    page = browser.get("/clients/").content.decode()
    assert str(far.pk) not in [v for v, _ in select_options(page, "id_relationship_manager")]
    answer = browser.get("/pickers/managers/", {"for": "filter", "name": "relationship_manager",
                                                        "id": "id_relationship_manager",
                                                        "relationship_manager_lookup": "desk00299"})
    assert answer.status_code == 200
    assert select_options(answer.content.decode(), "id_relationship_manager") == [
        ("", "Anyone"), (str(far.pk), "Manager Desk00299")]
    theirs = make_org(legal_name="Far Away Capital", relationship_manager=far)
    make_org(legal_name="Someone Else Capital")
    page = browser.get("/clients/", {"relationship_manager": far.pk}).content.decode()
    assert theirs.legal_name in page and "Someone Else Capital" not in page
    chosen = select_options(page, "id_relationship_manager")
    assert (str(far.pk), "Manager Desk00299") in chosen and f'value="{far.pk}" selected' in page
    # a lookup that no longer matches the chosen one keeps it, so the filter is not dropped under the user
    answer = browser.get("/pickers/managers/", {"for": "filter", "name": "relationship_manager",
                                                        "id": "id_relationship_manager", "relationship_manager":
                                                        far.pk, "relationship_manager_lookup": "desk00001"})
    values = [v for v, _ in select_options(answer.content.decode(), "id_relationship_manager")]
    assert values[:2] == ["", str(far.pk)] and str(users[1].pk) in values
    # without JavaScript: the lookup box submitted with the form narrows the select the same way
    page = browser.get("/clients/", {"relationship_manager_lookup": "desk00299"}).content.decode()
    assert [v for v, _ in select_options(page, "id_relationship_manager")] == ["", str(far.pk)]


def test_assign_pickers_offer_only_active_managers_and_the_actors_own_teams(client, rm, team, other_team):
    make_staff(60)
    gone = make_staff(1, prefix="gone", active=False)[0]
    api = signed_in(rm, client)
    kwargs = {"name": "relationship_manager", "id": "bulk-relationship-manager",
              "relationship_manager_lookup": "gone"}
    assigned = api.get("/pickers/managers/", {"for": "assign", **kwargs}).content.decode()
    filtered = api.get("/pickers/managers/", {"for": "filter", **kwargs}).content.decode()
    assert str(gone.pk) not in [v for v, _ in select_options(assigned, "bulk-relationship-manager")]
    assert str(gone.pk) in [v for v, _ in select_options(filtered, "bulk-relationship-manager")]
    # a relationship manager may give a client only their own team: a lookup does not widen that
    answer = client.get("/pickers/teams/", {"for": "assign", "name": "team", "id": "bulk-team",
                                                    "team_lookup": "desk"}).content.decode()
    assert select_options(answer, "bulk-team") == [("", "Team…"), (str(team.pk), team.name)]  # not 60 others
    answer = client.get("/pickers/teams/", {"for": "assign", "name": "team", "id": "bulk-team"})
    assert select_options(answer.content.decode(), "bulk-team") == [("", "Team…"), (str(team.pk), team.name)]
    assert other_team.name not in answer.content.decode()


@pytest.mark.parametrize("query", [
    {"for": "filter", "name": "relationship_manager", "id": "x\"><script>"},
    {"for": "everyone", "name": "relationship_manager", "id": "id_relationship_manager"},
    {"for": "filter", "name": "relationship_manager"},
])
def test_a_malformed_lookup_is_refused(client, rm, query):
    answer = signed_in(rm, client).get("/pickers/managers/", query)
    assert answer.status_code == 400 and b"<script>" not in answer.content


def test_an_unknown_picker_and_an_anonymous_lookup_are_refused(client, rm):
    assert signed_in(rm, client).get("/pickers/contacts/", {"id": "x"}).status_code == 400
    client.logout()
    answer = client.get("/pickers/managers/", {"id": "id_relationship_manager"})
    assert answer.status_code == 302 and "/login/" in answer["Location"]


def test_the_client_form_takes_a_manager_beyond_the_shown_list(client, lead_of_a_desk):
    lead, desk, _mate = lead_of_a_desk
    far = make_staff(200)[-1]
    org = make_org(team=desk)
    browser = signed_in(lead, client)
    page = browser.get(f"/clients/{org.pk}/edit/").content.decode()
    assert len(select_options(page, "id_relationship_manager")) <= PICKER_SHOWN + 1
    assert str(far.pk) not in [v for v, _ in select_options(page, "id_relationship_manager")]
    form = browser.get(f"/clients/{org.pk}/edit/").context["form"]
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data["relationship_manager"] = far.pk
    answer = browser.post(f"/clients/{org.pk}/edit/", data)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert Organization.objects.get(pk=org.pk).relationship_manager_id == far.pk


def test_options_put_the_selected_and_the_readers_own_first(db, lead_of_a_desk):
    lead, desk, mate = lead_of_a_desk
    users = make_staff(120)
    shown, more = manager_options(actor=lead, selected=users[-1].pk)
    assert more and len(shown) == PICKER_SHOWN
    assert [u.pk for u in shown[:2]] == [users[-1].pk, mate.pk]
    assert len({u.pk for u in shown}) == PICKER_SHOWN  # no one twice
    shown, more = manager_options(actor=lead, q="manager desk0011")
    assert not more and [u.username for u in shown] == [f"rm.desk.{n:05d}" for n in range(110, 120)]
    teams, more = team_options(actor=lead, q="desk 0011")  # both words, anywhere in the name
    assert not more and [t.name for t in teams] == [f"Desk desk {n:05d}" for n in (11, *range(110, 120))]
    teams, more = team_options(actor=lead)
    assert more and teams[0] == desk
    assert make_team("Aardvark desk") not in team_options(actor=lead, q="nothing like it")[0]


def test_task_pages_show_bounded_colleague_pickers_that_accept_anyone_active(client, lead_of_a_desk):
    lead, _desk, mate = lead_of_a_desk
    far = make_staff(150)[-1]
    browser = signed_in(lead, client)
    page = browser.get("/tasks/").content.decode()
    bulk = select_options(page, "bulk-assignee")
    assert len(bulk) == PICKER_SHOWN + 1 and bulk[0] == ("", "Choose a colleague")
    assert [v for v, _ in bulk[1:3]] == [str(lead.pk), str(mate.pk)]  # the reader, their desk, then by name
    form_page = browser.get("/tasks/new/").content.decode()
    assignees = select_options(form_page, "id_assignee")
    assert len(assignees) == PICKER_SHOWN + 1 and f'value="{lead.pk}" selected' in form_page
    answer = browser.post("/tasks/new/", {"title": "Call back", "assignee": far.pk, "due_at": "2027-01-05T09:00"})
    assert answer.status_code == 302
    from bcrm.engagement.models import Task

    assert Task.objects.get(title="Call back").assignee_id == far.pk
    answer = browser.get("/pickers/people/", {"for": "assign", "name": "assignee", "id": "bulk-assignee",
                                              "assignee_lookup": "desk00149"}).content.decode()
    assert select_options(answer, "bulk-assignee") == [("", "Choose a colleague"), (str(far.pk), "Manager Desk00149")]


def test_the_closing_checklist_reads_colleagues_once_for_all_its_items(client, rm):
    from bcrm.closing import services as closing
    from tests.factories import make_project

    project = make_project(name="Coastal Wind", sector="energy")
    checklist = closing.checklist_create(actor=rm, project=project)
    far = make_staff(120)[-1]
    item = checklist.items.order_by("pk").last()
    item.owner_user = far
    item.save(update_fields=["owner_user"])
    browser = signed_in(rm, client)
    with CaptureQueriesContext(connection) as queries:
        page = browser.get(f"/projects/{project.pk}/closing/").content.decode()
    items = list(checklist.items.all())
    assert len(items) > 5
    for each in items:
        owners = select_options(page, f"owner-{each.pk}")
        assert len(owners) == PICKER_SHOWN + 1
        assert (f'value="{far.pk}" selected' in page) and (each != item or owners[1][0] == str(far.pk))
    reads = [q["sql"] for q in queries.captured_queries if 'FROM "auth_user"' in q["sql"] and "LIMIT" in q["sql"]]
    assert len(reads) <= 3, reads  # the shared list: own, then the rest (not one read per item)
