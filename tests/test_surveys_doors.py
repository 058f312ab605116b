"""Surveys through each door: the staff pages, the REST API and `bcrm survey`."""

from __future__ import annotations

import json
import re
from functools import partial

import pytest
from django.core.management import CommandError
from django.test import Client
from django.urls import reverse

from bcrm.engagement.models import SurveyResponse
from bcrm.surveys import services
from bcrm.surveys.models import InvitationStatus, SurveyInvitation
from tests.doors import Api, command, signed_in
from tests.factories import make_contact, make_org, make_participation, make_project

pytestmark = pytest.mark.django_db

LINK = re.compile(r"/s/([A-Za-z0-9_-]{20,})/")


@pytest.fixture
def contacts(org):
    return [
        make_contact(org, full_name="Zhang Min", local_name="张敏", language="zh-hans", email="zhang@hn.example",
                     is_primary=True),
        make_contact(org, full_name="Lisa Chen", language="en", email="lisa@hn.example"),
        make_contact(org, full_name="Wang Wei", email=""),
    ]


# Staff pages -----------------------------------------------------------------------------------------------


def test_send_page_previews_then_sends_and_the_list_shows_the_results(rm, org, contacts, mailoutbox):
    client = signed_in(rm)
    url = reverse("surveys:send") + f"?organization={org.pk}"
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    # The first view already previews everyone: two invited, one skipped with the reason.
    assert body.count('data-outcome="invite"') == 2 and body.count('data-outcome="skip"') == 1
    assert "No e-mail address." in body and "Wang Wei" in body

    chosen = [contacts[0].pk, contacts[2].pk]
    preview = client.post(url, {"contacts": chosen, "expires_in_days": "10", "action": "preview"})
    assert preview.status_code == 200 and preview.content.decode().count('data-outcome="invite"') == 1
    assert not SurveyInvitation.objects.exists() and not mailoutbox

    sent = client.post(url, {"contacts": chosen, "expires_in_days": "10", "action": "send"})
    assert sent.status_code == 302 and sent["Location"] == reverse("surveys:invitation_list") + f"?organization={org.pk}"
    assert [m.to for m in mailoutbox] == [["zhang@hn.example"]]
    invitation = SurveyInvitation.objects.get()
    assert invitation.sent_by == rm and invitation.status == InvitationStatus.SENT

    services.survey_answer(token=LINK.search(mailoutbox[0].body).group(1), nps=10, csat=5, comment="Great desk")
    listing = client.get(sent["Location"])
    text = listing.content.decode()
    assert listing.status_code == 200 and "Zhang Min" in text and "Great desk" in text
    assert re.search(r'data-kpi="nps">\s*100\.0', text) and re.search(r'data-kpi="csat">\s*5\.0', text)
    assert "Lisa Chen" not in client.get(reverse("surveys:invitation_list") + "?status=sent").content.decode()


def test_send_page_for_a_project_offers_its_participants_contacts(lead, org, contacts, mailoutbox):
    project = make_project(name="Toll Road Phase II")
    make_participation(project, org)
    outsider = make_org(legal_name="Not In It")
    make_contact(outsider, full_name="Outside Person")
    page = signed_in(lead).get(reverse("surveys:send") + f"?project={project.pk}")
    body = page.content.decode()
    assert page.status_code == 200 and "Lisa Chen" in body and "Outside Person" not in body
    signed_in(lead).post(reverse("surveys:send") + f"?project={project.pk}", {
        "contacts": [contacts[1].pk], "expires_in_days": "30", "action": "send"})
    assert SurveyInvitation.objects.get().project == project


def test_send_page_refuses_bad_input_and_keeps_nothing(rm, org, contacts):
    client = signed_in(rm)
    url = reverse("surveys:send") + f"?organization={org.pk}"
    for data in ({"contacts": [contacts[0].pk], "expires_in_days": "0", "action": "send"},
                 {"contacts": [contacts[0].pk], "expires_in_days": "abc", "action": "send"},
                 {"contacts": [], "expires_in_days": "30", "action": "send"},
                 {"contacts": ["999999"], "expires_in_days": "30", "action": "send"}):
        response = client.post(url, data)
        assert response.status_code == 422, data
        assert 'class="alert error"' in response.content.decode() or "errorlist" in response.content.decode()
    assert not SurveyInvitation.objects.exists()
    assert client.get(reverse("surveys:send")).status_code == 422  # no client or project named
    assert client.get(reverse("surveys:send") + "?organization=987654").status_code == 404
    assert client.get(reverse("surveys:send") + "?project=abc").status_code == 404


def test_viewer_cannot_open_the_send_page_or_resend(viewer, rm, org, contacts, mailoutbox):
    client = signed_in(viewer)
    assert client.get(reverse("surveys:send") + f"?organization={org.pk}").status_code == 403
    invitation = services.survey_invite(actor=rm, contacts=[contacts[1]]).invitations[0]
    assert client.post(reverse("surveys:resend", args=[invitation.pk])).status_code == 403
    assert client.get(reverse("surveys:invitation_list")).status_code == 200  # but may read
    assert not mailoutbox


def test_relationship_manager_cannot_send_to_another_teams_client(rm, foreign_org):
    make_contact(foreign_org, email="x@platform.example")
    client = signed_in(rm)
    assert client.get(reverse("surveys:send") + f"?organization={foreign_org.pk}").status_code == 404
    assert client.post(reverse("surveys:send") + f"?organization={foreign_org.pk}",
                       {"contacts": [], "expires_in_days": "30", "action": "send"}).status_code == 404


def test_resend_issues_a_new_link(rm, contacts, mailoutbox):
    invitation = services.survey_invite(actor=rm, contacts=[contacts[1]]).invitations[0]
    services.survey_send(actor=rm, invitations=[invitation])
    response = signed_in(rm).post(reverse("surveys:resend", args=[invitation.pk]),
                                  {"next": reverse("surveys:invitation_list")})
    assert response.status_code == 302 and len(mailoutbox) == 2
    old, new = (LINK.search(m.body).group(1) for m in mailoutbox)
    assert old != new and Client().get(f"/s/{old}/").status_code == 404


def test_staff_pages_need_sign_in(org):
    for url in (reverse("surveys:invitation_list"), reverse("surveys:send") + f"?organization={org.pk}"):
        assert "/login/" in Client().get(url)["Location"]


# API -------------------------------------------------------------------------------------------------------


def test_api_invites_by_organisation_with_dry_run_then_for_real(rm, org, contacts, mailoutbox):
    api = Api(rm)
    status, body = api.call("post", "/surveys/invitations", {"organization": org.pk, "dry_run": True})
    assert status == 200 and body["dry_run"] is True
    assert {i["contact_name"] for i in body["invited"]} == {"Zhang Min", "Lisa Chen"}
    assert all(i["invitation_id"] is None and not i["sent"] for i in body["invited"])
    assert body["skipped"] == [{"contact_id": contacts[2].pk, "contact_name": "Wang Wei", "organization_id": org.pk,
                                "reason_code": "no_email", "reason": "No e-mail address."}]
    assert not SurveyInvitation.objects.exists() and not mailoutbox

    status, body = api.call("post", "/surveys/invitations", {"organization": org.pk, "expires_in_days": 7})
    assert status == 201 and all(i["sent"] and i["invitation_id"] for i in body["invited"])
    assert len(mailoutbox) == 2
    status, again = api.call("post", "/surveys/invitations", {"contacts": [contacts[1].pk]})
    assert status == 201 and not again["invited"] and again["skipped"][0]["reason_code"] == "open_invitation"

    services.survey_answer(token=LINK.search(mailoutbox[0].body).group(1), nps=9, csat=4)
    status, page = api.call("get", f"/surveys/invitations?organization={org.pk}&status=answered")
    assert status == 200 and page["count"] == 1 and page["items"][0]["nps"] == 9
    assert page["items"][0]["status"] == "answered"
    status, page = api.call("get", "/surveys/invitations?page_size=1")
    assert page["count"] == 2 and len(page["items"]) == 1 and page["has_next"]
    status, summary = api.call("get", f"/surveys/summary?organization={org.pk}")
    assert status == 200 and summary["responses"] == 1 and summary["nps"] == 100.0 and summary["csat_average"] == 4.0
    assert summary["sent"] == 2 and summary["response_rate"] == 50.0


def test_api_invites_a_projects_participants(lead, org, contacts, mailoutbox):
    project = make_project()
    make_participation(project, org)
    status, body = Api(lead).call("post", "/surveys/invitations", {"project": project.pk})
    assert status == 201 and len(body["invited"]) == 2
    assert set(SurveyInvitation.objects.values_list("project", flat=True)) == {project.pk}
    status, summary = Api(lead).call("get", f"/surveys/summary?project={project.pk}")
    assert summary["invitations"] == 2 and summary["responses"] == 0 and summary["nps"] is None


def test_api_refuses_bad_input(rm, org, contacts, foreign_org):
    api = Api(rm)
    stranger = make_contact(foreign_org)
    for body, path in (({"organization": org.pk, "expires_in_days": 0}, "expires_in_days"),
                       ({"organization": org.pk, "expires_in_days": 400}, "expires_in_days"),
                       ({}, "contacts"),
                       ({"contacts": [stranger.pk]}, "contacts"),
                       ({"organization": foreign_org.pk}, "organization"),
                       ({"project": 987654}, "project")):
        status, error = api.call("post", "/surveys/invitations", body)
        assert status == 422, body
        assert path in {f["path"] for f in error["error"]["fields"]}, error
    status, error = api.call("get", "/surveys/invitations?status=lost")
    assert status == 422 and error["error"]["fields"][0]["path"] == "status"
    assert not SurveyInvitation.objects.exists()


def test_api_permissions(viewer, org, contacts):
    status, body = Api().call("post", "/surveys/invitations", {"organization": org.pk})
    assert status == 401 and body["error"]["code"] == "unauthenticated"
    assert Api().call("get", "/surveys/invitations")[0] == 401
    assert Api().call("get", "/surveys/summary")[0] == 401
    status, body = Api(viewer).call("post", "/surveys/invitations", {"organization": org.pk})
    assert status == 403 and body["error"]["code"] == "permission_denied"
    assert Api(viewer).call("get", "/surveys/invitations")[0] == 200
    assert not SurveyInvitation.objects.exists()


# CLI -------------------------------------------------------------------------------------------------------


run = partial(command, "survey")  # `bcrm survey …`; answers its stdout


def test_cli_sends_by_external_id_and_lists(rm, org, contacts, mailoutbox):
    org.external_id = "CRM-0042"
    org.save()
    dry = json.loads(run("send", "--organization", "CRM-0042", "--dry-run", "--json", "--as", rm.username))
    assert dry["dry_run"] and len(dry["invited"]) == 2 and dry["skipped"][0]["reason_code"] == "no_email"
    assert not SurveyInvitation.objects.exists()

    out = run("send", "--organization", "CRM-0042", "--expires-days", "5", "--as", rm.username)
    assert "invited\tZhang Min <zhang@hn.example>" in out and "skipped\tWang Wei" in out
    assert "2 invited, 1 skipped, 0 failed." in out and len(mailoutbox) == 2
    assert "0 invited, 3 skipped" in run("send", "--organization", str(org.pk))  # nobody mailed twice

    listing = run("list", "--status", "sent")
    assert listing.count("\tsent\t") == 2 and "Zhang Min" in listing
    services.survey_answer(token=LINK.search(mailoutbox[0].body).group(1), nps=8)
    rows = json.loads(run("list", "--status", "answered", "--json"))
    assert len(rows) == 1 and rows[0]["nps"] == 8


def test_cli_project_and_contact_targets(org, contacts, mailoutbox):
    project = make_project(external_id="PRJ-7")
    make_participation(project, org)
    out = run("send", "--project", "PRJ-7")
    assert "2 invited" in out
    out = run("send", "--contact", str(contacts[1].pk))  # no project: another survey
    assert "1 invited" in out


def test_cli_errors(rm, viewer, org, contacts, foreign_org):
    with pytest.raises(CommandError, match="Name whom to invite"):
        run("send")
    with pytest.raises(CommandError, match="No organisation"):
        run("send", "--organization", "NOPE")
    with pytest.raises(CommandError, match="No contact"):
        run("send", "--contact", "987654")
    with pytest.raises(CommandError, match="No user"):
        run("send", "--organization", str(org.pk), "--as", "ghost")
    with pytest.raises(CommandError, match="permission"):
        run("send", "--organization", str(org.pk), "--as", viewer.username)
    make_contact(foreign_org, email="x@platform.example")
    with pytest.raises(CommandError, match="may not see"):
        run("send", "--organization", str(foreign_org.pk), "--contact", str(contacts[0].pk), "--as", rm.username)
    with pytest.raises(CommandError, match=r"expires|days"):
        run("send", "--organization", str(org.pk), "--expires-days", "0")
    assert not SurveyInvitation.objects.exists()
    assert not SurveyResponse.objects.exists()
