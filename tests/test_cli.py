"""The `bcrm` command as an operator runs it."""

from pathlib import Path

import pytest
from django.core.management import CommandError
from django.test import Client

from bcrm.accounts.models import ApiToken
from tests.doors import command as run

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def test_createuser_then_token_then_api_answers():
    assert "Created user ops" in run("createuser", "ops", "--role", "lead", "--password-stdin", stdin="Long-enough-pass-42\n")
    raw = run("token", "create", "ops").strip()
    assert raw.startswith("bcrm_")
    response = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200 and response.json()["roles"] == ["lead"]


def test_token_revoke_via_cli():
    run("createuser", "ops", "--role", "viewer", "--password-stdin", stdin="Long-enough-pass-42\n")
    raw = run("token", "create", "ops").strip()
    token = ApiToken.objects.get()
    assert "active" in run("token", "list", "ops")
    run("token", "revoke", str(token.pk))
    assert Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_weak_password_is_refused_with_reason():
    with pytest.raises(CommandError) as err:
        run("createuser", "ops", "--role", "viewer", "--password-stdin", stdin="123\n")
    assert "password" in str(err.value)


def test_duplicate_user_is_refused():
    run("createuser", "ops", "--role", "viewer", "--password-stdin", stdin="Long-enough-pass-42\n")
    with pytest.raises(CommandError) as err:
        run("createuser", "ops", "--role", "viewer", "--password-stdin", stdin="Long-enough-pass-42\n")
    assert "already exists" in str(err.value)


def test_token_for_unknown_user_is_an_error():
    with pytest.raises(CommandError) as err:
        run("token", "create", "ghost")
    assert "ghost" in str(err.value)
