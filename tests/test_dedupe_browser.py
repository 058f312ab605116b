"""End to end in real Chromium: a lead finds a probable duplicate, previews the merge, confirms it and lands
on the survivor's 360° page with the duplicate's contacts and meetings."""


import pytest

from bcrm.dedupe.services import duplicate_scan
from bcrm.engagement.models import Interaction
from bcrm.parties.models import Organization
from tests.browsing import BROWSER_MARKS, PASSWORD, TIMEOUT_MS
from tests.factories import make_contact, make_org, make_team, make_user

pytestmark = BROWSER_MARKS


@pytest.fixture
def book(transactional_db):
    team = make_team("Energy Desk")
    make_user("lead.chen", "lead", team=team, password=PASSWORD)
    survivor = make_org(legal_name="Huaneng Capital Co., Ltd.", local_name="华能资本服务有限公司", team=team,
                        kind="equity_investor")
    duplicate = make_org(legal_name="HUANENG CAPITAL LIMITED", local_name="华能资本服务股份有限公司", team=team,
                         kind="equity_investor", website="https://www.hn-capital.com.cn")
    make_contact(survivor, full_name="Wang Wei", is_primary=True)
    zhang = make_contact(duplicate, full_name="Zhang Min", local_name="张敏", is_primary=True)
    meeting = Interaction.objects.create(organization=duplicate, kind="meeting", occurred_at="2026-03-02T10:00:00+08:00",
                                         summary="Investment committee walk-through")
    meeting.contacts.add(zhang)
    make_org(legal_name="Unrelated Fund", team=team)
    duplicate_scan(entity="organizations")
    return survivor, duplicate


def test_find_preview_and_merge(live_server, browser, book, tmp_path):
    survivor, duplicate = book
    page = browser.new_page(locale="en-US")
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{live_server.url}/duplicates/")
    page.fill("input[name=username]", "lead.chen")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector(".dup-group")

    group = page.inner_text(".dup-group")
    assert "HUANENG CAPITAL LIMITED" in group and "华能资本服务有限公司" in group
    assert "Same legal name" in group and "Unrelated Fund" not in page.inner_text("main")
    page.screenshot(path=str(tmp_path / "groups.png"), full_page=True)

    page.click("text=Review and merge")
    page.wait_for_selector("#merge-preview .merge-plan")
    preview = page.inner_text("#merge-preview")
    assert "https://www.hn-capital.com.cn" in preview  # the survivor's empty website is filled
    assert "Contacts" in page.inner_text("#merge-moves")

    # Choosing the other record as survivor swaps the preview in place (htmx), nothing is written.
    page.check(f"input[name=survivor][value='{duplicate.pk}']")
    page.wait_for_function(
        f"() => document.querySelector('#merge-preview input[name=survivor]')?.value === '{duplicate.pk}'")
    page.check(f"input[name=survivor][value='{survivor.pk}']")
    page.wait_for_function(
        f"() => document.querySelector('#merge-preview input[name=survivor]')?.value === '{survivor.pk}'")
    page.wait_for_selector("#confirm-merge:not([disabled])")
    assert Organization.objects.count() == 3
    page.screenshot(path=str(tmp_path / "preview.png"), full_page=True)

    page.click("#confirm-merge")
    page.wait_for_url(f"**/clients/{survivor.pk}/")
    main = page.inner_text("main")
    assert "Merged HUANENG CAPITAL LIMITED" in main
    assert "Zhang Min" in main and "Investment committee walk-through" in page.inner_text("#timeline")
    assert not Organization.objects.filter(pk=duplicate.pk).exists()
    page.screenshot(path=str(tmp_path / "survivor.png"), full_page=True)

    # The group is gone from the list.
    page.goto(f"{live_server.url}/duplicates/")
    assert "No probable duplicates" in page.inner_text("main")
    page.close()
