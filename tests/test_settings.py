"""Settings come from the environment; secrets never from the repository."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def settings_value(tmp_path, expr: str, **env) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL"}}
    clean.update({"BCRM_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "bcrm.settings", **env})
    code = f"import django; django.setup(); from django.conf import settings as s; print({expr})"
    return subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, cwd=ROOT,
                          check=True).stdout.strip()


def test_secret_key_generated_once_into_data_folder(tmp_path):
    first = settings_value(tmp_path, "s.SECRET_KEY")
    assert (tmp_path / "secret_key").read_text().strip() == first
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"
    assert settings_value(tmp_path, "s.SECRET_KEY") == first
    assert len(first) >= 50


def test_secret_key_from_environment_wins(tmp_path):
    assert settings_value(tmp_path, "s.SECRET_KEY", SECRET_KEY="from-env") == "from-env"


def test_debug_is_off_unless_asked(tmp_path):
    assert settings_value(tmp_path, "s.DEBUG") == "False"
    assert settings_value(tmp_path, "s.DEBUG", DEBUG="1") == "True"


def test_default_database_is_sqlite_in_data_folder_with_wal(tmp_path):
    name = settings_value(tmp_path, "s.DATABASES['default']['NAME']")
    assert name == str(tmp_path / "bcrm.sqlite3")
    init = settings_value(tmp_path, "s.DATABASES['default']['OPTIONS']['init_command']")
    assert "journal_mode=WAL" in init and "busy_timeout" in init


def test_database_url_selects_postgresql(tmp_path):
    engine = settings_value(tmp_path, "s.DATABASES['default']['ENGINE']",
                            DATABASE_URL="postgresql://postgres@127.0.0.1:5432/x")
    assert engine == "django.db.backends.postgresql"


def test_no_secret_in_repository():
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT).stdout.split()
    assert not any(name.endswith("secret_key") for name in tracked)


def test_passwords_are_hashed_with_a_slow_hasher_outside_the_tests(tmp_path):
    """The tests hash with MD5 for speed (tests/conftest.py); the site itself keeps Django's PBKDF2, with
    at least the iterations Django 5.2 recommends."""
    hasher = settings_value(tmp_path, "s.PASSWORD_HASHERS[0]")
    assert hasher == "django.contrib.auth.hashers.PBKDF2PasswordHasher"
    iterations = settings_value(tmp_path, "__import__('django.contrib.auth.hashers').contrib.auth.hashers."
                                          "PBKDF2PasswordHasher.iterations")
    assert int(iterations) >= 1_000_000
# Every bcrm setting is defined once in bcrm/settings.py from the environment (issue 14, item 6).
FROM_ENVIRONMENT = {
    "BCRM_IMPORT_MAX_BYTES": "12345", "BCRM_IMPORT_MAX_MEMBERS": "77", "BCRM_IMPORT_BATCH_ROWS": "10",
    "BCRM_IMPORT_REPORT_ROWS": "20", "BCRM_ANALYSE_MAX_BYTES": "30", "BCRM_INLINE_RUN_LIMIT": "40",
    "BCRM_TIER_INLINE_LIMIT": "50", "BCRM_FEATURE_CACHE_SECONDS": "60.0", "BCRM_COUNTRY_RISK_FILE": "/srv/risk.json",
    "BCRM_IMPORT_DIR": "/srv/imports", "BCRM_LOG_LEVEL": "DEBUG",
}


def test_bcrm_settings_are_read_from_the_environment(tmp_path):
    names = list(FROM_ENVIRONMENT)
    printed = settings_value(tmp_path, f"*(getattr(s, n) for n in {names!r}), s.LOGGING['root']['level']",
                             **FROM_ENVIRONMENT).split()
    assert printed == [FROM_ENVIRONMENT[name] for name in names] + ["DEBUG"]


def test_defaults_without_the_environment(tmp_path):
    printed = settings_value(tmp_path, "s.BCRM_IMPORT_DIR, s.BCRM_IMPORT_BATCH_ROWS, s.BCRM_FEATURE_CACHE_SECONDS, "
                             "s.LOGGING['root']['level']")
    assert printed.split() == [str(tmp_path / "imports"), "2000", "900.0", "INFO"]
    assert settings_value(tmp_path, "s.LOGGING['root']['level']", LOG_LEVEL="warning") == "WARNING"  # older name


def test_modules_read_settings_by_name_not_with_a_default_of_their_own():
    """``getattr(settings, "X", default)`` hides a second default from bcrm/settings.py and from the README."""
    offenders = [f"{path.relative_to(ROOT)}:{number}"
                 for path in (ROOT / "bcrm").rglob("*.py")
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if re.search(r"getattr\(\s*settings\s*,", line)]
    assert not offenders


def test_the_lifetime_value_refit_age_must_be_whole_days(tmp_path):
    assert settings_value(tmp_path, "s.BCRM_CLV_REFIT_DAYS") == "7"
    assert settings_value(tmp_path, "s.BCRM_CLV_REFIT_DAYS", BCRM_CLV_REFIT_DAYS="14") == "14"
    for bad in ("0", "weekly"):  # 0 days, and not a number: refused at start-up, saying what it wants
        with pytest.raises(subprocess.CalledProcessError) as refused:
            settings_value(tmp_path, "s.BCRM_CLV_REFIT_DAYS", BCRM_CLV_REFIT_DAYS=bad)
        assert "BCRM_CLV_REFIT_DAYS must be a whole number of days, 1 or more." in refused.value.stderr
