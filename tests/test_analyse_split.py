"""`bcrm analyse split FILE.csv --column C`: the split methods on any CSV file, as an analyst runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError

from bcrm.fileanalysis.splitfile import parse_flag, parse_number, read_columns
from bcrm.segmentation import splits
from tests.datafiles import SPEND, SUMMARY
from tests.doors import command

ROOT = Path(__file__).resolve().parent.parent


run = partial(command, "analyse", "split")  # `bcrm analyse split …`; answers its stdout


def run_json(*args: str) -> dict:
    return json.loads(run(*args, "--json"))


def bcrm(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("bcrm")
    env = {**os.environ, "BCRM_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"}
    return subprocess.run([str(exe), "analyse", "split", *args], env=env, capture_output=True, text=True, cwd=ROOT)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# --------------------------------------------------------------------------------------------------
# the CDNOW data


def test_cdnow_frequency_default_method_with_comparison():
    report = run_json(str(SUMMARY), "--column", "frequency")
    frequency = np.loadtxt(SUMMARY, delimiter=",", skiprows=1, usecols=1)
    expected = splits.split_natural_break(frequency)
    assert report["method"] == "natural_break" and report["column"] == "frequency"
    assert report["threshold"] == expected.threshold
    assert report["counts"] == {"upper": int(expected.upper.sum()), "lower": int((~expected.upper).sum()),
                                "skipped": 0, "rows": 2357}
    assert report["counts"]["upper"] + report["counts"]["lower"] == 2357
    assert report["diagnostics"]["within_ss"] == pytest.approx(expected.diagnostics["within_ss"])
    methods = [row["method"] for row in report["comparison"]]
    assert methods == ["top_share", "pareto", "natural_break"]
    top = next(row for row in report["comparison"] if row["method"] == "top_share")
    assert top["params"] == {"q": 0.2} and top["n_upper"] <= int(0.2 * 2357)
    for row in report["comparison"]:
        assert set(row) >= {"method", "threshold", "n_upper", "share_upper", "value_share_upper"}


def test_cdnow_spend_pareto_json():
    report = run_json(str(SPEND), "--column", "zbar", "--method", "pareto", "--param", "p=0.8")
    d = report["diagnostics"]
    assert report["params"] == {"p": 0.8} and report["comparison"] == []
    assert d["value_share_upper"] >= 0.8
    zbar = np.loadtxt(SPEND, delimiter=",", skiprows=1, usecols=4)
    # the minimal set: without its lowest-ranked client the top no longer reaches 80 %
    top = np.sort(zbar)[::-1][: d["minimal_count"]]
    assert top.sum() >= 0.8 * zbar.sum() > top[:-1].sum()


def test_cdnow_human_readable_table():
    text = run(str(SUMMARY), "--column", "frequency")
    assert "Threshold" in text and "Comparison" in text and "natural_break *" in text
    # the diagnostics in words, not their JSON keys
    assert "Within-class sum of squares" in text and "within_ss" not in text


def test_cdnow_capacity_and_top_k(tmp_path):
    report = run_json(str(SPEND), "--column", "zbar", "--method", "capacity", "--param", "budget=100",
                      "--param", "cost=2.5")
    assert report["counts"]["upper"] == 40 and report["diagnostics"]["exact"] is True
    report = run_json(str(SPEND), "--column", "zbar", "--method", "top_k", "--param", "k=100")
    assert report["counts"]["upper"] <= 100 and report["diagnostics"]["requested"] == 100


def test_cdnow_with_an_outcome_column(tmp_path):
    # Outcome: did the customer come back at all (x > 0)? Scored by recency.
    rows = np.loadtxt(SUMMARY, delimiter=",", skiprows=1)
    lines = ["recency,came_back"] + [f"{r},{'yes' if x > 0 else 'no'}" for x, r in zip(rows[:, 1], rows[:, 2], strict=True)]
    path = write(tmp_path / "outcome.csv", "\n".join(lines) + "\n")
    report = run_json(str(path), "--column", "recency", "--outcome", "came_back")
    assert report["outcome"] == "came_back"
    came_back = rows[:, 1] > 0
    chosen = splits.split_natural_break(rows[:, 2])
    assert report["diagnostics"]["information_gain"] == pytest.approx(
        splits.outcome_diagnostics(chosen.upper, came_back)["information_gain"])
    assert report["diagnostics"]["outcome_rate_upper"] == 1.0     # everyone above the break came back
    gains = {row["method"]: row["information_gain"] for row in report["comparison"]}
    assert "information_gain" in gains and gains["information_gain"] == pytest.approx(
        report["diagnostics"]["entropy_before"])                   # a perfect cut exists at recency > 0
    best = run_json(str(path), "--column", "recency", "--outcome", "came_back", "--method", "information_gain")
    assert best["threshold"] == float(np.min(rows[rows[:, 1] > 0, 2]))


# --------------------------------------------------------------------------------------------------
# files as they come


def test_gb18030_with_chinese_headers_and_semicolons(tmp_path):
    text = "客户;评分;是否续约\n甲;1,234.5;是\n乙;12;否\n丙;;是\n丁;30;否\n"
    path = write(tmp_path / "cn.csv", text, "gb18030")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")                          # really not UTF-8
    report = run_json(str(path), "--column", "评分", "--outcome", "是否续约", "--method", "top_k", "--param", "k=1")
    assert report["column"] == "评分" and report["outcome"] == "是否续约"
    assert report["threshold"] == 1234.5
    assert report["counts"] == {"upper": 1, "lower": 2, "skipped": 1, "rows": 4}
    assert report["diagnostics"]["outcome_rate_upper"] == 1.0


def test_utf8_bom_and_tab_delimiter(tmp_path):
    path = write(tmp_path / "bom.csv", "\ufeffname\tscore\na\t1\nb\t2\nc\t40\n")
    data = read_columns(path, "score")
    assert data.encoding == "utf-8-sig" and data.delimiter == "\t"
    assert data.scores.tolist() == [1.0, 2.0, 40.0]
    assert run_json(str(path), "--column", "score")["threshold"] == 40.0


def test_quoted_thousands_in_a_comma_file(tmp_path):
    path = write(tmp_path / "q.csv", 'id,amount\n1,"1,234.5"\n2,"12,000"\n3,7\n')
    assert read_columns(path, "amount").scores.tolist() == [1234.5, 12000.0, 7.0]


def test_column_names_match_case_insensitively_and_header_only(tmp_path):
    path = write(tmp_path / "c.csv", "ID,Score\n1,3\n2,5\n")
    assert read_columns(path, "score").column == "Score"


def test_bad_cell_is_exit_status_2_naming_line_and_value(tmp_path):
    path = write(tmp_path / "bad.csv", "id,score\n1,3\n2,three\n3,4\n")
    with pytest.raises(CommandError) as info:
        run(str(path), "--column", "score")
    assert info.value.returncode == 2
    assert "Line 3" in str(info.value) and "'three'" in str(info.value)
    result = bcrm(tmp_path, str(path), "--column", "score")
    assert result.returncode == 2
    assert "Line 3" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_outcome_cell_is_exit_status_2(tmp_path):
    path = write(tmp_path / "bad.csv", "score,won\n3,1\n4,maybe\n")
    with pytest.raises(CommandError) as info:
        run(str(path), "--column", "score", "--outcome", "won")
    assert info.value.returncode == 2 and "'maybe'" in str(info.value) and "Line 3" in str(info.value)


@pytest.mark.parametrize("cell", ["inf", "1,2,3", "12abc", "¥12", "N/A/B"])
def test_non_numbers_are_refused(tmp_path, cell):
    path = write(tmp_path / "bad.csv", f'score\n3\n"{cell}"\n')
    with pytest.raises(CommandError) as info:
        run(str(path), "--column", "score")
    assert info.value.returncode == 2


def test_empty_column_is_an_error(tmp_path):
    path = write(tmp_path / "empty.csv", "id,score\n1,\n2, \n")
    with pytest.raises(CommandError, match="no numbers") as info:
        run(str(path), "--column", "score")
    assert info.value.returncode == 1


@pytest.mark.parametrize(("args", "words"), [
    (["--column", "missing"], "No column 'missing'"),
    (["--column", "score", "--method", "top_k"], "needs the parameter k"),
    (["--column", "score", "--method", "top_k", "--param", "k=-2"], "k must be"),
    (["--column", "score", "--method", "top_share", "--param", "q=1.5"], "q must be"),
    (["--column", "score", "--param", "q=0.2"], "no parameter"),
    (["--column", "score", "--method", "top_k", "--param", "k"], "NAME=VALUE"),
    (["--column", "score", "--method", "information_gain"], "outcome"),
    (["--column", "score", "--method", "pareto", "--param", "p=0.8"], "negative"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, args, words):
    path = write(tmp_path / "ok.csv", "score\n-3\n4\n5\n")
    with pytest.raises(CommandError, match=words):
        run(str(path), *args)


def test_missing_file_and_unknown_method(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run(str(tmp_path / "nope.csv"), "--column", "x")
    with pytest.raises(CommandError, match="invalid choice"):
        run(str(tmp_path / "nope.csv"), "--column", "x", "--method", "wobble")


def test_costs_column_for_capacity(tmp_path):
    path = write(tmp_path / "cap.csv", "score,hours\n9,10\n6,5\n6,5\n1,\n")
    report = run_json(str(path), "--column", "score", "--costs", "hours", "--method", "capacity",
                      "--param", "budget=10")
    assert report["counts"] == {"upper": 2, "lower": 1, "skipped": 1, "rows": 4}
    assert report["diagnostics"]["value"] == 12 and report["diagnostics"]["exact"] is True


def test_parse_helpers():
    assert parse_number(" 1,234,567.25 ") == 1234567.25
    assert parse_number("−3") == -3.0 and parse_number("") is None and parse_number("1e3") == 1000
    for bad in ("1,23", "abc", "inf", "1.234,5"):
        with pytest.raises(ValueError):
            parse_number(bad)
    # missing-value markers are empty cells, whatever wrote them (R, Excel, SQL, a person)
    assert [parse_number(x) for x in ("NA", "n/a", "#N/A", "NULL", "-", "—", "nan", "None")] == [None] * 8
    assert parse_number("1,5", ",") == 1.5 and parse_number("1.234,5", ",") == 1234.5
    assert parse_number("1 234,5", ",") == 1234.5 and parse_number("-0,25", ",") == -0.25
    for bad in ("1.5", "1,2,3", "1.23,4"):
        with pytest.raises(ValueError):
            parse_number(bad, ",")
    assert [parse_flag(x) for x in ("1", "TRUE", "yes", "是", "0", "False", "no", "否", "")] == [
        True, True, True, True, False, False, False, False, None]
    with pytest.raises(ValueError):
        parse_flag("2")


def test_bcrm_console_script_prints_json(tmp_path):
    path = write(tmp_path / "ok.csv", "score\n1\n2\n3\n50\n60\n")
    result = bcrm(tmp_path, str(path), "--column", "score", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= {"file", "column", "method", "params", "threshold", "counts", "diagnostics", "comparison"}
    assert report["threshold"] == 50.0
