"""The data page: upload → preview → commit, history, mappings, exports, permissions."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from bcrm.dataio.choices import JobStatus
from bcrm.dataio.models import ColumnMapping, ImportJob
from bcrm.parties.models import Organization
from tests.doors import signed_in
from tests.factories import make_org
from tests.fixtures_dataio.helpers import read_csv_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("import_dir")]

CSV = "客户名称,类型,国家,网站\r\nAlpha Capital,基金,中国,\r\nBeta Bank,commercial_bank,Atlantis,\r\n".encode("gb18030")


def upload(client, data=CSV, **extra):
    return client.post("/data/", {"entity": "organizations", "file": SimpleUploadedFile("clients.csv", data), **extra})


def test_upload_preview_then_commit_valid_rows(lead):
    client = signed_in(lead)
    response = upload(client)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/data/imports/{job.pk}/"
    assert (job.mode, job.status, job.created, job.rejected) == ("dry_run", JobStatus.DONE, 1, 1)
    page = client.get(response["Location"]).content.decode()
    assert "Preview: nothing has been saved yet." in page
    assert "“Atlantis” is not a country" in page and "Alpha Capital" in page
    assert "Import the 1 valid row, skip the rejected ones" in page
    assert "hx-trigger" not in page.split("<main", 1)[1]  # finished: no polling (the top bar's search has its own)
    assert not Organization.objects.exists()
    response = client.post(f"/data/imports/{job.pk}/rerun/", {"mode": "skip_invalid"})
    rerun = ImportJob.objects.exclude(pk=job.pk).get()
    assert response["Location"] == f"/data/imports/{rerun.pk}/"
    assert (rerun.status, rerun.created, rerun.based_on) == (JobStatus.DONE, 1, job)
    assert list(Organization.objects.values_list("legal_name", flat=True)) == ["Alpha Capital"]
    page = client.get(response["Location"]).content.decode()
    assert "The valid rows are saved." in page and f"/data/imports/{rerun.pk}/errors/" in page
    errors = client.get(f"/data/imports/{rerun.pk}/errors/")
    rows = read_csv_bytes(b"".join(errors.streaming_content))
    assert rows[0] == ["客户名称", "类型", "国家", "网站", "原因"] and rows[1][0] == "Beta Bank"


def test_clean_file_offers_import_all(lead):
    client = signed_in(lead)
    upload(client, data=b"legal_name,kind,country\r\nAlpha,fund,CN\r\n")
    job = ImportJob.objects.get()
    page = client.get(f"/data/imports/{job.pk}/").content.decode()
    assert "Import 1 row" in page
    client.post(f"/data/imports/{job.pk}/rerun/", {"mode": "commit"})
    assert Organization.objects.count() == 1


def test_row_table_filters_and_pages(lead):
    client = signed_in(lead)
    rows = "".join(f"Org {i},fund,{'CN' if i % 3 else 'Nowhere'}\r\n" for i in range(120))
    upload(client, data=("legal_name,kind,country\r\n" + rows).encode())
    job = ImportJob.objects.get()
    page = client.get(f"/data/imports/{job.pk}/?outcome=rejected", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-status")
    html = page.content.decode()
    assert "<html" not in html and html.count("outcome-rejected") == 40
    page = client.get(f"/data/imports/{job.pk}/?page=3").content.decode()
    assert "Org 119" in page


def test_running_job_page_polls(lead):
    job = ImportJob.objects.create(user=lead, entity="organizations", file_name="x.csv", status=JobStatus.RUNNING)
    page = signed_in(lead).get(f"/data/imports/{job.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in page and "Reading the file" in page


def test_failed_file_shows_the_reason(lead):
    client = signed_in(lead)
    upload(client, data=b"legal_name,kind\r\nAlpha,fund\r\n")
    job = ImportJob.objects.get()
    page = client.get(f"/data/imports/{job.pk}/").content.decode()
    assert "The file could not be imported." in page and "Required column missing: country" in page


def test_mapping_mismatch_and_size_limit_errors_on_the_form(lead, settings):
    client = signed_in(lead)
    mapping = ColumnMapping.objects.create(name="contacts legacy", entity="contacts", columns={"X": "full_name"})
    response = upload(client, mapping=mapping.pk)
    assert response.status_code == 200 and "This mapping is for Contacts." in response.content.decode()
    settings.BCRM_IMPORT_MAX_BYTES = 10
    response = upload(client)
    assert response.status_code == 200 and "the most an import takes" in response.content.decode()


def test_viewer_sees_history_but_cannot_import(viewer):
    client = signed_in(viewer)
    page = client.get("/data/").content.decode()
    assert "Check the file" not in page and "Export" in page
    assert upload(client).status_code == 403
    assert ImportJob.objects.get().status == JobStatus.FAILED


def test_other_users_cannot_open_my_import(rm, other_rm):
    upload(signed_in(rm))
    job = ImportJob.objects.get()
    assert signed_in(other_rm).get(f"/data/imports/{job.pk}/").status_code == 404
    assert signed_in(other_rm).post(f"/data/imports/{job.pk}/rerun/", {"mode": "commit"}).status_code == 404


def test_save_columns_as_mapping_and_delete_job(lead):
    client = signed_in(lead)
    upload(client)
    job = ImportJob.objects.get()
    client.post(f"/data/imports/{job.pk}/mapping/", {"name": "team sheet"})
    assert ColumnMapping.objects.get().columns == {"客户名称": "legal_name", "类型": "kind", "国家": "country",
                                                   "网站": "website"}
    response = client.post(f"/data/imports/{job.pk}/delete/")
    assert response.status_code == 302 and not ImportJob.objects.exists()


def test_mapping_page(lead):
    client = signed_in(lead)
    response = client.post("/data/mappings/", {"name": "legacy", "entity": "organizations",
                                               "columns": "Firm = legal_name\nLand = country\nJunk ="})
    assert response.status_code == 302
    assert ColumnMapping.objects.get().columns == {"Firm": "legal_name", "Land": "country", "Junk": ""}
    response = client.post("/data/mappings/", {"name": "bad", "entity": "organizations", "columns": "Firm = planet"})
    assert "Not a column of this entity: planet" in response.content.decode()
    assert "legacy" in client.get("/data/mappings/").content.decode()


def test_export_link_applies_the_client_list_filters(rm, team, foreign_org):
    make_org(legal_name="Team Fund", kind="fund", team=team)
    make_org(legal_name="Team Bank", kind="commercial_bank", team=team)
    client = signed_in(rm)
    response = client.get("/data/export/organizations/?kind=fund&format=csv&headers=name")
    rows = read_csv_bytes(b"".join(response.streaming_content))
    assert [r[rows[0].index("legal_name")] for r in rows[1:]] == ["Team Fund"]
    response = client.get("/data/export/organizations/?format=csv")
    rows = read_csv_bytes(b"".join(response.streaming_content))
    assert rows[0][:3] == ["bcrm ID", "external id", "legal name"]  # labels in the page's language
    assert "Platform Ventures" not in str(rows)
    response = client.get("/data/export/organizations/?format=xlsx", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert client.get("/data/export/planets/").status_code == 404
    assert client.get("/data/export/organizations/?country=XX").status_code == 422
