"""Issue 13, "the daily hour": role-aware navigation, the start page by role, the 360° page's tier and next
step, the task list's sorting and bulk actions, the global search, the cached OpenAPI document."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.urls import reverse

from bcrm.accounts.choices import Role
from bcrm.web.navigation import visible_urls
from tests.factories import make_org, make_team, make_user

pytestmark = pytest.mark.django_db

ROLES = [str(r) for r in Role.values]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def role_user(role: str, team):
    return make_user(f"daily_{role}", role, team=team if role == Role.RELATIONSHIP_MANAGER else None)


# 1. Role-aware navigation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_clients", [False, True], ids=["empty", "with-clients"])
@pytest.mark.parametrize("role", ROLES)
def test_every_navigation_link_opens_for_its_role(role, with_clients):
    team = make_team("Energy desk")
    if with_clients:
        make_org(legal_name="Huaneng Capital", team=team)
    user = role_user(role, team)
    client = signed_in(user)
    response = client.get(reverse("playbooks:my_day"))
    urls = visible_urls(response.wsgi_request)
    assert len(urls) >= 5
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


def test_openapi_document_is_built_once_and_served_from_memory(monkeypatch):
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

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
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
