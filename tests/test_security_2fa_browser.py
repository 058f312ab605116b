"""Two-factor sign-in in real Chromium: a compliance officer must enrol after the password (QR code, secret,
a code computed from that secret, ten recovery codes), then signs in again with the password and a code."""

from __future__ import annotations

import base64

import pytest
from django_otp.oath import totp

from tests.browsing import BROWSER_MARKS, TIMEOUT_MS, wait_for
from tests.factories import make_org, make_team, make_user

pytestmark = BROWSER_MARKS
PASSWORD = "browser-test-pass-2026"


@pytest.fixture
def officer(transactional_db, settings):
    settings.BCRM_2FA_REQUIRED_ROLES = ["admin", "compliance"]
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    team = make_team("Energy Desk")
    make_org(legal_name="Huaneng Capital Co., Ltd.", local_name="华能资本服务有限公司", team=team)
    return make_user("sec.officer", "compliance", password=PASSWORD)


def code(secret: str, steps_ahead: int = 0) -> str:
    raw = secret.replace(" ", "")
    key = base64.b32decode(raw + "=" * (-len(raw) % 8))
    return f"{totp(key, step=30, t0=0, digits=6, drift=steps_ahead):06d}"


def sign_in_password(page, url: str) -> None:
    page.goto(f"{url}/clients/")
    page.fill("input[name=username]", "sec.officer")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")


def test_enrol_then_sign_in_with_a_code(live_server, browser, officer):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    sign_in_password(page, live_server.url)
    page.wait_for_selector("#two-factor svg[role=img]")  # the role requires it: enrolment, not the client list
    assert "/account/two-factor/" in page.url
    secret = page.inner_text("#totp-secret")
    page.fill("#id_code", code(secret))
    page.click("button:has-text('Turn on two-factor sign-in')")
    page.wait_for_selector("#recovery-codes")
    assert page.locator("#recovery-codes li").count() == 10
    page.click("a:has-text('Continue')")
    wait_for(page, "main input[name=q]")
    assert "/clients/" in page.url
    context.close()

    again = browser.new_context(locale="en-US")
    page = again.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    sign_in_password(page, live_server.url)
    page.wait_for_selector("#two-factor-verify")
    assert "/login/verify/" in page.url
    page.fill("#id_code", "000000" if code(secret, 1) != "000000" else "111111")
    page.click("button:has-text('Verify')")
    page.wait_for_selector("#two-factor-verify .alert.error")
    page.fill("#id_code", code(secret, 1))
    page.click("button:has-text('Verify')")
    wait_for(page, "main input[name=q]")
    assert "/clients/" in page.url and "华能资本" in page.inner_text("main")
    again.close()
