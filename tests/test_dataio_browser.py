"""End to end in real Chromium: upload a Chinese-headed GB18030 sheet, read the preview, commit the valid rows,
download the rejected ones."""


from pathlib import Path

import pytest

from bcrm.parties.models import Organization
from tests.browsing import BROWSER_MARKS, PASSWORD, TIMEOUT_MS
from tests.factories import make_team, make_user

pytestmark = BROWSER_MARKS
SHEET = ("客户编号,机构名称,中文名称,类型,国家/地区,建立关系日期,备注\r\n"
         "C-001,Huaneng Capital Services,华能资本服务有限公司,股权投资人,中国,2019/3/5,老客户\r\n"
         "C-002,Silk Road Fund,丝路基金,基金,CN,2020年1月2日,\r\n"
         "C-003,Broken Holdings,,基金,Atlantis,,\r\n")


@pytest.fixture
def analyst_lead(transactional_db, settings, tmp_path):
    settings.BCRM_IMPORT_DIR = tmp_path / "imports"
    team = make_team("Energy Desk")
    return make_user("wei.li", "lead", team=team, password=PASSWORD)


def test_upload_preview_commit_download(live_server, browser, analyst_lead, tmp_path):
    sheet = tmp_path / "客户清单.csv"
    sheet.write_bytes(SHEET.encode("gb18030"))
    page = browser.new_page(locale="en-US", accept_downloads=True)
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{live_server.url}/data/")
    page.fill("input[name=username]", "wei.li")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("#upload-form")

    page.select_option("select[name=entity]", "organizations")
    page.set_input_files("input[name=file]", str(sheet))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector(".job-status[data-status=done]")
    status = page.inner_text("#job-status")
    assert "Preview: nothing has been saved yet." in status
    assert page.inner_text("[data-count=created]") == "2" and page.inner_text("[data-count=rejected]") == "1"
    assert "“Atlantis” is not a country" in status
    assert "华能资本服务有限公司" in status
    assert not Organization.objects.exists()

    # Only the rejected rows, through htmx, without leaving the page.
    page.click("#job-status a.tag:has-text('Rejected')")
    page.wait_for_function("() => document.querySelectorAll('#job-status tbody tr.outcome-rejected').length === 1 "
                           "&& !document.querySelector('#job-status tbody tr.outcome-created')")

    page.click("button:has-text('Import the 2 valid rows')")
    page.wait_for_selector(".job-status[data-status=done]")
    assert "The valid rows are saved." in page.inner_text("#job-status")
    assert sorted(Organization.objects.values_list("external_id", flat=True)) == ["C-001", "C-002"]

    with page.expect_download() as info:
        page.click("text=Download rejected rows with reasons")
    content = Path(info.value.path()).read_text(encoding="utf-8-sig")
    assert content.splitlines()[0].endswith(",原因") and "Broken Holdings" in content

    # The client list finds what was imported, by its Chinese name.
    page.goto(f"{live_server.url}/clients/?q=丝路")
    assert "Silk Road Fund" in page.inner_text("#org-results")
    # Both runs are in the import history.
    page.goto(f"{live_server.url}/data/")
    assert page.locator("#job-list tbody tr").count() == 2
