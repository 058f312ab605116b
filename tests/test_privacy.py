"""Privacy requests (issue 20): export everything held on a person, erase it everywhere with the audit chain still
verifying, retention holds that block erasure and restrict mailing, the purpose register every mailing checks."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import runpy
import zipfile
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.utils import timezone

from bcrm.audit import trail
from bcrm.audit.models import AuditEntry, AuditRedaction
from bcrm.core import delivery
from bcrm.core.errors import InvalidInput, PermissionDenied
from bcrm.engagement.services import interaction_create, survey_response_create, task_create
from bcrm.parties.services import contact_create, contact_update
from bcrm.privacy import services
from bcrm.privacy.models import ProcessingPurpose
from bcrm.progress.models import ReportDelivery
from tests.doors import Api, command, signed_in
from tests.factories import make_contact, make_org, make_project

NAME, LOCAL, EMAIL, PHONE = "Planted Personname", "王秘密人", "planted.person@example.org", "+86 138 0013 8000"


@pytest.fixture
def person(lead, team, settings, tmp_path):
    settings.BCRM_AUDIT_CHECKPOINTS = tmp_path / "checkpoints.jsonl"
    org = make_org(legal_name="Privacy Capital", team=team)
    contact = contact_create(actor=lead, organization=org, data={
        "full_name": NAME, "local_name": LOCAL, "email": EMAIL, "phone": PHONE, "title": "CFO",
        "report_consent": True, "consent_given_at": timezone.now()})
    contact = contact_update(actor=lead, contact=contact, data={"title": "Chief Financial Officer"},
                             expected_version=contact.version)
    other = make_contact(org, full_name="Someone Else", email="someone.else@example.org")
    interaction_create(actor=lead, organization=org, contacts=[contact, other], data={
        "kind": "meeting", "occurred_at": timezone.now(), "summary": f"Lunch with {NAME} ({LOCAL})",
        "outcome": f"{NAME} will write from {EMAIL}"})
    survey_response_create(actor=lead, contact=contact, data={"nps": 9, "comment": "Great team, call me on my mobile",
                                                              "responded_at": timezone.now()})
    task_create(actor=lead, data={"title": f"Send the term sheet to {NAME}", "organization": org,
                                  "due_at": timezone.now() + dt.timedelta(days=2), "assignee": lead})
    project = make_project()
    ReportDelivery.objects.create(project=project, period="2026-11", organization=org, contact=contact, email=EMAIL,
                                  key=f"privacy-{contact.pk}", queued_at=timezone.now(), status="sent",
                                  sent_at=timezone.now())
    outbox = Path(settings.EMAIL_FILE_PATH)
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / f"privacy-test-{contact.pk}.eml").write_text(
        f"To: {EMAIL}\nSubject: report\nContent-Type: text/plain; charset=utf-8\n\nDear {NAME},\n", encoding="utf-8")
    trail.seal_pending()
    return contact


def dump_database() -> str:
    """Every row of every table, as text (a scan for what erasure must not leave behind)."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("utf-8", "replace")
                    if isinstance(value, str) and value[:1] in "[{":
                        try:  # SQLite keeps JSON with non-ASCII escaped
                            value = json.dumps(json.loads(value), ensure_ascii=False)
                        except ValueError:
                            pass
                    parts.append(str(value))
    return "\n".join(parts)


def data_folder_text() -> str:
    parts = []
    for path in Path(settings.DATA_DIR).rglob("*"):
        if path.is_file() and not path.name.startswith("bcrm.sqlite3"):
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def test_the_export_holds_every_planted_datum(person, compliance):
    name, content = services.export_package(actor=compliance, contact_id=person.pk)
    archive = zipfile.ZipFile(io.BytesIO(content))
    assert name.endswith(".zip") and {"person.json", "contact.csv", "interactions.csv", "survey_responses.csv",
                                      "deliveries.csv", "tasks.csv", "audit_entries.csv"} <= set(archive.namelist())
    document = json.loads(archive.read("person.json"))
    contact = document["contact"][0]
    assert (contact["full_name"], contact["local_name"], contact["email"], contact["phone"]) == (
        NAME, LOCAL, EMAIL, PHONE)
    assert "Someone Else" in document["interactions"][0]["attendees"]
    assert document["survey_responses"][0]["comment"] == "Great team, call me on my mobile"
    assert [d["email"] for d in document["deliveries"]] == [EMAIL]
    assert NAME in document["tasks"][0]["title"]
    assert {e["action"] for e in document["audit_entries"]} >= {"create", "update"}
    assert "Chief Financial Officer" in archive.read("audit_entries.csv").decode()
    assert AuditEntry.objects.filter(action="privacy.export", object_id=str(person.pk)).count() == 1


def test_erasure_leaves_no_trace_and_the_chain_still_verifies(person, compliance, tmp_path):
    assert NAME in dump_database() and EMAIL in data_folder_text()
    result = services.erase(actor=compliance, contact_id=person.pk, reason="request 2026-12-01")
    dump = dump_database()
    for planted in (NAME, LOCAL, EMAIL, PHONE, "Chief Financial Officer", "call me on my mobile"):
        assert planted not in dump, planted
        assert planted not in data_folder_text(), planted
    assert result.audit_entries >= 2 and AuditRedaction.objects.count() == result.audit_entries
    # rows and aggregates stay
    response = apps.get_model("engagement", "SurveyResponse").objects.get(contact=person)
    assert response.nps == 9
    assert apps.get_model("engagement", "Interaction").objects.filter(contacts=person).count() == 1
    verification = trail.verify()
    assert verification.ok, verification.as_dict()
    erase_entry = AuditEntry.objects.get(action="privacy.erase")
    assert erase_entry.changes["reference"] == result.erasure.reference
    # the regulator's offline check of an export still passes, the redacted entries counted
    export = tmp_path / "audit.csv"
    trail.export(export, fmt="csv")
    assert NAME not in export.read_text(encoding="utf-8")
    verifier = runpy.run_path(str(Path(__file__).resolve().parent.parent / "tools" / "verify_audit_export.py"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert verifier["main"](str(export)) == 0
    assert f"{result.audit_entries} of them were redacted" in out.getvalue()


def test_a_fake_redaction_is_caught(person, compliance):
    services.erase(actor=compliance, contact_id=person.pk, reason="request")
    assert trail.verify().ok
    redaction = AuditRedaction.objects.order_by("id").first()
    from tests.test_audit_chain import tamper

    # someone rewrites a redacted entry again behind bcrm's back
    tamper("UPDATE audit_auditentry SET object_repr = %s WHERE id = %s", ["forged", redaction.entry_id])
    result = trail.verify()
    assert not result.ok and result.findings[0].kind == "redaction"


def test_a_forged_redaction_record_without_the_key_is_caught(lead, team):
    org = make_org(legal_name="Forge Co", team=team)
    contact = contact_create(actor=lead, organization=org, data={"full_name": "Forge Person"})
    trail.seal_pending()
    entry = AuditEntry.objects.get(object_id=str(contact.pk), action="create", content_type__model="contact")
    from bcrm.audit import chain
    from tests.test_audit_chain import tamper

    original = chain.content_digest(trail._entry_row(entry.pk))
    tamper("UPDATE audit_auditentry SET object_repr = %s WHERE id = %s", ["changed", entry.pk])
    redacted = chain.content_digest(trail._entry_row(entry.pk))
    AuditRedaction.objects.create(entry_id=entry.pk, original_digest=original, redacted_digest=redacted,
                                  reference="fake", at=timezone.now(),
                                  mac=chain.redaction_mac(b"not the key", entry.pk, original, redacted, "fake"))
    result = trail.verify()
    assert not result.ok and result.findings[0].kind == "redaction"


def test_a_hold_blocks_erasure_saying_until_when_and_stops_mail(person, compliance):
    until = timezone.localdate() + dt.timedelta(days=400)
    services.hold_place(actor=compliance, contact_id=person.pk, until=until, reason="loan file, 5 years")
    with pytest.raises(InvalidInput) as caught:
        services.erase(actor=compliance, contact_id=person.pk, reason="request")
    assert caught.value.code == "retention_hold" and until.isoformat() in caught.value.message
    assert NAME in dump_database()
    row = ReportDelivery.objects.get(contact=person)
    ReportDelivery.objects.filter(pk=row.pk).update(status="pending", sent_at=None, next_attempt_at=timezone.now())
    summary = delivery.send("progress_report", ids=[row.pk])
    row.refresh_from_db()
    assert summary.cancelled == 1 and row.status == "cancelled" and row.last_error == "privacy.restricted"


def test_a_mail_kind_without_an_active_purpose_is_not_sent(person, compliance):
    services.purpose_set_active(actor=compliance, code="progress-reports", active=False)
    assert ProcessingPurpose.objects.get(code="progress-reports").active is False
    row = ReportDelivery.objects.get(contact=person)
    ReportDelivery.objects.filter(pk=row.pk).update(status="pending", sent_at=None, next_attempt_at=timezone.now())
    delivery.send("progress_report", ids=[row.pk])
    row.refresh_from_db()
    assert (row.status, row.last_error) == ("cancelled", "privacy.no_purpose")
    assert services.mail_gate("progress_report", person.pk) == "privacy.no_purpose"
    status, body = Api(compliance).post("/privacy/purposes/progress-reports/active", {"active": True})
    assert status == 200 and body["active"] is True
    assert services.mail_gate("progress_report", person.pk) is None
    type(person).objects.filter(pk=person.pk).update(report_consent=False)
    assert services.mail_gate("progress_report", person.pk) == "privacy.no_consent"
    assert services.mail_gate("plan_proposal", person.pk) == "privacy.no_purpose"
    status, body = Api(compliance).post("/privacy/purposes", {"code": "plans", "name": "Financing proposals",
                                                              "mail_kind": "plan_proposal", "legal_basis": "contract"})
    assert status == 201 and services.mail_gate("plan_proposal", person.pk) is None
    status, body = Api(compliance).post("/privacy/purposes", {"code": "bad", "name": "x", "legal_basis": "whim"})
    assert status == 422 and body["error"]["fields"][0]["path"] == "legal_basis"


def test_a_held_contact_is_skipped_when_surveys_are_sent(person, compliance, lead):
    from bcrm.surveys.services import NOT_PERMITTED, survey_invite

    services.hold_place(actor=compliance, contact_id=person.pk, until=timezone.localdate(), reason="audit")
    result = survey_invite(actor=lead, contacts=[person], dry_run=True)
    assert [(s.contact.pk, s.code) for s in result.skipped] == [(person.pk, NOT_PERMITTED)]
    assert "privacy.restricted" in result.skipped[0].reason


def test_relationship_managers_and_viewers_are_refused(person, rm, viewer):
    for user in (rm, viewer):
        with pytest.raises(PermissionDenied):
            services.export_package(actor=user, contact_id=person.pk)
        assert Api(user).get(f"/privacy/contacts/{person.pk}/export")[0] == 403
        assert Api(user).post(f"/privacy/contacts/{person.pk}/erase", {"reason": "x"})[0] == 403
        assert Api(user).get("/privacy/purposes")[0] == 403
        assert signed_in(user).get(f"/privacy/?contact={person.pk}").status_code == 403
    rm_page = signed_in(rm).get(f"/clients/{person.organization_id}/")
    assert rm_page.status_code == 200 and "/privacy/?contact=" not in rm_page.content.decode()
    assert NAME in dump_database()


def test_the_doors(person, compliance, admin, tmp_path):
    status, response = Api(compliance).get(f"/privacy/contacts/{person.pk}/export")
    assert status == 200 and response["Content-Type"] == "application/zip"
    assert Api(admin).get("/privacy/purposes")[1][0]["code"]
    status, body = Api(compliance).post(f"/privacy/contacts/{person.pk}/holds", {"until": "2000-01-01",
                                                                                 "reason": "x"})
    assert status == 422 and body["error"]["fields"][0]["path"] == "until"
    assert Api(compliance).post("/privacy/contacts/999999/erase", {"reason": "x"})[0] == 404
    page = signed_in(compliance).get(f"/privacy/?contact={person.pk}")
    assert page.status_code == 200 and NAME in page.content.decode()
    client_page = signed_in(compliance).get(f"/clients/{person.organization_id}/").content.decode()
    assert f"/privacy/?contact={person.pk}" in client_page
    found = signed_in(compliance).get("/privacy/?contact=planted.person")
    assert f'href="?contact={person.pk}"' in found.content.decode()
    client = signed_in(compliance)
    assert client.post("/privacy/purposes/satisfaction-survey/active/", {"active": "0"}).status_code == 302
    assert services.mail_gate("survey_invitation", person.pk) == "privacy.no_purpose"
    path = tmp_path / "export.zip"
    assert "Wrote" in command("privacy", "export", "--contact", str(person.pk), str(path))
    assert zipfile.is_zipfile(path)
    out = command("privacy", "erase", "--contact", str(person.pk), "--reason", "request by letter")
    assert "Erased contact" in out and trail.verify().ok
    assert "progress-reports" in command("privacy", "purposes")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the append-only trigger exists on PostgreSQL only")
def test_the_trigger_lets_an_erasure_rewrite_only_personal_values(person):
    from django.db import DatabaseError, transaction

    entry = AuditEntry.objects.filter(object_id=str(person.pk), content_type__model="contact").first()

    def run(sql: str, redaction: bool) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, true)", [trail.REDACTION_SETTING, "on" if redaction else "off"])
            cursor.execute(sql, [entry.pk])

    run("UPDATE audit_auditentry SET object_repr = 'x' WHERE id = %s", True)
    for sql, redaction in (("UPDATE audit_auditentry SET action = 'delete' WHERE id = %s", True),
                           ("DELETE FROM audit_auditentry WHERE id = %s", True),
                           ("UPDATE audit_auditentry SET object_repr = 'y' WHERE id = %s", False)):
        with pytest.raises(DatabaseError, match="append-only"):
            run(sql, redaction)
