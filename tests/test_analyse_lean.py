"""`bcrm analyse …` starts with the file-analysis app alone (bcrm.cli): the same reports, messages, exit
statuses and translations as the Django management command, without loading bcrm's models, admin or URLs;
and `bcrm analyse clv` reads a summary's id column only when the ids are used."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError
from django.utils import translation

from tests.datafiles import SPEND, SUMMARY
from tests.doors import command

ROOT = Path(__file__).resolve().parent.parent
ZH_SETTINGS = "from bcrm.settings import *  # noqa: F403\nLANGUAGE_CODE = 'zh-hans'\n"


def bcrm(tmp_path: Path, *args: str, chinese: bool = False) -> subprocess.CompletedProcess:
    """The console command as a user runs it; ``chinese``: with settings whose language is Chinese."""
    env = {**os.environ, "BCRM_DATA_DIR": str(tmp_path / "data"),
           "DATABASE_URL": f"sqlite:///{tmp_path}/never-opened.sqlite3"}
    options: list[str] = []
    if chinese:
        (tmp_path / "zh_settings.py").write_text(ZH_SETTINGS, encoding="utf-8")
        options = ["--pythonpath", str(tmp_path), "--settings", "zh_settings"]
    return subprocess.run([sys.executable, "-m", "bcrm.cli", "analyse", *options, *args], env=env,
                          capture_output=True, text=True, cwd=ROOT)


def in_process(*args: str, language: str = "en") -> str:
    with translation.override(language):
        return command("analyse", *args)


def test_the_report_is_the_django_commands_in_both_languages(tmp_path):
    english = bcrm(tmp_path, "clv", str(SPEND))
    assert english.returncode == 0, english.stderr
    assert english.stdout == in_process("clv", str(SPEND)) and "Gamma-Gamma (spend per purchase)" in english.stdout
    chinese = bcrm(tmp_path, "clv", str(SPEND), chinese=True)
    assert chinese.returncode == 0, chinese.stderr
    assert chinese.stdout == in_process("clv", str(SPEND), language="zh-hans")
    assert chinese.stdout != english.stdout and "（汇总）" not in english.stdout
    as_json = bcrm(tmp_path, "split", str(SUMMARY), "--column", "frequency", "--json")
    assert json.loads(as_json.stdout) == json.loads(in_process("split", str(SUMMARY), "--column", "frequency", "--json"))


def test_errors_have_the_django_commands_message_and_status_in_both_languages(tmp_path):
    missing = str(tmp_path / "missing.csv")
    result = bcrm(tmp_path, "clv", missing)
    with pytest.raises(CommandError) as info:
        in_process("clv", missing)
    assert result.returncode == info.value.returncode == 1
    assert result.stderr.strip() == f"CommandError: {info.value}" and "No such file" in result.stderr
    result = bcrm(tmp_path, "clv", missing, chinese=True)
    with pytest.raises(CommandError) as info:
        in_process("clv", missing, language="zh-hans")
    assert result.returncode == 1 and result.stderr.strip() == f"CommandError: {info.value}"
    assert "文件不存在" in result.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("frequency,recency,T\n1,5,10\n1,five,10\n", encoding="utf-8")
    result = bcrm(tmp_path, "clv", str(bad))
    assert result.returncode == 2 and "Line 3" in result.stderr and "Traceback" not in result.stderr
    usage = bcrm(tmp_path, "clv", str(SUMMARY), "--horizon", "soon")
    assert usage.returncode == 2 and "bcrm analyse clv: error: argument --horizon" in usage.stderr
    assert bcrm(tmp_path, "nothing").returncode == 2
    helped = bcrm(tmp_path, "--help")
    assert helped.returncode == 0 and all(name in helped.stdout for name in ("split", "clv", "scorecard", "bgbb"))


def test_the_analysis_loads_no_model_admin_or_url_configuration(tmp_path):
    script = ("import sys; from bcrm.cli import main; main(sys.argv[1:]); "
              "print(sorted(m for m in sys.modules if m.startswith(('django.db.models', 'django.contrib', 'django.urls', "
              "'bcrm.urls', 'bcrm.api')) or (m.startswith('bcrm.') and m.endswith('.models'))), file=sys.stderr)")
    env = {**os.environ, "BCRM_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-c", script, "analyse", "clv", str(SUMMARY), "--json"], env=env,
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert round(json.loads(result.stdout)["bgnbd"]["log_likelihood"], 1) == -9582.4
    assert result.stderr.strip() == "[]"


def summary_with_ids(path: Path, blank_id_at: int | None = None) -> Path:
    rows = SPEND.read_text(encoding="utf-8").splitlines()
    header, body = rows[0], [row.split(",") for row in rows[1:]]
    for i, cells in enumerate(body):
        cells[0] = "" if i == blank_id_at else f"K{i:05d}"
    path.write_text("\n".join([header, *(",".join(cells) for cells in body)]) + "\n", encoding="utf-8")
    return path


def test_ids_are_read_for_the_predictions_and_for_a_message_about_one_customer(tmp_path):
    path = summary_with_ids(tmp_path / "ids.csv", blank_id_at=3)
    plain = json.loads(in_process("clv", str(path), "--json"))
    out = tmp_path / "pred.csv"
    written = json.loads(in_process("clv", str(path), "--json", "--out", str(out)))
    # the same report either way, but for the reader's word on the id column, which only --out reads
    assert plain["bgnbd"] == written["bgnbd"] and plain["totals"] == written["totals"]
    assert [w for w in written["warnings"] if w not in plain["warnings"]] == \
        ["Column 'ID': 1 cell(s) empty or marked missing (NA, n/a, NULL, -, #N/A …)."]
    with out.open(encoding="utf-8") as handle:
        ids = [row["ID"] for row in csv.DictReader(handle)]
    assert ids[:5] == ["K00000", "K00001", "K00002", "", "K00004"] and len(ids) == 2357
    # a message about one customer names it, read from the file when the message is written
    lines = path.read_text(encoding="utf-8").splitlines()
    cells = lines[10].split(",")
    cells[2] = "99"                                        # recency beyond T on line 11
    lines[10] = ",".join(cells)
    late = tmp_path / "late.csv"
    late.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CommandError, match="recency cannot exceed T") as info:
        in_process("clv", str(late))
    assert "line 11 of the file, customer K00009" in str(info.value)
