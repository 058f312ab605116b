"""`bcrm analyse clv FILE` and `bcrm analyse scorecard FILE --target COL`: the model doors on any file,
as an analyst runs them."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError

from bcrm.fileanalysis.csvread import NO_DATE, parse_date, read_table
from tests.datafiles import LOG, SPEND, SUMMARY
from tests.doors import command

ROOT = Path(__file__).resolve().parent.parent


run = partial(command, "analyse")  # `bcrm analyse <sub> …`; answers its stdout


def run_json(sub: str, *args: str) -> dict:
    return json.loads(run(sub, *args, "--json"))


def bcrm(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("bcrm")
    env = {**os.environ, "BCRM_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"}
    return subprocess.run([str(exe), "analyse", *args], env=env, capture_output=True, text=True, cwd=ROOT)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def rounded(params: dict, digits: int) -> dict:
    return {k: round(v, digits) for k, v in params.items()}


def scorecard_file(path: Path, n: int = 1500, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    leverage = rng.normal(size=n)
    sector = np.array(["solar", "wind", "toll road"])[rng.integers(0, 3, n)]
    y = rng.random(n) < 1 / (1 + np.exp(-(-2 + 1.4 * leverage + (sector == "toll road") * 0.8)))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["client_id", "leverage", "sector", "flat", "defaulted"])
        for i in range(n):
            cell = "" if i % 40 == 0 else f"{leverage[i]:.4f}"
            writer.writerow([f"C{i:05d}", cell, sector[i], "1", "yes" if y[i] else "no"])
    return path


# --------------------------------------------------------------------------------------------------
# clv on the CDNOW files


def test_clv_summary_reproduces_the_published_fit():
    report = run_json("clv", str(SUMMARY))
    assert report["mode"] == "summary" and report["customers"] == 2357 and report["repeat_buyers"] == 946
    assert report["columns"] == {"frequency": "frequency", "recency": "recency", "T": "T", "id": "ID"}
    bg = report["bgnbd"]
    assert rounded(bg["params"], 3) == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert round(bg["log_likelihood"], 1) == -9582.4
    assert set(bg["se"]) == {"r", "alpha", "a", "b"} and bg["converged"] is True
    assert report["gamma_gamma"] is None and report["totals"]["clv"] is None
    assert sum(report["frequency_fit"]["observed"]) == 2357
    assert sum(report["frequency_fit"]["expected"]) == pytest.approx(2357)


def test_clv_with_spend_fits_gamma_gamma_and_writes_predictions(tmp_path):
    out = tmp_path / "pred.csv"
    report = run_json("clv", str(SPEND), "--out", str(out), "--horizon", "6", "--discount", "0.02")
    assert report["columns"]["frequency"] == "x" and report["columns"]["monetary_value"] == "zbar"
    gg = report["gamma_gamma"]
    assert round(gg["params"]["p"], 2) == 6.25 and round(gg["params"]["q"], 2) == 3.74
    assert abs(gg["params"]["gamma"] - 15.44) < 0.01 and gg["n_customers"] == 946
    assert report["horizon_months"] == 6 and report["discount_rate"] == 0.02
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2357
    assert list(rows[0]) == ["ID", "frequency", "recency", "T", "monetary_value", "expected_transactions", "p_alive",
                             "expected_spend", "clv"]
    first = rows[0]
    assert first["ID"] == "1" and first["frequency"] == "2" and float(first["recency"]) == 30.43
    assert 0 < float(first["p_alive"]) < 1 and float(first["clv"]) > 0
    zero = next(r for r in rows if r["frequency"] == "0")
    assert float(zero["p_alive"]) == 1.0
    assert sum(float(r["clv"]) for r in rows) == pytest.approx(report["totals"]["clv"], rel=1e-6)


# CDNOW's log has no header: master id, customer id, date, number of CDs, dollars
CDNOW_LOG_COLUMNS = ("--map", "customer=1", "--map", "date=3", "--map", "amount=5")


def test_clv_transaction_log_builds_the_summary_and_checks_the_holdout(tmp_path):
    out = tmp_path / "pred.csv"
    report = run_json("clv", str(LOG), *CDNOW_LOG_COLUMNS, "--calibration-end", "1997-09-30", "--out", str(out))
    assert report["mode"] == "transactions" and report["transactions"] == 6919
    assert report["columns"] == {"customer": "1", "date": "3", "amount": "5"}
    assert rounded(report["bgnbd"]["params"], 3) == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert rounded(report["gamma_gamma"]["params"], 2) == {"p": 6.25, "q": 3.74, "gamma": 15.44}
    hold = report["holdout"]
    assert hold["length_units"] == 39.0 and hold["actual"] > 0
    assert 0.7 < hold["predicted"] / hold["actual"] < 1.3
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2357 and "holdout_frequency" in rows[0] and rows[0]["1"] == "00004"
    text = run("clv", str(LOG), *CDNOW_LOG_COLUMNS, "--calibration-end", "1997-09-30")
    assert "Hold-out of 39.0 weeks" in text and "BG/NBD" in text and "Gamma-Gamma" in text


def test_clv_on_a_csv_log_with_headers_and_a_mapping(tmp_path):
    rng = np.random.default_rng(1)
    lines = ["客户;交易日期;金额"]
    for customer in range(300):                      # the BG/NBD story: buy at rate λ, drop out with p
        day, rate, drop = float(rng.integers(0, 60)), rng.gamma(1.0, 1 / 20), rng.beta(1.0, 3.0)
        while day < 365:
            lines.append(f"K{customer};{np.datetime64('2024-01-01') + int(day)};{rng.gamma(2, 50):.2f}")
            day += rng.exponential(1 / rate)
            if len(lines) > 1 and rng.random() < drop:
                break
    path = write(tmp_path / "log.csv", "\n".join(lines) + "\n", "gb18030")
    report = run_json("clv", str(path), "--transactions", "--map", "customer=客户", "--map", "date=交易日期",
                      "--map", "amount=金额", "--period", "week", "--unit", "week")
    assert report["mode"] == "transactions" and report["customers"] == 300 and report["period"] == "week"
    assert report["bgnbd"]["converged"] and report["calibration_end"] == report["observation_end"]
    assert "holdout" not in report


def test_clv_on_a_headerless_two_column_log(tmp_path):
    rng = np.random.default_rng(5)
    lines = []
    for customer in range(200):
        day, rate, drop = float(rng.integers(0, 90)), rng.gamma(1.0, 1 / 15), rng.beta(1.0, 3.0)
        first = True
        while day < 400:
            lines.append(f"{customer}\t{(np.datetime64('2023-03-01') + int(day)).astype(str).replace('-', '')}")
            day += rng.exponential(1 / rate)
            if not first and rng.random() < drop:
                break
            first = False
    path = write(tmp_path / "log.tsv", "\n".join(lines) + "\n")
    report = run_json("clv", str(path), "--period", "month", "--unit", "month")
    assert report["mode"] == "transactions" and report["columns"] == {"customer": "1", "date": "2"}
    assert report["customers"] == 200 and report["gamma_gamma"] is None
    with pytest.raises(CommandError, match="by position, 1 to 2"):
        run("clv", str(path), "--map", "amount=3")


def test_clv_summary_with_other_column_names(tmp_path):
    rng = np.random.default_rng(2)
    rows = ["client,n_repeat,last_age,age,avg_value"]
    for i in range(400):
        age = float(rng.integers(10, 40))
        n = int(rng.poisson(1.2))
        last = float(rng.uniform(0, age)) if n else 0.0
        rows.append(f"c{i},{n},{last:.2f},{age},{(rng.gamma(3, 10) if n else 0):.2f}")
    path = write(tmp_path / "s.csv", "\n".join(rows) + "\n")
    with pytest.raises(CommandError, match="no column for frequency, recency, T"):
        run("clv", str(path), "--summary")
    report = run_json("clv", str(path), "--map", "frequency=n_repeat", "--map", "recency=last_age", "--map", "T=age",
                      "--map", "spend=avg_value", "--map", "id=client", "--unit", "month")
    assert report["mode"] == "summary" and report["unit"] == "month"
    assert report["horizon_units"] == 12.0
    assert report["columns"]["monetary_value"] == "avg_value" and report["columns"]["id"] == "client"


# --------------------------------------------------------------------------------------------------
# clv: bad files and data


def test_clv_bad_input_is_a_one_line_error(tmp_path):
    later = write(tmp_path / "late.csv", "frequency,recency,T\n" + "1,5,10\n" * 15 + "2,12,10\n")
    with pytest.raises(CommandError, match="recency cannot exceed T: row 16") as info:
        run("clv", str(later))
    assert info.value.returncode == 1
    none = write(tmp_path / "none.csv", "frequency,recency,T\n" + "0,0,10\n" * 20)
    with pytest.raises(CommandError, match="No customer made a repeat purchase"):
        run("clv", str(none))
    bad = write(tmp_path / "bad.csv", "frequency,recency,T\n1,5,10\n1,five,10\n")
    with pytest.raises(CommandError, match="Line 3") as info:
        run("clv", str(bad))
    assert info.value.returncode == 2
    few = write(tmp_path / "few.csv", "frequency,recency,T\n1,5,10\n0,0,10\n")
    with pytest.raises(CommandError, match="Too few customers"):
        run("clv", str(few))
    baddate = write(tmp_path / "d.csv", "customer,date\na,2024-01-01\nb,yesterday\n")
    with pytest.raises(CommandError, match=r"Line 3.*not a date") as info:
        run("clv", str(baddate), "--transactions")
    assert info.value.returncode == 2
    with pytest.raises(CommandError, match="No such file"):
        run("clv", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError, match="--map takes NAME=COLUMN"):
        run("clv", str(later), "--map", "frequency")
    with pytest.raises(CommandError, match="unknown name 'colour'"):
        run("clv", str(later), "--map", "colour=red")
    with pytest.raises(CommandError, match="--horizon"):
        run("clv", str(later), "--horizon", "0")
    with pytest.raises(CommandError, match="--discount"):
        run("clv", str(later), "--discount", "1.5")
    with pytest.raises(CommandError, match="--calibration-end applies"):
        run("clv", str(later), "--summary", "--calibration-end", "2024-01-01")


def test_clv_console_script(tmp_path):
    result = bcrm(tmp_path, "clv", str(SUMMARY), "--json")
    assert result.returncode == 0, result.stderr
    assert round(json.loads(result.stdout)["bgnbd"]["log_likelihood"], 1) == -9582.4
    bad = write(tmp_path / "late.csv", "frequency,recency,T\n" + "1,5,10\n" * 15 + "2,12,10\n")
    result = bcrm(tmp_path, "clv", str(bad))
    assert result.returncode == 1 and "recency cannot exceed T" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------------------------------
# scorecard


def test_scorecard_on_a_csv_with_a_known_signal(tmp_path):
    path = scorecard_file(tmp_path / "loans.csv")
    out = tmp_path / "points.csv"
    report = run_json("scorecard", str(path), "--target", "defaulted", "--folds", "4", "--out", str(out))
    assert report["n_rows"] == 1500 and report["skipped"] == 0 and report["ignored_columns"] == ["client_id"]
    assert report["information_value"]["leverage"] > 0.5
    assert report["dropped"]["flat"] == "constant"
    cv = report["cross_validation"]
    assert cv["folds"] == 4 and cv["auc"] > 0.75 and cv["gini"] == pytest.approx(2 * cv["auc"] - 1)
    table = report["points_table"]
    assert table["base_score"] == 600 and table["base_odds"] == 50 and table["pdo"] == 20
    names = [v["name"] for v in table["variables"]]
    assert "leverage" in names
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["variable"] == "(base)" and float(rows[0]["points"]) == pytest.approx(table["base_points"])
    assert any(r["variable"] == "leverage" and r["bin"] == "Missing" and int(r["count"]) > 0 for r in rows)
    text = run("scorecard", str(path), "--target", "defaulted")
    assert "Cross-validated (5 folds" in text and "Information value" in text and "constant" in text


def test_scorecard_options_and_errors(tmp_path):
    path = scorecard_file(tmp_path / "loans.csv", n=600)
    report = run_json("scorecard", str(path), "--target", "defaulted", "--columns", "leverage", "--folds", "3",
                      "--pdo", "40", "--base-score", "500")
    assert list(report["information_value"]) == ["leverage"] and report["points_table"]["pdo"] == 40
    report = run_json("scorecard", str(path), "--target", "defaulted", "--exclude", "sector,flat", "--folds", "3")
    assert set(report["information_value"]) == {"leverage"}
    with pytest.raises(CommandError, match="No column 'outcome'"):
        run("scorecard", str(path), "--target", "outcome")
    with pytest.raises(CommandError, match="--folds must be 2 or more"):
        run("scorecard", str(path), "--target", "defaulted", "--folds", "1")
    three = write(tmp_path / "three.csv", "x,y\n1,0\n2,1\n3,2\n")
    with pytest.raises(CommandError, match=r"Line 4.*not 0/1") as info:
        run("scorecard", str(three), "--target", "y")
    assert info.value.returncode == 2
    one = write(tmp_path / "one.csv", "x,y\n" + "".join(f"{i},0\n" for i in range(40)))
    with pytest.raises(CommandError, match="one class only"):
        run("scorecard", str(one), "--target", "y")
    flat = write(tmp_path / "flat.csv", "x,y\n" + "".join(f"5,{i % 2}\n" for i in range(40)))
    with pytest.raises(CommandError, match="Every variable is constant"):
        run("scorecard", str(flat), "--target", "y")
    only = write(tmp_path / "only.csv", "id,y\n1,0\n2,1\n")
    with pytest.raises(CommandError, match="No variable columns left"):
        run("scorecard", str(only), "--target", "y")


def test_scorecard_skips_rows_without_a_target(tmp_path):
    path = scorecard_file(tmp_path / "loans.csv", n=400, seed=3)
    text = path.read_text(encoding="utf-8").splitlines()
    text[1] = text[1].rsplit(",", 1)[0] + ","
    write(path, "\n".join(text) + "\n")
    report = run_json("scorecard", str(path), "--target", "defaulted", "--folds", "3")
    assert report["skipped"] == 1 and report["n_rows"] == 399


def test_scorecard_console_script(tmp_path):
    path = scorecard_file(tmp_path / "loans.csv", n=500)
    result = bcrm(tmp_path, "scorecard", str(path), "--target", "defaulted", "--folds", "3", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cross_validation"]["auc"] > 0.7
    result = bcrm(tmp_path, "scorecard", str(path), "--target", "sector")
    assert result.returncode == 2 and "not 0/1" in result.stderr and "Traceback" not in result.stderr


# --------------------------------------------------------------------------------------------------
# the shared reader


def test_read_table_kinds_headerless_and_spaces(tmp_path):
    path = write(tmp_path / "log.txt", " 0001 20240131  2   29.33\n\n 0002 2024-02-01  1   1,234.5\n")
    table = read_table(path, lambda header: {"1": "text", "2": "date", "4": "number"}, header=None)
    assert not table.has_header and table.delimiter == " " and table.rows == 2
    assert table.columns["1"] == ["0001", "0002"]
    assert table.columns["4"].tolist() == [29.33, 1234.5]
    assert parse_date("2024-02-01") - parse_date("20240131") == 1
    assert table.lines.tolist() == [1, 3]
    empty = write(tmp_path / "e.csv", "a,b\n1,\n")
    got = read_table(empty, lambda header: {"a": "number", "b": "date"})
    assert got.columns["b"].tolist() == [NO_DATE]


def test_scorecard_reads_numbers_with_thousands_separators_as_numbers(tmp_path):
    rng = np.random.default_rng(6)
    rows = ["exposure,defaulted"]
    for _ in range(600):
        exposure = rng.lognormal(8, 1)
        bad = rng.random() < (0.4 if exposure > 5000 else 0.05)
        rows.append(f'"{exposure:,.0f}",{int(bad)}')
    path = write(tmp_path / "e.csv", "\n".join(rows) + "\n")
    report = run_json("scorecard", str(path), "--target", "defaulted", "--folds", "3")
    variable = report["points_table"]["variables"][0]
    assert variable["kind"] == "numerical" and variable["splits"]
    assert report["information_value"]["exposure"] > 0.3
