"""End to end in real Chromium: log in, find a client by its Chinese name, record a meeting, switch language."""


import pytest

from tests.browsing import BROWSER_MARKS, PASSWORD, TIMEOUT_MS
from tests.factories import make_contact, make_org, make_team, make_user

pytestmark = BROWSER_MARKS


@pytest.fixture
def portfolio(transactional_db):
    team = make_team("Energy Desk")
    user = make_user("wei.li", "relationship_manager", team=team, password=PASSWORD)
    org = make_org(legal_name="Huaneng Capital Co., Ltd.", local_name="华能资本服务有限公司", team=team, kind="equity_investor")
    make_contact(org, full_name="Zhang Min", local_name="张敏", is_primary=True)
    for i in range(5):
        make_org(legal_name=f"Other Fund {i}", team=team)
    return user, org


def test_find_client_record_meeting_switch_language(live_server, browser, portfolio, tmp_path):
    user, org = portfolio
    page = browser.new_page(locale="en-US")
    page.set_default_timeout(TIMEOUT_MS)

    page.goto(f"{live_server.url}/clients/")
    assert "/login/" in page.url  # every page needs a login
    page.fill("input[name=username]", "wei.li")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("main input[name=q]")  # main: the top bar has the global search
    assert "/login/" not in page.url

    # Search by the Chinese name: htmx swaps only the results.
    page.fill("main input[name=q]", "华能资本")
    page.wait_for_function("() => document.querySelectorAll('#org-results tbody tr').length === 1")
    assert "Other Fund" not in page.inner_text("#org-results")
    page.click("#org-results a:has-text('Huaneng Capital')")
    page.wait_for_url(f"**/clients/{org.pk}/")
    assert "华能资本服务有限公司" in page.inner_text("main")

    # Record a meeting with the primary contact.
    page.click("text=Record interaction")
    page.check("input[name=kind][value=meeting]")
    page.check("label:has-text('Zhang Min') input")
    page.fill("textarea[name=summary]", "Term sheet walk-through with the investment committee")
    page.fill("input[name=minutes_spent]", "75")
    page.click("form button[type=submit].primary")
    page.wait_for_url(f"**/clients/{org.pk}/**")
    timeline = page.inner_text("#timeline")
    assert "Term sheet walk-through with the investment committee" in timeline
    assert "Zhang Min" in timeline
    page.screenshot(path=str(tmp_path / "after_meeting.png"), full_page=True)

    # Switch to Chinese: the same page, now in Simplified Chinese.
    page.click("button[value=zh-hans]")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.lang").lower().startswith("zh")
    assert "时间线" in page.inner_text("main")
    assert "Term sheet walk-through" in page.inner_text("#timeline")
    page.close()


def test_browser_language_is_the_first_choice(live_server, browser, portfolio):
    page = browser.new_page(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    page.goto(f"{live_server.url}/login/")
    assert "登录" in page.inner_text("body")
    page.close()
