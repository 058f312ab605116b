""""Keep this message" (issue 17): one captured e-mail's body and attachment list read again at its source — an
imported mail file, or a real IMAP server (Dovecot on loopback) by UID — with a capped read, visible only to the
capturing user and those who see the client, inside deal walls, covered by privacy export and erasure, audited.
And every capture batch's audit entry names the interactions it created, so each is traceable."""

from __future__ import annotations

import base64
import imaplib
import io
import json
import shutil
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from django.core.management.base import CommandError
from django.utils import timezone, translation
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from bcrm.accounts.choices import Role
from bcrm.audit import trail
from bcrm.audit.models import AuditEntry
from bcrm.engagement.models import Interaction
from bcrm.financing import walls
from bcrm.intel import keep, services, sources
from bcrm.intel.capture import interaction_origin
from bcrm.intel.crypto import encrypt
from bcrm.intel.models import CapturedItem, KeepStatus, KeptMessage
from bcrm.intel.sources import import_mail_file
from bcrm.privacy import services as privacy
from tests.doors import Api, command
from tests.factories import make_contact, make_org, make_project, make_team, make_user
from tests.imapserver import Dovecot

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4 " + b"0123456789" * 300  # 3,009 bytes


def multipart(n: int, sender: str, to: str, *, mbox: bool = False) -> bytes:
    when = timezone.now().strftime("%a, %d %b %Y %H:%M:%S +0000")
    encoded = base64.encodebytes(PDF).decode()
    text = (f"From: {sender}\nTo: {to}\nDate: {when}\nMessage-ID: <keep{n}@acme.com>\nSubject: Term sheet {n}\n"
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n"
            "--b1\nContent-Type: text/plain; charset=utf-8\n\n"
            f"Dear RM, the revised terms for deal {n}: 4.5% coupon. 利率 4.5%。\n\n"
            "--b1\nContent-Type: application/pdf; name=\"terms.pdf\"\n"
            "Content-Disposition: attachment; filename=\"terms.pdf\"\nContent-Transfer-Encoding: base64\n\n"
            f"{encoded}\n--b1--\n")
    if mbox:
        return f"From {sender} Mon Jan  1 00:00:00 2026\n{text}\n".encode()
    return text.replace("\n", "\r\n").encode()


@pytest.fixture
def world(tmp_path, team):
    rm = make_user("rm1", Role.RELATIONSHIP_MANAGER, team=team)
    rm.email = "rm1@ourbank.com"
    rm.save()
    org = make_org(email_domains=["acme.com"], relationship_manager=rm, team=team)
    alice = make_contact(org, full_name="Alice Wong", email="alice@acme.com")
    return rm, org, alice, tmp_path


def _import(rm, tmp: Path) -> Path:
    path = tmp / "deals.mbox"
    path.write_bytes(multipart(1, "alice@acme.com", "rm1@ourbank.com", mbox=True)
                     + b"From x Mon Jan  1 00:00:00 2026\nFrom: rm1@ourbank.com\nTo: alice@acme.com\n"
                     + f"Date: {timezone.now():%a, %d %b %Y %H:%M:%S +0000}\n".encode()
                     + b"Message-ID: <plain2@acme.com>\nSubject: Re\n\nThanks, see you Monday.\n\n")
    result = import_mail_file(rm, path)
    assert result.new == 2
    return path


def test_keep_from_the_imported_file_through_every_door(world, client, team):
    rm, org, alice, tmp = world
    path = _import(rm, tmp)
    item = CapturedItem.objects.get(key="keep1@acme.com")
    assert not KeptMessage.objects.exists()  # nothing but headers until someone asks

    out = command("mail", "keep", "<keep1@acme.com>", "--user", "rm1")
    assert f"item {item.pk}: kept" in out and "terms.pdf application/pdf 3009 bytes" in out
    kept = KeptMessage.objects.get(item=item)
    assert kept.status == KeepStatus.KEPT and "4.5% coupon" in kept.body_text and "利率" in kept.body_text
    assert kept.attachments == [{"name": "terms.pdf", "type": "application/pdf", "size": len(PDF)}]
    assert "PDF-1.4" not in kept.body_text  # the attachment's content is not stored

    # The API: the capturing user reads it; the interaction lists its messages and where it came from.
    status, body = Api(rm).get(f"/intel/interactions/{item.interaction_id}/messages")
    assert status == 200 and body["origin_audit_entry"] is not None
    assert [m["kept"]["status"] if m["kept"] else None for m in body["messages"]] == ["kept", None]
    # Another RM (another team) does not see the client: not found, as for a message that does not exist;
    # a lead who sees every client reads it but cannot keep or delete someone else's mail.
    other = make_user("rm2", Role.RELATIONSHIP_MANAGER, team=make_team("Other Desk"))
    assert Api(other).get(f"/intel/items/{item.pk}/kept")[0] == 404
    assert Api(other).post(f"/intel/items/{item.pk}/keep")[0] == 404
    lead = make_user("lead1", Role.LEAD)
    status, body = Api(lead).get(f"/intel/items/{item.pk}/kept")
    assert status == 200 and "4.5% coupon" in body["body_text"]
    assert Api(lead).post(f"/intel/items/{item.pk}/keep")[0] == 404
    assert Api(lead).request("delete", f"/intel/items/{item.pk}/kept").status_code == 404

    # The page: the keep button for one's own mail, the kept body, the origin of the interaction.
    client.force_login(rm)
    page = client.get(f"/interactions/{item.interaction_id}/mail/")
    assert page.status_code == 200 and "4.5% coupon" in page.content.decode() and b'id="origin"' in page.content
    plain = CapturedItem.objects.get(key="plain2@acme.com")
    assert client.post(f"/interactions/{item.interaction_id}/mail/",
                       {"item": plain.pk, "action": "keep"}).status_code == 302
    assert KeptMessage.objects.get(item=plain).body_text.strip() == "Thanks, see you Monday."
    assert client.get(f"/clients/{org.pk}/").content.count(b"/mail/") >= 1  # linked from the 360° timeline
    client.force_login(other)
    assert client.get(f"/interactions/{item.interaction_id}/mail/").status_code == 404

    # The file is gone: keeping again records a clear status (in the reader's language), nothing is lost.
    path.rename(tmp / "moved.mbox")
    status, body = Api(rm).post(f"/intel/items/{plain.pk}/keep")
    assert status == 201 and body["status"] == "unavailable" and body["status_code"] == "file_gone"
    assert "no longer there" in body["status_text"]
    with translation.override("zh-hans"):
        assert "不在" in keep.status_text(body["status_code"], KeptMessage.objects.get(item=plain).status_params)
    # Deleting the kept copy: the owner only; audited both ways, without the text.
    assert Api(rm).request("delete", f"/intel/items/{item.pk}/kept").status_code == 204
    assert not KeptMessage.objects.filter(item=item).exists() and CapturedItem.objects.filter(pk=item.pk).exists()
    entries = AuditEntry.objects.filter(object_id=str(item.pk), content_type__model="captureditem")
    assert sorted(entries.values_list("action", flat=True)) == ["mail.discard", "mail.keep"]
    assert not any("coupon" in str(e.changes) for e in entries)
    with pytest.raises(CommandError):
        command("mail", "discard", str(item.pk), "--user", "rm1")  # nothing kept any more: not found


def test_kept_message_behind_a_deal_wall_and_in_privacy_requests(world, compliance):
    rm, org, alice, tmp = world
    _import(rm, tmp)
    item = CapturedItem.objects.get(key="keep1@acme.com")
    keep.message_keep(actor=rm, item_id=item.pk)
    lead = make_user("lead1", Role.LEAD)
    assert keep.kept_get(actor=lead, item_id=item.pk).body_text

    # The interaction is put on a confidential project: outside its wall nobody reads the message, the
    # capturing user included; inside (a deal-team member) it reads.
    project = make_project(name="Zircon Walled Deal")
    Interaction.objects.filter(pk=item.interaction_id).update(project=project)
    walls.wall_set_confidential(actor=compliance, project=project, confidential=True, reason="MNPI")
    for reader in (rm, lead):
        assert Api(reader).get(f"/intel/items/{item.pk}/kept")[0] == 404
        assert Api(reader).post(f"/intel/items/{item.pk}/keep")[0] == 404
    walls.wall_add_member(actor=compliance, project=project, user=rm, reason="Coverage RM")
    assert Api(rm).get(f"/intel/items/{item.pk}/kept")[0] == 200
    assert Api(lead).get(f"/intel/items/{item.pk}/kept")[0] == 404

    # Privacy: the export lists the kept message; the erasure deletes it (headers stay, scrubbed).
    _name, package = privacy.export_package(actor=compliance, contact_id=alice.pk)
    person = json.loads(zipfile.ZipFile(io.BytesIO(package)).read("person.json"))
    assert [k["message_id"] for k in person["kept_messages"]] == ["keep1@acme.com"]
    assert "4.5% coupon" in person["kept_messages"][0]["body_text"]
    result = privacy.erase(actor=compliance, contact_id=alice.pk, reason="Request of 2026-12-01")
    assert result.rows["intel.KeptMessage (deleted)"] == 1 and not KeptMessage.objects.exists()
    assert CapturedItem.objects.filter(pk=item.pk).exists()
    assert "alice@acme.com" not in CapturedItem.objects.get(pk=item.pk).sender


def test_keep_refuses_bad_input(world):
    rm, org, alice, tmp = world
    _import(rm, tmp)
    with pytest.raises(CommandError):
        command("mail", "keep", "no-such-message@x", "--user", "rm1")
    with pytest.raises(CommandError):
        command("mail", "keep", "1", "--user", "nobody")
    assert Api(rm).post("/intel/items/999999/keep")[0] == 404
    assert Api().post(f"/intel/items/{CapturedItem.objects.first().pk}/keep")[0] == 401
    # A captured item from before locators were recorded: a clear status, not an error.
    item = CapturedItem.objects.get(key="plain2@acme.com")
    CapturedItem.objects.filter(pk=item.pk).update(locator="")
    kept = keep.message_keep(actor=rm, item_id=item.pk)
    assert (kept.status, kept.status_code) == (KeepStatus.UNAVAILABLE, "no_source")
    # The file now holds something else at that place: not this message.
    item = CapturedItem.objects.get(key="keep1@acme.com")
    Path(item.locator.split(":", 2)[2]).write_bytes(b"From x\nFrom: a@b.c\nDate: Mon, 30 Nov 2026 10:00:00 +0000\n"
                                                    b"Message-ID: <other@x>\n\nhello\n")
    kept = keep.message_keep(actor=rm, item_id=item.pk)
    assert (kept.status, kept.status_code) == (KeepStatus.UNAVAILABLE, "file_changed")


def test_capture_batches_are_audited_and_traceable(world, admin, settings):
    rm, org, alice, tmp = world
    settings.BCRM_AUDIT_CHECKPOINTS = tmp / "checkpoints.jsonl"
    _import(rm, tmp)
    interaction = Interaction.objects.get(organization=org)
    origin = interaction_origin(interaction.pk)
    assert origin is not None and origin.action == "capture" and origin.actor_id == rm.pk
    assert origin.changes["source"] == "mbox" and origin.changes["items"] == 2
    assert origin.changes["ranges"] == [[interaction.pk, interaction.pk]]
    # The audit API answers "where did this interaction come from" by the interaction's id.
    status, body = Api(admin).get(f"/audit/entries?object=interaction:{interaction.pk}")
    assert status == 200 and [e["id"] for e in body["items"]] == [origin.pk]
    assert Api(admin).get(f"/audit/entries?object=interaction:{interaction.pk + 1000}")[1]["items"] == []
    # A logged interaction has no capture origin; importing the file again captures (and audits) nothing new.
    assert interaction_origin(interaction.pk + 1000) is None
    before = AuditEntry.objects.filter(action="capture").count()
    assert import_mail_file(rm, tmp / "deals.mbox").new == 0
    assert AuditEntry.objects.filter(action="capture").count() == before
    assert trail.verify().ok


# ---- against a real IMAP server ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dovecot():
    root = Path(tempfile.mkdtemp(prefix="bcrm-dovecot-keep-"))
    server = Dovecot(root, {"rm1": "app-pass-1"})
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def deliver(server: Dovecot, *messages: bytes) -> None:
    client = imaplib.IMAP4("127.0.0.1", server.port)
    client.login("rm1", "app-pass-1")
    for message in messages:
        client.append("INBOX", "", "", message)
    client.logout()


def expunge(server: Dovecot, message_id: str) -> None:
    client = imaplib.IMAP4("127.0.0.1", server.port)
    client.login("rm1", "app-pass-1")
    client.select("INBOX")
    _typ, data = client.uid("SEARCH", f'HEADER Message-ID "<{message_id}>"')
    for uid in data[0].split():
        client.uid("STORE", uid.decode(), "+FLAGS", r"(\Deleted)")
    client.expunge()
    client.logout()


def test_keep_over_imap_by_uid_capped_and_audited(world, dovecot, settings, admin):
    rm, org, alice, tmp = world
    settings.BCRM_AUDIT_CHECKPOINTS = tmp / "checkpoints.jsonl"
    big = (f"From: alice@acme.com\r\nTo: rm1@ourbank.com\r\nDate: {timezone.now():%a, %d %b %Y %H:%M:%S +0000}\r\n"
           "Message-ID: <big@acme.com>\r\nSubject: Data room\r\n\r\n").encode() + (b"z" * 1023 + b"\r\n") * (50 * 1024)
    deliver(dovecot, multipart(7, "alice@acme.com", "rm1@ourbank.com"), big)
    account = services.account_connect(actor=rm, host="127.0.0.1", port=dovecot.port, username="rm1",
                                       password="app-pass-1", use_tls=False)
    result = sources.sync_mailbox(account)
    assert result.new == 2
    item = CapturedItem.objects.get(key="keep7@acme.com")
    assert item.locator.startswith("imap:") and item.locator.endswith(":1")

    # Traceable: the IMAP capture's audit entry names the interaction, and the chain verifies.
    origin = interaction_origin(item.interaction_id)
    assert origin is not None and origin.changes["source"] == "imap" and origin.changes["account"] == account.pk
    status, body = Api(admin).get(f"/audit/entries?object=engagement.interaction:{item.interaction_id}")
    assert [e["id"] for e in body["items"]] == [origin.pk]

    status, body = Api(rm).post(f"/intel/items/{item.pk}/keep")
    assert status == 201 and body["status"] == "kept" and "4.5% coupon" in body["body_text"]
    assert body["attachments"] == [{"name": "terms.pdf", "type": "application/pdf", "size": len(PDF)}]

    # A 50 MB message is read up to the limit only: memory stays near the limit, the status says so.
    settings.BCRM_MAIL_KEEP_MAX_BYTES = 1024 * 1024
    large = CapturedItem.objects.get(key="big@acme.com")
    tracemalloc.start()
    kept = keep.message_keep(actor=rm, item_id=large.pk)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert kept.status == KeepStatus.TRUNCATED and kept.status_code == "too_large"
    assert kept.size > 50 * 1024 * 1024 and kept.body_text.startswith("zzz")
    assert peak < 16 * 1024 * 1024  # a few copies of the 1 MB read, never the 50 MB message

    # The message is deleted from the mailbox: a clear status; a wrong password: another.
    expunge(dovecot, "keep7@acme.com")
    kept = keep.message_keep(actor=rm, item_id=item.pk)
    assert (kept.status, kept.status_code, kept.body_text) == (KeepStatus.UNAVAILABLE, "not_found", "")
    account.password_encrypted = encrypt("wrong")
    account.save()
    kept = keep.message_keep(actor=rm, item_id=large.pk)
    assert (kept.status, kept.status_code) == (KeepStatus.FAILED, "auth_failed")
    assert trail.verify().ok


@examples(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.text("abc xyz", max_size=12), st.integers(0, 3)), min_size=1, max_size=6))
def test_split_mbox_offsets_point_at_each_message(messages):
    """Each offset is where its message's "From " line starts (a "From " line separates messages after a blank line)."""
    from bcrm.intel.capture import split_mbox_at

    data = b"".join(f"From a@b {i}\nMessage-ID: <m{i}@x>\n\n{body}\n{chr(10) * (blanks + 1)}".encode()
                    for i, (body, blanks) in enumerate(messages))
    found = list(split_mbox_at(io.BytesIO(data)))
    assert [header for _offset, header in found] == [f"Message-ID: <m{i}@x>\n".encode() for i in range(len(messages))]
    assert all(data[offset:].startswith(f"From a@b {i}\n".encode()) for i, (offset, _h) in enumerate(found))
