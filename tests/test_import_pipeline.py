"""The import pipeline's faster parts (issue 19) keep its behaviour: a column parsed once per distinct cell gives
what parsing each cell gives, errors included; the batch written while the next is read and parsed, and the
batch's audit entry made while the database stores it, still leave nothing behind when a later row or the
database refuses; times written as text are the same instants; ids reserved from the sequence are fresh."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.db import IntegrityError, connection, transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bcrm.audit.models import AuditEntry
from bcrm.core.bulk import RowInserter
from bcrm.dataio import parsers as p
from bcrm.dataio.importer import REQUIRED_BLANK, ParseMemo
from bcrm.dataio.parsers import ParseError
from bcrm.dataio.specs import Column
from bcrm.engagement.models import Interaction, InteractionKind
from bcrm.parties.models import Organization
from tests.factories import make_org
from tests.fixtures_dataio.helpers import reasons, run_import, write_csv

pytestmark = pytest.mark.usefixtures("import_dir")

HEADER = ["organization_external_id", "kind", "occurred_at", "minutes_spent", "summary", "outcome"]

CELLS = st.sampled_from(["", " ", "\t", "12", "12 ", "-3", "x", "1e3", "'=1", "meeting", "会议", "bank", "7", None])


def one_by_one(column: Column, cells: list) -> list:
    """What the pipeline did before: each cell on its own."""
    out = []
    for cell in cells:
        if cell is None or (isinstance(cell, str) and not cell.strip()):
            out.append(REQUIRED_BLANK if column.required else None)
            continue
        try:
            parse = column.parse
            assert parse is not None
            out.append(parse(p.unneutralise(cell) if isinstance(cell, str) else cell))
        except ParseError as exc:
            out.append(("error", exc.message))
    return out


def memo_results(memo: ParseMemo, cells: list) -> list:
    values = memo.parse_all(cells)
    assert memo.failed == [i for i, v in enumerate(values) if v is REQUIRED_BLANK or isinstance(v, ParseError)]
    return [("error", v.message) if isinstance(v, ParseError) else v for v in values]


@hsettings(max_examples=150, deadline=None)
@given(batches=st.lists(st.lists(CELLS, max_size=30), min_size=1, max_size=4), required=st.booleans(),
       parser=st.sampled_from(["int", "kind", "text"]), cap=st.sampled_from([2, 4096]))
def test_a_column_parsed_once_per_distinct_cell_gives_what_each_cell_gives(batches, required, parser, cap):
    parse = {"int": p.parse_int, "text": p.parse_text, "kind": p.choice_parser(InteractionKind)}[parser]
    column = Column("c", "c", "c", parse, required=required)
    memo = ParseMemo(column)
    memo.MEMO_CELLS = cap  # a small cap: the memo gives up part-way, as on a column of distinct cells
    for cells in batches:  # the memo lives across a file's batches
        assert memo_results(memo, cells) == one_by_one(column, cells)


def test_a_repeated_bad_cell_rejects_every_row_that_holds_it(tmp_path, lead, settings):
    settings.BCRM_IMPORT_BATCH_ROWS = 4
    make_org(legal_name="Memo Client", external_id="MC-1")
    rows = [["MC-1", "meeting", f"2026-03-0{i % 9 + 1} 10:00", "lots" if i % 3 == 0 else "30", f"Memo #{i}", ""]
            for i in range(12)]
    rows[5][1] = ""  # a required cell left blank
    job = run_import(lead, "interactions", write_csv(tmp_path / "memo.csv", [HEADER, *rows]))
    assert job.status == "rolled_back" and job.rejected == 5
    bad = reasons(job)
    # Rows 2, 5, 8, 11 (file rows: header is 1) hold "lots"; row 7 has no kind. Each says why, on its own.
    assert sorted(bad) == [2, 5, 7, 8, 11]
    assert all("lots" in bad[n] for n in (2, 5, 8, 11)) and "required" in bad[7].lower()
    assert not Interaction.objects.exists()


def test_a_file_error_in_a_batch_read_ahead_leaves_nothing(tmp_path, lead, settings):
    """The next batch is read while the database stores this one: a file error found there still fails the whole
    import, and the batches already written are undone with their audit entries."""
    settings.BCRM_IMPORT_BATCH_ROWS = 5
    settings.BCRM_IMPORT_MAX_CELL_CHARS = 200
    make_org(legal_name="Ahead Client", external_id="AH-1")
    rows = [["AH-1", "call", f"2026-04-{i % 28 + 1:02d} 09:{i:02d}", "15", f"Ahead #{i}", ""] for i in range(17)]
    rows[13][5] = "x" * 500  # in the third batch
    before = AuditEntry.objects.count()
    job = run_import(lead, "interactions", write_csv(tmp_path / "ahead.csv", [HEADER, *rows]))
    assert job.status == "failed" and "longer than 200 characters" in job.message, job.message
    assert not Interaction.objects.exists() and AuditEntry.objects.count() == before
    # The connection is fine afterwards.
    assert Organization.objects.filter(external_id="AH-1").exists()


def test_a_batch_the_database_refuses_is_retried_row_by_row(tmp_path, lead, settings, monkeypatch):
    """The database refusing a row of a batch while its audit entry is made and the next batch read (the Python
    check switched off, so the constraint is the last line): the batch is retried row by row, only that row is
    rejected, every other row of every batch is written once, and the next batch was read once."""
    settings.BCRM_IMPORT_BATCH_ROWS = 5
    monkeypatch.setattr("bcrm.dataio.importer.constraint_tests", lambda model: [])
    make_org(legal_name="Kept Client", external_id="KC-1")
    rows = [["KC-1", "visit", f"2026-05-{i % 28 + 1:02d} 11:{i:02d}", "20000" if i == 7 else "60", f"Visit #{i}", ""]
            for i in range(12)]
    job = run_import(lead, "interactions", write_csv(tmp_path / "db.csv", [HEADER, *rows]), mode="skip_invalid")
    assert (job.created, job.rejected) == (11, 1), reasons(job)
    assert list(reasons(job)) == [9]
    summaries = sorted(Interaction.objects.values_list("summary", flat=True))
    assert summaries == sorted(f"Visit #{i}" for i in range(12) if i != 7)
    audited = [e.changes for e in AuditEntry.objects.filter(action="import.create").order_by("id")]
    assert sum(c["created"] for c in audited) == 11


@pytest.mark.django_db(transaction=True)
def test_meanwhile_runs_while_the_rows_are_stored_and_errors_come_back(db):
    org = make_org(legal_name="Copy Client")
    inserter = RowInserter(Interaction)
    now = dt.datetime.now(dt.UTC)

    def rows(n, org_id):
        out = []
        for pk in inserter.reserve(n):
            row = inserter.defaults_for(now)
            row.update(id=pk, organization_id=org_id, kind="call", occurred_at=now, summary=f"Copy {pk}")
            out.append(row)
        return out

    calls = []
    with transaction.atomic():
        inserter.insert(rows(30, org.pk), meanwhile=lambda: calls.append(1))
    assert calls == [1] and Interaction.objects.count() == 30

    # The database's refusal (a missing organisation) is raised as Django's IntegrityError after the work ran.
    calls.clear()

    def refused() -> None:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            inserter.insert(rows(5, 10**9), meanwhile=lambda: calls.append(1))
            if connection.vendor == "sqlite":
                connection.check_constraints()

    with pytest.raises(IntegrityError):
        refused()
    assert calls == [1] and Interaction.objects.count() == 30

    # The work's own error comes back too, and the rows' write has ended: the connection answers at once.
    def boom():
        raise RuntimeError("audit failed")

    with pytest.raises(RuntimeError, match="audit failed"), transaction.atomic():
        inserter.insert(rows(5, org.pk), meanwhile=boom)
    assert Interaction.objects.count() == 30


@pytest.mark.django_db(transaction=True)
def test_times_are_stored_as_the_same_instants(db):
    """Written as ISO text with their offset on PostgreSQL, as naive UTC text on SQLite: read back equal."""
    org = make_org(legal_name="Time Client")
    inserter = RowInserter(Interaction)
    zones = [dt.UTC, zoneinfo.ZoneInfo("Asia/Shanghai"), zoneinfo.ZoneInfo("America/St_Johns"),
             zoneinfo.ZoneInfo("Asia/Kathmandu"), dt.timezone(dt.timedelta(hours=-9, minutes=-30))]
    moments = [dt.datetime(1900, 1, 1, 0, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai")),  # +08:05:43, seconds
               dt.datetime(2026, 3, 8, 12, 30, 15, 123456, tzinfo=zoneinfo.ZoneInfo("America/New_York"))]
    moments += [dt.datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=z) for z in zones]
    now = dt.datetime(2026, 6, 1, 12, tzinfo=zoneinfo.ZoneInfo("Europe/London"))
    data = []
    for pk, moment in zip(inserter.reserve(len(moments)), moments, strict=True):
        row = inserter.defaults_for(now)
        row.update(id=pk, organization_id=org.pk, kind="meeting", occurred_at=moment, summary=f"At {moment}")
        data.append(row)
    with transaction.atomic():
        inserter.insert(data)
    stored = dict(Interaction.objects.values_list("id", "occurred_at"))
    assert [stored[r["id"]] for r in data] == moments
    assert set(Interaction.objects.values_list("created_at", flat=True)) == {now}


@pytest.mark.django_db(transaction=True)
def test_reserved_ids_are_fresh_and_never_given_twice(db):
    org = make_org(legal_name="Id Client")
    made = Interaction.objects.create(organization=org, kind="call", occurred_at=dt.datetime.now(dt.UTC),
                                      summary="made by the ORM")
    inserter = RowInserter(Interaction)
    now = dt.datetime.now(dt.UTC)

    def write(ids):
        data = []
        for pk in ids:
            row = inserter.defaults_for(now)
            row.update(id=pk, organization_id=org.pk, kind="call", occurred_at=now, summary=f"Reserved {pk}")
            data.append(row)
        with transaction.atomic():
            inserter.insert(data)

    first = inserter.reserve(50)
    assert len(set(first)) == 50 and first == sorted(first) and min(first) > made.pk
    write(first)
    second = inserter.reserve(3)
    assert min(second) > max(first)
    write(second)
    later = Interaction.objects.create(organization=org, kind="call", occurred_at=now, summary="ORM again")
    assert later.pk > max(second)  # the ORM's next id is past every reserved one
    if connection.vendor == "postgresql":  # the sequence hands each id out once, written or not
        assert min(inserter.reserve(2)) > later.pk
    assert inserter.reserve(0) == []


def test_audit_entries_are_compressed_with_lz4_on_postgresql(tmp_path, lead, settings):
    settings.BCRM_IMPORT_BATCH_ROWS = 200
    make_org(legal_name="Lz Client", external_id="LZ-1")
    rows = [["LZ-1", "call", f"2026-06-{i % 28 + 1:02d} 08:{i % 60:02d}", "5", f"A long enough summary, #{i}", "ok"]
            for i in range(200)]
    job = run_import(lead, "interactions", write_csv(tmp_path / "lz.csv", [HEADER, *rows]))
    assert job.created == 200, job.message
    entry = AuditEntry.objects.get(action="import.create")
    if connection.vendor != "postgresql":
        pytest.skip("column compression is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_column_compression(changes) FROM audit_auditentry WHERE id = %s", [entry.pk])
        assert cursor.fetchone()[0] == "lz4"
    assert len(entry.changes["rows"]) == 200


MINUTES = st.one_of(st.none(), st.integers(-5, 5), st.integers(10_000, 10_100), st.booleans())


@hsettings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.fixed_dictionaries({"minutes_spent": MINUTES, "summary": st.sampled_from(["", "x", None]),
                                            "version": st.integers(-2, 2)}), max_size=25))
def test_constraints_checked_once_per_distinct_value_say_what_each_row_would(rows, lead, tmp_path):
    """The check constraints of a batch's new rows, evaluated once per distinct value of the field they read:
    every row gets the messages, in the order, that checking it alone gives."""
    from bcrm.dataio.adapters import InteractionImporter
    from bcrm.dataio.checks import constraint_errors
    from bcrm.dataio.importer import Context, Row
    from bcrm.dataio.specs import INTERACTIONS

    ctx = Context(actor=lead, job=None, spec=INTERACTIONS, columns=[], present=set(), now=dt.datetime.now(dt.UTC))
    importer = InteractionImporter(ctx, report=lambda row: None)
    items = [(Row(n, []), dict(full)) for n, full in enumerate(rows, start=1)]
    importer.check_rules_many(items)
    for row, full in items:
        assert row.errors == [("", m) for m in constraint_errors(Interaction, full)]


def test_distinct_values_keep_apart_what_python_calls_equal():
    from decimal import Decimal

    from bcrm.dataio.checks import distinct_values

    assert distinct_values(["a", "a", None, 3]) == {"a", None, 3}
    assert distinct_values([True, 1]) is None  # True == 1, yet a field may take one and not the other
    assert distinct_values([Decimal("1.0"), Decimal("1.00")]) is None
    assert distinct_values([]) == set()
