"""An import's audit entries after the import was made faster (issue 19): one per batch for the rows it created,
from which each record's values read back as a one-record entry held them (each field's [None, value] and the
import's id); one per updated row with its fields' [before, after]; and the hash chain still verifies."""

from __future__ import annotations

import datetime as dt
import gc
import json
import zoneinfo
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from bcrm.audit.models import AuditEntry
from bcrm.audit.services import batch_record, batch_row
from bcrm.core.batch import AUDIT_JSON, audit_prefixes, created_changes_text
from bcrm.core.bulk import fetch_by_tuples
from bcrm.core.services import plain_value
from bcrm.dataio.checks import field_checker
from bcrm.engagement.models import Interaction
from bcrm.engagement.services import InteractionBatch
from bcrm.financing.models import Participation
from bcrm.parties.models import Organization
from tests.factories import make_org
from tests.fixtures_dataio.helpers import run_import, write_csv

pytestmark = pytest.mark.usefixtures("import_dir")

HEADER = ["organization_external_id", "kind", "occurred_at", "minutes_spent", "summary", "outcome"]
# Text a hand-made JSON encoder could get wrong: quotes, backslashes, line breaks, tabs, Chinese, emoji.
SUMMARIES = ['Board "call"', "path C:\\deals\\二期", "line one\nline two", "tab\there", "季度投后管理会议 🚀", "plain"]
# Every column but the primary key and the bookkeeping ones (``EntityBatch.audit_skip``).
AUDITED = [f.name for f in Interaction._meta.concrete_fields
           if not f.primary_key and f.name not in InteractionBatch.audit_skip]


def interaction_rows(orgs: list[str], n: int) -> list[list]:
    return [[orgs[i % len(orgs)], ["meeting", "call", "email"][i % 3], f"2026-02-{i % 28 + 1:02d} 09:{i % 60:02d}:00",
             str(15 * (i % 4 + 1)), f"{SUMMARIES[i % len(SUMMARIES)]} #{i}", "" if i % 2 else "Follow-up 跟进"]
            for i in range(n)]


def expected_changes(interaction: Interaction, job_id: int) -> dict:
    """What an import.create entry held before issue 19: every set field as [None, value], and the job."""
    changes = {}
    for name in AUDITED:
        field = Interaction._meta.get_field(name)
        value = getattr(interaction, getattr(field, "attname", name))
        if isinstance(value, dt.datetime):
            value = timezone.localtime(value)  # as the file gave it: in the site's zone
        if value is not None and value != "":
            changes[name] = [None, plain_value(value)]
    changes["import_job"] = [None, job_id]
    return json.loads(json.dumps(changes))


def verify_exit_code() -> int:
    try:
        call_command("audit", "verify", stdout=open("/dev/null", "w"))  # noqa: SIM115
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_imported_rows_are_audited_per_batch_with_their_values_and_the_chain_verifies(tmp_path, lead, settings):
    settings.BCRM_IMPORT_BATCH_ROWS = 40  # several batches
    orgs = [make_org(legal_name=f"Audit Client {i}", external_id=f"AC-{i}").external_id for i in range(3)]
    rows = interaction_rows(orgs, 130)
    job = run_import(lead, "interactions", write_csv(tmp_path / "i.csv", [HEADER, *rows]))
    assert (job.status, job.created, job.rejected) == ("done", 130, 0), job.message

    entries = list(AuditEntry.objects.filter(action="import.create").order_by("id"))
    assert len(entries) == 4  # 40 + 40 + 40 + 10 rows
    assert sum(e.changes["created"] for e in entries) == 130
    interactions = list(Interaction.objects.order_by("id"))
    assert len(interactions) == 130
    numbers = {}
    for interaction in interactions:
        [entry] = [e for e in entries if batch_record(e.changes, interaction.pk) is not None]
        assert entry.object_id == "" and entry.actor_id == lead.pk and entry.actor_label == lead.username
        assert batch_record(entry.changes, interaction.pk) == expected_changes(interaction, job.pk)
        numbers[interaction.pk] = batch_row(entry.changes, interaction.pk)[1]
        assert (entry.changes["import_job"], entry.changes["file_name"]) == (job.pk, "i.csv")
    # The file's row numbers (the header is row 1), each once.
    assert sorted(numbers.values()) == list(range(2, 132))
    assert {i.summary for i in interactions} == {r[4] for r in rows}
    assert verify_exit_code() == 0


def test_reimport_with_changes_audits_each_update_and_the_chain_verifies(tmp_path, lead):
    orgs = [make_org(legal_name="Audit Client", external_id="AC-1").external_id]
    rows = interaction_rows(orgs, 12)
    run_import(lead, "interactions", write_csv(tmp_path / "a.csv", [HEADER, *rows]))
    for row in rows[:5]:
        row[3] = "90"  # the same meetings (natural key), now 90 minutes
    job = run_import(lead, "interactions", write_csv(tmp_path / "b.csv", [HEADER, *rows]))
    assert (job.created, job.updated, job.unchanged, job.rejected) == (0, 5, 7, 0)
    updates = list(AuditEntry.objects.filter(action="import.update"))
    assert len(updates) == 5
    for entry in updates:
        assert entry.changes["minutes_spent"][1] == 90
        assert entry.changes["import_job"] == [None, job.pk]
    assert Interaction.objects.count() == 12
    assert verify_exit_code() == 0


def test_tampering_with_an_imported_entry_is_caught(tmp_path, lead):
    orgs = [make_org(legal_name="Audit Client", external_id="AC-1").external_id]
    run_import(lead, "interactions", write_csv(tmp_path / "a.csv", [HEADER, *interaction_rows(orgs, 5)]))
    assert verify_exit_code() == 0
    entry = AuditEntry.objects.get(action="import.create")  # the batch's one entry
    from tests.test_audit_chain import tamper

    tamper(f"UPDATE {AuditEntry._meta.db_table} SET object_repr = %s WHERE id = %s", ["forged", entry.pk])
    assert verify_exit_code() != 0


def test_the_import_gives_the_garbage_collector_back_its_objects(tmp_path, lead):
    orgs = [make_org(legal_name="Audit Client", external_id="AC-1").external_id]
    run_import(lead, "interactions", write_csv(tmp_path / "a.csv", [HEADER, *interaction_rows(orgs, 3)]))
    assert gc.get_freeze_count() == 0
    run_import(lead, "interactions", write_csv(tmp_path / "b.csv", [["nonsense"], ["x"]]))  # a failed import too
    assert gc.get_freeze_count() == 0


# ------------------------------------------------------------------ the JSON text of a created row's changes

FIELDS = [("kind", "kind"), ("occurred_at", "occurred_at"), ("minutes_spent", "minutes_spent"),
          ("amount", "amount"), ("done", "done"), ("organization", "organization_id"), ("day", "day"),
          ("score", "score")]
values = st.one_of(st.none(), st.text(), st.integers(), st.booleans(), st.floats(allow_nan=False),
                   st.decimals(allow_nan=False, allow_infinity=False), st.dates(),
                   st.datetimes(timezones=st.sampled_from([dt.UTC, zoneinfo.ZoneInfo("Asia/Shanghai")])))


@given(st.fixed_dictionaries({attname: values for _name, attname in FIELDS}),
       st.dictionaries(st.text(min_size=1).filter(lambda k: k not in dict(FIELDS)), st.integers(), max_size=2))
def test_created_changes_text_is_what_json_dumps_gives(data, tail):
    mapping = {name: [None, plain_value(value)] for name, attname in FIELDS
               if (value := data.get(attname)) is not None and value != ""}
    mapping.update({k: [None, v] for k, v in tail.items()})
    tail_text = AUDIT_JSON({k: [None, v] for k, v in tail.items()})[1:-1]
    assert created_changes_text(data, audit_prefixes(FIELDS), tail_text) == AUDIT_JSON(mapping)


# ------------------------------------------------------------------ look-ups and checks made cheaper

@pytest.mark.django_db
def test_lookup_by_tuples_matches_awkward_strings_and_times():
    names = ['Q "senior"', "back\\slash", "逗号,与{括号}", "NULL", ""]
    for i, name in enumerate(names):
        make_org(legal_name=f"Lookup {i}", external_id=name or None)
    found = fetch_by_tuples(Organization, ["external_id"], [(n,) for n in names], ["external_id"])
    assert sorted(r[0] for r in found) == sorted(n for n in names if n)
    org = make_org(legal_name="Times")
    old_zone = zoneinfo.ZoneInfo("Asia/Shanghai")
    moment = dt.datetime(1900, 3, 1, 9, 0, tzinfo=old_zone)  # local mean time: an offset with seconds
    Interaction.objects.create(organization=org, kind="call", occurred_at=moment, summary="x")
    found = fetch_by_tuples(Interaction, ["organization", "occurred_at"],
                            [(org.pk, moment), (org.pk, moment + dt.timedelta(seconds=1))], ["summary"])
    assert found == [("x",)]


def test_field_check_remembers_valid_values_but_not_decimal_places():
    amount = Participation._meta.get_field("amount")
    check = field_checker(amount)
    places = amount.decimal_places
    assert check(Decimal("1." + "0" * places)) == []
    assert check(Decimal("1." + "0" * (places + 1)))  # equal as numbers, yet too many places
    kind = field_checker(Interaction._meta.get_field("kind"))
    assert kind("call") == [] and kind("call") == []
    assert kind("telegram") and kind("telegram")
