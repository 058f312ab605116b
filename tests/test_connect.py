"""Standards out (issue 17): webhooks to a real HTTP receiver on loopback, the iCalendar feed, vCards."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import icalendar
import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.connect import feeds, vcards, webhooks
from bcrm.connect.models import DeliveryState, WebhookDelivery, WebhookEvent
from bcrm.core.errors import InvalidInput, PermissionDenied
from bcrm.engagement.services import task_create, task_update
from bcrm.parties.models import Contact
from bcrm.segmentation.services import override_create
from tests.doors import Api, command, signed_in
from tests.factories import make_contact

# --- a real receiver ---------------------------------------------------------------------------------------


class Receiver:
    """An HTTP server on loopback that keeps every POST; ``fail`` answers that many requests with 500 first."""

    def __init__(self):
        self.requests: list[dict] = []
        self.fail = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.fail > 0:
                    receiver.fail -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.BCRM_WEBHOOK_ALLOW_PRIVATE = True
    found = Receiver()
    yield found
    found.close()


def _tasks(actor, org, n):
    return [task_create(actor=actor, data={"title": f"Call {i}", "organization": org, "assignee": actor,
                                           "due_at": timezone.now() + dt.timedelta(days=i + 1)}) for i in range(n)]


def test_events_reach_the_receiver_signed_in_order_once(receiver, admin, rm, org):
    hook = webhooks.subscription_create(actor=admin, name="ERP", url=receiver.url,
                                        event_names=["task.created", "task.completed"])
    tasks = _tasks(rm, org, 3)
    task_update(actor=rm, task=tasks[0], data={"status": "done"}, expected_version=tasks[0].version)
    receiver.fail = 1                                       # the first attempt fails: nothing after it goes
    assert webhooks.send_due() == 0
    assert receiver.requests == []
    first = WebhookDelivery.objects.order_by("event_id").first()
    assert first.status == DeliveryState.PENDING and first.attempts == 1 and first.response_status == 500
    assert webhooks.send_due() == 0                         # its retry is not due yet: the order waits
    later = timezone.now() + dt.timedelta(hours=1)
    assert webhooks.send_due(now=later) == 4
    assert webhooks.send_due(now=later) == 0                # never twice
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    assert [b["event"] for b in bodies] == ["task.created"] * 3 + ["task.completed"]
    assert [b["data"]["task"] for b in bodies] == [t.pk for t in tasks] + [tasks[0].pk]
    assert [b["id"] for b in bodies] == sorted(b["id"] for b in bodies)
    for request in receiver.requests:
        assert webhooks.signature_valid(hook.secret, request["headers"][webhooks.SIGNATURE_HEADER], request["body"])
        assert not webhooks.signature_valid("another secret", request["headers"][webhooks.SIGNATURE_HEADER],
                                            request["body"])
    assert "Call 0" not in receiver.requests[0]["body"].decode()   # ids and codes, not the free text


def test_an_event_whose_change_rolled_back_is_never_sent(receiver, admin, rm, org):
    webhooks.subscription_create(actor=admin, name="ERP", url=receiver.url, event_names=["task.created"])
    def failing_request():
        with transaction.atomic():
            _tasks(rm, org, 1)
            raise RuntimeError("the request failed after the task was made")

    with pytest.raises(RuntimeError):
        failing_request()
    assert WebhookEvent.objects.count() == 0
    _tasks(rm, org, 1)
    assert WebhookEvent.objects.count() == 1


def test_a_delivery_that_keeps_failing_ends_failed_and_the_next_goes(receiver, admin, rm, org):
    webhooks.subscription_create(actor=admin, name="ERP", url=receiver.url, event_names=["task.created"])
    _tasks(rm, org, 2)
    receiver.fail = webhooks.MAX_ATTEMPTS
    now = timezone.now()
    for _ in range(webhooks.MAX_ATTEMPTS):
        now += dt.timedelta(hours=7)
        webhooks.send_due(now=now)
    states = list(WebhookDelivery.objects.order_by("event_id").values_list("status", "attempts"))
    assert states == [(DeliveryState.FAILED, webhooks.MAX_ATTEMPTS), (DeliveryState.DELIVERED, 1)]
    assert len(receiver.requests) == 1


def test_nobody_subscribed_means_nothing_recorded(rm, org):
    _tasks(rm, org, 2)
    assert WebhookEvent.objects.count() == 0


def test_class_changes_by_override_are_events(receiver, admin, org):
    webhooks.subscription_create(actor=admin, name="BI", url=receiver.url, event_names=["client.class_changed"])
    override_create(actor=admin, organization=org, dimension="value", label="high", reason="board decision",
                    expires_at=timezone.now() + dt.timedelta(days=30))
    event = WebhookEvent.objects.get()
    assert event.payload == {"organization": org.pk, "dimension": "value", "from": "", "to": "high",
                             "source": "override"}


def test_only_admins_manage_webhooks_and_urls_are_checked(settings, admin, rm):
    with pytest.raises(PermissionDenied):
        webhooks.subscription_create(actor=rm, name="x", url="https://example.com/h", event_names=["task.created"])
    status, _body = Api(rm).post("/webhooks", {"name": "x", "url": "https://example.com/h", "events": ["task.created"]})
    assert status == 403
    settings.BCRM_WEBHOOK_ALLOW_PRIVATE = False
    for url, code in [("ftp://example.com/h", "webhook_url"), ("http://127.0.0.1:9/h", "webhook_private"),
                      ("http://10.1.2.3/h", "webhook_private")]:
        with pytest.raises(InvalidInput) as err:
            webhooks.subscription_create(actor=admin, name="x", url=url, event_names=["task.created"])
        assert err.value.code == code
    status, body = Api(admin).post("/webhooks", {"name": "x", "url": "http://10.0.0.1/h", "events": ["nope"]})
    assert status == 422


def test_webhooks_through_the_api_and_the_cli(receiver, admin, rm, org):
    api = Api(admin)
    status, created = api.post("/webhooks", {"name": "ERP", "url": receiver.url, "events": ["task.created"]})
    assert status == 201 and len(created["secret"]) == 64
    _tasks(rm, org, 1)
    assert "Sent 1 event(s)." in command("webhooks", "send")
    status, log = api.get(f"/webhooks/{created['id']}/deliveries")
    assert status == 200 and log[0]["status"] == "delivered" and log[0]["event"] == "task.created"
    assert "task.created\tdelivered" in command("webhooks", "log", str(created["id"]))
    status, _ = api.call("patch", f"/webhooks/{created['id']}", {"active": False})
    assert status == 200
    assert "paused" in command("webhooks", "list")


@settings(max_examples=40)
@given(secret=st.text(min_size=1, max_size=40), body=st.binary(max_size=200), at=st.integers(0, 2**40))
def test_a_signature_holds_for_its_body_only(secret, body, at):
    header = webhooks.signature(secret, at, body)
    assert webhooks.signature_valid(secret, header, body, now=at)
    assert not webhooks.signature_valid(secret, header, body + b"x", now=at)
    assert not webhooks.signature_valid(secret, header, body, now=at + 301)     # a stale replay


# --- the calendar feed -------------------------------------------------------------------------------------


def test_the_feed_holds_my_tasks_and_meetings_until_revoked(rm, org, foreign_org, admin):
    from bcrm.engagement.services import interaction_create

    mine = _tasks(rm, org, 1)[0]
    hidden = task_create(actor=admin, data={"title": "Not mine to see", "organization": foreign_org, "assignee": rm,
                                            "due_at": timezone.now() + dt.timedelta(days=2)})
    meeting = interaction_create(actor=rm, organization=org, data={
        "kind": "meeting", "occurred_at": timezone.now() - dt.timedelta(days=1), "summary": "Term sheet walk-through",
        "minutes_spent": 60})
    status, body = Api(rm).post("/calendar-feed", {"language": "zh-hans"})
    assert status == 201
    path = body["url"].split("testserver", 1)[1]
    client = signed_in(admin)            # the feed needs no session: any client with the URL reads it
    client.logout()
    response = client.get(path)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(response.content)
    uids = {str(c["uid"]) for c in calendar.walk("VEVENT")}
    assert f"task-{mine.pk}@bcrm" in uids and f"interaction-{meeting.pk}@bcrm" in uids
    assert f"task-{hidden.pk}@bcrm" not in uids              # a client the manager does not see
    assert "Term sheet walk-through" in response.content.decode()
    feed = feeds.active_feed(rm)
    status, _ = Api(rm).call("delete", "/calendar-feed")
    assert status == 204
    assert client.get(path).status_code == 404
    assert feeds.active_feed(rm) is None and feed is not None


def test_ics_export_from_the_cli(tmp_path, rm, org):
    _tasks(rm, org, 2)
    out = tmp_path / "rm.ics"
    command("ics", "export", rm.username, str(out))
    events = icalendar.Calendar.from_ical(out.read_bytes()).walk("VEVENT")
    assert len(events) == 2


# --- vCards -----------------------------------------------------------------------------------------------


def test_vcards_round_trip_with_chinese_names(rm, org):
    wang = make_contact(org, full_name="Wang Wei", local_name="王伟", title="CFO, Treasury; Asia",
                        email="wang.wei@huaneng.example", phone="+86 10 8888 0000", language="zh-hans")
    text = vcards.export(actor=rm)
    assert "FN;LANGUAGE=zh-Hans:王伟" in text and "TITLE:CFO\\, Treasury\\; Asia" in text
    result = vcards.import_text(actor=rm, text=text)
    assert result.as_dict() == {"created": 0, "updated": 0, "unchanged": 1}
    wang.refresh_from_db()
    assert (wang.full_name, wang.local_name, wang.title, wang.language) == (
        "Wang Wei", "王伟", "CFO, Treasury; Asia", "zh-hans")
    edited = text.replace("TITLE:CFO\\, Treasury\\; Asia", "TITLE:Chief Financial Officer")
    assert vcards.import_text(actor=rm, text=edited).as_dict()["updated"] == 1
    wang.refresh_from_db()
    assert wang.title == "Chief Financial Officer"


NEW_CARDS = """BEGIN:VCARD
VERSION:3.0
FN:Li Na
FN;LANGUAGE=zh:李娜
N:Li;Na;;;
ORG:华能资本
EMAIL:li.na@huaneng.example
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Nobody Known
ORG:An Organisation Nobody Has
END:VCARD
"""


def test_a_bad_card_imports_nothing_and_is_named(rm, org):
    with pytest.raises(InvalidInput) as err:
        vcards.import_text(actor=rm, text=NEW_CARDS)
    assert err.value.code == "vcard_rows"
    assert list(err.value.fields) == ["card 2 (Nobody Known)"]
    assert not Contact.objects.filter(email="li.na@huaneng.example").exists()
    good = NEW_CARDS.split("BEGIN:VCARD")[1]
    result = vcards.import_text(actor=rm, text="BEGIN:VCARD" + good)
    assert result.as_dict()["created"] == 1
    li = Contact.objects.get(email="li.na@huaneng.example")
    assert (li.organization_id, li.full_name, li.local_name) == (org.pk, "Li Na", "李娜")


def test_vcards_respect_who_may_see_and_edit(rm, foreign_org, org):
    make_contact(foreign_org, full_name="Other Team Person")
    make_contact(org, full_name="My Client Person")
    text = vcards.export(actor=rm)
    assert "My Client Person" in text and "Other Team Person" not in text
    card = "BEGIN:VCARD\nVERSION:4.0\nFN:Sneaky\nORG:Platform Ventures\nEND:VCARD\n"
    with pytest.raises(InvalidInput):
        vcards.import_text(actor=rm, text=card)
    with pytest.raises(InvalidInput) as err:
        vcards.import_text(actor=rm, text="this is no vcard")
    assert err.value.code in {"vcard_malformed", "vcard_empty"}


def test_vcards_through_the_api_and_the_cli(tmp_path, rm, org):
    make_contact(org, full_name="Zhao Lei", local_name="赵磊")
    status, response = Api(rm).get("/contacts/vcard")
    assert status == 200 and "赵磊" in response.content.decode()
    from django.core.files.uploadedfile import SimpleUploadedFile

    status, body = Api(rm).post_form("/contacts/vcard", {"file": SimpleUploadedFile("c.vcf", response.content)})
    assert status == 200 and body == {"created": 0, "updated": 0, "unchanged": 1}
    status, body = Api(rm).post_form("/contacts/vcard", {"file": SimpleUploadedFile("c.vcf", "é".encode("latin-1"))})
    assert status == 422 and body["error"]["code"] == "vcard_encoding"
    out = tmp_path / "all.vcf"
    command("contacts", "vcard", "export", str(out), "--as", rm.username)
    assert json.loads(command("contacts", "vcard", "import", str(out), "--as", rm.username, "--json")) == {
        "created": 0, "updated": 0, "unchanged": 1}


def test_the_connections_page(admin, rm, receiver):
    page = signed_in(rm).get("/connections/")
    assert page.status_code == 200 and b"X-Bcrm-Signature" not in page.content
    client = signed_in(rm)
    response = client.post("/connections/feed/new/", follow=True)
    assert b"/feeds/" in response.content and b"data-feed-url" in response.content
    assert b"data-feed-url" not in client.get("/connections/").content           # shown once
    assert signed_in(rm).post("/connections/webhooks/new/", {"name": "x", "url": receiver.url,
                                                               "events": ["task.created"]}).status_code == 403
    client = signed_in(admin)
    response = client.post("/connections/webhooks/new/", {"name": "ERP", "url": receiver.url,
                                                          "events": ["task.created"]}, follow=True)
    assert b"data-webhook-secret" in response.content and b"ERP" in response.content


def test_plan_status_and_book_allocation_are_events(receiver, admin, rm, lead, org):
    from bcrm.book import services as book_services
    from bcrm.plans import services as plan_services
    from bcrm.plans.models import PlanStatus
    from tests.factories import make_project
    from tests.test_book import build_book
    from tests.test_plans import TERMS

    webhooks.subscription_create(actor=admin, name="DealCloud", url=receiver.url,
                                 event_names=["plan.status_changed", "book.allocated"])
    plan = plan_services.plan_create(actor=rm, organization=org, project=make_project(), terms=TERMS)
    plan_services.plan_transition(actor=rm, plan=plan, to=PlanStatus.INTERNAL_REVIEW)
    book = build_book()
    record, _preview = book_services.allocation_commit(actor=lead, book=book, policy="pro_rata")
    assert webhooks.send_due() == 2
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    assert [b["event"] for b in bodies] == ["plan.status_changed", "book.allocated"]
    assert bodies[0]["data"] == {"plan": plan.pk, "organization": org.pk, "project": plan.project_id,
                                 "from": "draft", "to": "internal_review"}
    allocated = bodies[1]["data"]
    assert allocated["allocation"] == record.pk and allocated["total"] == "1000000"
    assert sum(int(line["amount"]) for line in allocated["lines"]) == 1_000_000


def test_tasks_made_by_automation_are_events_naming_their_run(receiver, admin, lead, rm, team):
    from bcrm.engagement.models import Task
    from bcrm.playbooks.automation import run_automation
    from tests.factories import make_org

    webhooks.subscription_create(actor=admin, name="ERP", url=receiver.url, event_names=["task.created"])
    make_org(legal_name="Automated Co", team=team, relationship_manager=rm)
    report = run_automation(actor=lead)
    created = list(Task.objects.filter(source="playbook").order_by("pk").values_list("pk", flat=True))
    assert created
    events = list(WebhookEvent.objects.order_by("id"))
    assert [e.payload["task"] for e in events] == created
    assert {e.payload["run"] for e in events} == {report.run.pk}
    run_automation(actor=lead)                  # nothing new: no event
    assert WebhookEvent.objects.count() == len(created)
