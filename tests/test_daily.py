"""Issue 13, "the daily hour": role-aware navigation, the start page by role, the 360° page's tier and next
step, the task list's sorting and bulk actions, the global search, the cached OpenAPI document."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.urls import reverse

from bcrm.accounts.choices import Role
from bcrm.web.navigation import visible_urls
from tests.doors import signed_in
from tests.factories import make_org, make_team, make_user

pytestmark = pytest.mark.django_db

ROLES = [str(r) for r in Role.values]


def role_user(role: str, team):
    if role == "no-role":  # a fresh account nobody has given a role yet
        return make_user("daily_norole")
    return make_user(f"daily_{role}", role, team=team if role == Role.RELATIONSHIP_MANAGER else None)


# 1. Role-aware navigation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_clients", [False, True], ids=["empty", "with-clients"])
@pytest.mark.parametrize("role", [*ROLES, "no-role"])
def test_every_navigation_link_opens_for_its_role(role, with_clients):
    team = make_team("Energy desk")
    if with_clients:
        make_org(legal_name="Huaneng Capital", team=team)
    user = role_user(role, team)
    client = signed_in(user)
    response = client.get(reverse("playbooks:my_day"))
    urls = visible_urls(response.wsgi_request)
    assert len(urls) >= (2 if role == "no-role" else 5)
    html = response.content.decode()
    for url in urls:
        assert f'href="{url}"' in html
        answer = client.get(url, follow=True)
        assert answer.status_code == 200, (role, url, answer.status_code)


def test_relationship_manager_has_no_segmentation_link_and_the_page_is_403():
    team = make_team("Energy desk")
    rm = role_user(Role.RELATIONSHIP_MANAGER, team)
    client = signed_in(rm)
    html = client.get(reverse("playbooks:my_day")).content.decode()
    assert 'href="/segmentation/"' not in html
    assert 'href="/clients/"' in html
    assert client.get("/segmentation/").status_code == 403
    analyst = signed_in(role_user(Role.ANALYST, team))
    assert 'href="/segmentation/"' in analyst.get(reverse("playbooks:my_day")).content.decode()


def test_compliance_has_no_resource_plan_link():
    client = signed_in(role_user(Role.COMPLIANCE, None))
    html = client.get(reverse("parties:organization_list")).content.decode()
    assert 'href="/resource-plan/"' not in html
    assert client.get("/resource-plan/").status_code == 403


def test_admin_link_follows_the_admin_sites_own_check():
    lead = signed_in(role_user(Role.LEAD, None))
    assert 'href="/admin/"' not in lead.get("/clients/").content.decode()
    admin = signed_in(role_user(Role.ADMIN, None))
    assert 'href="/admin/"' in admin.get("/clients/").content.decode()


def test_a_403_is_logged_in_one_line_without_a_traceback(caplog):
    team = make_team("Energy desk")
    client = signed_in(role_user(Role.RELATIONSHIP_MANAGER, team))
    # the handler Django's logging config installs, with its filters (caplog's own handler sees raw records)
    handler = logging.getLogger().handlers[0]
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get("/segmentation/value/").status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records and all(getattr(r, "status_code", None) == 403 for r in records)
    for record in records:
        assert record.exc_info is None
        assert "Traceback" not in handler.format(record)
        assert "Forbidden" in record.getMessage()


# 2. Start page by role -----------------------------------------------------------------------------------------

LANDING = {
    Role.RELATIONSHIP_MANAGER: "playbooks:my_day",
    Role.LEAD: "playbooks:team_board",
    Role.VIEWER: "parties:organization_list",
    Role.ANALYST: "monitoring:dashboard",
    Role.ADMIN: "monitoring:dashboard",
    Role.COMPLIANCE: "parties:organization_list",
}


@pytest.mark.parametrize("role", ROLES)
def test_start_page_by_role_at_root_and_after_sign_in(role):
    team = make_team("Energy desk")
    user = make_user(f"start_{role}", role, team=team if role == Role.RELATIONSHIP_MANAGER else None,
                     password="pw-for-tests-2026")
    expected = reverse(LANDING[role])
    client = Client()
    response = client.post(reverse("login"), {"username": user.username, "password": "pw-for-tests-2026"},
                           follow=True)
    assert response.redirect_chain[-1][0] == expected
    assert response.status_code == 200
    root = client.get("/")
    assert root.status_code == 302 and root["Location"] == expected
    assert client.get(expected).status_code == 200


def test_a_lead_who_is_also_a_relationship_manager_starts_on_the_team_board():
    team = make_team("Energy desk")
    user = make_user("both", Role.LEAD, Role.RELATIONSHIP_MANAGER, team=team)
    assert signed_in(user).get("/")["Location"] == reverse("playbooks:team_board")


# 7. The OpenAPI document is built once per process; the docs load nothing from outside --------------------------


def test_openapi_document_is_built_once_and_served_from_memory(monkeypatch, viewer):
    import re

    from bcrm.api import api

    api.clear_schema_cache()
    builds = []
    real_build = api.build_openapi_schema

    def counting_build(**kwargs):
        builds.append(kwargs)
        return real_build(**kwargs)

    monkeypatch.setattr(api, "build_openapi_schema", counting_build)
    client = Client()
    client.force_login(viewer)
    first = client.get("/api/v1/openapi.json")
    second = client.get("/api/v1/openapi.json")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert "/api/v1/search" in first.json()["paths"] and "/api/v1/tasks/bulk" in first.json()["paths"]
    assert len(builds) == 1
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and len(builds) == 1
    html = docs.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(url.startswith("/") and not url.startswith("//") for url in assets), assets
    for url in assets:
        if url.startswith("/static/"):
            assert client.get(url).status_code == 200, url


# 8. The README's curl example works as written ---------------------------------------------------------------


def test_readme_curl_example_finds_a_demo_client(settings):
    """Run the README's example the way curl does: ``-G --data-urlencode`` percent-encodes each pair into the
    query string, with rm.wang's token, on the portfolio ``bcrm demo`` loads by default (300 clients, seed 1)."""
    import re
    import shlex
    from pathlib import Path
    from urllib.parse import quote, urlsplit

    from django.contrib.auth import get_user_model

    from bcrm.accounts.services import token_create
    from bcrm.demo.generator import generate_portfolio
    from bcrm.demo.management.commands.demo import Command

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"TOKEN=\$\(bcrm token create (\S+)\)\n(curl .*?)\n```", readme, re.S)
    assert block, "the README's curl example"
    username, command = block.group(1), block.group(2).replace("\\\n", " ")
    words = shlex.split(command)
    assert words[0] == "curl" and "-G" in words
    url = next(w for w in words if w.startswith("http://"))
    pairs = [words[i + 1] for i, w in enumerate(words) if w == "--data-urlencode"]
    assert any(re.search(r"[\u4e00-\u9fff]", p) for p in pairs), "the example searches a Chinese name"
    # curl --data-urlencode "name=content": the content is percent-encoded, the name is kept as given
    query = "&".join(f"{p.split('=', 1)[0]}={quote(p.split('=', 1)[1], safe='')}" for p in pairs)

    parser = Command().create_parser("manage.py", "demo")
    defaults = parser.parse_args([])
    generate_portfolio(clients=defaults.clients, seed=defaults.seed)
    user = get_user_model().objects.get(username=username)
    _, raw = token_create(user=user)
    response = Client().get(f"{urlsplit(url).path}?{query}", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200, response.content
    body = response.json()
    wanted = dict(p.split("=", 1) for p in pairs)["q"]
    assert body["count"] >= 1
    assert any(wanted in (item.get("local_name") or "") for item in body["items"])


# 3. The 360° page: service tier and next playbook step ----------------------------------------------------------


def _tier(org, tier, addons=""):
    import datetime as dt

    from django.utils import timezone

    from bcrm.playbooks.defaults import ensure_defaults
    from bcrm.playbooks.models import ClientTier

    ensure_defaults()
    return ClientTier.objects.create(organization=org, tier=tier, addons=addons, policy_version=1,
                                     since=timezone.now() - dt.timedelta(days=30))


def test_360_page_shows_tier_and_the_open_playbook_task_as_next_step():
    import datetime as dt

    from django.utils import timezone

    from bcrm.engagement.models import Task
    from bcrm.playbooks.models import PlaybookStep

    team = make_team("Energy desk")
    rm = make_user("rm_li", Role.RELATIONSHIP_MANAGER, team=team)
    rm.first_name, rm.last_name = "Li", "Na"
    rm.save()
    org = make_org(legal_name="Huaneng Capital", local_name="华能资本", team=team, relationship_manager=rm)
    _tier(org, "dedicated")
    step = PlaybookStep.objects.get(playbook__code="dedicated", action="plan_review")
    due = timezone.now() + dt.timedelta(days=5)
    Task.objects.create(organization=org, title="Financing-plan review", due_at=due, assignee=rm, source="playbook",
                        step=step, action=step.action, team=team, source_key=f"pb:{step.pk}:{org.pk}:new")
    client = signed_in(rm)
    html = client.get(f"/clients/{org.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    strip = html[html.index('id="service"'):html.index("</section>", html.index('id="service"'))]
    assert 'data-tier="dedicated"' in strip and "Dedicated service" in strip
    assert "Financing-plan review" in strip
    assert timezone.localdate(due).isoformat() in strip
    assert "Li Na" in strip
    zh = client.get(f"/clients/{org.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "专属服务" in zh


def test_360_page_plans_the_next_step_from_the_playbook_when_no_task_is_open():
    team = make_team("Energy desk")
    rm = make_user("rm_li", Role.RELATIONSHIP_MANAGER, team=team)
    org = make_org(legal_name="Platform Ventures", team=team, relationship_manager=rm)
    _tier(org, "standard")
    html = signed_in(rm).get(f"/clients/{org.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    strip = html[html.index('id="service"'):html.index("</section>", html.index('id="service"'))]
    assert 'data-tier="standard"' in strip and "Standard service" in strip
    # never reported: the monthly progress report is due now, sent by the automation
    assert "Progress report" in strip and "Automation" in strip and "planned by the playbook" in strip


def test_360_page_of_an_unclassified_client_says_standard_and_not_classified():
    team = make_team("Energy desk")
    rm = make_user("rm_li", Role.RELATIONSHIP_MANAGER, team=team)
    org = make_org(legal_name="Fresh Capital", team=team)
    html = signed_in(rm).get(f"/clients/{org.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-tier="standard"' in html and "not classified yet" in html
    assert "No playbook step is planned" in html


def test_client_service_selector_refuses_a_client_outside_the_actors_teams():
    from bcrm.core.errors import NotFound
    from bcrm.playbooks.selectors import client_service

    rm = make_user("rm_li", Role.RELATIONSHIP_MANAGER, team=make_team("Energy desk"))
    foreign = make_org(legal_name="Elsewhere Capital", team=make_team("Platform desk"))
    with pytest.raises(NotFound):
        client_service(actor=rm, organization=foreign)


# 4. Task list: sort by column, bulk complete and reassign -------------------------------------------------------


def _task(org=None, *, title, due_days=1, assignee=None, status="open", **fields):
    import datetime as dt

    from django.utils import timezone

    from bcrm.engagement.models import Task

    if status == "done":
        fields.setdefault("completed_at", timezone.now())
    return Task.objects.create(organization=org, title=title, assignee=assignee, status=status,
                               due_at=timezone.now() + dt.timedelta(days=due_days), **fields)


def _titles(response) -> list[str]:
    import re

    return re.findall(r'class="strong" href="/tasks/\d+/edit/[^"]*">([^<]+)</a>', response.content.decode())


@pytest.fixture
def desk():
    team = make_team("Energy desk")
    rm = make_user("rm_li", Role.RELATIONSHIP_MANAGER, team=team)
    rm.first_name, rm.last_name = "Li", "Na"
    rm.save()
    colleague = make_user("rm_zhao", Role.RELATIONSHIP_MANAGER, team=team)
    colleague.first_name, colleague.last_name = "Zhao", "Min"
    colleague.save()
    alpha = make_org(legal_name="Alpha Capital", team=team)
    beta = make_org(legal_name="Beta Bank", team=team)
    return {"team": team, "rm": rm, "colleague": colleague, "alpha": alpha, "beta": beta}


def test_task_list_sorts_by_each_column_with_a_stable_tie_break(desk):
    rm, colleague, alpha, beta = desk["rm"], desk["colleague"], desk["alpha"], desk["beta"]
    _task(beta, title="Call B", due_days=3, assignee=rm)
    _task(alpha, title="Report A", due_days=1, assignee=colleague)
    _task(None, title="Agenda", due_days=2, assignee=rm)
    _task(alpha, title="Same title", due_days=5, assignee=rm)
    _task(beta, title="Same title", due_days=4, assignee=rm, status="done")
    client = signed_in(rm)

    def order(sort):
        response = client.get("/tasks/", {"who": "all", "status": "", "sort": sort})
        assert response.status_code == 200
        return _titles(response)

    assert order("due") == ["Report A", "Agenda", "Call B", "Same title", "Same title"]
    assert order("-due") == ["Same title", "Same title", "Call B", "Agenda", "Report A"]
    assert order("title") == ["Agenda", "Call B", "Report A", "Same title", "Same title"]
    assert order("-title") == ["Same title", "Same title", "Report A", "Call B", "Agenda"]
    # equal keys keep one order (then due, then id): the page never reshuffles between requests
    assert order("title") == order("title")
    assert order("client") == ["Report A", "Same title", "Call B", "Same title", "Agenda"]  # no client last
    assert order("-client") == ["Call B", "Same title", "Report A", "Same title", "Agenda"]
    assert order("owner") == ["Agenda", "Call B", "Same title", "Same title", "Report A"]  # Li Na, then Zhao Min
    assert order("status")[:1] == ["Same title"]  # done before open
    html = client.get("/tasks/", {"who": "all", "sort": "title"}).content.decode()
    assert 'aria-sort="ascending"' in html and "sort=-title" in html
    # an unknown key is not an error page: the default order
    assert client.get("/tasks/", {"who": "all", "sort": "password"}).status_code == 200


def test_task_list_sort_in_the_api_is_whitelisted(desk):
    client = signed_in(desk["rm"])
    _task(desk["alpha"], title="B", assignee=desk["rm"])
    _task(desk["alpha"], title="A", assignee=desk["rm"])
    body = client.get("/api/v1/tasks", {"sort": "title"}).json()
    assert [t["title"] for t in body["items"]] == ["A", "B"]
    bad = client.get("/api/v1/tasks", {"sort": "organization__relationship_manager__password"})
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["path"] == "sort"


def test_bulk_complete_goes_through_the_task_services_and_counts_changed_and_refused(desk):
    from bcrm.audit.models import AuditEntry
    from bcrm.engagement.models import Task

    rm = desk["rm"]
    mine = _task(desk["alpha"], title="Mine", assignee=rm)
    stale = _task(desk["beta"], title="Stale", assignee=rm)
    already = _task(desk["alpha"], title="Already", assignee=rm, status="done")
    foreign = _task(make_org(legal_name="Elsewhere", team=make_team("Platform desk")), title="Foreign")
    client = signed_in(rm)
    response = client.post("/tasks/bulk/", {
        "action": "complete", "task": [mine.pk, stale.pk, already.pk, foreign.pk],
        f"version_{mine.pk}": mine.version, f"version_{stale.pk}": stale.version + 7,
        "next": "/tasks/?who=all"}, follow=True)
    assert response.status_code == 200
    text = [str(m) for m in response.context["messages"]]
    assert any("1 task completed" in m for m in text), text
    assert any("3 tasks refused" in m for m in text), text
    mine.refresh_from_db()
    stale.refresh_from_db()
    foreign.refresh_from_db()
    assert mine.status == "done" and mine.version == 2 and mine.completed_at is not None
    assert stale.status == "open" and foreign.status == "open"
    assert AuditEntry.objects.filter(object_id=str(mine.pk), actor=rm).exists()
    assert not AuditEntry.objects.filter(object_id=str(stale.pk), action="update").exists()
    assert Task.objects.get(pk=already.pk).status == "done"


def test_bulk_complete_of_a_playbook_task_logs_its_interaction(desk):
    from bcrm.playbooks.defaults import ensure_defaults
    from bcrm.playbooks.models import PlaybookStep

    ensure_defaults()
    step = PlaybookStep.objects.get(playbook__code="dedicated", action="contact")
    org = desk["alpha"]
    task = _task(org, title="Contact the client", assignee=desk["rm"], source="playbook", step=step,
                 action="contact", team=desk["team"], source_key=f"pb:{step.pk}:{org.pk}:new")
    response = signed_in(desk["rm"]).post("/tasks/bulk/", {"action": "complete", "task": [task.pk]})
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == "done" and task.interaction is not None
    assert task.interaction.organization_id == org.pk


def test_bulk_reassign_follows_the_single_edit_rules(desk):
    from bcrm.playbooks.defaults import ensure_defaults
    from bcrm.playbooks.models import PlaybookStep

    ensure_defaults()
    rm, colleague, org = desk["rm"], desk["colleague"], desk["alpha"]
    manual = _task(org, title="Manual", assignee=rm)
    step = PlaybookStep.objects.get(playbook__code="dedicated", action="contact")
    playbook = _task(org, title="Playbook", assignee=rm, source="playbook", step=step, action="contact",
                     team=desk["team"], source_key=f"pb:{step.pk}:{org.pk}:new")
    # a relationship manager may hand over a manual task, not place a playbook task (a lead's job)
    response = signed_in(rm).post("/tasks/bulk/", {"action": "reassign", "assignee": colleague.pk,
                                                    "task": [manual.pk, playbook.pk]}, follow=True)
    text = [str(m) for m in response.context["messages"]]
    assert any("1 task reassigned" in m for m in text) and any("1 task refused" in m for m in text), text
    manual.refresh_from_db()
    playbook.refresh_from_db()
    assert manual.assignee_id == colleague.pk and playbook.assignee_id == rm.pk
    lead = make_user("lead_wu", Role.LEAD, team=desk["team"])
    signed_in(lead).post("/tasks/bulk/", {"action": "reassign", "assignee": colleague.pk, "task": [playbook.pk]})
    playbook.refresh_from_db()
    assert playbook.assignee_id == colleague.pk and playbook.version == 2
    # reassign without a colleague: nothing happens, the form says why
    response = signed_in(lead).post("/tasks/bulk/", {"action": "reassign", "task": [manual.pk]}, follow=True)
    assert any("Choose a colleague" in str(m) for m in response.context["messages"])


def test_viewer_bulk_actions_are_refused_row_by_row(desk):
    viewer = make_user("viewer_q", Role.VIEWER)
    task = _task(desk["alpha"], title="Mine", assignee=desk["rm"])
    response = signed_in(viewer).post("/tasks/bulk/", {"action": "complete", "task": [task.pk]}, follow=True)
    assert any("1 task refused" in str(m) for m in response.context["messages"])
    task.refresh_from_db()
    assert task.status == "open"


def test_bulk_api(desk):
    from bcrm.accounts.services import token_create

    rm = desk["rm"]
    one = _task(desk["alpha"], title="One", assignee=rm)
    two = _task(desk["beta"], title="Two", assignee=rm)
    foreign = _task(make_org(legal_name="Elsewhere", team=make_team("Platform desk")), title="Foreign")
    _, raw = token_create(user=rm)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    response = Client().post("/api/v1/tasks/bulk", {"action": "complete", "tasks": [one.pk, two.pk, foreign.pk],
                                                    "versions": {str(one.pk): one.version}},
                             content_type="application/json", **auth)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["changed"] == [one.pk, two.pk] and body["changed_count"] == 2
    assert body["refused"] == [{"id": foreign.pk, "code": "not_found", "message": body["refused"][0]["message"]}]
    again = Client().post("/api/v1/tasks/bulk", {"action": "reassign", "tasks": [one.pk],
                                                 "assignee": desk["colleague"].pk},
                          content_type="application/json", **auth).json()
    assert again["refused_count"] == 0  # a done manual task can still be handed over, as in its edit form
    bad = Client().post("/api/v1/tasks/bulk", {"action": "delete", "tasks": [one.pk]},
                        content_type="application/json", **auth)
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["path"] == "action"
    empty = Client().post("/api/v1/tasks/bulk", {"action": "complete", "tasks": []},
                          content_type="application/json", **auth)
    assert empty.status_code == 422


# 5. Global search ----------------------------------------------------------------------------------------------


@pytest.fixture
def searchable():
    from tests.factories import make_contact, make_project

    energy, platform = make_team("Energy desk"), make_team("Platform desk")
    rm = make_user("rm_li", Role.RELATIONSHIP_MANAGER, team=energy)
    own = make_org(legal_name="Huaneng Capital", local_name="华能资本", team=energy)
    foreign = make_org(legal_name="Huaneng Platform Ventures", local_name="华能创投", team=platform)
    make_contact(own, full_name="Wang Huaneng", email="wang@huaneng.example")
    make_contact(foreign, full_name="Zhao Huaneng", email="zhao@huaneng.example")
    make_contact(own, full_name="Someone Else", email="else@example.com")
    make_project(name="Huaneng Offshore Wind", local_name="华能海上风电")
    return {"rm": rm, "own": own, "foreign": foreign}


def _names(body, kind):
    return [item["name"] for group in body["groups"] if group["kind"] == kind for item in group["items"]]


def test_search_api_groups_results_and_scopes_them_to_what_the_user_sees(searchable):
    rm = searchable["rm"]
    body = signed_in(rm).get("/api/v1/search", {"q": "huaneng"}).json()
    assert [g["kind"] for g in body["groups"]] == ["clients", "contacts", "projects"]
    assert _names(body, "clients") == ["Huaneng Capital"]
    assert _names(body, "contacts") == ["Wang Huaneng"]  # not the other team's client's contact
    assert _names(body, "projects") == ["Huaneng Offshore Wind"]
    viewer = make_user("viewer_q", Role.VIEWER)
    everything = signed_in(viewer).get("/api/v1/search", {"q": "huaneng"}).json()
    assert sorted(_names(everything, "clients")) == ["Huaneng Capital", "Huaneng Platform Ventures"]
    assert sorted(_names(everything, "contacts")) == ["Wang Huaneng", "Zhao Huaneng"]
    # e-mail and Chinese names are found too
    assert _names(signed_in(rm).get("/api/v1/search", {"q": "wang@hua"}).json(), "contacts") == ["Wang Huaneng"]
    assert _names(signed_in(rm).get("/api/v1/search", {"q": "华能资本"}).json(), "clients") == ["Huaneng Capital"]


def test_search_two_characters_match_the_start_of_client_names(searchable):
    body = signed_in(searchable["rm"]).get("/api/v1/search", {"q": "华能"}).json()
    assert _names(body, "clients") == ["Huaneng Capital"]
    contacts = next(g for g in body["groups"] if g["kind"] == "contacts")
    assert contacts["items"] == [] and "3" in contacts["note"]


@pytest.mark.parametrize("q", ["", "h", " x ", "x" * 101])
def test_search_refuses_a_too_short_or_too_long_query(searchable, q):
    client = signed_in(searchable["rm"])
    response = client.get("/api/v1/search", {"q": q})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["path"] == "q"
    page = client.get("/search/", {"q": q})
    assert page.status_code == 200
    assert "at least 2 characters" in page.content.decode() or "at most 100" in page.content.decode()


def test_search_page_and_htmx_dropdown(searchable):
    client = signed_in(searchable["rm"])
    page = client.get("/search/", {"q": "huaneng"}).content.decode()
    assert "Huaneng Capital" in page and "Wang Huaneng" in page and "Huaneng Offshore Wind" in page
    assert "Huaneng Platform Ventures" not in page and "Zhao Huaneng" not in page
    assert f'href="/clients/{searchable["own"].pk}/"' in page
    dropdown = client.get("/search/", {"q": "huaneng"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="search-dropdown")
    html = dropdown.content.decode()
    assert "<html" not in html and "Huaneng Capital" in html and "/search/?q=huaneng" in html
    nothing = client.get("/search/", {"q": "nothing-like-this"}).content.decode()
    assert "Nothing found" in nothing
    # the top bar carries the box on every page, wired to the dropdown and focusable with / and Ctrl+K
    home = client.get(reverse("playbooks:my_day")).content.decode()
    assert 'id="global-search-q"' in home and 'hx-target="#search-dropdown"' in home
    assert 'aria-keyshortcuts="/ Control+K"' in home


def test_search_needs_sign_in():
    assert Client().get("/api/v1/search", {"q": "huaneng"}).status_code == 401
    assert Client().get("/search/", {"q": "huaneng"}).status_code == 302


def test_the_new_words_are_in_chinese(desk):
    client = signed_in(desk["rm"])
    short = client.get("/search/", {"q": "h"}, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "请至少输入 2 个字符再搜索" in short and "打开菜单" in short and "搜索客户、联系人和项目" in short
    tasks = signed_in(desk["rm"]).get("/tasks/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "对所选待办" in tasks and "转派" in tasks
    task = _task(desk["alpha"], title="Mine", assignee=desk["rm"])
    response = signed_in(desk["rm"]).post("/tasks/bulk/", {"action": "complete", "task": [task.pk]},
                                          HTTP_ACCEPT_LANGUAGE="zh-hans", follow=True)
    assert any("已完成 1 项待办" in str(m) for m in response.context["messages"])


def test_the_done_button_on_a_task_already_done_says_so(desk):
    task = _task(desk["alpha"], title="Finished", assignee=desk["rm"], status="done")
    response = signed_in(desk["rm"]).post(f"/tasks/{task.pk}/done/", {"version": task.version}, follow=True)
    assert response.status_code == 200
    assert any("already done" in str(m) for m in response.context["messages"])
