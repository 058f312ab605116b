"""A relationship manager sees, and mails, only the report recipients of organisations he may see (the
client list's rule), even on a project that other teams' clients take part in."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from bcrm.accounts.services import token_create
from bcrm.progress import selectors, services
from bcrm.progress.models import ReportDelivery
from tests.factories import make_org, make_participation
from tests.progress_fixtures import PERIOD, consenting, solar_project

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 5, 3, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def shared_project(team, other_team, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    project, orgs = solar_project(team)
    consenting(orgs["a"], full_name="Own Person", email="own@hn.example")
    outsider = make_org(legal_name="Other Team Bank", team=other_team)
    make_participation(project, outsider, status="firm_commitment", role="senior_debt")
    consenting(outsider, full_name="Foreign Person", email="foreign@other.example")
    return project, orgs["a"], outsider


def emails(queryset) -> set[str]:
    return set(queryset.values_list("email", flat=True))


def test_the_delivery_list_shows_only_visible_organisations(shared_project, rm, admin):
    project, own, outsider = shared_project
    services.queue_progress_reports(period=PERIOD, organization_ids=[own.pk, outsider.pk], now=NOW)
    assert emails(selectors.deliveries(admin)) == {"own@hn.example", "foreign@other.example"}
    assert emails(selectors.deliveries(rm)) == {"own@hn.example"}
    assert emails(selectors.deliveries(rm, {"organization": outsider.pk})) == set()


def test_the_api_and_page_hide_other_teams_recipients(shared_project, rm, client):
    project, own, outsider = shared_project
    services.queue_progress_reports(period=PERIOD, organization_ids=[own.pk, outsider.pk], now=NOW)
    _, raw = token_create(user=rm)
    body = Client().get("/api/v1/report-deliveries", HTTP_AUTHORIZATION=f"Bearer {raw}").json()
    assert {item["email"] for item in body["items"]} == {"own@hn.example"} and body["count"] == 1
    client.force_login(rm)
    html = client.get("/reports/deliveries/").content.decode()
    assert "own@hn.example" in html and "foreign@other.example" not in html and "Foreign Person" not in html


def test_send_now_by_a_manager_queues_and_mails_only_his_clients(shared_project, rm, mailoutbox):
    project, own, outsider = shared_project
    result = services.report_send(actor=rm, project=project, period=PERIOD, now=NOW)
    assert emails(ReportDelivery.objects.all()) == {"own@hn.example"}
    assert result.created == 1
    assert {to for message in mailoutbox for to in message.to} == {"own@hn.example"}


def test_send_now_by_a_manager_does_not_mail_other_teams_pending_deliveries(shared_project, rm, mailoutbox):
    project, own, outsider = shared_project
    # the automation queued both; the manager's "send now" must not push the other team's mail out
    services.queue_progress_reports(period=PERIOD, organization_ids=[own.pk, outsider.pk], now=NOW)
    services.report_send(actor=rm, project=project, period=PERIOD, now=NOW)
    assert {to for message in mailoutbox for to in message.to} == {"own@hn.example"}
    assert ReportDelivery.objects.get(email="foreign@other.example").status == "pending"


def test_send_now_through_the_api(shared_project, rm):
    project, own, outsider = shared_project
    _, raw = token_create(user=rm)
    response = Client().post(f"/api/v1/projects/{project.pk}/progress-report/send", {"period": PERIOD},
                             content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200, response.content
    assert emails(ReportDelivery.objects.all()) == {"own@hn.example"}


def test_an_admin_send_now_reaches_everyone(shared_project, admin):
    project, own, outsider = shared_project
    services.report_send(actor=admin, project=project, period=PERIOD, now=NOW)
    assert emails(ReportDelivery.objects.all()) == {"own@hn.example", "foreign@other.example"}
