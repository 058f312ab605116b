"""What every real-browser test shares: Debian's Chromium driven by Playwright, and the marks that
skip the tests where Chromium is not installed (never in CI, which installs it)."""

import os
import shutil

import pytest

# Playwright's sync API runs an event loop in the test's thread; the ORM calls run before it starts or
# in the live server's own thread, so Django's async guard has nothing to protect here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not shutil.which("chromium") and not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
        reason="Debian chromium is not installed (CI installs it; there this test never skips)",
    ),
]


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        yield chromium
        chromium.close()
