"""The monitoring dashboard in real Chromium, in English and in Chinese: every chart is drawn by the vendored
vega-embed (an svg inside its container, no outside request), and the table matches the stored figures.
Screenshots go to /tmp/monitoring_shots/."""

from __future__ import annotations

import io
import os
from decimal import Decimal
from pathlib import Path

import pytest

from bcrm.monitoring import services
from tests.browsing import BROWSER_MARKS, PASSWORD, TIMEOUT_MS
from tests.factories import make_participation, make_project, make_team, make_user
from tests.test_monitoring_snapshot import NOW, PERIOD, answer, client, local, request, talk, task

pytestmark = BROWSER_MARKS
SHOTS = Path(os.environ.get("BCRM_SHOTS", "/tmp/monitoring_shots"))
CHARTS = ("commitments-share", "lorenz-commitments", "nps-interval", "service-levels", "pipeline-status", "trend")


@pytest.fixture
def snapshots(transactional_db, settings):
    team = make_team("Energy Desk")
    lead = make_user("lead.person", "lead", password=PASSWORD)
    project = make_project(name="Qinghai Solar")
    for i in range(8):
        dedicated = i % 3 == 0
        org = client(team, "high" if dedicated else "general", "low", "ordinary",
                     "dedicated" if dedicated else "standard")
        make_participation(project, org, amount=Decimal(100_000 * (i + 1)), currency="USD",
                           status="funded" if dedicated else "term_sheet", status_changed_at=local(2026, 3, 2))
        for month in (3, 4):
            answer(org, local(2026, month, 5 + i), nps=(9 if dedicated else 4 + i % 6), csat=3 + i % 3)
            talk(org, local(2026, month, 6 + i), 30 + 10 * i)
            task(org, local(2026, month, 7 + i), local(2026, month, 7 + i + i % 2))
            request(org, local(2026, month, 8 + i), local(2026, month, 9 + i),
                    local(2026, month, 8 + i, 15) if i % 2 else local(2026, month, 10 + i))
    for period in ("2026-03", PERIOD):
        services.compute_snapshot(actor=lead, period=period, now=NOW)
    return lead


def test_the_dashboard_draws_its_charts_in_english_and_chinese(live_server, browser, snapshots):
    page = browser.new_page(locale="en-US", viewport={"width": 1360, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    outside, errors = [], []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((live_server.url, "data:")) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server.url}/dashboard/")
    page.fill("input[name=username]", "lead.person")
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url("**/dashboard/")
    for key in CHARTS:
        page.wait_for_selector(f"#chart-{key} .chart-canvas svg")
    assert page.inner_text("#kpi-table tr[data-segment=all] [data-col=clients]") == "8"
    assert "Dedicated service" in page.inner_text("#chart-commitments-share .chart-canvas")
    page.click("#chart-nps-interval .chart-table > summary")
    assert page.is_visible("#chart-nps-interval table")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "dashboard_en.png"), full_page=True)

    page.click("button[value=zh-hans]")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.lang").lower().startswith("zh")
    for key in CHARTS:
        page.wait_for_selector(f"#chart-{key} .chart-canvas svg")
    assert "专属服务" in page.inner_text("#chart-commitments-share .chart-canvas")
    assert "专属服务" in page.inner_text("#kpi-table")
    assert "已放款" in page.inner_text("#pipeline-table")  # funded
    page.screenshot(path=str(SHOTS / "dashboard_zh.png"), full_page=True)
    with page.expect_download() as download:  # the management report, in the reader's language
        page.click("#report-link")
    from pypdf import PdfReader

    assert download.value.suggested_filename == "management-report-2026-04-zh-hans.pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(Path(download.value.path()).read_bytes())).pages)
    assert "管理报告" in text and "专属服务" in text
    assert not errors, errors
    assert not outside, outside
    page.close()
