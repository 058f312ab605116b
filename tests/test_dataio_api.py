"""The import/export REST API as a client uses it."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from bcrm.dataio.models import ImportJob
from bcrm.parties.models import Organization
from tests import doors
from tests.factories import make_org
from tests.fixtures_dataio.helpers import read_csv_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("import_dir")]

CSV = ("客户编号,机构名称,类型,国家\r\nC-1,Alpha Capital,基金,中国\r\nC-2,Beta Bank,commercial_bank,Atlantis\r\n"
       "C-3,Gamma Partners,strategic_partner,SG\r\n").encode()


class Api(doors.Api):
    def upload(self, data=CSV, name="clients.csv", **fields):
        return self.post_form("/imports", {"entity": "organizations", "file": SimpleUploadedFile(name, data), **fields})


def test_dry_run_then_commit_the_valid_rows(lead):
    api = Api(lead)
    status, job = api.upload(mode="dry_run")
    assert status == 202, job
    assert (job["status"], job["mode"], job["rows"], job["created"], job["rejected"]) == ("done", "dry_run", 3, 2, 1)
    assert job["columns"] == {"客户编号": "external_id", "机构名称": "legal_name", "类型": "kind", "国家": "country"}
    rejected = [r for r in job["first_rows"] if r["outcome"] == "rejected"]
    assert rejected[0]["number"] == 3 and rejected[0]["errors"][0]["field"] == "country"
    assert len(job["file_sha256"]) == 64 and job["progress"] == 3 and job["progress_fraction"] == 1.0
    assert not Organization.objects.exists()

    status, rerun = api.call("post", f"/imports/{job['id']}/rerun", {"mode": "skip_invalid"})
    assert status == 202 and rerun["based_on"] == job["id"]
    assert (rerun["status"], rerun["created"], rerun["rejected"]) == ("done", 2, 1)
    assert Organization.objects.count() == 2
    status, errors = api.get(f"/imports/{rerun['id']}/errors")
    assert status == 200
    rows = read_csv_bytes(b"".join(errors.streaming_content))
    assert rows[0] == ["客户编号", "机构名称", "类型", "国家", "原因"] and rows[1][:4] == ["C-2", "Beta Bank", "commercial_bank", "Atlantis"]


def test_default_is_all_or_nothing(lead):
    status, job = Api(lead).upload()
    assert status == 202 and job["status"] == "rolled_back" and job["mode"] == "commit"
    assert not Organization.objects.exists()


def test_rows_paging_and_filter(lead):
    api = Api(lead)
    _, job = api.upload(mode="dry_run")
    status, page = api.get(f"/imports/{job['id']}/rows?outcome=rejected&page_size=1")
    assert status == 200 and page["count"] == 1 and page["items"][0]["label"] == "Beta Bank"
    assert api.get(f"/imports/{job['id']}/rows?outcome=bogus")[0] == 422
    status, listing = api.get("/imports")
    assert status == 200 and listing["items"][0]["id"] == job["id"]


def test_viewer_gets_403_and_the_attempt_is_recorded(viewer):
    status, body = Api(viewer).upload()
    assert status == 403 and body["error"]["code"] == "permission_denied"
    assert ImportJob.objects.get().status == "failed"


def test_imports_are_private_to_their_owner(rm, other_rm, lead):
    _, job = Api(rm).upload(mode="dry_run")
    assert Api(other_rm).get(f"/imports/{job['id']}")[0] == 404
    assert Api(other_rm).call("delete", f"/imports/{job['id']}")[0] == 404
    assert Api(lead).get(f"/imports/{job['id']}")[0] == 200
    assert Api(rm).call("delete", f"/imports/{job['id']}")[0] == 204
    assert not ImportJob.objects.exists()


def test_upload_limit(lead, settings):
    settings.BCRM_IMPORT_MAX_BYTES = 100
    status, body = Api(lead).upload()
    assert status == 422 and "the most an import takes" in body["error"]["fields"][0]["message"]
    assert ImportJob.objects.get().status == "failed"


def test_bad_input_is_422(lead):
    api = Api(lead)
    assert api.upload(entity="planets")[0] == 422
    assert api.upload(mode="yolo")[0] == 422
    status, body = api.upload(mapping="nope")
    assert status == 422 and body["error"]["fields"][0]["path"] == "mapping"
    status, job = api.upload(data=b"\xff\xfe\x00garbage", mode="dry_run")
    assert status == 202 and job["status"] == "failed" and "not UTF-8 or GB18030" in job["message"]


def test_export_csv_and_xlsx_with_filters_restricted_to_what_the_user_sees(rm, team, foreign_org):
    make_org(legal_name="Team Fund", kind="fund", team=team, external_id="T-1", kyc_status="pending")
    make_org(legal_name="Team Bank", kind="commercial_bank", team=team)
    api = Api(rm)
    status, response = api.get("/exports/organizations?kind=fund")
    assert status == 200 and response["Content-Type"].startswith("text/csv")
    rows = read_csv_bytes(b"".join(response.streaming_content))
    assert [r[rows[0].index("legal_name")] for r in rows[1:]] == ["Team Fund"]
    assert "kyc_status" not in rows[0]  # a relationship manager does not see compliance fields
    status, response = api.get("/exports/organizations?format=xlsx&headers=zh")
    assert status == 200
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][:3] == ["bcrm编号", "外部编号", "法定名称"]
    assert sorted(r[2] for r in values[1:]) == ["Team Bank", "Team Fund"]  # not the other team's client
    assert api.get("/exports/organizations?country=XX")[0] == 422
    assert api.get("/exports/planets")[0] == 422


def test_export_contacts_of_filtered_clients(lead, team):
    from tests.factories import make_contact

    fund = make_org(legal_name="Team Fund", kind="fund", team=team)
    bank = make_org(legal_name="Team Bank", kind="commercial_bank", team=team)
    make_contact(fund, full_name="Fund Person")
    make_contact(bank, full_name="Bank Person")
    _, response = Api(lead).get("/exports/contacts?kind=fund")
    rows = read_csv_bytes(b"".join(response.streaming_content))
    assert [r[rows[0].index("full_name")] for r in rows[1:]] == ["Fund Person"]


def test_mappings(lead, viewer):
    api = Api(lead)
    status, mapping = api.call("post", "/mappings", {"name": "legacy", "entity": "organizations",
                                                     "columns": {"Firm": "legal_name", "Junk": ""}})
    assert status == 201 and mapping["owner"] == lead.username
    status, body = api.call("post", "/mappings", {"name": "legacy", "entity": "organizations", "columns": {"A": "legal_name"}})
    assert status == 422
    status, body = api.call("post", "/mappings", {"name": "bad", "entity": "organizations", "columns": {"A": "planet"}})
    assert status == 422 and "planet" in body["error"]["fields"][0]["message"]
    assert api.get("/mappings?entity=organizations")[1][0]["name"] == "legacy"
    status, updated = api.call("patch", f"/mappings/{mapping['id']}", {"columns": {"Firm": "legal_name", "Land": "country"}})
    assert status == 200 and updated["columns"]["Land"] == "country"
    assert Api(viewer).call("post", "/mappings", {"name": "v", "entity": "organizations", "columns": {"A": "legal_name"}})[0] == 403
    status, job = api.upload(data=b"Firm,Land,kind\r\nAlpha,CN,fund\r\n", mapping="legacy")
    assert job["status"] == "done" and job["created"] == 1
    assert api.call("delete", f"/mappings/{mapping['id']}")[0] == 204
