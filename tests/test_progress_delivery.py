"""Report e-mails through a real SMTP server on loopback: consent, idempotence, retries with backoff,
at-most-once under two concurrent senders (PostgreSQL), unsubscribe."""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading

import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from bcrm.audit.models import AuditEntry
from bcrm.engagement.models import Interaction
from bcrm.parties.models import Contact, Organization
from bcrm.progress import services
from bcrm.progress.models import DeliveryStatus, ReportDelivery
from tests.factories import make_contact
from tests.progress_fixtures import PERIOD, consenting, solar_project

NOW = dt.datetime(2026, 5, 3, 9, 0, tzinfo=dt.UTC)


def ids_of(*orgs):
    return Organization.objects.filter(pk__in=[o.pk for o in orgs]).values_list("pk", flat=True)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def audience(db, team):
    project, orgs = solar_project(team)
    people = {
        "en": consenting(orgs["a"], full_name="Lisa Chen", email="lisa@hn.example", language="en"),
        "zh": consenting(orgs["a"], full_name="Zhang Min", local_name="张敏", email="zhang@hn.example",
                         language="zh-hans"),
        "no_consent": make_contact(orgs["a"], full_name="Wang Wei", email="wang@hn.example", report_consent=False),
        "no_email": consenting(orgs["a"], full_name="Li Na", email=""),
        "declined": consenting(orgs["d"], full_name="Declined Person", email="no@declined.example"),
        "fund": consenting(orgs["b"], full_name="Silk Road Person", email="p@silkroad.example"),
    }
    return project, orgs, people


def test_queue_creates_one_delivery_per_consenting_contact_in_their_language(audience, django_assert_max_num_queries):
    project, orgs, people = audience
    with django_assert_max_num_queries(6):  # no query per organisation or contact
        result = services.queue_progress_reports(period=PERIOD, organization_ids=ids_of(*orgs.values()), now=NOW,
                                                 run_id=77)
    assert (result.created, result.already_queued, result.skipped_no_consent, result.skipped_no_email) == (3, 0, 1, 1)
    rows = {d.email: d for d in ReportDelivery.objects.all()}
    assert set(rows) == {"lisa@hn.example", "zhang@hn.example", "p@silkroad.example"}  # not the declined bank
    zhang = rows["zhang@hn.example"]
    assert (zhang.language, zhang.status, zhang.run_id, zhang.period) == ("zh-hans", "pending", 77, PERIOD)
    assert zhang.key == f"{project.pk}:{PERIOD}:{people['zh'].pk}"
    assert zhang.next_attempt_at == NOW and zhang.organization_id == orgs["a"].pk

    again = services.queue_progress_reports(period=PERIOD, organization_ids=ids_of(*orgs.values()), now=NOW)
    assert (again.created, again.already_queued) == (0, 3)
    assert ReportDelivery.objects.count() == 3


def test_queue_refuses_a_bad_period(audience):
    from bcrm.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        services.queue_progress_reports(period="2026-13", organization_ids=ids_of(), now=NOW)
    assert "period" in caught.value.fields


def test_reports_are_emailed_read_back_and_logged_as_interactions(audience, smtp_server):
    project, orgs, people = audience
    services.queue_progress_reports(period=PERIOD, organization_ids=ids_of(orgs["a"]), now=NOW)
    summary = services.send_pending_deliveries(now=NOW)
    assert (summary.claimed, summary.sent, summary.retrying) == (2, 2, 0)
    by_to = {m["To"]: m for m in smtp_server.messages}
    assert set(by_to) == {"lisa@hn.example", "zhang@hn.example"}  # Wang Wei (no consent) gets nothing

    english = by_to["lisa@hn.example"]
    assert english["Subject"] == "Progress report: Qinghai Solar Power Station, 2026-04"
    url = re.fullmatch(r"<(http://[^>]+/unsubscribe/[^>]+/)>", english["List-Unsubscribe"].strip()).group(1)
    assert english["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = english.get_body(("html",)).get_content()
    text = english.get_body(("plain",)).get_content()
    assert url in html and url in text and "Grid connection agreement" in html
    attachments = list(english.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["progress-qinghai-solar-power-station-2026-04.pdf"]
    assert attachments[0].get_content_type() == "application/pdf"
    assert attachments[0].get_content().startswith(b"%PDF")

    chinese = by_to["zhang@hn.example"]
    assert "青海光伏电站" in chinese["Subject"] and "2026-04" in chinese["Subject"]
    assert "并网协议" in chinese.get_body(("html",)).get_content()

    lisa = ReportDelivery.objects.get(email="lisa@hn.example")
    assert (lisa.status, lisa.attempts, lisa.sent_at, lisa.last_error) == ("sent", 1, NOW, "")
    interaction = lisa.interaction
    assert (interaction.kind, interaction.organization_id, interaction.project_id, interaction.owner_id,
            interaction.minutes_spent) == ("report_sent", orgs["a"].pk, project.pk, None, 0)
    assert list(interaction.contacts.all()) == [people["en"]]
    assert "2026-04" in interaction.summary and "Qinghai Solar Power Station" in interaction.summary
    assert Interaction.objects.filter(kind="report_sent").count() == 2


def test_queue_twice_send_twice_one_email_per_delivery(audience, smtp_server):
    _project, orgs, _people = audience
    for _ in range(2):
        services.queue_progress_reports(period=PERIOD, organization_ids=ids_of(*orgs.values()), now=NOW)
        services.send_pending_deliveries(now=NOW)
    services.send_pending_deliveries(now=NOW + dt.timedelta(days=3))
    assert sorted(m["To"] for m in smtp_server.messages) == ["lisa@hn.example", "p@silkroad.example",
                                                             "zhang@hn.example"]
    assert set(ReportDelivery.objects.values_list("status", flat=True)) == {"sent"}


def test_smtp_failure_retries_with_backoff_then_succeeds_once_the_server_is_up(audience, smtp_server, settings):
    _project, orgs, people = audience
    services.queue_progress_reports(period=PERIOD, organization_ids=ids_of(orgs["b"]), now=NOW)
    working_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = closed_port()
    settings.EMAIL_TIMEOUT = 5

    first = services.send_pending_deliveries(now=NOW)
    assert (first.sent, first.retrying) == (0, 1)
    delivery = ReportDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at == NOW + dt.timedelta(minutes=1) and "Connection" in delivery.last_error
    assert services.send_pending_deliveries(now=NOW + dt.timedelta(seconds=59)).claimed == 0  # not due yet

    second = services.send_pending_deliveries(now=NOW + dt.timedelta(minutes=1))
    assert second.retrying == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.next_attempt_at == NOW + dt.timedelta(minutes=3)  # then 2 min

    settings.EMAIL_PORT = working_port
    third = services.send_pending_deliveries(now=NOW + dt.timedelta(minutes=3))
    assert third.sent == 1
    services.send_pending_deliveries(now=NOW + dt.timedelta(hours=1))
    assert [m["To"] for m in smtp_server.messages] == ["p@silkroad.example"]  # never twice
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 3, "")


def test_five_failures_mark_the_delivery_failed(audience, settings):
    _project, orgs, _people = audience
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port(), 5
    services.queue_progress_reports(period=PERIOD, organization_ids=ids_of(orgs["b"]), now=NOW)
    when, waits = NOW, []
    for _ in range(5):
        services.send_pending_deliveries(now=when)
        delivery = ReportDelivery.objects.get()
        if delivery.next_attempt_at:
            waits.append(delivery.next_attempt_at - when)
            when = delivery.next_attempt_at
    assert waits == [dt.timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 5, None)
    assert services.send_pending_deliveries(now=when + dt.timedelta(days=1)).claimed == 0


def test_a_delivery_stuck_in_sending_is_never_resent(audience, smtp_server):
    _project, orgs, _people = audience
    services.queue_progress_reports(period=PERIOD, organization_ids=ids_of(orgs["b"]), now=NOW)
    ReportDelivery.objects.update(status=DeliveryStatus.SENDING, attempts=1)  # a worker died mid-send
    assert services.send_pending_deliveries(now=NOW + dt.timedelta(days=2)).claimed == 0
    assert smtp_server.messages == []


def test_a_contact_who_withdrew_consent_after_queueing_gets_nothing(audience, smtp_server):
    _project, orgs, people = audience
    services.queue_progress_reports(period=PERIOD, organization_ids=ids_of(orgs["b"]), now=NOW)
    Contact.objects.filter(pk=people["fund"].pk).update(report_consent=False)
    summary = services.send_pending_deliveries(now=NOW)
    assert (summary.sent, summary.cancelled) == (0, 1) and smtp_server.messages == []
    assert ReportDelivery.objects.get().status == "cancelled"


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="SQLite serialises writers with one database lock; the race needs PostgreSQL")
def test_two_concurrent_senders_email_each_delivery_exactly_once(transactional_db, smtp_server, settings, team):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    project, orgs = solar_project(team)
    for i in range(6):
        consenting(orgs["a"], full_name=f"Investor {i}", email=f"i{i}@hn.example", language="en" if i % 2 else "zh-hans")
    services.queue_progress_reports(period=PERIOD, organization_ids=ids_of(orgs["a"]), now=NOW)
    assert ReportDelivery.objects.count() == 6
    barrier = threading.Barrier(2)
    summaries, errors = [], []

    def worker():
        try:
            barrier.wait(timeout=30)
            summaries.append(services.send_pending_deliveries(now=NOW))
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
    assert sum(s.sent for s in summaries) == 6 and sum(s.claimed for s in summaries) == 6
    recipients = [m["To"] for m in smtp_server.messages]
    assert len(recipients) == 6 and len(set(recipients)) == 6
    assert Interaction.objects.filter(kind="report_sent").count() == 6


# Unsubscribe ------------------------------------------------------------------------------------------------


def test_unsubscribe_get_changes_nothing_post_withdraws_consent_and_the_next_queue_skips(audience):
    _project, orgs, people = audience
    lisa = people["en"]
    services.queue_progress_reports(period=PERIOD, organization_ids=ids_of(orgs["a"]), now=NOW)
    url = services.unsubscribe_url(lisa.pk)
    path = url.removeprefix("http://127.0.0.1:8000")
    client = Client()
    page = client.get(path)
    assert page.status_code == 200 and 'data-state="confirm"' in page.content.decode()
    assert "lisa@hn.example" in page.content.decode() and page["X-Robots-Tag"] == "noindex, nofollow"
    lisa.refresh_from_db()
    assert lisa.report_consent is True  # a mail scanner prefetching the link changes nothing

    done = client.post(path)
    assert done.status_code == 200 and 'data-state="done"' in done.content.decode()
    lisa.refresh_from_db()
    assert lisa.report_consent is False
    entry = AuditEntry.objects.filter(object_id=str(lisa.pk), content_type__model="contact").latest("at")
    assert entry.actor_id is None and entry.changes["report_consent"] == [True, False]
    assert ReportDelivery.objects.get(contact=lisa).status == "cancelled"

    nxt = services.queue_progress_reports(period="2026-05", organization_ids=ids_of(orgs["a"]), now=NOW)
    assert nxt.created == 1 and nxt.skipped_no_consent == 2  # Wang Wei and now Lisa
    assert not ReportDelivery.objects.filter(contact=lisa, period="2026-05").exists()


def test_one_click_unsubscribe_post_without_csrf_token(audience):
    _project, _orgs, people = audience
    path = services.unsubscribe_url(people["zh"].pk).removeprefix("http://127.0.0.1:8000")
    client = Client(enforce_csrf_checks=True)
    response = client.post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert Contact.objects.get(pk=people["zh"].pk).report_consent is False
    assert response["Content-Language"] == "zh-hans"


@pytest.mark.parametrize("token", ["nonsense", "1:abc:def", "x" * 300])
def test_a_bad_unsubscribe_token_gets_a_clear_error_page(audience, token):
    response = Client().post(f"/unsubscribe/{token}/")
    assert response.status_code == 404 and 'data-state="bad_token"' in response.content.decode()
    assert Contact.objects.filter(report_consent=False).count() == 1  # only Wang Wei, as before
    assert Client().get(f"/unsubscribe/{token}/").status_code == 404


def test_a_token_signed_for_another_purpose_is_refused(audience):
    from django.core import signing

    _project, _orgs, people = audience
    forged = signing.dumps(people["en"].pk, salt="some.other.salt")
    assert Client().post(f"/unsubscribe/{forged}/").status_code == 404
    assert Contact.objects.get(pk=people["en"].pk).report_consent is True


def test_queue_enqueues_sending_after_commit(audience, smtp_server, django_capture_on_commit_callbacks):
    _project, orgs, _people = audience
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.queue_progress_reports(period=PERIOD, organization_ids=ids_of(orgs["b"]),
                                        now=timezone.now() - dt.timedelta(seconds=1))
    assert len(callbacks) == 1  # the task ran inline (tests use the immediate backend)
    assert [m["To"] for m in smtp_server.messages] == ["p@silkroad.example"]
