"""What every real-browser test shares: Debian's Chromium driven by Playwright.

A missing Chromium fails the test with a clear message: a browser test that skips proves nothing
(`.ci/run` installs Debian's ``chromium``; on a developer's machine ``apt-get install chromium``).
Pages are awaited by their own signals (an element, a download event), never by fixed sleeps, with
one generous default timeout sized for a loaded 2-core machine."""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test's thread; the ORM calls run before it starts or
# in the live server's own thread, so Django's async guard has nothing to protect here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
# How long a page may take to show what a test waits for (a PDF rendered while the other worker runs
# a suite, say). Generous, since the machine is small and shared; a test never waits this long when
# the page works.
TIMEOUT_MS = 90_000
BROWSER_MARKS = [pytest.mark.browser]
# The password of every user a browser test signs in with through the login form.
PASSWORD = "browser-test-pass-2026"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]


def launch(playwright):
    """Debian's Chromium, headless; fails (never skips) when it is not installed."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Debian's Chromium is not installed at {CHROMIUM}: `apt-get install chromium` "
                    "(.ci/run does it); the browser tests need it.")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)


def shot(folder: Path, page, name: str) -> None:
    """A full-page screenshot ``<folder>/<name>.png``, for a human to look at (the tests never read it)."""
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def wait_for(page, selector: str) -> None:
    """``page.wait_for_selector(selector)``; on a timeout the failure says where the page was and what it
    showed (a sign-in that landed elsewhere is told apart from a slow page)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector(selector)
    except PlaywrightTimeout as exc:
        try:
            shown = page.inner_text("body", timeout=5_000)[:600]
        except PlaywrightTimeout:
            shown = "(the page did not answer)"
        raise AssertionError(f"{selector!r} did not appear; the page is {page.url}: {shown!r}") from exc


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


def sign_in(browser, url: str, username: str, **page_options):
    """A new page of ``browser`` signed in as ``username`` (password :data:`PASSWORD`) through the sign-in form
    that ``url`` redirects to; returns the page, on ``url``."""
    page = browser.new_page(locale="en-US", **page_options)
    page.set_default_timeout(30_000)
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    return page
