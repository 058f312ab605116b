"""The one delivery service (bcrm.core.delivery) that every e-mail goes through: the worker's "send due" over
every kind, through a real SMTP server on loopback and through the .eml outbox; retries with exponential
backoff on a fixed clock; opt-outs and unsubscribe; each recipient's language; never twice under two
concurrent senders (PostgreSQL); the survey doors all calling one service function."""

from __future__ import annotations

import datetime as dt
import email
import io
import json
import socket
import threading
from email import policy

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bcrm.core import delivery
from bcrm.core.errors import NotFound
from bcrm.engagement.models import SurveyResponse
from bcrm.progress import services as progress
from bcrm.progress.models import ReportDelivery
from bcrm.surveys import services as surveys
from bcrm.surveys.models import SurveyInvitation, SurveyMail
from tests.factories import make_contact
from tests.progress_fixtures import PERIOD, consenting, solar_project

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Refusing:
    """A mail connection whose server refuses every message (what a bouncing SMTP relay looks like)."""

    def send_messages(self, messages):
        raise OSError("451 try again later")

    def close(self):
        pass


@pytest.fixture
def zh_contact(org):
    return make_contact(org, full_name="Zhang Min", local_name="张敏", language="zh-hans",
                        email="zhang.min@huaneng.example")


def failed_once(rm, contact) -> SurveyMail:
    """An invitation whose first sending failed: its e-mail waits in the queue for the worker."""
    invitation = surveys.survey_invite(actor=rm, contacts=[contact]).invitations[0]
    [outcome] = surveys.survey_send(actor=rm, invitations=[invitation], connection=Refusing())
    assert not outcome.sent and "451" in outcome.error
    return SurveyMail.objects.get(invitation=invitation)


# The policy ------------------------------------------------------------------------------------------------


def test_backoff_doubles_from_one_minute_up_to_its_ceiling():
    policy_ = delivery.RetryPolicy(max_attempts=12, longest_wait=dt.timedelta(hours=1))
    assert [policy_.backoff(n) for n in range(1, 9)] == [dt.timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60)]
    assert progress.backoff(4) == dt.timedelta(minutes=8)  # the progress reports' policy is the service's


def test_every_mail_of_the_system_is_a_registered_kind():
    assert {"progress_report", "management_report", "survey_invitation"} <= set(delivery.kinds())
    assert delivery.kind_of("survey_invitation").model is SurveyMail
    assert delivery.kind_of("progress_report").model is ReportDelivery


def test_compose_renders_subject_and_bodies_in_the_recipients_language():
    message = delivery.compose(
        to=["li@bank.example"], language="zh-hans",
        subject={"template": "Management report %(period)s", "params": {"period": "2026-04"}},
        body="surveys/email/invitation.txt", html="surveys/email/invitation.html",
        context={"name": "李", "url": "http://x.example/s/t/", "expires_at": timezone.now(), "project": None},
        attachments=[("a.pdf", b"%PDF-1.7", "application/pdf")], reply_to=["rm@bank.example"])
    assert message.subject == "管理报告 2026-04" and "尊敬的 李" in message.body
    assert message.alternatives[0][1] == "text/html" and "参与调查" in message.alternatives[0][0]
    assert message.attachments[0][0] == "a.pdf" and message.reply_to == ["rm@bank.example"]
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    english = delivery.compose(to=["x@y.example"], language="en", body="surveys/email/invitation.txt",
                               subject={"template": "Management report %(period)s", "params": {"period": "2026-04"}},
                               context={"name": "Li", "url": "u", "expires_at": timezone.now()})
    assert english.subject == "Management report 2026-04" and "Dear Li," in english.body


# Retry through the worker, on a fixed clock, in the recipient's language, over real SMTP ---------------------


def test_a_failed_invitation_is_retried_by_the_worker_with_backoff_then_arrives_in_chinese(
        rm, zh_contact, smtp_server, settings):
    mail = failed_once(rm, zh_contact)
    assert (mail.status, mail.attempts) == ("pending", 1)
    assert mail.next_attempt_at - mail.queued_at == dt.timedelta(minutes=1)
    invitation = mail.invitation
    assert invitation.sent_at is None and "451" in invitation.send_error  # what the lists show

    clock = mail.next_attempt_at
    assert delivery.send_due(now=clock - dt.timedelta(seconds=1))["survey_invitation"]["claimed"] == 0  # not yet
    working_port = settings.EMAIL_PORT
    settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = closed_port(), 5
    waits = []
    for _ in range(2):  # the server is still down: 2 then 4 minutes
        assert delivery.send_due(now=clock)["survey_invitation"]["retrying"] == 1
        mail.refresh_from_db()
        waits.append(mail.next_attempt_at - clock)
        clock = mail.next_attempt_at
    assert waits == [dt.timedelta(minutes=2), dt.timedelta(minutes=4)]

    settings.EMAIL_PORT = working_port
    due = delivery.send_due(now=clock)
    assert due["survey_invitation"]["sent"] == 1 and due["progress_report"]["claimed"] == 0
    assert delivery.send_due(now=clock + dt.timedelta(days=1))["survey_invitation"]["claimed"] == 0
    [message] = smtp_server.messages  # once, never again
    assert message["To"] == "zhang.min@huaneng.example"
    assert message["Subject"].strip().startswith("满意度调查")
    assert "尊敬的 张敏" in message.get_body(("plain",)).get_content()
    assert message["List-Unsubscribe"] is None  # a survey is not a list (legitimate interest)
    mail.refresh_from_db()
    assert (mail.status, mail.attempts, mail.sent_at, mail.last_error) == ("sent", 4, clock, "")
    invitation.refresh_from_db()
    assert invitation.sent_at == clock and invitation.send_error == "" and invitation.status == "sent"


def test_the_last_failure_is_final(rm, zh_contact, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port(), 5
    mail = failed_once(rm, zh_contact)
    clock = mail.next_attempt_at
    for _ in range(4):
        delivery.send_due(now=clock)
        mail.refresh_from_db()
        clock = mail.next_attempt_at or clock
    assert (mail.status, mail.attempts, mail.next_attempt_at) == ("failed", 5, None)
    assert "Connection" in mail.last_error


def test_an_invitation_answered_or_resent_meanwhile_is_not_sent_by_the_retry(rm, org, zh_contact, mailoutbox):
    mail = failed_once(rm, zh_contact)
    # A second contact: their failed e-mail is replaced by a person's new send.
    other = make_contact(org, full_name="Lisa Chen", email="lisa.chen@huaneng.example")
    replaced = failed_once(rm, other)
    assert surveys.survey_send(actor=rm, invitations=[replaced.invitation])[0].sent
    # The first answers (through a link of an earlier e-mail, say) before the worker retries.
    SurveyInvitation.objects.filter(pk=mail.invitation_id).update(used_at=timezone.now())
    summary = delivery.send(delivery.kind_of("survey_invitation"), now=mail.next_attempt_at + dt.timedelta(hours=1))
    assert (summary.claimed, summary.cancelled, summary.sent) == (1, 1, 0)
    mail.refresh_from_db()
    replaced.refresh_from_db()
    assert (mail.status, mail.last_error) == ("cancelled", "Already answered.")
    assert (replaced.status, replaced.last_error) == ("cancelled", "Replaced by a new sending.")
    assert [m.to for m in mailoutbox] == [["lisa.chen@huaneng.example"]]


# Unsubscribe and opt-out --------------------------------------------------------------------------------------


def test_a_report_queued_to_someone_who_unsubscribed_is_never_sent(team, smtp_server):
    project, orgs = solar_project(team)
    lisa = consenting(orgs["b"], full_name="Lisa Chen", email="lisa@silkroad.example", language="en")
    zhang = consenting(orgs["b"], full_name="Zhang Min", email="zhang@silkroad.example", language="zh-hans")
    now = timezone.now()
    progress.queue_progress_reports(period=PERIOD, organization_ids=[orgs["b"].pk], now=now)
    assert ReportDelivery.objects.filter(status="pending").count() == 2
    progress.unsubscribe(token=progress.unsubscribe_token(lisa.pk))
    summary = delivery.send_due(now=now)["progress_report"]
    assert (summary["claimed"], summary["sent"]) == (1, 1)
    [message] = smtp_server.messages
    assert message["To"] == "zhang@silkroad.example" and "青海光伏电站" in message["Subject"]
    url = message["List-Unsubscribe"].strip().removeprefix("<").removesuffix(">")
    assert url in message.get_body(("plain",)).get_content()
    assert progress.contact_by_unsubscribe_token(url.rstrip("/").rsplit("/", 1)[1]) == zhang
    assert ReportDelivery.objects.get(contact=lisa).status == "cancelled"


def test_an_unsubscribe_token_names_one_recipient_of_one_list():
    reports = delivery.Unsubscribe(salt="bcrm.progress.unsubscribe", url_name="progress:unsubscribe")
    other = delivery.Unsubscribe(salt="bcrm.other.list", url_name="progress:unsubscribe")
    assert reports.recipient_id(reports.token(42)) == 42
    assert reports.url(42).startswith("http://127.0.0.1:8000/unsubscribe/")
    for bad in (other.token(42), "", "x" * 300, "nonsense", reports.token(True), reports.token("42")):
        with pytest.raises(NotFound):
            reports.recipient_id(bad)


# The .eml outbox of development --------------------------------------------------------------------------


def test_without_a_mail_server_each_message_is_an_eml_file_in_the_outbox(rm, zh_contact, settings, tmp_path):
    settings.EMAIL_BACKEND = "bcrm.core.mailbox.EmlFileBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "outbox")
    invitation = surveys.survey_invite(actor=rm, contacts=[zh_contact]).invitations[0]
    assert surveys.survey_send(actor=rm, invitations=[invitation])[0].sent
    [file] = (tmp_path / "outbox").glob("*.eml")
    message = email.message_from_bytes(file.read_bytes(), policy=policy.default)
    assert message["To"] == "zhang.min@huaneng.example" and message["Subject"].strip().startswith("满意度调查")
    assert SurveyMail.objects.get().status == "sent"


# Never twice --------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="SQLite serialises writers with one database lock; the race needs PostgreSQL")
def test_two_workers_sending_at_once_send_each_message_exactly_once(rm, org, smtp_server):
    now = timezone.now()
    for i in range(8):
        contact = make_contact(org, full_name=f"Investor {i}", email=f"i{i}@hn.example",
                               language="zh-hans" if i % 2 else "en")
        invitation = surveys.survey_invite(actor=rm, contacts=[contact]).invitations[0]
        SurveyMail.objects.create(invitation=invitation, email=contact.email, queued_at=now, next_attempt_at=now)
    barrier = threading.Barrier(2)
    summaries, errors = [], []

    def worker():
        try:
            barrier.wait(timeout=30)
            summaries.append(delivery.send("survey_invitation", now=now))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors
    assert sum(s.claimed for s in summaries) == 8 and sum(s.sent for s in summaries) == 8
    recipients = [m["To"] for m in smtp_server.messages]
    assert len(recipients) == 8 and len(set(recipients)) == 8
    assert set(SurveyMail.objects.values_list("status", flat=True)) == {"sent"}
    assert set(SurveyMail.objects.values_list("attempts", flat=True)) == {1}


# One survey-sending path for the three doors --------------------------------------------------------------


def test_page_api_and_cli_send_surveys_through_one_service_function(rm, org, zh_contact, mailoutbox, monkeypatch):
    from bcrm.accounts.services import token_create

    calls = []
    original = surveys.survey_invite_and_send

    def spy(**kwargs):
        calls.append(kwargs["dry_run"])
        return original(**kwargs)

    monkeypatch.setattr(surveys, "survey_invite_and_send", spy)
    page = Client()
    page.force_login(rm)
    url = reverse("surveys:send") + f"?organization={org.pk}"
    assert page.post(url, {"contacts": [zh_contact.pk], "expires_in_days": "30", "action": "send"}).status_code == 302

    SurveyInvitation.objects.update(expires_at=timezone.now())  # closed: the next doors invite anew
    _, raw = token_create(user=rm)
    api = Client().post("/api/v1/surveys/invitations", data=json.dumps({"contacts": [zh_contact.pk]}),
                        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.status_code == 201 and api.json()["invited"][0]["sent"]

    SurveyInvitation.objects.update(expires_at=timezone.now())
    out = io.StringIO()
    call_command("survey", "send", "--contact", str(zh_contact.pk), stdout=out)
    assert "1 invited" in out.getvalue()
    assert calls == [False, False, False]
    assert len(mailoutbox) == 3 and SurveyMail.objects.filter(status="sent").count() == 3
    assert not SurveyResponse.objects.exists()
