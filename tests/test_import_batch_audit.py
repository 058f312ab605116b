"""The audit trail of an import that audits the rows it creates one entry per batch (issue 19): the entry is found
for any imported id (API, audit page, object history), tells what the record held, the chain verifies (also when
its entries are checked in chunks cut by size); bad rows and failures write nothing; a person's imported data is
exported and erased from such an entry, and only theirs."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from bcrm.audit import trail
from bcrm.audit.models import AuditEntry, AuditRedaction
from bcrm.audit.selectors import audit_history
from bcrm.audit.services import batch_record, batch_row
from bcrm.core.batch import EntityBatch
from bcrm.engagement.models import Interaction
from bcrm.parties.models import Organization
from bcrm.parties.services import contact_create
from bcrm.privacy import services as privacy
from tests.doors import Api, signed_in
from tests.factories import make_org
from tests.fixtures_dataio.helpers import run_import, write_csv

pytestmark = pytest.mark.usefixtures("import_dir")

HEADER = ["organization_external_id", "kind", "occurred_at", "minutes_spent", "summary", "outcome"]


def rows_for(orgs: list[str], n: int, summary: str = "Review") -> list[list[str]]:
    return [[orgs[i % len(orgs)], "meeting", f"2026-03-{i % 28 + 1:02d} 10:{i % 60:02d}:00", "45", f"{summary} #{i}",
             ""] for i in range(n)]


def import_entries() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="import.create").order_by("id"))


def test_an_imported_interaction_has_its_creation_and_values_in_the_trail(tmp_path, lead, compliance, settings):
    settings.BCRM_IMPORT_BATCH_ROWS = 25
    orgs = [make_org(legal_name=f"Trail Client {i}", external_id=f"TC-{i}").external_id for i in range(2)]
    job = run_import(lead, "interactions", write_csv(tmp_path / "trail.csv", [HEADER, *rows_for(orgs, 60)]))
    assert (job.status, job.created) == ("done", 60), job.message
    entries = import_entries()
    assert [e.changes["created"] for e in entries] == [25, 25, 10]
    target = Interaction.objects.order_by("id")[37]

    # The object filter of the API finds the batch entry and shows that record's creation with its values.
    status, body = Api(compliance).get(f"/audit/entries?object=interaction:{target.pk}")
    assert status == 200 and body["count"] == 1
    [item] = body["items"]
    assert item["action"] == "import.create" and item["object_id"] == "" and item["actor_label"] == lead.username
    changes = item["changes"]
    assert changes["import_job"] == job.pk and changes["file_name"] == "trail.csv"
    assert changes["file_sha256"] == job.file_sha256
    assert changes["first_id"] <= target.pk <= changes["last_id"]
    [row] = changes["rows"]  # only the record asked about
    record = dict(zip(changes["columns"], row, strict=True))
    assert record["id"] == target.pk and record["row"] == 39  # the file's row (header = row 1)
    assert record["summary"] == target.summary == "Review #37"
    assert record["organization"] == target.organization_id and record["minutes_spent"] == 45
    assert record["occurred_at"] == timezone.localtime(target.occurred_at).isoformat()

    # The object history and the audit page find it too; the page names the fields the record was created with.
    [entry] = audit_history(instance=target)
    assert batch_record(entry.changes, target.pk)["summary"] == [None, "Review #37"]
    page = signed_in(compliance).get("/audit/", {"object": f"interaction:{target.pk}"}).content.decode()
    assert "trail.csv" in page and f"ids {entry.changes['first_id']}–{entry.changes['last_id']}" in page
    assert "summary" in page

    # Each batch has its own range; an id outside every batch is matched by none.
    assert sum(batch_row(e.changes, target.pk) is not None for e in entries) == 1
    assert Api(compliance).get(f"/audit/entries?object=interaction:{entries[-1].changes['last_id'] + 1}")[1][
        "count"] == 0
    assert trail.verify().ok


def test_updates_keep_one_entry_each_with_before_and_after(tmp_path, lead):
    orgs = [make_org(legal_name="Update Client", external_id="UC-1").external_id]
    rows = rows_for(orgs, 6)
    run_import(lead, "interactions", write_csv(tmp_path / "a.csv", [HEADER, *rows]))
    rows[2][3] = "90"
    job = run_import(lead, "interactions", write_csv(tmp_path / "b.csv", [HEADER, *rows]))
    assert (job.created, job.updated) == (0, 1)
    [entry] = AuditEntry.objects.filter(action="import.update")
    assert entry.object_id == str(Interaction.objects.get(summary="Review #2").pk)
    assert entry.changes["minutes_spent"] == [45, 90] and entry.changes["import_job"] == [None, job.pk]
    assert len(import_entries()) == 1  # the first import's one batch


def test_bad_rows_are_reported_and_nothing_is_written(tmp_path, lead):
    orgs = [make_org(legal_name="Bad Rows Client", external_id="BR-1").external_id]
    rows = rows_for(orgs, 8)
    rows[3][1] = "telegram"
    rows[5][3] = "minus ten"
    before = AuditEntry.objects.count()
    job = run_import(lead, "interactions", write_csv(tmp_path / "bad.csv", [HEADER, *rows]))
    assert (job.status, job.rejected) == ("rolled_back", 2)
    assert sorted(r.number for r in job.row_reports.filter(outcome="rejected")) == [5, 7]
    assert not Interaction.objects.exists() and not import_entries()
    assert AuditEntry.objects.count() == before


def test_a_failure_half_way_leaves_the_database_as_it_was(tmp_path, lead, settings, monkeypatch):
    settings.BCRM_IMPORT_BATCH_ROWS = 10
    orgs = [make_org(legal_name="Failing Client", external_id="FC-1").external_id]
    written = []
    original = EntityBatch.write_batch_audit

    def fail_on_the_third_batch(self, creates, **kwargs):
        written.append(len(creates))
        if len(written) == 3:
            raise RuntimeError("disk full")
        original(self, creates, **kwargs)

    monkeypatch.setattr(EntityBatch, "write_batch_audit", fail_on_the_third_batch)
    before = AuditEntry.objects.count()
    job = run_import(lead, "interactions", write_csv(tmp_path / "half.csv", [HEADER, *rows_for(orgs, 45)]))
    assert job.status == "failed" and "disk full" in job.message
    assert written[:2] == [10, 10]  # two batches were written before the failure
    assert not Interaction.objects.exists() and AuditEntry.objects.count() == before
    assert trail.verify().ok


def test_organisations_are_audited_per_batch_too(tmp_path, lead):
    path = write_csv(tmp_path / "orgs.csv", [["external_id", "legal_name", "kind", "country"],
                                            ["OB-1", "Batch Bank One", "bank", "CN"],
                                            ["OB-2", "Batch Bank Two", "bank", "SG"]])
    job = run_import(lead, "organizations", path)
    assert job.created == 2, job.message
    [entry] = AuditEntry.objects.filter(action="import.create",
                                        content_type=ContentType.objects.get_for_model(Organization))
    two = Organization.objects.get(external_id="OB-2")
    record = batch_record(entry.changes, two.pk)
    assert record["legal_name"] == [None, "Batch Bank Two"] and record["country"] == [None, "SG"]


def test_contacts_keep_one_entry_per_person(tmp_path, lead):
    org = make_org(legal_name="Contacts Client", external_id="CC-1")
    path = write_csv(tmp_path / "contacts.csv", [["organization_external_id", "full_name", "email"],
                                                ["CC-1", "Per Person", "per.person@example.org"],
                                                ["CC-1", "Other Person", "other.person@example.org"]])
    job = run_import(lead, "contacts", path)
    assert job.created == 2, job.message
    entries = AuditEntry.objects.filter(action="import.create").exclude(object_id="")
    assert entries.count() == 2 and not AuditEntry.objects.filter(action="import.create", object_id="").exists()
    assert org.contacts.count() == 2


# ------------------------------------------------------------------ a person's data in an import's batch entry

NAME, EMAIL = "Imported Personname", "imported.person@example.org"


@pytest.fixture
def imported_person(tmp_path, lead, team, settings):
    settings.BCRM_AUDIT_CHECKPOINTS = tmp_path / "checkpoints.jsonl"
    org = make_org(legal_name="Privacy Import Capital", external_id="PI-1", team=team)
    contact = contact_create(actor=lead, organization=org, data={"full_name": NAME, "email": EMAIL})
    rows = rows_for(["PI-1"], 6, summary="Quarterly review")
    rows[1][4] = f"Lunch with {NAME}"
    rows[4][5] = f"{NAME} will write from {EMAIL}"
    job = run_import(lead, "interactions", write_csv(tmp_path / "person.csv", [HEADER, *rows]))
    assert job.created == 6, job.message
    trail.seal_pending()
    return contact


def test_the_export_holds_the_persons_imported_records_and_no_one_elses(imported_person, compliance):
    _name, content = privacy.export_package(actor=compliance, contact_id=imported_person.pk)
    document = json.loads(zipfile.ZipFile(io.BytesIO(content)).read("person.json"))
    [batch] = [e for e in document["audit_entries"] if e["action"] == "import.create"]
    summaries = sorted(row[batch["changes"]["columns"].index("summary")] for row in batch["changes"]["rows"])
    assert summaries == sorted([f"Lunch with {NAME}", "Quarterly review #4"])  # the two rows that name them
    assert batch["changes"]["created"] == 6  # what the batch did is still said


def test_erasure_rewrites_the_persons_records_in_a_batch_entry_and_the_chain_verifies(imported_person, compliance):
    [entry] = import_entries()
    result = privacy.erase(actor=compliance, contact_id=imported_person.pk, reason="request")
    entry.refresh_from_db()
    text = json.dumps(entry.changes, ensure_ascii=False)
    assert NAME not in text and EMAIL not in text
    summary = entry.changes["columns"].index("summary")
    assert sorted(row[summary] for row in entry.changes["rows"]).count("Quarterly review #0") == 1  # others kept
    assert len(entry.changes["rows"]) == 6
    assert AuditRedaction.objects.filter(entry=entry).exists() and result.audit_entries >= 1
    verification = trail.verify()
    assert verification.ok, verification.as_dict()


# ------------------------------------------------------------------ the chain checked in chunks cut by size

def test_big_entries_are_sealed_and_checked_in_chunks_cut_by_size(tmp_path, lead, settings, monkeypatch):
    settings.BCRM_IMPORT_BATCH_ROWS = 20
    orgs = [make_org(legal_name="Chunk Client", external_id="CH-1").external_id]
    monkeypatch.setattr(trail, "AFTER_COMMIT_LIMIT", 0)  # leave the sealing to the check below
    run_import(lead, "interactions", write_csv(tmp_path / "chunks.csv", [HEADER, *rows_for(orgs, 100)]))
    assert len(import_entries()) == 5
    monkeypatch.setattr(trail, "CHUNK_BYTES", 1)  # every chunk holds one entry's changes, then is cut
    result = trail.verify()
    assert result.ok and result.sealed_now >= 5 and result.checked == AuditEntry.objects.count()
    exported = tmp_path / "audit.jsonl"
    assert trail.export(exported) == AuditEntry.objects.count()
    # A changed batch entry is still caught when checked chunk by chunk.
    from tests.test_audit_chain import tamper

    third = import_entries()[2]
    tamper(f"UPDATE {AuditEntry._meta.db_table} SET object_repr = %s WHERE id = %s", ["forged", third.pk])
    broken = trail.verify()
    assert not broken.ok and broken.findings[0].entry_id == third.pk


def test_the_contacts_present_are_in_the_batch_entry_beside_the_fields(tmp_path, lead):
    org = make_org(legal_name="Attendees Client", external_id="AT-1")
    guest = contact_create(actor=lead, organization=org, data={"full_name": "Guest Person", "email": "g@example.org"})
    path = write_csv(tmp_path / "met.csv", [[*HEADER, "contacts"],
                                           ["AT-1", "meeting", "2026-03-02 10:00:00", "30", "Met the guest", "",
                                            "Guest Person"],
                                           ["AT-1", "call", "2026-03-03 10:00:00", "30", "Alone", "", ""]])
    job = run_import(lead, "interactions", path)
    assert job.created == 2, job.message
    [entry] = import_entries()
    met, alone = Interaction.objects.get(summary="Met the guest"), Interaction.objects.get(summary="Alone")
    assert batch_record(entry.changes, met.pk)["contacts"] == [None, [guest.pk]]
    assert "contacts" not in batch_record(entry.changes, alone.pk)


def test_a_batch_entry_is_sealed_from_the_digest_made_as_it_was_written(tmp_path, lead, settings):
    """Issue 19: the sealer links an import's batch entries by the content digest made as each was written,
    without reading them back. That digest is the one the entry gives when read back and hashed, so the check,
    which re-reads every entry, holds; entries written the usual way around them are sealed as before."""
    from bcrm.audit import chain
    from bcrm.audit.models import AuditDigest, AuditSeal

    settings.BCRM_IMPORT_BATCH_ROWS = 25
    orgs = [make_org(legal_name=f"Digest Client {i}", external_id=f"DG-{i}").external_id for i in range(2)]
    job = run_import(lead, "interactions", write_csv(tmp_path / "digest.csv", [HEADER, *rows_for(orgs, 60)]))
    assert (job.status, job.created) == ("done", 60), job.message
    entries = import_entries()
    digests = dict(AuditDigest.objects.values_list("entry_id", "content"))
    assert sorted(digests) == [e.pk for e in entries]
    for entry in entries:
        assert digests[entry.pk] == chain.content_digest(trail._entry_row(entry.pk))
    assert trail.verify().ok  # seals what is pending (the batch entries by their digests), then re-reads all
    assert AuditSeal.objects.filter(entry_id__in=digests).count() == 3
    make_org(legal_name="Written Later")  # an entry without a digest after them: sealed by reading it
    assert trail.verify().ok and not AuditEntry.objects.exclude(pk__in=AuditSeal.objects.values("entry_id")).exists()


def test_a_rolled_back_import_leaves_no_digest(tmp_path, lead, settings):
    from bcrm.audit.models import AuditDigest

    settings.BCRM_IMPORT_BATCH_ROWS = 5
    orgs = [make_org(legal_name="Digest Rollback", external_id="DR-1").external_id]
    rows = rows_for(orgs, 12)
    rows[9][1] = "not a kind"
    job = run_import(lead, "interactions", write_csv(tmp_path / "rb.csv", [HEADER, *rows]))
    assert job.status == "rolled_back"
    assert not AuditDigest.objects.exists() and not import_entries()


def test_only_plain_json_gets_a_digest_before_it_is_written():
    """A float may read back written otherwise (1e16 as 10000000000000000): such an entry is read back to be
    sealed, as before."""
    from bcrm.core.batch import _plain_json

    assert _plain_json(["a", 1, True, None, [1, 2], ["x", None]])
    assert not _plain_json([1.5])
    assert not _plain_json([[1, 2.0]])
    assert not _plain_json([{"a": 1}])
