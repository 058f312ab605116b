"""Relationship intelligence: capture from mail files and calendars, matching, review queue, strength."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.accounts.choices import Role
from bcrm.core.errors import InvalidInput
from bcrm.engagement.models import Interaction
from bcrm.intel import selectors, services
from bcrm.intel.capture import Malformed, item_from_headers, split_mbox
from bcrm.intel.matching import normalise
from bcrm.intel.models import CapturedItem, ItemStatus, ReviewCandidate, ReviewStatus
from bcrm.intel.sources import import_calendar_file, import_mail_file
from bcrm.intel.strength import Touch, strength
from tests.doors import Api, command
from tests.factories import make_contact, make_org, make_user

pytestmark = pytest.mark.django_db


def message(n, sender, to, *, reply_to="", subject="Term sheet", when=None, cc=""):
    when = when or timezone.now() - dt.timedelta(days=n % 30)
    lines = [f"From {sender} Mon Jan  1 00:00:00 2026", f"From: {sender}", f"To: {to}"]
    if cc:
        lines.append(f"Cc: {cc}")
    lines += [f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}", f"Message-ID: <m{n}@x>",
              f"Subject: {subject}"]
    if reply_to:
        lines.append(f"In-Reply-To: <{reply_to}>")
    return "\n".join(lines) + "\n\nbody line\nFrom the body, quoted\n\n"


@pytest.fixture
def world(tmp_path):
    rm = make_user("rm1", Role.RELATIONSHIP_MANAGER)
    rm.email = "rm1@ourbank.com"
    rm.save()
    org = make_org(email_domains=["acme.com"], relationship_manager=rm)
    alice = make_contact(org, full_name="Alice", email="Alice@Acme.com", seniority="c_level")
    return rm, org, alice, tmp_path


def test_mbox_import_matches_dedupes_and_suggests(world):
    rm, org, alice, tmp = world
    path = tmp / "mail.mbox"
    path.write_text(
        message(1, "rm1@ourbank.com", "alice+deals@acme.com")          # normalised match, sent by us
        + message(2, "alice@acme.com", "rm1@ourbank.com", reply_to="m1@x")  # answered
        + message(3, "bob@acme.com", "rm1@ourbank.com")                # unknown at a known domain
        + message(4, "friend@gmail.com", "rm1@ourbank.com")            # free mail: excluded
        + message(5, "rm1@ourbank.com", "colleague@ourbank.com")       # internal only
        + "From x\nFrom: nobody\nDate: yesterday\n\n")                 # malformed
    result = import_mail_file(rm, path)
    assert (result.new, result.matched, result.internal, result.malformed, result.suggested) == (5, 2, 1, 1, 1)
    items = {i.key: i for i in CapturedItem.objects.all()}
    assert items["m1@x"].direction == "out" and items["m2@x"].direction == "in"
    assert list(items["m1@x"].contacts.all()) == [alice]
    assert items["m4@x"].status == ItemStatus.EXCLUDED and items["m5@x"].status == ItemStatus.INTERNAL
    # two e-mails the same day to one organisation: one interaction at most per day
    emails = Interaction.objects.filter(organization=org, kind="email")
    assert 1 <= emails.count() <= 2 and all(i.owner == rm for i in emails)
    # idempotent: a second import captures nothing again
    again = import_mail_file(rm, path)
    assert again.new == 0 and again.duplicates == 5
    assert CapturedItem.objects.count() == 5 and Interaction.objects.filter(organization=org).count() == emails.count()
    candidate = ReviewCandidate.objects.get()
    assert candidate.address == "bob@acme.com" and candidate.organization == org
    assert not org.contacts.filter(email="bob@acme.com").exists()  # never created silently


def test_dedupes_against_logged_interaction(world):
    rm, org, alice, tmp = world
    when = timezone.now() - dt.timedelta(days=1)
    logged = Interaction.objects.create(organization=org, owner=rm, kind="email", occurred_at=when, summary="logged")
    (tmp / "one.eml").write_text(message(7, "alice@acme.com", "rm1@ourbank.com", when=when).split("\n", 1)[1])
    import_mail_file(rm, tmp / "one.eml")
    assert Interaction.objects.filter(organization=org).count() == 1
    assert CapturedItem.objects.get().interaction == logged
    assert list(logged.contacts.all()) == [alice]


def test_exclusion_list_and_bad_values(world):
    rm, org, alice, tmp = world
    services.exclusion_add(actor=rm, value="acme.com")
    with pytest.raises(InvalidInput) as refused:
        services.exclusion_add(actor=rm, value="not a domain")
    assert "value" in refused.value.fields
    (tmp / "m.mbox").write_text(message(8, "alice@acme.com", "rm1@ourbank.com"))
    result = import_mail_file(rm, tmp / "m.mbox")
    assert result.matched == 0 and not Interaction.objects.exists()


def test_large_message_and_reply_loop(world):
    rm, org, alice, tmp = world
    path = tmp / "big.mbox"
    with path.open("w") as fh:
        fh.write(message(10, "alice@acme.com", "rm1@ourbank.com").rstrip("\n") + "\n")
        fh.write(("x" * 1023 + "\n") * (50 * 1024))  # a 50 MB body: skipped, never parsed
        fh.write("\n")
        for n in range(11, 211):  # an auto-reply loop: 200 messages in one thread on one day
            when = timezone.now() - dt.timedelta(hours=1)
            fh.write(message(n, "alice@acme.com" if n % 2 else "rm1@ourbank.com",
                             "rm1@ourbank.com" if n % 2 else "alice@acme.com", reply_to=f"m{n - 1}@x", when=when))
    result = import_mail_file(rm, path)
    assert result.new == 201 and result.malformed == 0
    assert Interaction.objects.filter(organization=org, kind="email").count() <= 2


ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:meet-1
DTSTART:{start}
DTEND:{end}
SUMMARY:Review
STATUS:{status}
ORGANIZER:mailto:rm1@ourbank.com
ATTENDEE:mailto:alice@acme.com
END:VEVENT
BEGIN:VEVENT
UID:broken
SUMMARY:no start
END:VEVENT
END:VCALENDAR
"""


def test_ics_import_meeting_then_cancelled(world):
    rm, org, alice, tmp = world
    start = (timezone.now() - dt.timedelta(days=2)).strftime("%Y%m%dT%H%M%SZ")
    end = (timezone.now() - dt.timedelta(days=2) + dt.timedelta(minutes=90)).strftime("%Y%m%dT%H%M%SZ")
    (tmp / "c.ics").write_text(ICS.format(start=start, end=end, status="CONFIRMED"))
    result = import_calendar_file(rm, tmp / "c.ics")
    assert result.new == 1 and result.malformed == 1
    meeting = Interaction.objects.get(organization=org, kind="meeting")
    assert meeting.minutes_spent == 90 and list(meeting.contacts.all()) == [alice]
    (tmp / "c.ics").write_text(ICS.format(start=start, end=end, status="CANCELLED"))
    assert import_calendar_file(rm, tmp / "c.ics").cancelled == 1
    assert not Interaction.objects.filter(organization=org).exists()
    assert CapturedItem.objects.get().status == ItemStatus.CANCELLED
    (tmp / "bad.ics").write_text("not a calendar")
    assert import_calendar_file(rm, tmp / "bad.ics").malformed == 1


def test_review_queue_accept_reject_permissions(world):
    rm, org, alice, tmp = world
    other = make_user("rm2", Role.RELATIONSHIP_MANAGER)
    now = timezone.now()
    bob = ReviewCandidate.objects.create(address="bob@acme.com", display_name="Bob", organization=org,
                                         last_seen_at=now)
    carol = ReviewCandidate.objects.create(address="carol@acme.com", organization=org, last_seen_at=now)
    assert list(selectors.review_queue(other)) == []
    api = Api(rm)
    status, body = Api(other).post(f"/intel/suggestions/{bob.pk}/accept", {})
    assert status == 404
    status, body = api.get("/intel/suggestions")
    assert status == 200 and {s["address"] for s in body} == {"bob@acme.com", "carol@acme.com"}
    status, body = api.post(f"/intel/suggestions/{bob.pk}/accept", {})
    assert status == 200 and body["status"] == ReviewStatus.ACCEPTED
    assert org.contacts.filter(email="bob@acme.com", full_name="Bob").exists()
    status, body = api.post(f"/intel/suggestions/{bob.pk}/reject", {})
    assert status == 422, body
    assert body["error"]["code"] == "already_decided", body
    assert api.post(f"/intel/suggestions/{carol.pk}/reject", {})[0] == 200
    assert not org.contacts.filter(email="carol@acme.com").exists()


def test_strength_and_paths_api(world):
    rm, org, alice, tmp = world
    path = tmp / "m.mbox"
    path.write_text(message(1, "rm1@ourbank.com", "alice@acme.com")
                    + message(2, "alice@acme.com", "rm1@ourbank.com", reply_to="m1@x"))
    import_mail_file(rm, path)
    api = Api(rm)
    status, body = api.get(f"/intel/contacts/{alice.pk}/strength")
    assert status == 200 and 0 < body["score"] <= 100
    assert set(body["components"]) == {"recency", "frequency", "balance", "breadth", "seniority"}
    assert body["paths"][0]["user"] == "rm1" and body["paths"][0]["emails"] >= 1
    status, body = api.get(f"/intel/organizations/{org.pk}/strength")
    assert status == 200 and body["mail_connected"] is False and body["contacts"][0]["contact_id"] == alice.pk
    status, body = api.get(f"/intel/organizations/{org.pk}/paths")
    assert status == 200 and body["colleagues"][0]["user_id"] == rm.pk
    outsider = make_user("viewer9", Role.RELATIONSHIP_MANAGER)
    assert Api(outsider).get(f"/intel/contacts/{alice.pk}/strength")[0] == 404


def test_cli_import_and_unknown_user(world):
    rm, org, alice, tmp = world
    (tmp / "m.mbox").write_text(message(1, "alice@acme.com", "rm1@ourbank.com"))
    out = command("mail", "import", str(tmp / "m.mbox"), "--user", "rm1")
    assert "1 new" in out and "1 matched" in out
    with pytest.raises(Exception, match="nobody"):
        command("mail", "import", str(tmp / "m.mbox"), "--user", "nobody")


def test_split_mbox_and_headers():
    blocks = list(split_mbox([b"From a\n", b"From: a@b.com\n", b"Date: Mon, 1 Jan 2026 00:00:00 +0000\n",
                              b"\n", b"From here the body starts\n"]))
    assert len(blocks) == 1
    item = item_from_headers(blocks[0])
    assert item.sender == "a@b.com" and item.key.startswith("sha256:")
    with pytest.raises(Malformed):
        item_from_headers(b"Subject: nothing else\n")
    assert normalise(" <Jane.Doe+x@Example.COM> ") == "jane.doe@example.com"


touch = st.builds(Touch, age_days=st.floats(0, 3000), kind=st.sampled_from(["email", "meeting"]),
                  direction=st.sampled_from(["in", "out", "both"]),
                  seniority=st.sampled_from(["board", "c_level", "senior", "middle", "junior"]))


@settings(max_examples=50, deadline=None)
@given(st.lists(touch, max_size=30), st.integers(0, 20), st.integers(0, 20))
def test_strength_bounded(touches, clients, ours):
    result = strength(touches, client_people=clients, our_people=ours)
    assert 0 <= result.score <= 100
    assert all(0 <= v <= 1 for v in result.components().values())
    assert (result.score == 0) == (not touches)


@settings(max_examples=50, deadline=None)
@given(st.lists(touch, min_size=1, max_size=20), st.floats(0, 1000))
def test_strength_recent_touch_never_lowers_recency_and_frequency(touches, age):
    before = strength(touches)
    after = strength([*touches, Touch(age_days=age, kind="meeting", seniority="middle")])
    assert after.recency >= before.recency and after.frequency >= before.frequency


def test_strength_half_life_and_balance():
    one = strength([Touch(age_days=90, kind="email", direction="out")])
    assert one.recency == pytest.approx(0.5) and one.balance == 0
    answered = strength([Touch(age_days=90, kind="email", direction="out"),
                         Touch(age_days=90, kind="email", direction="in")])
    assert answered.balance == 1 and answered.score > one.score


def test_mail_strength_feature_unknown_without_mailbox(world):
    from bcrm.segmentation.features import FEATURES, compute_features, load_population

    rm, org, alice, tmp = world
    other = make_org()
    Interaction.objects.create(organization=other, owner=make_user(), kind="meeting", summary="x",
                               occurred_at=timezone.now() - dt.timedelta(days=3))
    (tmp / "m.mbox").write_text(message(1, "alice@acme.com", "rm1@ourbank.com"))
    import_mail_file(rm, tmp / "m.mbox")
    pop = load_population(timezone.localdate())
    assert "mail_strength" in FEATURES
    column = compute_features(["mail_strength"], pop)["mail_strength"]
    assert column.missing.all()  # nobody connected a mailbox: unknown, not weak
    services.account_connect(actor=rm, host="imap.example.com", port=993, username="rm1", password="p")
    column = compute_features(["mail_strength"], pop)["mail_strength"]
    at = {int(i): k for k, i in enumerate(pop.ids)}
    assert not column.missing[at[org.pk]] and column.values[at[org.pk]] > 0
    assert column.missing[at[other.pk]]


def test_pages_accounts_suggestions_and_360(world, client):
    rm, org, alice, tmp = world
    client.force_login(rm)
    (tmp / "m.mbox").write_text(message(1, "alice@acme.com", "rm1@ourbank.com")
                                + message(2, "bob@acme.com", "rm1@ourbank.com"))
    import_mail_file(rm, tmp / "m.mbox")
    page = client.get(f"/clients/{org.pk}/")
    assert page.status_code == 200 and b'id="strength"' in page.content and b"rm1" in page.content
    assert client.post("/me/accounts/do/", {"action": "connect", "host": "imap.example.com", "port": "993",
                                            "username": "rm1", "password": "s3cret"}).status_code == 302
    page = client.get("/me/accounts/")
    assert b"imap.example.com" in page.content and b"s3cret" not in page.content
    client.post("/me/accounts/do/", {"action": "connect", "host": "bad host!", "port": "993",
                                     "username": "rm1", "password": "x"})
    assert rm.connected_accounts.count() == 1
    client.post("/me/accounts/do/", {"action": "exclude", "value": "spam.example.org"})
    assert list(rm.capture_exclusions.values_list("value", flat=True)) == ["spam.example.org"]
    page = client.get("/contacts/suggestions/")
    assert b"bob@acme.com" in page.content
    candidate = ReviewCandidate.objects.get()
    client.post(f"/contacts/suggestions/{candidate.pk}/", {"decision": "accept", "full_name": "Bob B"})
    assert org.contacts.filter(full_name="Bob B", email="bob@acme.com").exists()


def test_cli_calendar_import(world):
    rm, org, alice, tmp = world
    start = (timezone.now() - dt.timedelta(days=1)).strftime("%Y%m%dT%H%M%SZ")
    (tmp / "c.ics").write_text(ICS.format(start=start, end=start, status="CONFIRMED"))
    out = command("calendar", "import", str(tmp / "c.ics"), "--user", "rm1")
    assert "1 new" in out and "1 malformed" in out
    assert Interaction.objects.filter(organization=org, kind="meeting").count() == 1
