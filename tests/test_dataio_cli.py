"""`bcrm import` and `bcrm export`, and the export → import round trip of a generated portfolio."""

import datetime as dt
import json

import pytest
from django.core.management import call_command

from bcrm.audit.models import AuditEntry
from bcrm.dataio.choices import Entity, JobStatus
from bcrm.dataio.models import ImportJob
from bcrm.engagement.models import Interaction
from bcrm.financing.models import Participation, Project
from bcrm.parties.models import Contact, Organization
from tests.fixtures_dataio.helpers import write_csv

pytestmark = pytest.mark.usefixtures("import_dir")  # uploads go to the test's own folder

AS_OF = dt.date(2026, 3, 1)


def bcrm(*args):
    """Run a management command; returns (exit status, stdout, stderr)."""
    import io

    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


ROWS = [["legal_name", "kind", "country"], ["Alpha Capital", "fund", "CN"], ["Beta Bank", "commercial_bank", "Atlantis"]]


def test_all_or_nothing_exit_1_with_per_row_report(tmp_path, db, capsys):
    code, out, err = bcrm("import", "organizations", str(write_csv(tmp_path / "a.csv", ROWS)))
    assert code == 1
    assert "row 3: country: “Atlantis” is not a country" in capsys.readouterr().err
    assert "nothing was saved" in err
    assert not Organization.objects.exists()
    assert ImportJob.objects.get().status == JobStatus.ROLLED_BACK


def test_skip_invalid_exit_0_and_names_the_error_file(tmp_path, db):
    code, out, err = bcrm("import", "organizations", str(write_csv(tmp_path / "a.csv", ROWS)), "--skip-invalid")
    assert code == 0
    assert Organization.objects.get().legal_name == "Alpha Capital"
    assert "errors.csv" in err


def test_dry_run_and_json(tmp_path, db):
    code, out, err = bcrm("import", "organizations", str(write_csv(tmp_path / "a.csv", ROWS[:2])), "--dry-run", "--json")
    assert code == 0
    report = json.loads(out)
    assert (report["mode"], report["created"], report["status"]) == ("dry_run", 1, "done")
    assert not Organization.objects.exists()


def test_file_errors_exit_2(tmp_path, db):
    assert bcrm("import", "organizations", str(tmp_path / "missing.csv"))[0] == 2
    bad = tmp_path / "bad.csv"
    bad.write_bytes("legal_name\nCafé\n".encode("latin-1"))
    code, _out, err = bcrm("import", "organizations", str(bad))
    assert code == 2 and "not UTF-8 or GB18030" in err
    assert bcrm("import", "planets", str(bad))[0] == 2


def test_as_user_applies_their_permissions(tmp_path, viewer, rm):
    path = str(write_csv(tmp_path / "a.csv", ROWS[:2]))
    code, _out, err = bcrm("import", "organizations", path, "--as", viewer.username)
    assert code == 2 and "may not import" in err
    assert ImportJob.objects.get().user == viewer  # the refusal is recorded
    code, _out, _err = bcrm("import", "organizations", path, "--as", rm.username)
    assert code == 0 and Organization.objects.get().relationship_manager == rm


def test_mapping_option(tmp_path, lead):
    from bcrm.dataio.services import column_mapping_create

    column_mapping_create(actor=lead, name="legacy", entity="organizations",
                          columns={"Firm": "legal_name", "Typ": "kind", "Land": "country"})
    path = str(write_csv(tmp_path / "a.csv", [["Firm", "Typ", "Land"], ["Alpha", "fund", "CN"]]))
    assert bcrm("import", "organizations", path, "--mapping", "legacy")[0] == 0
    assert bcrm("import", "organizations", path, "--mapping", "nope")[0] == 2


def test_export_with_list_filters(tmp_path, lead, team):
    from tests.factories import make_org

    make_org(legal_name="Gamma Fund", kind="fund", country="CN", team=team)
    make_org(legal_name="Delta Bank", kind="commercial_bank", country="SG")
    target = tmp_path / "out.csv"
    code, _out, err = bcrm("export", "organizations", str(target), "--kind", "fund", "--as", lead.username)
    assert code == 0 and "1 rows" in err
    text = target.read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    assert "Gamma Fund" in text.decode("utf-8-sig") and "Delta Bank" not in text.decode("utf-8-sig")
    code, _out, err = bcrm("export", "organizations", str(target), "--country", "XX")
    assert code == 2


# -------------------------------------------------------------------------------------- round trip

@pytest.fixture
def portfolio(db):
    from bcrm.demo.generator import generate_portfolio

    generate_portfolio(clients=30, seed=3, as_of=AS_OF)


def table_state():
    return {
        "orgs": list(Organization.objects.order_by("pk").values()),
        "contacts": list(Contact.objects.order_by("pk").values()),
        "projects": list(Project.objects.order_by("pk").values()),
        "participations": list(Participation.objects.order_by("pk").values()),
        "interactions": list(Interaction.objects.order_by("pk").values()),
        "tags": sorted(Organization.tags.through.objects.values_list("organization_id", "tag_id")),
        "present": sorted(Interaction.contacts.through.objects.values_list("interaction_id", "contact_id")),
    }


@pytest.mark.parametrize("fmt, headers", [("csv", "name"), ("xlsx", "zh"), ("csv", "en")])
def test_export_then_import_changes_nothing(tmp_path, portfolio, fmt, headers):
    before = table_state()
    audit = AuditEntry.objects.exclude(action="export").count()  # each export is audited, the import changes nothing
    assert Interaction.contacts.through.objects.exists() and Organization.tags.through.objects.exists()
    for entity in Entity.values:
        path = tmp_path / f"{entity}.{fmt}"
        assert bcrm("export", entity, str(path), "--headers", headers)[0] == 0
        code, out, err = bcrm("import", entity, str(path), "--json")
        report = json.loads(out)
        assert code == 0, (entity, err)
        assert report["rows"] > 0 and report["unchanged"] == report["rows"], (entity, report, err)
        assert report["ignored_columns"] == []
    assert table_state() == before
    assert AuditEntry.objects.exclude(action="export").count() == audit
    assert AuditEntry.objects.filter(action="export").count() == len(Entity.values)


def test_round_trip_keeps_formula_looking_text_inert_and_exact(tmp_path, lead):
    from tests.factories import make_org

    nasty = ["=HYPERLINK(\"http://x\",\"y\")", "+86 10 5555 0000", "-minus", "@SUM(A1)", "\tTabbed", "'=quoted"]
    for i, text in enumerate(nasty):
        make_org(legal_name=f"Org {i}", notes=text, external_id=f"N-{i}")
    csv_path, xlsx_path = tmp_path / "o.csv", tmp_path / "o.xlsx"
    assert bcrm("export", "organizations", str(csv_path))[0] == 0
    assert bcrm("export", "organizations", str(xlsx_path))[0] == 0
    import csv

    with open(csv_path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        assert row["notes"][:1] not in "=+-@\t\r" or row["notes"] == ""  # nothing a spreadsheet would run
    import openpyxl

    sheet = openpyxl.load_workbook(xlsx_path).active
    header = [c.value for c in sheet[1]]
    notes = header.index("notes") + 1
    for r in range(2, sheet.max_row + 1):
        cell = sheet.cell(row=r, column=notes)
        assert cell.data_type == "s" and not str(cell.value).startswith("=")
    for path in (csv_path, xlsx_path):
        code, out, _err = bcrm("import", "organizations", str(path), "--json")
        assert json.loads(out)["unchanged"] == len(nasty)
    assert sorted(Organization.objects.values_list("notes", flat=True)) == sorted(nasty)
