"""The web UI as a user meets it: what each role sees, what the forms do, and what a page costs in queries."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bcrm.engagement.models import Interaction, ServiceRequest, Task
from bcrm.financing.models import Participation
from bcrm.parties.models import Contact, Organization
from tests.doors import signed_in
from tests.factories import make_contact, make_org, make_participation, make_project, make_team, make_user

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-web-tests-2026"
_seq = itertools.count(1)

# Pinned query budgets (measured, then fixed): a change that adds a query per row, or a stray query per
# page, fails here. The list page: session, user, roles, teams of the user, rows, filter options (teams,
# relationship managers), and since issue 13: saved views, the bulk bar's teams and relationship managers
# (the partial carries the toolbar too, so the filter swap keeps export links and views current); a partial
# whose filters changed also saves them in the session as the user's last filters; +1 for the schedule row
# that says whether tiers wait for the next automation run; +2 since issue 19: each manager picker reads the
# reader's own people and then the rest in login order, two small queries, where one query sorted every manager
# of the firm "own first". The 360° page: session, user, roles, teams, the client, tags, contacts,
# participations, timeline (interactions + their contacts, requests, surveys, commitment steps),
# open requests, open tasks.
LIST_PAGE_QUERIES = 13
# A search adds its hit probe; on PostgreSQL the probe is wrapped in SET / RESET enable_seqscan (through the index).
LIST_PARTIAL_QUERIES = 14 + (2 if connection.vendor == "postgresql" else 0)
# 360°: +1 for the segmentation card's current labels (a classified client adds its latest assignments and
# active overrides: 2 more, pinned in tests/test_segmentation_web.py).
DETAIL_PAGE_QUERIES = 27  # +4: the Models section (participations, interactions, contacts of this one client,
# and the expert scorecard version in force); +2: the service tier and the next open playbook task;
# +5: the relationship-strength card (interactions, their contacts, captured directions, our people, mailboxes)


# Factories: real services for people and teams, plain rows for background data. -------------------------


def make_interaction(organization: Organization, *, contacts=(), **fields) -> Interaction:
    defaults = {"kind": "call", "occurred_at": timezone.now(), "summary": f"Call {next(_seq)}"}
    defaults.update(fields)
    interaction = Interaction.objects.create(organization=organization, **defaults)
    interaction.contacts.set(contacts)
    return interaction


def busy_client(team, n: int, *, manager=None) -> Organization:
    """A client with ``n`` of everything the 360° page lists, for query-count tests."""
    organization = make_org(legal_name="Busy Capital", team=team, relationship_manager=manager)
    contacts = [make_contact(organization) for _ in range(n)]
    for i in range(n):
        project = make_project()
        make_participation(project, organization)
        make_interaction(organization, contacts=contacts[:2], project=project, owner=manager)
        ServiceRequest.objects.create(organization=organization, subject=f"Request {i}", opened_at=timezone.now(),
                                      contact=contacts[i])
        Task.objects.create(organization=organization, title=f"Task {i}", due_at=timezone.now(), assignee=manager)
    return organization


# Fixtures (named web_* so they never shadow tests/conftest.py). -----------------------------------------


@pytest.fixture
def web_team():
    return make_team("Energy desk")


@pytest.fixture
def web_other_team():
    return make_team("Platform desk")


@pytest.fixture
def web_rm(web_team):
    return make_user("web_rm", "relationship_manager", team=web_team, password=PASSWORD)


@pytest.fixture
def web_viewer():
    return make_user("web_viewer", "viewer", password=PASSWORD)


@pytest.fixture
def web_admin():
    return make_user("web_admin", "admin", password=PASSWORD)


@pytest.fixture
def own_org(web_team):
    return make_org(legal_name="Huaneng Capital", local_name="华能资本", kind="equity_investor", team=web_team)


@pytest.fixture
def foreign_org(web_other_team):
    return make_org(legal_name="Platform Ventures", local_name="平台创投", kind="commercial_bank",
                    country="SG", team=web_other_team)


# Sign-in, language, shell ---------------------------------------------------------------------------------


def test_every_page_requires_sign_in(client, own_org):
    for url in ["/", "/clients/", f"/clients/{own_org.pk}/", "/projects/", "/tasks/", "/requests/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_htmx_request_without_session_redirects_the_whole_page(client):
    response = client.get("/clients/?q=x", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_sign_in_lands_a_relationship_manager_on_my_day(client, web_rm):
    response = client.post(reverse("login"), {"username": "web_rm", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("playbooks:my_day")
    assert b'name="csrf-token"' in response.content
    assert b"X-CSRFToken" in response.content


def test_sign_out_is_a_post(client, web_rm):
    signed_in(web_rm, client)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get("/clients/").status_code == 302


def test_page_renders_in_chinese_from_the_browser_language(client, web_rm, own_org):
    signed_in(web_rm, client)
    response = client.get("/clients/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = response.content.decode()
    assert 'lang="zh-Hans"' in html
    assert "客户诉求" in html and "待办" in html and "项目" in html
    assert "股权投资人" in html  # the kind choice label, translated
    assert "Service requests" not in html


def test_language_switch_persists_in_a_cookie(client, web_rm, own_org):
    signed_in(web_rm, client)
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/clients/"})
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "zh-hans"
    html = client.get(f"/clients/{own_org.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "时间线" in html and "联系人" in html


def test_admin_link_only_for_admins(client, web_rm, web_admin):
    assert b'href="/admin/"' not in signed_in(web_rm, client).get("/clients/").content
    assert b'href="/admin/"' in signed_in(web_admin, client).get("/clients/").content


# Client list ----------------------------------------------------------------------------------------------


def test_relationship_manager_sees_only_their_teams_clients(client, web_rm, own_org, foreign_org):
    html = signed_in(web_rm, client).get("/clients/").content.decode()
    assert "Huaneng Capital" in html and "华能资本" in html
    assert "Platform Ventures" not in html


def test_search_matches_local_name_contact_name_and_email(client, web_rm, own_org, web_team):
    other = make_org(legal_name="Yangtze Power Fund", team=web_team)
    make_contact(other, full_name="Li Wei", email="li.wei@yangtze.example")
    signed_in(web_rm, client)
    for q in ["华能", "li wei", "yangtze.example"]:
        html = client.get("/clients/", {"q": q}).content.decode()
        expected, unexpected = ("Huaneng", "Yangtze") if q == "华能" else ("Yangtze", "Huaneng")
        assert expected in html and unexpected not in html, q


def test_filters_by_kind_and_team(client, web_admin, own_org, foreign_org, web_other_team):
    signed_in(web_admin, client)
    html = client.get("/clients/", {"kind": "commercial_bank"}).content.decode()
    assert "Platform Ventures" in html and "Huaneng Capital" not in html
    html = client.get("/clients/", {"team": web_other_team.pk, "sort": "-name"}).content.decode()
    assert "Platform Ventures" in html and "Huaneng Capital" not in html


def test_invalid_filter_shows_the_error_instead_of_rows(client, web_admin, own_org):
    response = signed_in(web_admin, client).get("/clients/", {"kind": "spaceship"})
    assert response.status_code == 200
    assert "Huaneng Capital" not in response.content.decode()
    assert b"errorlist" in response.content or b"filter-errors" in response.content


def test_htmx_search_renders_only_the_results(client, web_rm, own_org):
    signed_in(web_rm, client)
    response = client.get("/clients/", {"q": "huaneng"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="org-results")
    html = response.content.decode()
    assert "Huaneng Capital" in html
    assert "<html" not in html and 'name="q"' not in html
    assert "HX-Request" in response["Vary"]
    # The back button with a cold cache asks for the whole page again.
    restore = client.get("/clients/", {"q": "huaneng"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="org-results",
                         HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert b"<html" in restore.content


def test_list_pages_and_says_how_many(client, web_admin, settings):
    settings.BCRM_PAGE_SIZE = 2
    settings.BCRM_COUNT_CAP = 3
    for _ in range(5):
        make_org()
    signed_in(web_admin, client)
    html = client.get("/clients/").content.decode()
    assert "1–2 of 3+" in html and 'rel="next"' in html
    html = client.get("/clients/", {"page": 3}).content.decode()
    assert "5–5 of 5+" in html  # past the cap, the rows shown are the lower bound


@pytest.mark.parametrize("n", [5, 30])
def test_list_page_query_count_is_pinned(client, django_assert_max_num_queries, web_rm, web_team, n):
    for _ in range(n):
        make_org(team=web_team, relationship_manager=web_rm)
    signed_in(web_rm, client)
    with django_assert_max_num_queries(LIST_PAGE_QUERIES):
        response = client.get("/clients/")
    assert response.content.decode().count('href="/clients/') >= n
    with django_assert_max_num_queries(LIST_PARTIAL_QUERIES):
        client.get("/clients/", {"q": "web org"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="org-results")


def test_list_page_queries_do_not_grow_with_rows(client, web_rm, web_team):
    signed_in(web_rm, client)
    counts = []
    for n in (5, 30):
        while Organization.objects.count() < n:
            make_org(team=web_team, relationship_manager=web_rm)
        with CaptureQueriesContext(connection) as queries:
            client.get("/clients/")
        counts.append(len(queries))
    assert counts[0] == counts[1]


# Client 360° ----------------------------------------------------------------------------------------------


def test_360_page_is_404_for_a_client_outside_the_users_teams(client, web_rm, foreign_org):
    response = signed_in(web_rm, client).get(f"/clients/{foreign_org.pk}/")
    assert response.status_code == 404
    assert signed_in(web_rm, client).get(f"/clients/{foreign_org.pk}/edit/").status_code == 404


def test_360_page_shows_the_client(client, web_rm, own_org):
    contact = make_contact(own_org, full_name="Zhang San", local_name="张三", is_primary=True)
    project = make_project(name="Gobi Solar 500MW")
    make_participation(project, own_org, status="firm_commitment", amount=Decimal("1234567.89"), currency="EUR")
    make_interaction(own_org, contacts=[contact], summary="Discussed the term sheet", project=project)
    ServiceRequest.objects.create(organization=own_org, subject="Send the model", opened_at=timezone.now())
    Task.objects.create(organization=own_org, title="Prepare IC memo", due_at=timezone.now())
    own_org.rating_agency, own_org.rating_grade = "sp", "BBB+"
    own_org.save()
    html = signed_in(web_rm, client).get(f"/clients/{own_org.pk}/").content.decode()
    for text in ["Huaneng Capital", "华能资本", "Zhang San", "Gobi Solar 500MW", "Firm commitment", "1,234,567.89",
                 "EUR", "Discussed the term sheet", "Send the model", "Prepare IC memo", "BBB+"]:
        assert text in html, text
    assert "KYC status" not in html  # compliance fields are for compliance, leads and admins


def test_compliance_sees_kyc_fields_and_may_edit_only_them(client, own_org):
    officer = make_user(None, "compliance", password=PASSWORD)
    signed_in(officer, client)
    html = client.get(f"/clients/{own_org.pk}/").content.decode()
    assert "KYC status" in html and "Record interaction" not in html
    form = client.get(f"/clients/{own_org.pk}/edit/").context["form"]
    assert set(form.fields) == {"kyc_status", "kyc_expires_on", "sanctions_flag", "version"}
    response = client.post(f"/clients/{own_org.pk}/edit/", {
        "kyc_status": "pending", "version": own_org.version,
    })
    assert response.status_code == 302
    own_org.refresh_from_db()
    assert own_org.kyc_status == "pending" and own_org.legal_name == "Huaneng Capital"


def test_viewer_sees_no_edit_buttons_and_may_not_post(client, web_viewer, own_org):
    signed_in(web_viewer, client)
    html = client.get(f"/clients/{own_org.pk}/").content.decode()
    assert "Huaneng Capital" in html
    for action in ["interactions/new/", "contacts/new/", "participations/new/", "requests/new/", "tasks/new/",
                   "/edit/"]:
        assert action not in html, action
    response = client.post(f"/clients/{own_org.pk}/interactions/new/", {
        "kind": "call", "occurred_at": "2026-03-01T10:00", "minutes_spent": 30, "summary": "Sneaky",
    })
    assert response.status_code == 403
    assert not Interaction.objects.filter(summary="Sneaky").exists()
    assert client.get(f"/clients/{own_org.pk}/interactions/new/").status_code == 403


def test_recording_an_interaction_puts_it_on_the_timeline(client, web_rm, own_org):
    present = make_contact(own_org, full_name="Wang Fang")
    make_contact(own_org, full_name="Absent Person")
    project = make_project(name="Coastal Wind")
    signed_in(web_rm, client)
    form_page = client.get(f"/clients/{own_org.pk}/interactions/new/")
    assert form_page.status_code == 200
    assert 'type="datetime-local"' in form_page.content.decode()
    assert "Wang Fang" in form_page.content.decode()  # contacts offered as checkboxes
    response = client.post(f"/clients/{own_org.pk}/interactions/new/", {
        "kind": "senior_meeting", "occurred_at": "2026-03-01T10:30", "project": project.pk,
        "contacts": [present.pk], "minutes_spent": 90,
        "summary": "Chairman agreed to anchor the mezzanine tranche", "outcome": "Send term sheet by Friday",
    }, follow=True)
    interaction = Interaction.objects.get(organization=own_org)
    assert response.redirect_chain[-1][0] == f"/clients/{own_org.pk}/#interaction-{interaction.pk}"
    html = response.content.decode()
    assert f'id="interaction-{interaction.pk}"' in html
    assert "Chairman agreed to anchor the mezzanine tranche" in html
    assert "Send term sheet by Friday" in html and "Senior-level meeting" in html
    assert "Interaction recorded." in html
    assert interaction.owner == web_rm and interaction.minutes_spent == 90 and interaction.project == project
    assert list(interaction.contacts.all()) == [present]


def test_invalid_interaction_shows_inline_errors(client, web_rm, own_org):
    signed_in(web_rm, client)
    response = client.post(f"/clients/{own_org.pk}/interactions/new/", {
        "kind": "call", "occurred_at": "not a date", "minutes_spent": 99999, "summary": "",
    })
    assert response.status_code == 200
    form = response.context["form"]
    assert {"occurred_at", "summary"} <= set(form.errors)
    assert 'class="errorlist' in response.content.decode()
    assert not Interaction.objects.exists()


def test_service_validation_errors_land_on_their_fields(client, web_admin):
    signed_in(web_admin, client)
    response = client.post("/clients/new/", {
        "legal_name": "Badly Rated", "kind": "fund", "country": "CN", "rating_agency": "sp", "rating_grade": "ZZZ",
        "kyc_status": "verified",
    })
    assert response.status_code == 200
    form = response.context["form"]
    assert "rating_grade" in form.errors or "kyc_expires_on" in form.errors
    assert not Organization.objects.filter(legal_name="Badly Rated").exists()


def test_creating_a_client_through_the_form(client, web_rm, web_team):
    signed_in(web_rm, client)
    response = client.post("/clients/new/", {
        "legal_name": "Silk Road Infra Fund", "local_name": "丝路基建基金", "kind": "fund", "country": "CN",
        "team": web_team.pk, "tags": "core, energy，asia",
    })
    organization = Organization.objects.get(legal_name="Silk Road Infra Fund")
    assert response["Location"] == f"/clients/{organization.pk}/"
    assert sorted(t.name for t in organization.tags.all()) == ["asia", "core", "energy"]
    assert organization.relationship_manager == web_rm


def test_edit_with_a_stale_version_shows_the_conflict_and_changes_nothing(client, web_rm, own_org):
    signed_in(web_rm, client)
    form_page = client.get(f"/clients/{own_org.pk}/edit/")
    opened_version = form_page.context["form"].initial["version"]
    # Someone else saves first.
    Organization.objects.filter(pk=own_org.pk).update(version=opened_version + 1, legal_name="Renamed Elsewhere")
    response = client.post(f"/clients/{own_org.pk}/edit/", {
        "legal_name": "My Edit", "kind": "equity_investor", "country": "CN", "version": opened_version,
    })
    assert response.status_code == 200
    assert "Someone else changed this record since you opened it" in response.content.decode()
    own_org.refresh_from_db()
    assert own_org.legal_name == "Renamed Elsewhere"


def test_edit_with_the_current_version_saves(client, web_rm, own_org, web_team):
    signed_in(web_rm, client)
    response = client.post(f"/clients/{own_org.pk}/edit/", {
        "legal_name": "Huaneng Capital Ltd", "kind": "equity_investor", "country": "CN", "team": web_team.pk,
        "version": own_org.version, "tags": "",
    })
    assert response.status_code == 302
    own_org.refresh_from_db()
    assert own_org.legal_name == "Huaneng Capital Ltd" and own_org.version == 2


def test_contact_forms(client, web_rm, own_org):
    signed_in(web_rm, client)
    response = client.post(f"/clients/{own_org.pk}/contacts/new/", {
        "full_name": "Chen Jing", "seniority": "c_level", "language": "zh-hans", "email": "chen@example.com",
    })
    assert response.status_code == 302
    contact = Contact.objects.get(full_name="Chen Jing")
    response = client.post(f"/contacts/{contact.pk}/edit/", {
        "full_name": "Chen Jing", "seniority": "board", "language": "zh-hans", "version": contact.version,
        "report_consent": "on",
    })
    assert response.status_code == 200  # consent needs its date: the service says so on the form
    assert "consent" in response.content.decode().lower()
    contact.refresh_from_db()
    assert contact.seniority == "c_level"


@pytest.mark.parametrize("n", [1, 30])
def test_360_page_query_count_is_pinned(client, django_assert_num_queries, web_rm, web_team, n):
    organization = busy_client(web_team, n, manager=web_rm)
    signed_in(web_rm, client)
    with django_assert_num_queries(DETAIL_PAGE_QUERIES):  # exactly: fewer is a budget to lower here
        response = client.get(f"/clients/{organization.pk}/")
    assert response.status_code == 200


def test_360_page_queries_do_not_grow_with_rows(client, web_rm, web_team):
    # one of everything (contact, interaction, participation, request, task) against thirty of each
    small = busy_client(web_team, 1, manager=web_rm)
    large = busy_client(web_team, 30, manager=web_rm)
    signed_in(web_rm, client)
    counts = []
    for organization in (small, large):
        with CaptureQueriesContext(connection) as queries:
            client.get(f"/clients/{organization.pk}/")
        counts.append(len(queries))
    assert counts[0] == counts[1]


# Projects and participations ------------------------------------------------------------------------------


def test_project_page_shows_funding_by_status_and_participants(client, web_rm, own_org, foreign_org):
    project = make_project(name="Gobi Solar", financing_target=Decimal("1000000"))
    make_participation(project, own_org, status="firm_commitment", amount=Decimal("400000"))
    make_participation(project, foreign_org, status="soft_interest", amount=Decimal("300000"))
    signed_in(web_rm, client)
    assert "Gobi Solar" in client.get("/projects/").content.decode()
    html = client.get(f"/projects/{project.pk}/").content.decode()
    assert "40.0%" in html  # committed share of the target
    assert 'style="width: 40.0%"' in html and 'style="width: 30.0%"' in html
    assert "Huaneng Capital" in html
    assert "Platform Ventures" not in html  # a participant outside the user's teams stays hidden


def test_participation_from_the_client_page(client, web_rm, own_org):
    project = make_project(name="Toll Road")
    signed_in(web_rm, client)
    response = client.post(f"/clients/{own_org.pk}/participations/new/", {
        "project": project.pk, "role": "senior_debt", "amount": "5000000", "currency": "USD", "status": "prospect",
        "probability": "0.2", "fee_income": "0",
    })
    assert response.status_code == 302
    participation = Participation.objects.get(project=project, organization=own_org)
    response = client.post(f"/participations/{participation.pk}/edit/?next=/projects/{project.pk}/", {
        "role": "senior_debt", "amount": "5000000", "currency": "USD", "status": "term_sheet", "probability": "0.5",
        "fee_income": "0", "version": participation.version, "next": f"/projects/{project.pk}/",
    })
    assert response["Location"] == f"/projects/{project.pk}/"
    assert participation.status_changes.count() == 2


def test_participation_from_the_project_page_picks_the_client_by_search(client, web_rm, own_org, foreign_org):
    project = make_project()
    signed_in(web_rm, client)
    picker = client.get(f"/projects/{project.pk}/participations/new/", {"org_q": "capital"},
                        HTTP_HX_REQUEST="true", HTTP_HX_TARGET="org-picker").content.decode()
    assert "Huaneng Capital" in picker and "<html" not in picker
    assert "Platform" not in client.get(f"/projects/{project.pk}/participations/new/",
                                        {"org_q": "platform"}).content.decode().split('id="org-picker"')[1]
    response = client.post(f"/projects/{project.pk}/participations/new/", {
        "organization": own_org.pk, "role": "equity", "amount": "100", "currency": "USD", "status": "prospect",
        "probability": "0.1", "fee_income": "0",
    })
    assert response.status_code == 302
    assert Participation.objects.filter(project=project, organization=own_org).exists()
    response = client.post(f"/projects/{project.pk}/participations/new/", {
        "organization": foreign_org.pk, "role": "equity", "amount": "100", "currency": "USD", "status": "prospect",
        "probability": "0.1", "fee_income": "0",
    })
    assert response.status_code == 200 and "organization" in response.context["form"].errors


# Tasks and service requests -------------------------------------------------------------------------------


def test_task_list_shows_my_open_tasks_by_default(client, web_rm, own_org):
    colleague = make_user(None, "relationship_manager", password=PASSWORD)
    Task.objects.create(title="Mine and open", due_at=timezone.now(), assignee=web_rm, organization=own_org)
    Task.objects.create(title="Someone else's", due_at=timezone.now(), assignee=colleague, organization=own_org)
    Task.objects.create(title="Mine but done", due_at=timezone.now(), assignee=web_rm, status="done",
                        completed_at=timezone.now(), organization=own_org)
    signed_in(web_rm, client)
    html = client.get("/tasks/").content.decode()
    assert "Mine and open" in html and "Someone else" not in html and "Mine but done" not in html
    html = client.get("/tasks/", {"who": "all", "status": ""}).content.decode()
    assert "Someone else" in html and "Mine but done" in html


def test_task_done_button(client, web_rm, own_org):
    task = Task.objects.create(title="Call back", due_at=timezone.now(), assignee=web_rm, organization=own_org)
    signed_in(web_rm, client)
    response = client.post(f"/tasks/{task.pk}/done/", {"version": task.version, "next": "/tasks/"})
    assert response["Location"] == "/tasks/"
    task.refresh_from_db()
    assert task.status == "done" and task.completed_at is not None


def test_task_and_request_forms_from_the_client_page(client, web_rm, own_org):
    signed_in(web_rm, client)
    response = client.post(f"/clients/{own_org.pk}/tasks/new/", {
        "title": "Send the teaser", "due_at": "2026-04-01T09:00", "assignee": web_rm.pk,
    })
    assert response.status_code == 302
    assert Task.objects.get(title="Send the teaser").organization == own_org
    response = client.post(f"/clients/{own_org.pk}/requests/new/", {
        "subject": "Need the financial model", "priority": "high", "opened_at": "2026-03-01T09:00",
    })
    assert response.status_code == 302
    request_row = ServiceRequest.objects.get(subject="Need the financial model")
    response = client.post(f"/requests/{request_row.pk}/edit/", {
        "subject": "Need the financial model", "priority": "high", "opened_at": "2026-03-01T09:00",
        "resolved_at": "2026-02-01T09:00", "version": request_row.version,
    })
    assert response.status_code == 200
    assert "cannot be resolved before it was opened" in response.content.decode()


def test_service_request_list_shows_open_requests_by_default(client, web_rm, own_org, foreign_org):
    now = timezone.now()
    ServiceRequest.objects.create(organization=own_org, subject="Still open", opened_at=now)
    ServiceRequest.objects.create(organization=own_org, subject="Already solved", opened_at=now, resolved_at=now)
    ServiceRequest.objects.create(organization=foreign_org, subject="Not my client", opened_at=now)
    signed_in(web_rm, client)
    html = client.get("/requests/").content.decode()
    assert "Still open" in html and "Already solved" not in html and "Not my client" not in html
    html = client.get("/requests/", {"state": "all"}).content.decode()
    assert "Already solved" in html and "Not my client" not in html
