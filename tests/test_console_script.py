"""The installed `bcrm` console script in a fresh process, on a SQLite database of its own (not the suite's:
these tests do not depend on which database the suite runs on)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
