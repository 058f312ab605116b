"""Calendar sync against a real CalDAV server (Radicale) started on loopback by the test."""

from __future__ import annotations

import datetime as dt
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import caldav
import pytest
import radicale
import radicale.config
from django.utils import timezone

from bcrm.accounts.choices import Role
from bcrm.engagement.models import Interaction
from bcrm.intel import services
from bcrm.intel.models import CapturedItem, ItemStatus, SyncStatus
from bcrm.intel.sources import sync_calendar
from tests.doors import command
from tests.factories import make_contact, make_org, make_user

pytestmark = pytest.mark.django_db


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def radicale_server(tmp_path):
    (tmp_path / "users").write_text("rm1:cal-pass\n")
    config = radicale.config.load([])
    config.update({"storage": {"filesystem_folder": str(tmp_path / "collections")},
                   "auth": {"type": "htpasswd", "htpasswd_filename": str(tmp_path / "users"),
                            "htpasswd_encryption": "plain", "delay": "0"},
                   "rights": {"type": "owner_only"}}, "test", privileged=True)
    server = make_server("127.0.0.1", 0, radicale.Application(config), handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def event(uid: str, start: dt.datetime, *, status: str = "CONFIRMED", attendee: str = "alice@acme.com") -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
            f"DTSTAMP:{start.strftime(fmt)}\r\nDTSTART:{start.strftime(fmt)}\r\n"
            f"DTEND:{(start + dt.timedelta(hours=1)).strftime(fmt)}\r\nSUMMARY:Meeting {uid}\r\nSTATUS:{status}\r\n"
            f"ORGANIZER:mailto:rm1@ourbank.com\r\nATTENDEE:mailto:{attendee}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def test_caldav_sync_incremental_cancelled_and_bad_password(radicale_server):
    port = radicale_server
    rm = make_user("rm1", Role.RELATIONSHIP_MANAGER)
    rm.email = "rm1@ourbank.com"
    rm.save()
    org = make_org(email_domains=["acme.com"], relationship_manager=rm)
    make_contact(org, full_name="Alice", email="alice@acme.com", seniority="board")
    calendar = caldav.DAVClient(url=f"http://127.0.0.1:{port}/", username="rm1",
                                password="cal-pass").principal().make_calendar(name="Work")
    start = timezone.now().astimezone(dt.UTC).replace(microsecond=0) - dt.timedelta(days=2)
    calendar.save_event(event("ev1", start))
    calendar.save_event(event("ev2", start - dt.timedelta(days=1), attendee="friend@qq.com"))

    wrong = services.account_connect(actor=rm, kind="caldav", host="127.0.0.1", port=port, username="rm1",
                                     password="nope", use_tls=False)
    sync_calendar(wrong)
    assert wrong.status == SyncStatus.AUTH_FAILED and not CapturedItem.objects.exists()
    wrong.delete()

    account = services.account_connect(actor=rm, kind="caldav", host="127.0.0.1", port=port, username="rm1",
                                       password="cal-pass", use_tls=False)
    first = sync_calendar(account)
    assert account.status == SyncStatus.OK and first.new == 2 and first.matched == 1
    meeting = Interaction.objects.get(organization=org, kind="meeting")
    assert meeting.minutes_spent == 60 and account.sync_token

    # Incremental: nothing changed, nothing read again; then the meeting is cancelled on the server.
    assert sync_calendar(account).new == 0
    calendar.save_event(event("ev1", start, status="CANCELLED"))
    assert sync_calendar(account).cancelled == 1
    assert not Interaction.objects.filter(organization=org).exists()
    from bcrm.audit.models import AuditEntry

    deleted = AuditEntry.objects.get(action="delete", object_id=str(meeting.pk))  # the deletion is audited
    assert deleted.actor_id == account.user_id and deleted.changes["cancelled"] is True
    assert CapturedItem.objects.get(key="ical:ev1").status == ItemStatus.CANCELLED

    out = command("calendar", "sync", "--user", "rm1")
    assert "status: ok" in out
