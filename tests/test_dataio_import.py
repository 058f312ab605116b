"""The import engine through its service: modes, upserts, references, bad input, permissions, audit, search."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType

from bcrm.audit.models import AuditEntry
from bcrm.audit.selectors import audit_history
from bcrm.audit.services import batch_record
from bcrm.dataio import services
from bcrm.dataio.choices import JobStatus
from bcrm.dataio.models import ImportJob
from bcrm.engagement.models import Interaction
from bcrm.financing.models import Participation, ParticipationStatusChange, Project
from bcrm.parties.models import Contact, Organization
from bcrm.parties.selectors import organization_list
from tests.factories import make_contact, make_org, make_project, make_user
from tests.fixtures_dataio.helpers import reasons, run_import, write_csv, write_xlsx

pytestmark = pytest.mark.usefixtures("import_dir")  # uploads go to the test's own folder

ORG_HEADER_ZH = ["客户编号", "机构名称", "中文名称", "类型", "国家/地区", "行业", "建立关系日期", "备注"]


def org_rows():
    return [
        ORG_HEADER_ZH,
        ["C-001", "Huaneng Capital Services", "华能资本服务有限公司", "股权投资人", "中国", "能源", "2019/3/5", "老客户"],
        ["C-002", "Silk Road Fund", "丝路基金", "基金", "CN", "Financial services", "2020年1月2日", ""],
        ["C-003", "Asian Development Bank", "", "Development finance institution", "Philippines", "", "", "=HYPERLINK(\"x\")"],
    ]


def test_chinese_headers_gb18030_semicolons_create_findable_audited_clients(tmp_path, lead):
    path = write_csv(tmp_path / "clients.csv", org_rows(), encoding="gb18030", delimiter=";")
    job = run_import(lead, "organizations", path)
    assert job.status == JobStatus.DONE, job.message
    assert (job.rows, job.created, job.rejected) == (3, 3, 0)
    assert len(job.file_sha256) == 64
    org = Organization.objects.get(external_id="C-001")
    assert org.local_name == "华能资本服务有限公司"
    assert (org.kind, org.country.code, org.sector) == ("equity_investor", "CN", "energy")
    assert org.relationship_since == dt.date(2019, 3, 5)
    assert Organization.objects.get(external_id="C-003").notes == '=HYPERLINK("x")'  # text, never evaluated
    # The client search finds bulk-imported clients by a Chinese fragment and by a Latin one.
    assert list(organization_list(actor=lead, filters={"q": "资本服务"})) == [org]
    assert list(organization_list(actor=lead, filters={"q": "silk road"}).values_list("external_id", flat=True)) == ["C-002"]
    # The three created clients are audited in one entry for the batch, naming their ids and holding their values.
    entries = AuditEntry.objects.filter(content_type=ContentType.objects.get_for_model(Organization), action="import.create")
    assert entries.count() == 1
    entry = entries.get(pk__in=audit_history(instance=org).values("pk"))
    record = batch_record(entry.changes, org.pk)
    assert entry.actor == lead and record["legal_name"] == [None, "Huaneng Capital Services"]
    assert record["import_job"] == [None, job.pk]
    assert entry.changes["file_name"] == "clients.csv" and entry.changes["file_sha256"] == job.file_sha256


def test_same_file_twice_changes_nothing(tmp_path, lead):
    path = write_csv(tmp_path / "clients.csv", org_rows())
    run_import(lead, "organizations", path)
    versions = dict(Organization.objects.values_list("external_id", "version"))
    audit_count = AuditEntry.objects.count()
    again = run_import(lead, "organizations", path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert dict(Organization.objects.values_list("external_id", "version")) == versions
    assert AuditEntry.objects.count() == audit_count


def test_upsert_by_external_id_updates_bumps_version_and_audits(tmp_path, lead):
    run_import(lead, "organizations", write_csv(tmp_path / "a.csv", org_rows()))
    rows = org_rows()
    rows[2][2] = "丝路基金有限责任公司"
    job = run_import(lead, "organizations", write_csv(tmp_path / "b.csv", rows))
    assert (job.created, job.updated, job.unchanged) == (0, 1, 2)
    fund = Organization.objects.get(external_id="C-002")
    assert fund.local_name == "丝路基金有限责任公司" and fund.version == 2
    entry = AuditEntry.objects.get(action="import.update", object_id=str(fund.pk))
    assert entry.changes["local_name"] == ["丝路基金", "丝路基金有限责任公司"]
    report = job.row_reports.get(outcome="updated")
    assert report.number == 3 and report.changes["local_name"][1] == "丝路基金有限责任公司"
    assert list(organization_list(actor=lead, filters={"q": "有限责任"})) == [fund]


def test_dry_run_reports_and_writes_nothing(tmp_path, lead):
    job = run_import(lead, "organizations", write_csv(tmp_path / "a.csv", org_rows()), mode="dry_run")
    assert job.status == JobStatus.DONE and job.created == 3
    assert not Organization.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="import").exists()
    assert [r.outcome for r in job.row_reports.all()] == ["created"] * 3
    assert next(r.label for r in job.row_reports.all()) == "Huaneng Capital Services (华能资本服务有限公司)"


def test_dry_run_sees_rows_written_earlier_in_the_same_file(tmp_path, lead, settings):
    """A dry run writes (then rolls back): with one row per batch, the repeated external id in a later
    batch is found in the database and rejected as a duplicate, exactly as a real import would."""
    settings.BCRM_IMPORT_BATCH_ROWS = 1
    rows = org_rows()[:3] + [["C-001", "Huaneng again", "", "fund", "CN", "", "", ""]]
    job = run_import(lead, "organizations", write_csv(tmp_path / "a.csv", rows), mode="dry_run")
    assert (job.created, job.rejected) == (2, 1)
    assert "earlier row" in reasons(job)[4]
    assert not Organization.objects.exists()


def test_all_or_nothing_rolls_back_on_any_rejected_row(tmp_path, lead):
    rows = org_rows() + [["C-004", "Broken Co", "", "fund", "Chna", "", "2026-02-30", ""]]
    job = run_import(lead, "organizations", write_csv(tmp_path / "a.csv", rows))
    assert job.status == JobStatus.ROLLED_BACK
    assert (job.created, job.rejected) == (3, 1)
    assert not Organization.objects.exists() and not AuditEntry.objects.filter(action__startswith="import").exists()
    reason = reasons(job)[5]
    assert "country" in reason and "Chna" in reason and "date_" not in reason and "real date" in reason
    assert "nothing was saved" in job.message


def test_skip_invalid_commits_valid_rows_and_writes_the_error_file(tmp_path, lead):
    rows = org_rows() + [["C-004", "Broken Co", "", "fund", "Chna", "", "", ""], ["C-005", "", "", "fund", "CN", "", "", ""]]
    job = run_import(lead, "organizations", write_csv(tmp_path / "a.csv", rows), mode="skip_invalid")
    assert job.status == JobStatus.DONE
    assert (job.created, job.rejected) == (3, 2)
    assert Organization.objects.count() == 3
    errors = services.error_file_path(job)
    lines = errors.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == ",".join(ORG_HEADER_ZH) + ",原因"
    assert lines[1].startswith("C-004,Broken Co,,fund,Chna,,,,") and "Chna" in lines[1]
    assert lines[2].startswith("C-005,,,fund,CN") and "legal_name" in lines[2]
    # The error file, fixed, imports cleanly (its reason column is ignored).
    fixed = errors.read_text(encoding="utf-8-sig").replace("Chna", "China").replace("C-005,,", "C-005,Fixed Co,")
    (tmp_path / "fixed.csv").write_text(fixed, encoding="utf-8")
    again = run_import(lead, "organizations", tmp_path / "fixed.csv")
    assert (again.status, again.created, again.rejected) == (JobStatus.DONE, 2, 0)


def test_duplicate_external_id_inside_one_file_rejects_the_second(tmp_path, lead):
    rows = org_rows() + [["C-002", "Silk Road Fund II", "", "fund", "CN", "", "", ""]]
    job = run_import(lead, "organizations", write_csv(tmp_path / "a.csv", rows), mode="skip_invalid")
    assert (job.created, job.rejected) == (3, 1)
    assert "Row 3" in reasons(job)[5]
    assert Organization.objects.get(external_id="C-002").legal_name == "Silk Road Fund"


@pytest.mark.parametrize("encoding, data", [
    ("latin-1", "legal_name,kind,country\nCafé Crème Holdings,fund,FR\n".encode("latin-1")),
    ("utf-16", "legal_name,kind,country\n华能,fund,CN\n".encode("utf-16")),
    ("binary", bytes(range(256)) * 20),
])
def test_wrong_encoding_fails_the_file(tmp_path, lead, encoding, data):
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    job = run_import(lead, "organizations", path)
    assert job.status == JobStatus.FAILED
    assert "not UTF-8 or GB18030" in job.message
    assert not Organization.objects.exists()


def test_encoding_error_half_way_through_leaves_nothing(tmp_path, lead):
    good = "legal_name,kind,country\n" + "".join(f"Org {i},fund,CN\n" for i in range(60_000))
    path = tmp_path / "half.csv"
    path.write_bytes(good.encode() + "Café,fund,FR\n".encode("latin-1"))
    job = run_import(lead, "organizations", path)
    assert job.status == JobStatus.FAILED and "not UTF-8 or GB18030" in job.message
    assert not Organization.objects.exists()


def test_utf8_bom_and_tab_delimiter(tmp_path, lead):
    path = write_csv(tmp_path / "a.tsv", org_rows(), encoding="utf-8-sig", delimiter="\t")
    job = run_import(lead, "organizations", path)
    assert job.created == 3 and "客户编号" in job.columns


def test_missing_required_column_fails_before_any_row(tmp_path, lead):
    rows = [["客户编号", "机构名称", "类型"], ["C-1", "A", "fund"]]
    job = run_import(lead, "organizations", write_csv(tmp_path / "a.csv", rows))
    assert job.status == JobStatus.FAILED
    assert "Required column missing: country" in job.message
    assert job.rows == 0 and not Organization.objects.exists()


def test_unknown_column_is_reported_as_ignored(tmp_path, lead):
    rows = [["legal_name", "kind", "country", "Favourite colour"], ["A Co", "fund", "CN", "blue"]]
    job = run_import(lead, "organizations", write_csv(tmp_path / "a.csv", rows))
    assert job.status == JobStatus.DONE and job.created == 1
    assert job.ignored_columns == ["Favourite colour"]


@pytest.mark.parametrize("content, message", [
    (b"", "empty"), (b"\xef\xbb\xbf\r\n  \r\n", "empty"), (b"legal_name,kind,country\r\n", "no data rows"),
    (b"legal_name,kind,country\r\n,,\r\n", "no data rows"),
])
def test_empty_and_header_only_files(tmp_path, lead, content, message):
    path = tmp_path / "a.csv"
    path.write_bytes(content)
    job = run_import(lead, "organizations", path)
    assert job.status == JobStatus.FAILED and message in job.message
    assert not Organization.objects.exists()


def test_title_rows_above_the_header_are_skipped(tmp_path, lead):
    rows = [["2025 客户清单"], [], *org_rows()]
    job = run_import(lead, "organizations", write_csv(tmp_path / "a.csv", rows))
    assert job.header_row == 3 and job.created == 3  # the header is on line 3; the blank line is no row


def test_saved_mapping(tmp_path, lead):
    services.column_mapping_create(actor=lead, name="legacy", entity="organizations",
                                   columns={"Firm": "legal_name", "Typ": "kind", "Land": "country", "Intern": ""})
    rows = [["Firm", "Typ", "Land", "Intern"], ["Alpha GmbH", "fund", "Germany", "x"]]
    job = run_import(lead, "organizations", write_csv(tmp_path / "a.csv", rows), mapping="legacy")
    assert job.created == 1 and job.ignored_columns == []
    assert Organization.objects.get().country.code == "DE"


def test_formula_cells_are_stored_as_text(tmp_path, lead):
    rows = [["legal_name", "kind", "country", "notes"],
            ["=1+1", "fund", "CN", "@SUM(A1:A9)"], ["'=2+2", "fund", "CN", "-cmd|' /C calc'!A0"]]
    job = run_import(lead, "organizations", write_csv(tmp_path / "a.csv", rows))
    assert job.created == 2
    names = set(Organization.objects.values_list("legal_name", "notes"))
    # A leading quote before a trigger is the export's neutralising mark and is taken off again.
    assert names == {("=1+1", "@SUM(A1:A9)"), ("=2+2", "-cmd|' /C calc'!A0")}


# --------------------------------------------------------------------------------- participations

@pytest.fixture
def deal(db, team):
    project = make_project(name="Gobi Solar 500 MW", local_name="戈壁光伏", external_id="PRJ-1")
    org = make_org(legal_name="Huaneng Capital", local_name="华能资本", team=team, external_id="C-001")
    return project, org


PART_HEADER = ["项目名称", "客户名称", "角色", "贷款分档", "承诺金额", "币种", "状态", "概率"]


def test_participations_resolve_references_and_record_the_ladder(tmp_path, lead, deal):
    project, org = deal
    rows = [PART_HEADER,
            ["戈壁光伏", "华能资本", "股权", "", "USD 1,000,000.00", "", "soft_interest", "30%"],
            ["PRJ-1", "C-001", "senior_debt", "A", "￥2,500,000", "CNY", "prospect", "0.1"]]
    job = run_import(lead, "participations", write_csv(tmp_path / "p.csv", rows))
    assert job.status == JobStatus.DONE, reasons(job)
    equity = Participation.objects.get(role="equity")
    assert (equity.project, equity.organization, equity.amount, equity.currency) == (project, org, Decimal("1000000.00"), "USD")
    assert equity.probability == Decimal("0.3")
    assert ParticipationStatusChange.objects.filter(participation=equity, from_status="", to_status="soft_interest").exists()
    # Same key (project, organisation, role, tranche) again: an update moving up the ladder.
    rows[1][6] = "firm_commitment"
    job = run_import(lead, "participations", write_csv(tmp_path / "p2.csv", rows))
    assert (job.updated, job.unchanged) == (1, 1)
    equity.refresh_from_db()
    assert equity.status == "firm_commitment"
    assert ParticipationStatusChange.objects.filter(participation=equity, from_status="soft_interest",
                                                    to_status="firm_commitment").exists()


@pytest.mark.parametrize("cells, field, fragment", [
    (["Unknown Project", "华能资本", "equity", "", "100", "USD", "", ""], "project", "No project"),
    (["戈壁光伏", "Nobody Inc", "equity", "", "100", "USD", "", ""], "organization", "No organisation"),
    (["戈壁光伏", "华能资本", "equity", "", "-100", "USD", "", ""], "", "cannot be negative"),
    (["戈壁光伏", "华能资本", "equity", "", "lots", "USD", "", ""], "amount", "not a number"),
    (["戈壁光伏", "华能资本", "equity", "", "100", "XYZ", "", ""], "currency", "not a currency"),
    (["戈壁光伏", "华能资本", "equity", "", "USD 100", "CNY", "", ""], "amount", "currency column says CNY"),
    (["戈壁光伏", "华能资本", "equity", "", "100", "", "", ""], "currency", "cannot be blank"),
    (["戈壁光伏", "华能资本", "equity", "", "100.123", "USD", "", ""], "amount", "decimal places"),
    (["戈壁光伏", "华能资本", "equity", "", "100", "USD", "", "150%"], "", "between 0 and 1"),
    (["戈壁光伏", "华能资本", "landlord", "", "100", "USD", "", ""], "role", "not one of"),
])
def test_bad_participation_rows(tmp_path, lead, deal, cells, field, fragment):
    job = run_import(lead, "participations", write_csv(tmp_path / "p.csv", [PART_HEADER, cells]))
    assert job.status == JobStatus.ROLLED_BACK
    reason = reasons(job)[2]
    assert fragment in reason and (not field or f"[{field}]: " in reason or reason.startswith(f"{field}: ")), reason
    assert not Participation.objects.exists() and not AuditEntry.objects.filter(action__startswith="import").exists()


def test_ambiguous_name_asks_for_the_external_id(tmp_path, lead, deal):
    make_org(legal_name="Twin Capital", external_id="T-1")
    make_org(legal_name="Twin Capital", external_id="T-2")
    rows = [PART_HEADER, ["戈壁光伏", "Twin Capital", "equity", "", "100", "USD", "", ""]]
    job = run_import(lead, "participations", write_csv(tmp_path / "p.csv", rows))
    assert "2 organisations are named" in reasons(job)[2]


def test_database_constraints_are_the_last_line(tmp_path, lead, deal, monkeypatch):
    """Were a check missing in Python, the database refuses the row; the batch is retried row by row,
    so only that row is rejected, with the constraint's own message."""
    monkeypatch.setattr("bcrm.dataio.importer.constraint_tests", lambda model: [])
    rows = [PART_HEADER, ["戈壁光伏", "华能资本", "equity", "", "-100", "USD", "", ""],
            ["戈壁光伏", "华能资本", "mezzanine", "", "100", "USD", "", ""]]
    job = run_import(lead, "participations", write_csv(tmp_path / "p.csv", rows), mode="skip_invalid")
    assert (job.created, job.rejected) == (1, 1)
    assert "The amount cannot be negative." in reasons(job)[2]
    assert list(Participation.objects.values_list("role", flat=True)) == ["mezzanine"]


# ------------------------------------------------------------------------------ contacts, interactions

def test_contacts_upsert_by_organization_and_email_and_refresh_search(tmp_path, lead, org):
    rows = [["客户名称", "姓名", "中文姓名", "邮箱", "主要联系人"],
            ["华能资本", "Zhang Min", "张敏", "zhang.min@huaneng.example", "是"],
            ["Huaneng Capital", "Li Lei", "李雷", "li.lei@huaneng.example", "否"]]
    job = run_import(lead, "contacts", write_csv(tmp_path / "c.csv", rows))
    assert job.created == 2, reasons(job)
    assert list(organization_list(actor=lead, filters={"q": "li.lei@huaneng"})) == [org]
    rows[2][1] = "Li Lei (CFO)"
    rows[2][3] = "LI.LEI@huaneng.example"
    job = run_import(lead, "contacts", write_csv(tmp_path / "c2.csv", rows))
    assert (job.updated, job.unchanged) == (1, 1)
    assert Contact.objects.get(local_name="李雷").full_name == "Li Lei (CFO)"


def test_second_primary_contact_is_rejected(tmp_path, lead, org):
    make_contact(org, full_name="Existing", is_primary=True)
    rows = [["organization", "full_name", "is_primary"], ["Huaneng Capital", "New Boss", "true"]]
    job = run_import(lead, "contacts", write_csv(tmp_path / "c.csv", rows))
    assert "already has a primary contact" in reasons(job)[2]


def test_interactions_natural_key_makes_reimport_idempotent(tmp_path, lead, org):
    make_contact(org, full_name="Zhang Min", email="zm@example.com")
    rows = [["客户名称", "类型", "时间", "摘要", "耗时", "联系人"],
            ["华能资本", "会议", "2026/3/5 14:30", "Term sheet review", "90", "zm@example.com"],
            ["华能资本", "call", "2026-03-06 09:00", "Follow-up call", "", ""]]
    path = write_csv(tmp_path / "i.csv", rows)
    job = run_import(lead, "interactions", path)
    assert job.created == 2, reasons(job)
    meeting = Interaction.objects.get(kind="meeting")
    assert meeting.owner == lead and meeting.minutes_spent == 90
    assert [c.full_name for c in meeting.contacts.all()] == ["Zhang Min"]
    assert Interaction.objects.get(kind="call").minutes_spent == 30  # the model default
    again = run_import(lead, "interactions", path)
    assert (again.created, again.unchanged) == (0, 2)
    assert Interaction.objects.count() == 2


def test_xlsx_with_merged_dates_title_row_and_excel_serials(tmp_path, lead, org):
    rows = [["互动记录 2026"], ["客户名称", "日期", "类型", "摘要"],
            ["华能资本", dt.datetime(2026, 3, 5), "meeting", "Morning session"],
            ["华能资本", None, "call", "Afternoon call"],
            ["华能资本", 46090, "email", "Minutes sent"]]
    path = write_xlsx(tmp_path / "i.xlsx", rows, merges=["A1:D1", "B3:B4"])
    job = run_import(lead, "interactions", path)
    assert job.status == JobStatus.DONE, reasons(job)
    assert job.header_row == 2
    days = dict(Interaction.objects.values_list("kind", "occurred_at"))
    assert days["call"] == days["meeting"]  # filled down from the merged cell
    assert days["email"].date() == dt.date(2026, 3, 9) or days["email"].astimezone().date() == dt.date(2026, 3, 9)


# ------------------------------------------------------------------------------------------ permissions

def test_viewer_cannot_import_and_the_refusal_is_recorded(tmp_path, viewer):
    from bcrm.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        run_import(viewer, "organizations", write_csv(tmp_path / "a.csv", org_rows()))
    job = ImportJob.objects.get()
    assert job.status == JobStatus.FAILED and job.user == viewer
    assert not Organization.objects.exists()


def test_rm_cannot_import_into_another_teams_client(tmp_path, rm, org, foreign_org):
    rows = [["organization", "full_name"], ["Huaneng Capital", "Mine"], ["Platform Ventures", "Not mine"]]
    job = run_import(rm, "contacts", write_csv(tmp_path / "c.csv", rows), mode="skip_invalid")
    assert (job.created, job.rejected) == (1, 1)
    assert "you may not see it" in reasons(job)[3]
    assert not foreign_org.contacts.exists()
    # Nor update it by its external id.
    Organization.objects.filter(pk=foreign_org.pk).update(external_id="F-1")
    rows = [["external_id", "legal_name", "kind", "country"], ["F-1", "Renamed", "fund", "CN"]]
    job = run_import(rm, "organizations", write_csv(tmp_path / "o.csv", rows))
    assert job.status == JobStatus.ROLLED_BACK and "cannot be used here" in reasons(job)[2]
    # The report neither says that another team's client holds the id nor names it.
    report = " ".join(str(row) for row in job.row_reports.values())
    assert "Platform" not in report and "平台" not in report and "belongs" not in report
    assert Organization.objects.get(pk=foreign_org.pk).legal_name == "Platform Ventures"


def test_rm_new_client_stays_within_reach(tmp_path, rm):
    job = run_import(rm, "organizations", write_csv(tmp_path / "a.csv", [["legal_name", "kind", "country"], ["Mine Co", "fund", "CN"]]))
    assert job.created == 1
    assert Organization.objects.get().relationship_manager == rm


def test_compliance_fields_need_the_compliance_permission(tmp_path, rm, compliance, org):
    Organization.objects.filter(pk=org.pk).update(external_id="C-001")
    rows = [["external_id", "legal_name", "kind", "country", "KYC状态", "KYC到期日"],
            ["C-001", "Huaneng Capital", "fund", "CN", "verified", "2027-01-31"]]
    path = write_csv(tmp_path / "k.csv", rows)
    job = run_import(rm, "organizations", path)
    assert job.status == JobStatus.ROLLED_BACK and "Only compliance" in reasons(job)[2]
    job = run_import(compliance, "organizations", path)
    assert job.status == JobStatus.DONE and job.updated == 1, reasons(job)
    org.refresh_from_db()
    assert (org.kyc_status, org.kyc_expires_on) == ("verified", dt.date(2027, 1, 31))
    # Compliance may not touch anything else.
    rows[1][1] = "Renamed by compliance"
    job = run_import(compliance, "organizations", write_csv(tmp_path / "k2.csv", rows))
    assert job.status == JobStatus.ROLLED_BACK


def test_model_clean_runs(tmp_path, lead):
    rows = [["legal_name", "kind", "country", "kyc_status", "rating_agency", "rating_grade"],
            ["A", "fund", "CN", "verified", "", ""], ["B", "fund", "CN", "", "sp", "ZZZ"]]
    job = run_import(lead, "organizations", write_csv(tmp_path / "a.csv", rows))
    found = reasons(job)
    assert "needs its expiry date" in found[2]
    assert "not a grade" in found[3]


def test_project_import_and_sponsor_reference(tmp_path, lead, org):
    rows = [["项目编号", "项目名称", "行业", "国家", "币种", "项目总投资", "发起人"],
            ["PRJ-9", "Delta Wind", "energy", "越南", "USD", "$120,000,000", "华能资本"]]
    job = run_import(lead, "projects", write_csv(tmp_path / "p.csv", rows))
    assert job.created == 1, reasons(job)
    project = Project.objects.get(external_id="PRJ-9")
    assert (project.country.code, project.total_cost, project.sponsor) == ("VN", Decimal("120000000.00"), org)


def test_running_a_job_twice_runs_it_once(tmp_path, lead):
    job = services.import_job_create_from_path(actor=lead, entity="organizations",
                                               path=write_csv(tmp_path / "a.csv", org_rows()), source="cli")
    services.import_job_run(job)
    services.import_job_run(job)
    assert Organization.objects.count() == 3


def test_delete_job_removes_its_files(tmp_path, lead, import_dir):
    rows = org_rows() + [["C-9", "", "", "fund", "CN", "", "", ""]]
    job = run_import(lead, "organizations", write_csv(tmp_path / "a.csv", rows), mode="skip_invalid")
    folder = services.job_directory(job)
    assert (folder / "errors.csv").exists()
    services.import_job_delete(actor=lead, job=job)
    assert not folder.exists() and not ImportJob.objects.exists()


def test_other_users_may_not_delete_a_job(tmp_path, rm, other_rm):
    from bcrm.core.errors import PermissionDenied

    job = run_import(rm, "organizations", write_csv(tmp_path / "a.csv", [["legal_name", "kind", "country"], ["X", "fund", "CN"]]))
    with pytest.raises(PermissionDenied):
        services.import_job_delete(actor=other_rm, job=job)


def test_unexpected_errors_fail_the_job_and_leave_nothing(tmp_path, lead, monkeypatch):
    def boom(self, creates, updates, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("bcrm.dataio.importer.Importer.write_audit", boom)
    job = run_import(lead, "organizations", write_csv(tmp_path / "a.csv", org_rows()))
    assert job.status == JobStatus.FAILED and "disk on fire" in job.message
    assert not Organization.objects.exists()


def test_system_operator_without_a_user(tmp_path, db):
    job = run_import(None, "organizations", write_csv(tmp_path / "a.csv", org_rows()))
    assert job.status == JobStatus.DONE and job.user_label == "system"
    entry = AuditEntry.objects.get(action="import.create", actor__isnull=True, actor_label="system")
    assert entry.changes["created"] == 3 and len(entry.changes["rows"]) == 3


@pytest.mark.parametrize("user_fixture", ["admin"])
def test_owner_by_username_or_name(tmp_path, request, user_fixture, org):
    actor = request.getfixturevalue(user_fixture)
    owner = make_user("wang.wei", "relationship_manager")
    owner.first_name, owner.last_name = "伟", "王"
    owner.save()
    rows = [["organization", "kind", "occurred_at", "summary", "owner"],
            ["Huaneng Capital", "call", "2026-03-05 10:00", "By username", "wang.wei"],
            ["Huaneng Capital", "call", "2026-03-05 11:00", "By Chinese name", "王伟"],
            ["Huaneng Capital", "call", "2026-03-05 12:00", "Nobody", "nobody"]]
    job = run_import(actor, "interactions", write_csv(tmp_path / "i.csv", rows), mode="skip_invalid")
    assert job.created == 2 and "No user" in reasons(job)[4]
    assert set(Interaction.objects.values_list("owner__username", flat=True)) == {"wang.wei"}
