"""Deployment hardening: data files are the owner's only (0600 files, 0700 folders), and the documented
production environment makes `manage.py check --deploy` clean (HSTS and the HTTPS redirect are settable)."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The production settings README "Security" documents.
PRODUCTION = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "crm.example.com",
    "SECURE_COOKIES": "1",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
}


def run(code: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "bcrm.settings", "BCRM_DATA_DIR": str(data_dir), **env}
    for name in ("DATABASE_URL", "SECRET_KEY", "PYTEST_CURRENT_TEST", "DJANGO_ALLOW_ASYNC_UNSAFE"):
        environment.pop(name, None)
    environment.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, cwd=ROOT,
                          timeout=180)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


CREATE_FILES = """
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE probe (x integer)")
    cursor.execute("INSERT INTO probe VALUES (1)")
from bcrm.dataio.services import import_root
folder = import_root() / "job-1"
folder.mkdir(parents=True, exist_ok=True)
(folder / "errors.csv").write_text("a,b\\n")
import os
print(oct(os.umask(0o077)))
"""


def test_data_files_are_private(tmp_path):
    data = tmp_path / "data"
    done = run(CREATE_FILES, data, BCRM_IMPORT_DIR=str(data / "imports"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert mode(data) == 0o700
    assert mode(data / "secret_key") == 0o600
    assert mode(data / "bcrm.sqlite3") == 0o600
    wal = data / "bcrm.sqlite3-wal"
    if wal.exists():
        assert mode(wal) == 0o600
    assert mode(data / "imports") == 0o700
    assert mode(data / "imports" / "job-1") == 0o700
    assert mode(data / "imports" / "job-1" / "errors.csv") == 0o600


def test_an_existing_loose_data_folder_is_tightened(tmp_path):
    data = tmp_path / "loose"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    assert run("import django; django.setup()", data).returncode == 0
    assert mode(data) == 0o700


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path):
    env = {**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(60)}
    done = run("import sys; from django.core.management import execute_from_command_line; "
               "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
               tmp_path / "d", **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout + done.stderr


def test_production_answers_carry_the_content_security_policy(tmp_path):
    env = {**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(60)}
    done = run("import django; django.setup(); from django.test import Client; "
               "r = Client(HTTP_HOST='crm.example.com').get('/login/', secure=True); "
               "print(r.status_code, r['Content-Security-Policy'])", tmp_path / "c", **env)
    assert done.returncode == 0, done.stderr[-2000:]
    status, policy = done.stdout.strip().split(" ", 1)
    directives = {part.strip() for part in policy.split(";")}
    assert status == "200" and {"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"} <= directives
    assert "unsafe-eval" not in policy


def test_hsts_and_redirect_come_from_the_environment(tmp_path):
    done = run("import django; django.setup(); from django.conf import settings as s; "
               "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, "
               "s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER)",
               tmp_path / "e", **PRODUCTION, SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO")
    assert done.stdout.split() == ["31536000", "True", "True", "True", "('HTTP_X_FORWARDED_PROTO',", "'https')"], \
        done.stderr[-1000:]
    default = run("import django; django.setup(); from django.conf import settings as s; "
                  "print(s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER)", tmp_path / "f")
    assert default.stdout.split() == ["0", "False", "None"]
