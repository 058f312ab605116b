"""The daily hour in real Chromium on a phone-sized screen (375 px): the menu button opens the navigation
and a link in it works, a long unbroken client name wraps inside its box instead of running off the page,
and the top bar's search opens with "/" and Ctrl+K and leads to a client. Screenshots: /tmp/daily_shots/."""

from __future__ import annotations

import datetime as dt
import os
from functools import partial
from pathlib import Path

import pytest
from django.utils import timezone

from bcrm.engagement.models import Task
from tests import browsing
from tests.browsing import BROWSER_MARKS, PASSWORD
from tests.factories import make_contact, make_org, make_team, make_user

pytestmark = BROWSER_MARKS
SHOTS = Path(os.environ.get("BCRM_SHOTS", "/tmp/daily_shots"))
WAIT = 45_000  # ms: the machine is shared, so every wait is generous (and none is a fixed sleep)
LONG = "Supercalifragilisticexpialidocious" * 2 + "InfrastructureCapital"  # 89 characters, no space


@pytest.fixture
def desk(transactional_db):
    team = make_team("Energy Desk")
    rm = make_user("li.na", "relationship_manager", team=team, password=PASSWORD)
    long_org = make_org(legal_name=LONG, local_name="超长名称" * 10, team=team, relationship_manager=rm)
    huaneng = make_org(legal_name="Huaneng Capital", local_name="华能资本", team=team, relationship_manager=rm)
    make_contact(huaneng, full_name="Wang Lei", email="wang.lei@huaneng.example")
    Task.objects.create(title=LONG, organization=long_org, assignee=rm, due_at=timezone.now() + dt.timedelta(days=1))
    assert len(LONG) >= 80 and " " not in LONG
    return {"rm": rm, "long": long_org, "huaneng": huaneng}


shot = partial(browsing.shot, SHOTS)


def fits(page, selector: str) -> dict:
    """The element's own width against its container's, and the page's against the window."""
    return page.eval_on_selector(selector, """el => ({
        scroll: el.scrollWidth, client: el.clientWidth,
        parentScroll: el.parentElement.scrollWidth, parentClient: el.parentElement.clientWidth,
        right: el.getBoundingClientRect().right, window: window.innerWidth,
        page: document.documentElement.scrollWidth })""")


def test_phone_menu_long_names_and_search(live_server, browser, desk):
    page = browser.new_page(locale="en-US", viewport={"width": 375, "height": 760}, is_mobile=True, has_touch=True)
    page.set_default_timeout(WAIT)
    outside, errors = [], []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((live_server.url, "data:")) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "li.na")
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url("**/my-day/")  # a relationship manager's day starts on My day

    # The navigation is folded away behind the menu button, which says so.
    toggle = page.locator("button.nav-toggle")
    toggle.wait_for(state="visible")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert toggle.get_attribute("aria-controls") == "mainnav"
    assert not page.locator("#mainnav").is_visible()
    shot(page, "01-my-day-phone")
    toggle.click()
    page.wait_for_selector("#mainnav", state="visible")
    assert toggle.get_attribute("aria-expanded") == "true"
    assert page.locator("#mainnav a[href='/segmentation/']").count() == 0  # not for a relationship manager
    shot(page, "02-menu-open")
    toggle.click()
    page.wait_for_selector("#mainnav", state="hidden")
    assert toggle.get_attribute("aria-expanded") == "false"
    # My day lists the long-named client's task: it wraps too
    item = f"li.task-item:has(a[href='/clients/{desk['long'].pk}/'])"
    page.wait_for_selector(item)
    for part in (f"{item} .task-title", f"{item} .sub"):
        box = fits(page, part)
        assert box["scroll"] <= box["client"] and box["right"] <= box["window"], (part, box)
    toggle.click()
    page.wait_for_selector("#mainnav", state="visible")
    page.locator("#mainnav a[href='/tasks/']").click()
    page.wait_for_url("**/tasks/")
    page.wait_for_selector("main h1:has-text('Tasks')")

    # A long unbroken name wraps inside its cell and heading instead of widening the page.
    cell = f"#task-results td:has(a[href='/clients/{desk['long'].pk}/'])"
    page.wait_for_selector(cell)
    shot(page, "03-tasks-long-name")
    box = fits(page, cell)
    assert box["scroll"] <= box["client"], box
    assert box["page"] <= box["window"], box
    page.goto(f"{live_server.url}/clients/{desk['long'].pk}/")
    page.wait_for_selector("main h1")
    shot(page, "04-client-long-name")
    box = fits(page, "main h1")
    assert box["scroll"] <= box["client"] and box["parentScroll"] <= box["parentClient"], box
    assert box["right"] <= box["window"] and box["page"] <= box["window"], box
    page.wait_for_selector("#service [data-tier]")  # the service tier heads the 360° page
    box = fits(page, "#h-tasks + ul.items li")
    assert box["scroll"] <= box["client"] and box["right"] <= box["window"], box

    # "/" focuses the top bar's search; the dropdown lists the client, which opens its page.
    page.locator("main h1").click()
    page.keyboard.press("/")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'global-search-q'")
    page.keyboard.type("huaneng")
    page.wait_for_selector("#search-dropdown:not([hidden]) a:has-text('Huaneng Capital')")
    page.wait_for_selector("#search-dropdown a:has-text('Wang Lei')")
    shot(page, "05-search-dropdown")
    page.locator("#search-dropdown a:has-text('Huaneng Capital')").first.click()
    page.wait_for_url(f"**/clients/{desk['huaneng'].pk}/")
    # Ctrl+K works from anywhere, Escape closes the dropdown again.
    page.keyboard.press("Control+k")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'global-search-q'")
    page.keyboard.type("wa")
    page.wait_for_selector("#search-dropdown:not([hidden])")
    page.keyboard.press("Escape")
    page.wait_for_selector("#search-dropdown", state="hidden")

    # The task list's "select all" ticks the rows; the bulk action completes them and says how many.
    page.goto(f"{live_server.url}/tasks/")
    page.wait_for_selector("#task-results input[name=task]")
    page.check("input[data-select-all=task]")
    page.wait_for_function("[...document.querySelectorAll('input[name=task]')].every(box => box.checked)")
    page.click("#task-bulk button[value=complete]")
    page.wait_for_selector(".messages .alert:has-text('1 task completed')")
    shot(page, "06-bulk-done")
    assert Task.objects.get(title=LONG).status == "done"

    assert outside == [], outside
    assert errors == [], errors
    page.close()
