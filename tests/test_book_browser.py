"""The book page in real Chromium: the ladder chart drawn offline, an allocation previewed and committed."""

from __future__ import annotations

import pytest

from bcrm.financing.models import Participation
from tests.browsing import BROWSER_MARKS, PASSWORD, TIMEOUT_MS
from tests.factories import make_user
from tests.test_book import build_book

pytestmark = BROWSER_MARKS


@pytest.fixture
def seeded(transactional_db):
    return make_user("lead.book", "lead", password=PASSWORD), build_book()


def test_book_page_previews_and_commits_an_allocation(live_server, browser, seeded):
    lead, book = seeded
    page = browser.new_page(locale="en-US", viewport={"width": 1360, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    outside, errors = [], []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((live_server.url, "data:")) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server.url}/projects/{book.project_id}/book/?tranche=A")
    page.fill("input[name=username]", lead.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url(f"**/projects/{book.project_id}/book/**")
    page.wait_for_selector("#chart-book-ladder .chart-canvas svg")  # vega-embed drew the charts
    page.wait_for_selector("#chart-book-history .chart-canvas svg")
    page.select_option("select[name=policy]", "priority")
    page.click("form.inline-form button[type=submit]")
    page.wait_for_url("**policy=priority**")
    assert "Would allocate 1,000,000.00 of 1,000,000.00 USD" in page.inner_text("#h-allocation + form + p")
    page.click("text=Commit this allocation")
    page.wait_for_url(f"**/projects/{book.project_id}/book/?tranche=A")
    assert "Allocated 1,000,000.00 USD" in page.content()
    assert Participation.objects.filter(status="allocated").count() == 2
    assert not outside, outside
    assert not errors, errors
    page.close()
