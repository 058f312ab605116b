"""Brute force on the sign-in forms is stopped (django-axes), sessions end after inactivity, all-digit
passwords are refused, and API tokens are not affected by any of it."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from bcrm.accounts.services import token_create
from bcrm.audit.models import AuditEntry
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-2026"


@pytest.fixture(autouse=True)
def _lockout_settings(settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=15)


def post_login(client, username, password, url="/login/", ip="10.0.0.1"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(client, url):
    user = make_user("victim", "admin")
    for _ in range(5):
        response = post_login(client, "victim", "wrong-password", url)
        assert not signed_in(client)
    response = post_login(client, "victim", PASSWORD, url)
    assert not signed_in(client)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert AuditEntry.objects.filter(action="lockout", object_id=str(user.pk)).count() == 1


def test_lockout_message_is_translated(client):
    make_user("victim", "admin")
    for _ in range(5):
        post_login(client, "victim", "wrong")
    response = client.post("/login/", {"username": "victim", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1",
                           HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 429
    assert "登录失败次数过多" in response.content.decode()


def test_lockout_by_account_holds_from_another_address(client):
    make_user("victim", "admin")
    for i in range(5):
        post_login(client, "victim", "wrong", ip=f"10.0.1.{i}")
    post_login(client, "victim", PASSWORD, ip="10.9.9.9")
    assert not signed_in(client)


def test_lockout_by_address_holds_for_another_account(client):
    make_user("victim", "admin")
    for i in range(5):
        post_login(client, f"guess{i}", "wrong", ip="10.0.2.1")
    post_login(client, "victim", PASSWORD, ip="10.0.2.1")
    assert not signed_in(client)
    # the same account from a clean address still signs in
    other = Client()
    post_login(other, "victim", PASSWORD, ip="10.0.2.2")
    assert signed_in(other)


def test_four_failures_do_not_lock(client):
    make_user("victim", "admin")
    for _ in range(4):
        post_login(client, "victim", "wrong")
    post_login(client, "victim", PASSWORD)
    assert signed_in(client)


def test_the_lock_ends_after_the_cool_off(client, settings):
    make_user("victim", "admin")
    for _ in range(5):
        post_login(client, "victim", "wrong")
    from axes.models import AccessAttempt

    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=16))
    post_login(client, "victim", PASSWORD)
    assert signed_in(client)


def test_unlock_command_lets_the_user_in_again_and_is_audited(client):
    user = make_user("victim", "admin")
    for _ in range(5):
        post_login(client, "victim", "wrong")
    out = StringIO()
    call_command("unlock", "victim", stdout=out)
    assert "victim" in out.getvalue()
    assert AuditEntry.objects.filter(action="unlock", object_id=str(user.pk)).exists()
    post_login(client, "victim", PASSWORD)
    assert signed_in(client)


def test_unlock_command_of_an_unknown_user_fails():
    from django.core.management import CommandError

    with pytest.raises(CommandError):
        call_command("unlock", "nobody-such")


def test_admin_action_unlocks_users(client):
    admin = make_user("boss", "admin")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    victim = make_user("victim", "viewer")
    attacker = Client()
    for _ in range(5):
        post_login(attacker, "victim", "wrong", ip="10.0.3.1")
    client.force_login(admin)
    response = client.post("/admin/auth/user/", {"action": "unlock_users", "_selected_action": [victim.pk]},
                           follow=True)
    assert response.status_code == 200
    fresh = Client()
    post_login(fresh, "victim", PASSWORD, ip="10.0.3.2")
    assert signed_in(fresh)


def test_api_tokens_work_for_a_locked_out_user(client):
    user = make_user("victim", "admin")
    for _ in range(5):
        post_login(client, "victim", "wrong")
    _, raw = token_create(user=user)
    api = Client()
    assert api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    # and wrong tokens are a plain 401, not a lockout page
    for _ in range(10):
        assert api.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer bcrm_wrong").status_code == 401
    assert api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


@pytest.mark.parametrize("password", ["12345678901234", "20261206000001"])
def test_all_digit_passwords_are_refused(password):
    with pytest.raises(ValidationError):
        validate_password(password)


def test_numeric_validator_is_configured(settings):
    names = [v["NAME"] for v in settings.AUTH_PASSWORD_VALIDATORS]
    assert "django.contrib.auth.password_validation.NumericPasswordValidator" in names


def test_createuser_refuses_an_all_digit_password(monkeypatch):
    from django.core.management import CommandError

    monkeypatch.setattr("sys.stdin", StringIO("98765432109876\n"))
    with pytest.raises(CommandError):
        call_command("createuser", "digits", "--role", "viewer", "--password-stdin")
    assert not get_user_model().objects.filter(username="digits").exists()


class TestIdleTimeout:
    def test_a_session_idle_longer_than_the_limit_is_signed_out(self, client, settings):
        settings.BCRM_SESSION_IDLE_MINUTES = 30
        user = make_user("idle", "admin")
        client.force_login(user)
        assert client.get("/clients/").status_code == 200
        session = client.session
        session["bcrm_last_activity"] = (timezone.now() - dt.timedelta(minutes=31)).timestamp()
        session.save()
        response = client.get("/clients/")
        assert response.status_code == 302 and "/login/" in response["Location"]
        assert not signed_in(client)
        page = client.get(response["Location"]).content.decode()
        assert "inactivity" in page

    def test_activity_keeps_the_session(self, client, settings):
        settings.BCRM_SESSION_IDLE_MINUTES = 30
        user = make_user("busy", "admin")
        client.force_login(user)
        session = client.session
        session["bcrm_last_activity"] = (timezone.now() - dt.timedelta(minutes=29)).timestamp()
        session.save()
        assert client.get("/clients/").status_code == 200
        assert signed_in(client)
        assert client.session["bcrm_last_activity"] > (timezone.now() - dt.timedelta(minutes=1)).timestamp()

    def test_absolute_lifetime_holds_despite_activity(self, client, settings):
        settings.BCRM_SESSION_MAX_HOURS = 12
        user = make_user("long", "admin")
        client.force_login(user)
        client.get("/clients/")
        session = client.session
        session["bcrm_signed_in_at"] = (timezone.now() - dt.timedelta(hours=13)).timestamp()
        session.save()
        response = client.get("/clients/")
        assert response.status_code == 302 and not signed_in(client)

    def test_idle_timeout_does_not_touch_token_requests(self, settings):
        settings.BCRM_SESSION_IDLE_MINUTES = 1
        user = make_user("tok", "admin")
        _, raw = token_create(user=user)
        api = Client()
        assert api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
        assert api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200

    def test_idle_minutes_come_from_the_environment(self, tmp_path):
        import os
        import subprocess
        import sys

        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bcrm.settings", "BCRM_DATA_DIR": str(tmp_path),
               "BCRM_SESSION_IDLE_MINUTES": "7", "BCRM_LOGIN_FAILURE_LIMIT": "9", "BCRM_LOGIN_COOLOFF_MINUTES": "20"}
        code = ("import django; django.setup(); from django.conf import settings as s; "
                "print(s.BCRM_SESSION_IDLE_MINUTES, s.AXES_FAILURE_LIMIT, int(s.AXES_COOLOFF_TIME.total_seconds()))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
        assert done.stdout.split() == ["7", "9", "1200"], done.stderr[-800:]
