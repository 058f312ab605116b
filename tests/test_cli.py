"""The `bcrm` command as an operator runs it."""

import os
import subprocess
import sys
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


def test_console_script_exits_non_zero_on_error(tmp_path):
    bcrm = Path(sys.executable).with_name("bcrm")
    env = {**os.environ, "BCRM_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"}
    result = subprocess.run([str(bcrm), "token", "create", "ghost"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1
    assert "bcrm migrate" in result.stderr and "Traceback" not in result.stderr
    subprocess.run([str(bcrm), "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    result = subprocess.run([str(bcrm), "token", "create", "ghost"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode != 0
    assert "ghost" in result.stderr and "Traceback" not in result.stderr


def test_console_script_lists_bcrm_commands(tmp_path):
    bcrm = Path(sys.executable).with_name("bcrm")
    env = {**os.environ, "BCRM_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"}
    result = subprocess.run([str(bcrm), "help"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0
    for name in ("serve", "createuser", "token", "migrate", "demo"):
        assert name in result.stdout
