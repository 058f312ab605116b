"""Two-factor sign-in and API token expiry (issue 15, finding 5): enrolment with a QR code and the secret,
confirmation by a code, ten recovery codes each good once, a second step after the password on /login/ and
/admin/login/ alike, roles that cannot skip it, an audited reset by an administrator; tokens that expire."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from bcrm.accounts import twofactor
from bcrm.accounts.models import ApiToken
from bcrm.accounts.services import token_create
from bcrm.audit.models import AuditEntry
from bcrm.core.errors import InvalidInput, PermissionDenied
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-2026"


@pytest.fixture(autouse=True)
def _two_factor_settings(settings):
    settings.BCRM_2FA_REQUIRED_ROLES = ["admin", "compliance"]  # the default outside tests
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
    # django-otp slows a device down after a wrong code (1 s, 2 s, 4 s…); here a right code may follow at once.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def code_for(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """What the authenticator app shows (RFC 6238 from the device's secret), ``steps_ahead`` 30 s steps on."""
    device.refresh_from_db()
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift + steps_ahead):06d}"


def password_step(username: str, url: str = "/login/", ip: str = "10.0.0.1") -> Client:
    client = Client()
    response = client.post(url, {"username": username, "password": PASSWORD}, REMOTE_ADDR=ip)
    assert response.status_code == 302, response.content[:500]
    return client


def enrol(user) -> tuple[TOTPDevice, list[str]]:
    client = password_step(user.get_username())
    page = client.get("/account/two-factor/")
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    html = page.content.decode()
    assert "<svg" in html and twofactor.secret_text(device) in html
    response = client.post("/account/two-factor/", {"action": "confirm", "code": code_for(device)})
    assert response.status_code == 200, response.content[:500]
    codes = [c.token for c in StaticToken.objects.filter(device__user=user)]
    assert len(codes) == 10 and all(code in response.content.decode() for code in codes)
    device.refresh_from_db()
    assert device.confirmed
    return device, codes


def test_enrolment_shows_the_qr_code_and_secret_and_confirms_with_a_code(lead):
    client = password_step("lead_user")
    page = client.get("/account/two-factor/").content.decode()
    device = TOTPDevice.objects.get(user=lead, confirmed=False)
    assert '<svg role="img"' in page and "otpauth" not in page  # the URL is in the picture, not the page
    assert twofactor.secret_text(device) in page
    wrong = client.post("/account/two-factor/", {"action": "confirm", "code": "000000" if code_for(device) != "000000"
                                                 else "111111"})
    assert wrong.status_code == 422 and not TOTPDevice.objects.get(pk=device.pk).confirmed
    assert not StaticToken.objects.filter(device__user=lead).exists()
    ok = client.post("/account/two-factor/", {"action": "confirm", "code": code_for(device)})
    assert ok.status_code == 200 and 'id="recovery-codes"' in ok.content.decode()
    assert TOTPDevice.objects.get(pk=device.pk).confirmed and twofactor.recovery_codes_left(lead) == 10
    assert client.get("/clients/").status_code == 200  # this session showed the second factor
    assert AuditEntry.objects.filter(object_id=str(lead.pk), action="update",
                                     changes__two_factor=[False, True]).exists()
    # Shown once: the page afterwards says how many are left, not which.
    later = client.get("/account/two-factor/").content.decode()
    assert 'id="recovery-codes"' not in later and "10 recovery codes left" in later


def test_sign_in_takes_a_valid_code_after_the_password(lead):
    device, _codes = enrol(lead)
    client = password_step("lead_user")
    blocked = client.get("/clients/")
    assert blocked.status_code == 302 and blocked["Location"].startswith("/login/verify/?next=/clients/")
    api = client.get("/api/v1/me")
    assert api.status_code == 401 and api.json()["error"]["code"] == "second_factor_required"
    wrong = client.post("/login/verify/", {"code": "12345", "next": "/clients/"})
    assert wrong.status_code == 422
    assert client.get("/clients/").status_code == 302
    right = client.post("/login/verify/", {"code": code_for(device, steps_ahead=1), "next": "/clients/"})
    assert right.status_code == 302 and right["Location"] == "/clients/"
    assert client.get("/clients/").status_code == 200
    assert client.get("/api/v1/me").status_code == 200


def test_a_wrong_code_is_refused_and_an_offsite_next_is_ignored(viewer):
    device, _codes = enrol(viewer)
    client = password_step("viewer_user")
    for code in ("", "abcdef", "999999999", code_for(device, steps_ahead=20)):
        assert client.post("/login/verify/", {"code": code}).status_code == 422
    ok = client.post("/login/verify/", {"code": code_for(device, steps_ahead=1), "next": "https://evil.example/"})
    assert ok.status_code == 302 and ok["Location"] == "/"


def test_a_recovery_code_works_once(analyst):
    _device, codes = enrol(analyst)
    client = password_step("analyst_user")
    assert client.post("/login/verify/", {"code": codes[0], "next": "/clients/"}).status_code == 302
    assert client.get("/clients/").status_code == 200
    assert twofactor.recovery_codes_left(analyst) == 9
    again = password_step("analyst_user")
    assert again.post("/login/verify/", {"code": codes[0]}).status_code == 422
    assert again.get("/clients/").status_code == 302
    assert again.post("/login/verify/", {"code": codes[1]}).status_code == 302


@pytest.mark.parametrize("role", ["admin", "compliance"])
def test_required_roles_cannot_skip_enrolment(role):
    user = make_user(f"must_{role}", role)
    client = password_step(user.get_username())
    for path in ("/clients/", "/", "/admin/", "/segmentation/value/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/account/two-factor/"), path
    assert client.get("/login/verify/").status_code == 302  # nothing to verify yet: to enrolment
    api = client.get("/api/v1/organizations")
    assert api.status_code == 401 and api.json()["error"]["code"] == "second_factor_required"
    assert client.get("/account/two-factor/").status_code == 200
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    client.post("/account/two-factor/", {"action": "confirm", "code": code_for(device)})
    assert client.get("/clients/").status_code == 200


def test_other_roles_are_free_unless_the_setting_names_them(settings, viewer, rm):
    assert password_step("viewer_user").get("/clients/").status_code == 200
    settings.BCRM_2FA_REQUIRED_ROLES = ["viewer"]
    assert password_step("viewer_user").get("/clients/")["Location"].startswith("/account/two-factor/")
    assert password_step("rm_user").get("/clients/").status_code == 200


def test_bearer_tokens_are_not_asked_for_a_second_factor(admin, lead):
    enrol_required = Client()
    _, raw = token_create(user=admin)
    assert enrol_required.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    # A session between the two steps does not stand in for a bearer token that fails.
    enrol(lead)
    half = password_step("lead_user")
    refused = half.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer bcrm_not-a-token")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
    _, lead_raw = token_create(user=lead)
    assert half.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {lead_raw}").json()["username"] == "lead_user"


def test_django_admin_sign_in_takes_the_same_two_steps(admin):
    device, _codes = enrol(admin)
    client = password_step("admin_user", url="/admin/login/")
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/login/verify/?next=/admin/")
    done = client.post("/login/verify/", {"code": code_for(device, steps_ahead=1), "next": "/admin/"})
    assert done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_the_lockout_still_holds_before_the_second_step(lead):
    enrol(lead)
    client = Client()
    for _i in range(5):
        client.post("/login/", {"username": "lead_user", "password": "wrong-password"}, REMOTE_ADDR="10.9.9.9")
    locked = client.post("/login/", {"username": "lead_user", "password": PASSWORD}, REMOTE_ADDR="10.9.9.9")
    assert locked.status_code == 429 and "_auth_user_id" not in client.session


def test_an_administrator_resets_two_factor_audited(admin, lead, viewer):
    enrol(lead)
    with pytest.raises(PermissionDenied):
        twofactor.two_factor_reset(actor=viewer, user=lead)
    assert twofactor.is_enrolled(lead)
    twofactor.two_factor_reset(actor=admin, user=lead)
    assert not twofactor.is_enrolled(lead) and twofactor.recovery_codes_left(lead) == 0
    entry = AuditEntry.objects.filter(object_id=str(lead.pk), changes__reset=True).get()
    assert entry.actor == admin and entry.changes["two_factor"] == [True, False]
    assert password_step("lead_user").get("/clients/").status_code == 200  # a lead need not enrol again


def test_the_admin_action_and_the_cli_reset(admin, lead, compliance):
    device, _codes = enrol(admin)
    enrol(lead)
    enrol(compliance)
    client = password_step("admin_user", url="/admin/login/")
    client.post("/login/verify/", {"code": code_for(device, steps_ahead=1)})
    response = client.post("/admin/auth/user/", {"action": "reset_two_factor", "_selected_action": [lead.pk]})
    assert response.status_code == 302 and not twofactor.is_enrolled(lead)
    out = StringIO()
    call_command("reset2fa", "compliance_user", stdout=out)
    assert "reset" in out.getvalue() and not twofactor.is_enrolled(compliance)
    assert AuditEntry.objects.filter(object_id=str(compliance.pk), changes__reset=True, actor=None).exists()


def test_enrolling_again_needs_the_second_step_first(lead):
    enrol(lead)
    client = password_step("lead_user")
    response = client.get("/account/two-factor/")
    assert response.status_code == 302 and response["Location"].startswith("/login/verify/")
    with pytest.raises(InvalidInput):
        twofactor.enrolment_confirm(user=lead, device=TOTPDevice.objects.get(user=lead), code="123456")


# --- API tokens expire --------------------------------------------------------------------------------

def test_tokens_expire_after_ninety_days_by_default(rm, settings):
    token, _raw = token_create(user=rm)
    assert abs(token.expires_at - (timezone.now() + dt.timedelta(days=90))) < dt.timedelta(minutes=1)
    settings.BCRM_TOKEN_DAYS = 7
    token, _raw = token_create(user=rm)
    assert abs(token.expires_at - (timezone.now() + dt.timedelta(days=7))) < dt.timedelta(minutes=1)
    settings.BCRM_TOKEN_DAYS = 0
    assert token_create(user=rm)[0].expires_at is None


def test_a_token_cannot_be_created_already_expired(rm):
    _, raw = token_create(user=rm)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for when in (timezone.now() - dt.timedelta(days=1), timezone.now()):
        response = api.post("/api/v1/tokens", json.dumps({"name": "late", "expires_at": when.isoformat()}),
                            content_type="application/json")
        assert response.status_code == 422, response.content
        assert "expires_at" in {f["path"] for f in response.json()["error"]["fields"]}
    assert not ApiToken.objects.filter(name="late").exists()
    with pytest.raises(InvalidInput):
        token_create(user=rm, expires_at=timezone.now() - dt.timedelta(seconds=1))
    made = api.post("/api/v1/tokens", json.dumps({"name": "soon"}), content_type="application/json")
    assert made.status_code == 201 and made.json()["expires_at"]
    listed = api.get("/api/v1/tokens").json()
    assert all(t["expires_at"] for t in listed) and {"soon"} <= {t["name"] for t in listed}


def test_an_expired_token_is_refused_with_its_own_code(rm):
    token, raw = token_create(user=rm)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/v1/me").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = api.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired" and "expired" in response.json()["error"]["message"]
    unknown = Client(HTTP_AUTHORIZATION="Bearer bcrm_not-a-token").get("/api/v1/me")
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "unauthenticated"


def test_the_cli_shows_and_sets_expiry(rm):
    out = StringIO()
    call_command("token", "create", "rm_user", "--days", "3", stdout=out)
    token = ApiToken.objects.get(user=rm)
    assert abs(token.expires_at - (timezone.now() + dt.timedelta(days=3))) < dt.timedelta(minutes=1)
    listing = StringIO()
    call_command("token", "list", "rm_user", stdout=listing)
    assert f"expires {token.expires_at:%Y-%m-%d}" in listing.getvalue()
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("token", "create", "rm_user", "--days", "0", stdout=StringIO())


def test_the_demo_makes_two_factor_optional_unless_the_environment_says(monkeypatch, settings):
    from bcrm.demo.management.commands.demo import Command

    monkeypatch.delenv("BCRM_2FA_REQUIRED_ROLES", raising=False)
    out = StringIO()
    Command(stdout=out)._two_factor_optional()
    assert settings.BCRM_2FA_REQUIRED_ROLES == [] and "optional" in out.getvalue()
    import os

    assert os.environ["BCRM_2FA_REQUIRED_ROLES"] == ""  # the worker the demo starts reads the same
    settings.BCRM_2FA_REQUIRED_ROLES = ["admin"]
    monkeypatch.setenv("BCRM_2FA_REQUIRED_ROLES", "admin")
    Command(stdout=StringIO())._two_factor_optional()
    assert settings.BCRM_2FA_REQUIRED_ROLES == ["admin"]


def test_a_session_from_before_enrolment_must_verify_to_see_or_renew_recovery_codes(lead):
    early = password_step("lead_user")  # signed in with the password while no second factor existed
    device, codes = enrol(lead)
    assert early.get("/clients/").status_code == 200  # it stays signed in…
    page = early.get("/account/two-factor/")  # …but the second factor's page asks for the second step
    assert page.status_code == 302 and page["Location"].startswith("/login/verify/")
    assert early.post("/account/two-factor/", {"action": "renew"}).status_code == 302
    assert {c.token for c in StaticToken.objects.filter(device__user=lead)} == set(codes)
    assert early.post("/login/verify/", {"code": code_for(device, steps_ahead=1)}).status_code == 302
    renewed = early.post("/account/two-factor/", {"action": "renew"})
    assert renewed.status_code == 200 and 'id="recovery-codes"' in renewed.content.decode()
    assert not {c.token for c in StaticToken.objects.filter(device__user=lead)} & set(codes)
