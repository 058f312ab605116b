"""Client satisfaction surveys: invitation e-mails, the public tokenised page, and what it refuses."""

from __future__ import annotations

import re
import threading

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from bcrm.accounts.models import token_digest
from bcrm.audit.models import AuditEntry
from bcrm.core.errors import InvalidInput, NotFound, PermissionDenied
from bcrm.engagement.models import SurveyResponse
from bcrm.engagement.selectors import organization_timeline
from bcrm.surveys import services
from bcrm.surveys.models import InvitationStatus, SurveyInvitation
from bcrm.surveys.selectors import invitation_list, nps_score, survey_summary
from tests.factories import make_contact, make_project

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://[^/\s]+(/s/([A-Za-z0-9_-]{20,})/)")


# Fixtures and helpers --------------------------------------------------------------------------------------




@pytest.fixture
def zh_contact(org):
    return make_contact(org, full_name="Zhang Min", local_name="张敏", language="zh-hans",
                        email="zhang.min@huaneng.example")


@pytest.fixture
def en_contact(org):
    return make_contact(org, full_name="Lisa Chen", language="en", email="lisa.chen@huaneng.example")


def invite(actor, contacts, **kwargs) -> list[SurveyInvitation]:
    result = services.survey_invite(actor=actor, contacts=contacts, **kwargs)
    return result.invitations


def send_one(actor, contact, mailoutbox, **kwargs) -> tuple[SurveyInvitation, str]:
    """Invite and send through the test mailbox; returns the invitation and its raw token (from the mail)."""
    invitation = invite(actor, [contact], **kwargs)[0]
    outcome = services.survey_send(actor=actor, invitations=[invitation])[0]
    assert outcome.sent, outcome.error
    return invitation, token_in(mailoutbox[-1].body)


def token_in(text: str) -> str:
    match = LINK.search(text)
    assert match, text
    return match.group(2)


def plain_and_html(message) -> tuple[str, str]:
    return (message.get_body(preferencelist=("plain",)).get_content(),
            message.get_body(preferencelist=("html",)).get_content())


def answer_page(client, token, **params):
    return client.get(f"/s/{token}/", params)


def post_answer(client, token, **data):
    return client.post(f"/s/{token}/", data)


# The whole path: e-mail over real SMTP, link, answer, timeline ---------------------------------------------


def test_invitation_arrives_in_each_contacts_language_and_its_link_records_the_answer(
        smtp_server, rm, org, zh_contact, en_contact):
    project = make_project(name="Ningxia Solar 200 MW", local_name="宁夏光伏")
    rm.email = "rm.user@bank.example"
    rm.save()
    org.relationship_manager = rm
    org.save()
    result = services.survey_invite(actor=rm, contacts=[zh_contact, en_contact], project=project, expires_in_days=14)
    assert len(result.invitations) == 2 and not result.skipped
    outcomes = services.survey_send(actor=rm, invitations=result.invitations)
    assert [o.sent for o in outcomes] == [True, True]

    by_rcpt = {env.rcpt_tos[0]: msg for env, msg in zip(smtp_server.envelopes, smtp_server.messages, strict=True)}
    assert set(by_rcpt) == {"zhang.min@huaneng.example", "lisa.chen@huaneng.example"}
    zh, en = by_rcpt["zhang.min@huaneng.example"], by_rcpt["lisa.chen@huaneng.example"]
    assert zh["Subject"].strip().startswith("满意度调查") and "Ningxia Solar 200 MW" in zh["Subject"]
    assert en["Subject"].strip() == "How did we do on Ningxia Solar 200 MW? A one-minute satisfaction survey"
    zh_text, zh_html = plain_and_html(zh)
    en_text, en_html = plain_and_html(en)
    assert "尊敬的 张敏" in zh_text and "仅可使用一次" in zh_text and "参与调查" in zh_html
    assert "Dear Lisa Chen," in en_text and "Answer the survey" in en_html
    assert zh["Reply-To"] == "rm.user@bank.example"  # answers to the mail reach the relationship manager
    zh_token, en_token = token_in(zh_text), token_in(en_text)
    assert zh_token in zh_html and zh_token != en_token
    assert LINK.search(zh_text).group(0).startswith("http://127.0.0.1:8000/s/")  # settings.BCRM_BASE_URL

    # Only the digest is kept, and never in the audit log.
    zh_invitation = SurveyInvitation.objects.get(contact=zh_contact)
    assert zh_invitation.token_digest == token_digest(zh_token) and zh_invitation.status == InvitationStatus.SENT
    assert not SurveyInvitation.objects.filter(token_digest=zh_token).exists()
    audit_text = str(list(AuditEntry.objects.values_list("changes", flat=True)))
    assert zh_token not in audit_text and zh_invitation.token_digest not in audit_text

    client = Client()
    page = answer_page(client, zh_token)
    assert page.status_code == 200
    body = page.content.decode()
    assert "您向同事或合作伙伴推荐我们的可能性有多大" in body and "尊敬的 张敏" in body
    assert page["X-Robots-Tag"].startswith("noindex") and 'name="robots" content="noindex' in body
    assert page["Referrer-Policy"] == "strict-origin" and "no-store" in page["Cache-Control"]
    assert "mainnav" not in body  # none of the signed-in app
    done = post_answer(client, zh_token, nps="9", csat="4", comment="融资方案很专业。", lang="zh-hans")
    assert done.status_code == 302
    thanks = client.get(done["Location"])
    assert "感谢您的回答" in thanks.content.decode()

    response = SurveyResponse.objects.get()
    assert (response.contact, response.organization, response.nps, response.csat, response.comment) == (
        zh_contact, org, 9, 4, "融资方案很专业。")
    zh_invitation.refresh_from_db()
    assert zh_invitation.used_at is not None and zh_invitation.response == response
    assert zh_invitation.status == InvitationStatus.ANSWERED
    timeline = organization_timeline(actor=None, organization=org)
    assert any(e["type"] == "survey" and e["object"] == response for e in timeline)

    # The English contact's link answers in English.
    assert "How likely are you to recommend us" in answer_page(client, en_token).content.decode()
    done = post_answer(client, en_token, nps="6")
    assert "Thank you for your answers!" in client.get(done["Location"]).content.decode()
    assert SurveyResponse.objects.filter(contact=en_contact, nps=6, csat__isnull=True).exists()


def test_language_switch_keeps_the_token(rm, zh_contact, mailoutbox):
    _, token = send_one(rm, zh_contact, mailoutbox)
    client = Client()
    body = answer_page(client, token).content.decode()
    assert 'href="?lang=en"' in body and 'href="?lang=zh-hans"' in body
    english = answer_page(client, token, lang="en")
    assert "How likely are you to recommend us" in english.content.decode()
    assert english["Content-Language"] == "en"
    # An invalid answer re-renders in the language chosen on the page, not the invitation's.
    refused = post_answer(client, token, nps="", lang="en")
    assert refused.status_code == 422 and "Please choose a score from 0 to 10." in refused.content.decode()
    assert "推荐" in answer_page(client, token, lang="zh-hans").content.decode()
    # A language that does not exist falls back to the invitation's.
    assert "推荐" in answer_page(client, token, lang="xx").content.decode()


# Closed, unknown and bad links ----------------------------------------------------------------------------


def test_a_reused_token_is_refused_and_creates_nothing(rm, zh_contact, mailoutbox):
    invitation, token = send_one(rm, zh_contact, mailoutbox)
    client = Client()
    assert post_answer(client, token, nps="10").status_code == 302
    second = post_answer(client, token, nps="0", comment="second try")
    assert second.status_code == 409
    assert "本次调查已作答" in second.content.decode()  # the invitation's language
    assert answer_page(client, token).status_code == 409
    with pytest.raises(services.AlreadyAnswered):
        services.survey_answer(token=token, nps=3)
    assert SurveyResponse.objects.count() == 1 and SurveyResponse.objects.get().nps == 10


def test_an_expired_token_shows_the_expired_page_and_records_nothing(rm, en_contact, mailoutbox):
    invitation, token = send_one(rm, en_contact, mailoutbox, expires_in_days=1)
    SurveyInvitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    client = Client()
    page = answer_page(client, token)
    assert page.status_code == 410 and "This survey link has expired" in page.content.decode()
    assert post_answer(client, token, nps="8").status_code == 410
    assert "此调查链接已过期" in answer_page(client, token, lang="zh-hans").content.decode()
    with pytest.raises(services.SurveyExpired):
        services.survey_answer(token=token, nps=8)
    assert not SurveyResponse.objects.exists()
    assert SurveyInvitation.objects.get().status == InvitationStatus.EXPIRED


@pytest.mark.parametrize("token", ["A" * 43, "not-a-token", "x" * 500, "thanks-but-no"])
def test_an_unknown_token_is_a_404_page_without_the_app_around_it(rm, token):
    page = Client().get(f"/s/{token}/")
    assert page.status_code == 404
    body = page.content.decode()
    assert "Survey not found" in body and "mainnav" not in body and page["X-Robots-Tag"].startswith("noindex")
    assert Client().post(f"/s/{token}/", {"nps": "9"}).status_code == 404
    with pytest.raises(NotFound):
        services.survey_answer(token=token, nps=9)
    assert not SurveyResponse.objects.exists()


def test_a_link_replaced_by_a_resend_stops_working(rm, en_contact, mailoutbox):
    invitation, old = send_one(rm, en_contact, mailoutbox)
    services.survey_send(actor=rm, invitations=[invitation])
    new = token_in(mailoutbox[-1].body)
    assert new != old
    assert Client().get(f"/s/{old}/").status_code == 404
    assert Client().get(f"/s/{new}/").status_code == 200


@pytest.mark.parametrize("data, field", [
    ({"nps": "11"}, "nps"), ({"nps": "-1"}, "nps"), ({"nps": "abc"}, "nps"), ({"nps": ""}, "nps"), ({}, "nps"),
    ({"nps": "7.5"}, "nps"), ({"nps": "9", "csat": "0"}, "csat"), ({"nps": "9", "csat": "6"}, "csat"),
    ({"nps": "9", "csat": "good"}, "csat"), ({"nps": "9", "comment": "x" * 2001}, "comment"),
])
def test_bad_answers_are_refused_on_the_page_and_by_the_service(rm, en_contact, mailoutbox, data, field):
    invitation, token = send_one(rm, en_contact, mailoutbox)
    page = post_answer(Client(), token, **data)
    assert page.status_code == 422
    assert 'class="alert error"' in page.content.decode()
    with pytest.raises(InvalidInput) as err:
        services.survey_answer(token=token, nps=data.get("nps"), csat=data.get("csat"), comment=data.get("comment", ""))
    assert field in err.value.fields
    invitation.refresh_from_db()
    assert invitation.used_at is None and not SurveyResponse.objects.exists()


def test_the_longest_comment_allowed_is_kept_whole(rm, en_contact, mailoutbox):
    _, token = send_one(rm, en_contact, mailoutbox)
    comment = "好" * services.COMMENT_MAX_LENGTH
    assert post_answer(Client(), token, nps="7", comment=comment).status_code == 302
    assert SurveyResponse.objects.get().comment == comment


def test_the_public_form_needs_its_csrf_token(rm, en_contact, mailoutbox):
    _, token = send_one(rm, en_contact, mailoutbox)
    client = Client(enforce_csrf_checks=True)
    assert client.post(f"/s/{token}/", {"nps": "9"}).status_code == 403
    assert not SurveyResponse.objects.exists()
    page = client.get(f"/s/{token}/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    assert client.post(f"/s/{token}/", {"nps": "9", "csrfmiddlewaretoken": csrf}).status_code == 302
    assert SurveyResponse.objects.count() == 1


# Single use under concurrency -----------------------------------------------------------------------------


def test_a_submission_working_from_a_stale_read_cannot_answer_twice(rm, en_contact, mailoutbox, monkeypatch):
    """Two submissions that both read the invitation before either wrote: the conditional UPDATE lets one in."""
    _, token = send_one(rm, en_contact, mailoutbox)
    stale = services.invitation_by_token(token)  # the second request's read, before the first one lands
    services.survey_answer(token=token, nps=9)
    monkeypatch.setattr(services, "invitation_by_token", lambda raw: stale)
    assert stale.used_at is None  # it still looks open to the second request
    with pytest.raises(services.AlreadyAnswered):
        services.survey_answer(token=token, nps=2)
    assert SurveyResponse.objects.count() == 1 and SurveyResponse.objects.get().nps == 9


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="real concurrent transactions need PostgreSQL")
def test_two_simultaneous_submissions_land_once(rm, en_contact, mailoutbox):
    _, token = send_one(rm, en_contact, mailoutbox)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def submit(nps: int) -> None:
        from django.db import connection as thread_connection
        try:
            barrier.wait()
            services.survey_answer(token=token, nps=nps)
            results.append("answered")
        except services.AlreadyAnswered:
            results.append("refused")
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=submit, args=(n,)) for n in (3, 8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["answered", "refused"]
    assert SurveyResponse.objects.count() == 1


# Inviting: who is skipped and why; who may --------------------------------------------------------------


def test_contacts_without_email_and_with_an_open_invitation_are_skipped_with_the_reason(rm, org, en_contact,
                                                                                       mailoutbox):
    no_mail = make_contact(org, full_name="No Mail", email="")
    first = services.survey_invite(actor=rm, contacts=[en_contact, no_mail, en_contact])
    assert [i.contact for i in first.invitations] == [en_contact]  # duplicates collapse
    assert [(s.contact, s.code) for s in first.skipped] == [(no_mail, services.NO_EMAIL)]
    services.survey_send(actor=rm, invitations=first.invitations)
    again = services.survey_invite(actor=rm, contacts=[en_contact])
    assert not again.invitations and again.skipped[0].code == services.OPEN_INVITATION
    assert "open until" in again.skipped[0].reason
    # Another project is another survey; an expired invitation no longer blocks.
    assert services.survey_invite(actor=rm, contacts=[en_contact], project=make_project()).invitations
    SurveyInvitation.objects.filter(project__isnull=True).update(expires_at=timezone.now())
    assert services.survey_invite(actor=rm, contacts=[en_contact]).invitations


def test_consent_to_reports_is_not_needed_for_a_satisfaction_survey(rm, org):
    contact = make_contact(org, report_consent=False)
    assert services.survey_invite(actor=rm, contacts=[contact]).invitations


def test_dry_run_writes_nothing(rm, en_contact, zh_contact):
    result = services.survey_invite(actor=rm, contacts=[en_contact, zh_contact], dry_run=True)
    assert result.dry_run and len(result.invitations) == 2
    assert [i.language for i in result.invitations] == ["en", "zh-hans"]
    assert not SurveyInvitation.objects.exists() and not AuditEntry.objects.filter(
        content_type__model="surveyinvitation").exists()


@pytest.mark.parametrize("days", [0, -3, 366, "abc", "7.5", None, True])
def test_expiry_out_of_range_is_refused(rm, en_contact, days):
    with pytest.raises(InvalidInput) as err:
        services.survey_invite(actor=rm, contacts=[en_contact], expires_in_days=days)
    assert "expires_in_days" in err.value.fields
    assert not SurveyInvitation.objects.exists()


def test_expiry_is_configurable_per_send(rm, en_contact):
    before = timezone.now()
    invitation = invite(rm, [en_contact], expires_in_days=3)[0]
    assert timezone.timedelta(days=3) <= invitation.expires_at - before < timezone.timedelta(days=3, minutes=5)


def test_no_contacts_is_refused(rm):
    with pytest.raises(InvalidInput):
        services.survey_invite(actor=rm, contacts=[])


def test_viewer_cannot_invite(viewer, en_contact):
    with pytest.raises(PermissionDenied):
        services.survey_invite(actor=viewer, contacts=[en_contact])
    assert not SurveyInvitation.objects.exists()


def test_relationship_manager_cannot_invite_another_teams_contacts(rm, en_contact, foreign_org):
    stranger = make_contact(foreign_org, email="someone@platform.example")
    with pytest.raises(PermissionDenied):
        services.survey_invite(actor=rm, contacts=[en_contact, stranger])
    assert not SurveyInvitation.objects.exists()  # all or nothing
    invitation = invite(None, [stranger])[0]  # the operator at the command line may
    with pytest.raises(PermissionDenied):
        services.survey_send(actor=rm, invitations=[invitation])


def test_lists_show_only_visible_clients_invitations(rm, other_rm, en_contact, foreign_org):
    mine = invite(rm, [en_contact])[0]
    theirs = invite(other_rm, [make_contact(foreign_org)])[0]
    assert list(invitation_list(actor=rm)) == [mine]
    assert list(invitation_list(actor=other_rm)) == [theirs]


# Sending: one failure does not stop the others ---------------------------------------------------------


def test_a_failing_recipient_is_recorded_and_the_others_still_get_theirs(smtp_server, rm, org, en_contact):
    from django.core.mail.backends.smtp import EmailBackend

    class Refusing(EmailBackend):
        def send_messages(self, messages):
            if any("bounce" in r for m in messages for r in m.recipients()):
                raise OSError("550 mailbox unavailable")
            return super().send_messages(messages)

    bouncing = make_contact(org, full_name="Bounce", email="bounce@huaneng.example")
    third = make_contact(org, full_name="Third", email="third@huaneng.example")
    invitations = invite(rm, [en_contact, bouncing, third])
    outcomes = services.survey_send(actor=rm, invitations=invitations, connection=Refusing())
    assert [o.sent for o in outcomes] == [True, False, True]
    assert "550 mailbox unavailable" in outcomes[1].error
    assert sorted(e.rcpt_tos[0] for e in smtp_server.envelopes) == ["lisa.chen@huaneng.example",
                                                                     "third@huaneng.example"]
    failed = SurveyInvitation.objects.get(contact=bouncing)
    assert failed.sent_at is None and "550" in failed.send_error and failed.status == InvitationStatus.PENDING
    # Inviting again retries the unsent invitation instead of skipping it or making a second one.
    retry = services.survey_invite(actor=rm, contacts=[bouncing])
    assert [i.pk for i in retry.invitations] == [failed.pk]
    assert services.survey_send(actor=rm, invitations=retry.invitations)[0].sent
    failed.refresh_from_db()
    assert failed.sent_at is not None and failed.send_error == ""


def test_sending_an_answered_invitation_does_nothing(rm, en_contact, mailoutbox):
    invitation, token = send_one(rm, en_contact, mailoutbox)
    services.survey_answer(token=token, nps=10)
    outcome = services.survey_send(actor=rm, invitations=[invitation])[0]
    assert not outcome.sent and len(mailoutbox) == 1
    invitation.refresh_from_db()
    assert invitation.token_digest == token_digest(token)


# Results --------------------------------------------------------------------------------------------------


def test_summary_counts_nps_and_average_csat(rm, org, mailoutbox):
    project = make_project()
    answers = [(10, 5), (9, 4), (8, None), (6, 2), (0, 1)]
    for nps, csat in answers:
        _, token = send_one(rm, make_contact(org), mailoutbox, project=project)
        services.survey_answer(token=token, nps=nps, csat=csat)
    invite(rm, [make_contact(org)])  # not sent: counts as an invitation, not as sent
    summary = survey_summary(actor=rm, organization=org)
    assert summary["responses"] == 5 and summary["answered"] == 5 and summary["sent"] == 5
    assert summary["invitations"] == 6 and summary["pending"] == 1 and summary["response_rate"] == 100.0
    assert (summary["promoters"], summary["passives"], summary["detractors"]) == (2, 1, 2)
    assert summary["nps"] == 0.0
    assert summary["csat_count"] == 4 and summary["csat_average"] == 3.0
    by_project = survey_summary(actor=rm, project=project)
    assert by_project["responses"] == 5 and by_project["invitations"] == 5


@given(st.lists(st.integers(min_value=0, max_value=10), max_size=200))
def test_nps_is_promoters_minus_detractors_in_percent(scores):
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    result = nps_score(promoters, len(scores) - promoters - detractors, detractors)
    if not scores:
        assert result is None
    else:
        assert -100 <= result <= 100
        assert result == round(100 * (promoters - detractors) / len(scores), 1)


@given(st.integers(min_value=0, max_value=10), st.one_of(st.none(), st.integers(min_value=1, max_value=5)))
def test_every_valid_score_is_accepted_as_number_or_text(nps, csat):
    assert services.clean_answer(nps, csat, "") == (nps, csat, "")
    assert services.clean_answer(str(nps), "" if csat is None else f" {csat} ", "") == (nps, csat, "")


@given(st.one_of(st.integers().filter(lambda n: not 0 <= n <= 10), st.floats(), st.booleans(),
                 st.text().filter(lambda t: t.strip() and not (t.strip().isascii() and t.strip().isdigit()
                                                             and int(t.strip()) <= 10))))
def test_anything_else_is_refused_as_nps(value):
    with pytest.raises(InvalidInput) as err:
        services.clean_answer(value)
    assert "nps" in err.value.fields


def test_nul_characters_are_dropped_from_comments():
    assert services.clean_answer(5, None, "ok\x00 fine") == (5, None, "ok fine")
