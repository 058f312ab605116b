"""The preview-then-save flow in real Chromium: an analyst opens Segmentation → value, changes the criterion,
previews who would move, saves a new version, runs it, and finds the new label and its "why" on a client's
360° page; then the same pages in Chinese. Screenshots go to /tmp/seg_shots/."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest
from django.utils import timezone

from bcrm.segmentation import services
from bcrm.segmentation.models import Criterion, Run
from tests import browsing
from tests.browsing import BROWSER_MARKS, PASSWORD, TIMEOUT_MS
from tests.factories import make_org, make_participation, make_project, make_team, make_user

pytestmark = BROWSER_MARKS
SHOTS = Path(os.environ.get("BCRM_SHOTS", "/tmp/seg_shots"))


@pytest.fixture
def segmented(transactional_db):
    """40 graded investors and 3 without history, the value dimension classified once."""
    team = make_team("Energy Desk")
    analyst = make_user("ana.lyst", "analyst", password=PASSWORD)
    project = make_project(name="Offshore Wind")
    orgs = []
    for i in range(40):
        org = make_org(legal_name=f"Investor {i:02d} Capital", local_name=f"投资者{i:02d}资本", team=team,
                       kyc_status="verified", relationship_since=timezone.localdate() - dt.timedelta(days=900))
        make_participation(project, org, amount=Decimal(10_000 * (i + 1) ** 2), status="funded",
                           fee_income=Decimal(100 * (i + 1)), status_changed_at=timezone.now() - dt.timedelta(days=60))
        orgs.append(org)
    for i in range(3):
        make_org(legal_name=f"Unknown {i}", team=team)
    services.run_segmentation(actor=analyst, dimension="value")
    return analyst, orgs




shot = partial(browsing.shot, SHOTS)


def test_preview_then_save_then_run_and_the_why_on_the_360_page(live_server, browser, segmented):
    analyst, orgs = segmented
    first = Run.objects.get()  # run ids are not reset between tests on PostgreSQL
    page = browser.new_page(locale="en-US", viewport={"width": 1360, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((live_server.url, "data:")) else None)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{live_server.url}/segmentation/")
    page.fill("input[name=username]", "ana.lyst")
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url("**/segmentation/value/")
    page.click(".seg-tabs a[data-dimension=value]")
    # the charts are drawn by the vendored vega-embed, with a table view beside each
    page.wait_for_selector(f"#chart-distribution-{first.pk} .chart-canvas svg")
    page.wait_for_selector(f"#chart-lorenz-{first.pk} .chart-canvas svg")
    assert "Dividing line" in page.inner_text(f"#chart-distribution-{first.pk} .chart-canvas")
    page.click(f"#chart-distribution-{first.pk} .chart-table > summary")
    assert page.is_visible(f"#chart-distribution-{first.pk} table")
    assert "Too little history" in page.inner_text("#insufficient-queue")
    shot(page, "1_overview_en")

    # Edit the criterion: top share q 0.2 → 0.3, then preview (htmx swaps the editor in place).
    page.click(".seg-subnav >> text=Criterion")
    page.wait_for_selector("#criterion-form")
    assert page.is_visible("#criterion-form input[name=q]") and not page.is_visible("input[name=threshold]")
    page.fill("#criterion-form input[name=q]", "0.3")
    page.fill("input[name=note]", "Top 30 % for the new fund cycle")
    page.click("button[data-action=preview]")
    page.wait_for_selector("#preview")
    preview = page.inner_text("#preview")
    assert "would rise to “High value”" in preview
    risers = page.locator("#moved-up li a").all_inner_texts()
    assert risers and all(name.startswith("Investor") for name in risers)
    page.wait_for_selector("#preview .chart-canvas svg")
    assert Criterion.objects.filter(dimension="value").count() == 1 and Run.objects.count() == 1
    shot(page, "2_preview_en")

    # Save as a new version: the history shows it, by whom and why.
    page.click("#preview button[value=save]")
    page.wait_for_selector('#version-history tr[data-version="2"]')
    row = page.inner_text('#version-history tr[data-version="2"]')
    assert "Top 30 % for the new fund cycle" in row and "ana.lyst" in row and "active" in row
    assert Criterion.objects.get(dimension="value", is_active=True).params == {"q": 0.3}

    # Run it; the run page lists the new classes.
    page.click(".seg-subnav >> text=Overview")
    page.click("button[data-action=run-now]")
    page.wait_for_url("**/segmentation/runs/*/")
    run = Run.objects.order_by("-pk").first()
    assert run.criterion.version == 2 and f"Run #{run.pk}" in page.inner_text("main")
    shot(page, "3_run_en")

    # A client that rose: its 360° page shows the label and why, in words.
    riser = next(o for o in orgs if o.legal_name == risers[0])
    page.goto(f"{live_server.url}/clients/{riser.pk}/")
    card = page.inner_text("#segmentation")
    assert "High value" in card and "above the line" in card and "lifts the score" in card
    shot(page, "4_client_en")

    # The same in Chinese.
    page.click("button[value=zh-hans]")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.lang").lower().startswith("zh")
    assert "客户分类" in page.inner_text("#segmentation h2")
    page.goto(f"{live_server.url}/segmentation/value/")
    page.wait_for_selector(f"#chart-distribution-{run.pk} .chart-canvas svg")
    heading = page.inner_text("main h1")
    assert heading == "客户分类"
    assert "分界阈值" in page.inner_text(f"#chart-distribution-{run.pk} .chart-canvas")
    shot(page, "5_overview_zh")
    page.click(".seg-subnav >> text=分类标准")
    page.wait_for_selector("#criterion-form")
    assert "版本历史" in page.inner_text("#versions")
    shot(page, "6_criterion_zh")

    assert not errors, errors
    assert not outside, outside  # no CDN, no external request
    page.close()
