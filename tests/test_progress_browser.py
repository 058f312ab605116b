"""The progress page in real Chromium: the report preview with its interactive chart, nothing fetched
from outside, the period switch through htmx."""

from __future__ import annotations

import pytest

from tests.browsing import BROWSER_MARKS, PASSWORD, TIMEOUT_MS
from tests.factories import make_team, make_user
from tests.progress_fixtures import PERIOD, solar_project

pytestmark = BROWSER_MARKS


@pytest.fixture
def seeded(transactional_db):
    team = make_team("Energy Desk")
    rm = make_user("rm.progress", "relationship_manager", team=team, password=PASSWORD)
    project, _orgs = solar_project(team)
    return rm, project


def test_progress_page_shows_the_preview_and_the_chart(live_server, browser, seeded, tmp_path):
    rm, project = seeded
    page = browser.new_page(locale="en-US", viewport={"width": 1360, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    outside, errors = [], []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((live_server.url, "data:")) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server.url}/projects/{project.pk}/progress/?period={PERIOD}&language=en")
    page.fill("input[name=username]", rm.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url(f"**/projects/{project.pk}/progress/**")
    preview = page.locator("#report-preview")
    assert "Grid connection agreement" in preview.inner_text()
    page.wait_for_selector("#chart-financing-progress .chart-canvas svg")  # vega-embed drew the chart
    assert page.locator("#chart-financing-progress .chart-canvas svg text", has_text="Committed").count() >= 1
    assert page.locator("a[data-download-pdf]").get_attribute("href").endswith(f"period={PERIOD}&language=en")
    page.screenshot(path=str(tmp_path / "progress_en.png"), full_page=True)

    # Switch the language: htmx swaps the preview, the chart is drawn again.
    page.select_option("select[name=language]", "zh-hans")
    page.wait_for_function("() => document.querySelector('#report-preview').innerText.includes('并网协议')")
    page.wait_for_selector("#chart-financing-progress .chart-canvas svg")
    assert "language=zh-hans" in page.url
    assert not outside, outside
    assert not errors, errors
    page.close()
