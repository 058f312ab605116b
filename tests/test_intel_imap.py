"""Mailbox sync against a real IMAP server (Dovecot) started on loopback by the test."""

from __future__ import annotations

import imaplib
import shutil
import tempfile
from pathlib import Path

import pytest

from bcrm.accounts.choices import Role
from bcrm.engagement.models import Interaction
from bcrm.intel import services, sources
from bcrm.intel.models import CapturedItem, SyncStatus
from bcrm.intel.tasks import due_syncs
from tests.doors import Api, command
from tests.factories import make_contact, make_org, make_user
from tests.imapserver import Dovecot, DroppingRelay

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def dovecot():
    # Its own folder right under /tmp: pytest's are private to the user running it, and Dovecot's
    # unprivileged processes must read the configuration and the mail folder.
    root = Path(tempfile.mkdtemp(prefix="bcrm-dovecot-"))
    server = Dovecot(root, {"rm1": "app-pass-1"})
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def raw(n: int, sender: str, to: str, *, body: bytes = b"body\r\n") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nDate: Mon, 30 Nov 2026 10:{n % 60:02d}:00 +0000\r\n"
            f"Message-ID: <imap{n}@acme.com>\r\nSubject: Deal {n}\r\n\r\n").encode() + body


def deliver(server: Dovecot, *messages: bytes) -> None:
    client = imaplib.IMAP4("127.0.0.1", server.port)
    client.login("rm1", "app-pass-1")
    for message in messages:
        client.append("INBOX", "", "", message)
    client.logout()


def test_sync_incremental_resumable_and_bad_password(dovecot, monkeypatch):
    rm = make_user("rm1", Role.RELATIONSHIP_MANAGER)
    rm.email = "rm1@ourbank.com"
    rm.save()
    org = make_org(email_domains=["acme.com"], relationship_manager=rm)
    alice = make_contact(org, full_name="Alice", email="alice@acme.com")
    deliver(dovecot, *[raw(n, "alice@acme.com", "rm1@ourbank.com") for n in range(1, 7)])

    wrong = services.account_connect(actor=rm, host="127.0.0.1", port=dovecot.port, username="rm1",
                                     password="wrong", use_tls=False)
    sources.sync_mailbox(wrong)
    wrong.refresh_from_db()
    assert wrong.status == SyncStatus.AUTH_FAILED and not CapturedItem.objects.exists()
    assert "wrong" not in wrong.password_encrypted  # stored encrypted
    wrong.delete()

    # The server drops the connection mid-sync: the batches already read stay captured, the account says so.
    monkeypatch.setattr(sources, "FETCH_BATCH", 2)
    relay = DroppingRelay(dovecot.port, limit=2000)
    account = services.account_connect(actor=rm, host="127.0.0.1", port=relay.port, username="rm1",
                                       password="app-pass-1", use_tls=False, keep_subject=False)
    sources.sync_mailbox(account)
    account.refresh_from_db()
    relay.close()
    kept = CapturedItem.objects.count()
    assert account.status == SyncStatus.INTERRUPTED and 0 < kept < 6
    assert account.next_uid == kept + 1

    # Resumed through the real port: the rest, nothing twice; subjects were switched off.
    account.port = dovecot.port
    account.save()
    first = sources.sync_mailbox(account)
    assert account.status == SyncStatus.OK and first.new == 6 - kept
    assert CapturedItem.objects.count() == 6 and not CapturedItem.objects.exclude(subject="").exists()
    assert set(CapturedItem.objects.values_list("contacts", flat=True)) == {alice.pk}
    assert Interaction.objects.filter(organization=org, kind="email").count() == 1

    # A malformed message and a 50 MB one: headers only are fetched, the big body never.
    deliver(dovecot, b"Subject: no sender, no date\r\n\r\nx\r\n",
            raw(99, "alice@acme.com", "rm1@ourbank.com", body=b"y" * (50 * 1024 * 1024)))
    again = sources.sync_mailbox(account)
    assert (again.new, again.malformed, account.status) == (1, 1, SyncStatus.OK)
    assert sources.sync_mailbox(account).new == 0  # incremental: nothing new

    # The doors: the API lists the account without its password; the worker's schedule and the CLI sync.
    status, body = Api(rm).get("/intel/accounts")
    assert status == 200 and body[0]["status"] == "ok" and "password" not in str(body).lower()
    assert due_syncs() == []  # synced just now
    out = command("mail", "sync", "--user", "rm1")
    assert "0 new" in out and "status: ok" in out
