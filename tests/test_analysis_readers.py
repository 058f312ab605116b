"""Real spreadsheets must not fool the analyst tools' readers silently (issue 18): missing-value markers,
decimal commas, day/month order, whitespace-separated files with a header, columns never taken by
position silently, duplicate column names. Each case is a small file that reproduces what was found."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError
from hypothesis import given
from hypothesis import strategies as st

from bcrm.fileanalysis.csvread import (
    NO_DATE,
    CsvError,
    date_order,
    infer_decimal,
    parse_date,
    parse_number,
    read_columns,
    read_table,
)
from tests.datafiles import LOG, MASTER, SPEND
from tests.doors import command

EPOCH = dt.date(1970, 1, 1)


def run_json(sub: str, *args: str) -> dict:
    return json.loads(command("analyse", sub, *args, "--json"))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def day(value: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(value))


# --------------------------------------------------------------------------------------------------
# 1. Missing-value markers are missing, not categories


def scorecard_rows(n: int = 600, seed: int = 3, marker: str | None = "NA") -> str:
    rng = np.random.default_rng(seed)
    lines = ["income,region,bad"]
    for i in range(n):
        income = rng.normal(50, 15)
        bad = int(rng.random() < 1 / (1 + np.exp((income - 45) / 6)))
        cell = marker if marker is not None and i % 37 == 0 else f"{income:.1f}"
        lines.append(f"{cell},{'north' if i % 2 else 'south'},{bad}")
    return "\n".join(lines) + "\n"


def kind_of(report: dict, name: str) -> str:
    return next(v["kind"] for v in report["points_table"]["variables"] if v["name"] == name)


@pytest.mark.parametrize("marker", ["NA", "n/a", "NULL", "-", "#N/A", "—"])
def test_a_missing_marker_keeps_a_numeric_column_numeric(tmp_path, marker):
    path = write(tmp_path / "loans.csv", scorecard_rows(marker=marker))
    report = run_json("scorecard", str(path), "--target", "bad", "--folds", "3")
    assert kind_of(report, "income") == "numerical"
    assert any("'income'" in w and "17" in w for w in report["warnings"])    # 17 marked cells, counted


def test_a_column_of_words_is_categorical_and_the_report_says_why(tmp_path):
    lines = ["grade,bad"] + [f"{'A' if i % 3 else 'B'},{i % 2}" for i in range(300)] + ["7,1"]
    path = write(tmp_path / "g.csv", "\n".join(lines) + "\n")
    report = run_json("scorecard", str(path), "--target", "bad", "--folds", "3", "--min-iv", "0")
    assert kind_of(report, "grade") == "categorical"
    assert any("'grade'" in w and "categories" in w for w in report["warnings"])


def test_a_stray_word_in_a_numeric_column_is_missing_and_named(tmp_path):
    text = scorecard_rows(marker=None).replace("\n", "\nunknown,north,0\n", 1)
    path = write(tmp_path / "loans.csv", text)
    report = run_json("scorecard", str(path), "--target", "bad", "--folds", "3")
    assert kind_of(report, "income") == "numerical"
    assert any("'unknown' (line 2)" in w for w in report["warnings"])


def test_split_and_clv_skip_marked_cells(tmp_path):
    path = write(tmp_path / "s.csv", "score\n3\nNA\n4\n#N/A\n50\n")
    data = read_columns(path, "score")
    assert data.skipped == 2 and sorted(data.scores.tolist()) == [3.0, 4.0, 50.0]


# --------------------------------------------------------------------------------------------------
# 3. Day and month: decided per column from all its values, refused when it cannot be


def test_us_dates_are_read_month_first_when_the_column_says_so(tmp_path):
    # 08/02/1997 is 2 August here, since 01/13/1997 shows the month comes first in this column
    path = write(tmp_path / "log.csv", "customer,date,amount\n1,08/02/1997,10\n2,01/13/1997,5\n")
    table = read_table(path, lambda header: {"customer": "text", "date": "date", "amount": "number"})
    assert [day(v) for v in table.columns["date"]] == [dt.date(1997, 8, 2), dt.date(1997, 1, 13)]
    assert table.date_orders == {"date": "mdy"}


def test_a_column_that_cannot_tell_is_refused_with_the_options_that_settle_it(tmp_path):
    path = write(tmp_path / "log.csv", "customer,date,amount\n1,08/02/1997,10\n2,03/04/1997,5\n")
    with pytest.raises(CsvError, match="--dayfirst or --monthfirst") as info:
        read_table(path, lambda header: {"customer": "text", "date": "date"})
    assert "line 2" in str(info.value)
    with pytest.raises(CommandError, match="--dayfirst"):
        run_json("clv", str(path), "--transactions")
    table = read_table(path, lambda header: {"date": "date"}, dayfirst=False)
    assert day(table.columns["date"][0]) == dt.date(1997, 8, 2)
    table = read_table(path, lambda header: {"date": "date"}, dayfirst=True)
    assert day(table.columns["date"][0]) == dt.date(1997, 2, 8)
    table = read_table(path, lambda header: {"date": "date"}, date_format="%m/%d/%Y")
    assert day(table.columns["date"][1]) == dt.date(1997, 3, 4)


def test_a_column_mixing_both_orders_is_refused(tmp_path):
    path = write(tmp_path / "log.csv", "date\n13/01/2024\n01/13/2024\n")
    with pytest.raises(CsvError, match="mixes day-first and month-first") as info:
        read_table(path, lambda header: {"date": "date"})
    assert "line 2" in str(info.value) and "line 3" in str(info.value)


def cdnow_log(date_format: str) -> list[tuple[str, str, str]]:
    """CDNOW's transaction log (customer, date written as ``date_format``, dollars)."""
    rows = []
    for line in LOG.read_text().splitlines():
        _master, customer, date, _cds, dollars = line.split()
        rows.append((customer, dt.datetime.strptime(date, "%Y%m%d").strftime(date_format), dollars))
    return rows


def test_the_clv_tool_reads_us_dates_and_reports_the_order_it_chose(tmp_path):
    lines = ["customer,date,amount"] + [",".join(row) for row in cdnow_log("%m/%d/%Y")]
    path = write(tmp_path / "us.csv", "\n".join(lines) + "\n")
    report = run_json("clv", str(path), "--transactions", "--calibration-end", "1997-09-30")
    assert any("month first" in w for w in report["warnings"])
    # the same fit as on the ISO-dated log: Fader, Hardie & Lee's published estimates
    assert {k: round(v, 3) for k, v in report["bgnbd"]["params"].items()} == \
        {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)), st.sampled_from(["/", ".", "-"]))
def test_dates_round_trip_through_the_formats_a_spreadsheet_writes(date, sep):
    days = (date - EPOCH).days
    assert parse_date(f"{date.day:02d}{sep}{date.month:02d}{sep}{date.year}", "dmy") == days
    assert parse_date(f"{date.month}{sep}{date.day}{sep}{date.year}", "mdy") == days
    assert parse_date(f"{date.year}{sep}{date.month:02d}{sep}{date.day:02d}", None) == days
    assert parse_date(f"{date.year}年{date.month}月{date.day}日", None) == days
    if date.day > 12:
        assert date_order([f"{date.day}/{date.month}/{date.year}"], [2], "d") == "dmy"
        assert date_order([f"{date.month}/{date.day}/{date.year}"], [2], "d") == "mdy"


# --------------------------------------------------------------------------------------------------
# 4. Decimal commas


def test_a_semicolon_file_with_decimal_commas_reads_one_and_a_half(tmp_path):
    path = write(tmp_path / "eu.csv", "score;cost\n1,5;2\n1,500;3\n0,25;1\n")
    data = read_columns(path, "score")
    assert data.scores.tolist() == [1.5, 1.5, 0.25] and data.decimal == ","
    report = run_json("split", str(path), "--column", "score", "--method", "fixed", "--param", "threshold=1")
    assert report["threshold"] == 1 and report["warnings"]


def test_only_thousands_shaped_values_in_a_semicolon_file_are_refused_unless_named(tmp_path):
    path = write(tmp_path / "eu.csv", "score;x\n1,500;a\n2,750;b\n")
    with pytest.raises(CsvError, match="--decimal") as info:
        read_columns(path, "score")
    assert "Line 2" in str(info.value)
    assert read_columns(path, "score", decimal=",").scores.tolist() == [1.5, 2.75]
    assert read_columns(path, "score", decimal=".").scores.tolist() == [1500.0, 2750.0]


def test_a_comma_file_keeps_thousands_separators(tmp_path):
    path = write(tmp_path / "us.csv", 'score,x\n"1,500",a\n2.5,b\n')
    assert read_columns(path, "score").scores.tolist() == [1500.0, 2.5]


def test_a_file_mixing_decimal_marks_is_refused():
    with pytest.raises(CsvError, match="mixes decimal marks"):
        infer_decimal(["1,5", "2.25"], ";")


@given(st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_numbers_round_trip_through_both_decimal_conventions(value):
    english = f"{value:,.2f}"                                      # 1,234,567.25
    european = english.replace(",", " ").replace(".", ",").replace(" ", ".")   # 1.234.567,25
    assert parse_number(english, ".") == pytest.approx(float(value), abs=1e-9)
    assert parse_number(european, ",") == pytest.approx(float(value), abs=1e-9)
    assert infer_decimal([european, "0,5"], ";") == ","
    assert infer_decimal([english, "0.5"], ";") == "."


# --------------------------------------------------------------------------------------------------
# 6. Whitespace-separated files with a header; columns never by position silently


def test_a_whitespace_separated_file_with_a_header_is_read_by_name(tmp_path):
    path = write(tmp_path / "master.txt", "ID   date      cds  dollars\n1    19970101  2    29.33\n"
                                          "1    19970118  2    29.73\n2    19970102  1    11.77\n")
    table = read_table(path, lambda header: {"ID": "text", "date": "date", "dollars": "number"})
    assert table.delimiter == " " and table.columns["dollars"].tolist() == [29.33, 29.73, 11.77]
    assert table.columns["ID"] == ["1", "1", "2"]


def test_a_four_column_log_without_a_header_needs_a_mapping(tmp_path):
    path = write(tmp_path / "log.txt", "1 19970101 2 29.33\n1 19970118 2 29.73\n2 19970102 1 11.77\n")
    with pytest.raises(CommandError, match="--map"):
        run_json("clv", str(path), "--transactions")


def test_a_three_column_log_without_a_header_says_its_columns_were_taken_by_position(tmp_path):
    path = write(tmp_path / "log.txt", "\n".join(" ".join(row) for row in cdnow_log("%Y%m%d")) + "\n")
    report = run_json("clv", str(path), "--transactions", "--calibration-end", "1997-09-30")
    assert report["columns"] == {"customer": "1", "date": "2", "amount": "3"}
    assert any("by position" in w for w in report["warnings"])


# --------------------------------------------------------------------------------------------------
# 10. Duplicate column names


def test_a_header_naming_a_column_twice_is_refused(tmp_path):
    path = write(tmp_path / "dup.csv", "score,score,x\n1,2,a\n")
    with pytest.raises(CsvError, match="more than once"):
        read_columns(path, "score")
    with pytest.raises(CsvError, match="more than once"):
        read_table(path, lambda header: {"score": "number"})


def test_empty_and_marked_date_cells_are_missing(tmp_path):
    path = write(tmp_path / "d.csv", "date\n2024-01-05\nNA\n\n-\n")
    table = read_table(path, lambda header: {"date": "date"})
    assert table.columns["date"].tolist()[1:] == [NO_DATE, NO_DATE] and table.missing == {"date": 2}


# --------------------------------------------------------------------------------------------------
# 5. One zero-spend repeat buyer does not disable the spend model; messages cite file lines and ids


def test_a_zero_spend_repeat_buyer_is_left_out_of_the_spend_model_not_everyone(tmp_path):
    lines = SPEND.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    repeat = next(i for i, row in enumerate(rows) if int(row.split(",")[1]) > 0)
    cells = rows[repeat].split(",")
    cells[4] = "0"
    rows[repeat] = ",".join(cells)
    path = write(tmp_path / "spend.csv", "\n".join([header, *rows]) + "\n")
    report = run_json("clv", str(path))
    gg = report["gamma_gamma"]
    assert gg is not None and gg["n_zero_spend"] == 1 and gg["n_customers"] == 945
    assert report["totals"]["clv"] is not None and report["totals"]["clv"] > 0
    note = next(n for n in report["notes"] if "spend 0" in n)
    assert f"line {repeat + 2} of the file, customer {cells[0]}" in note


def test_a_model_error_names_the_file_line_and_the_customer(tmp_path):
    text = "id,frequency,recency,T\n" + "".join(f"c{i},1,5,10\n" for i in range(15)) + "c99,2,12,10\n"
    path = write(tmp_path / "late.csv", text)
    with pytest.raises(CommandError, match="recency cannot exceed T") as info:
        run_json("clv", str(path))
    assert "line 17 of the file, customer c99" in str(info.value)


# --------------------------------------------------------------------------------------------------
# 2. Leakage and identifiers; 10. any two-valued target


def leaky_rows(n: int = 800, seed: int = 4) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        income = rng.normal(50, 15)
        bad = int(rng.random() < 1 / (1 + np.exp((income - 45) / 6)))
        noisy = bad if rng.random() < 0.97 else 1 - bad                     # a 97 % accurate copy
        rows.append({"Unnamed: 0": i, "loan_ref": f"L{i:05d}", "income": f"{income:.1f}",
                     "copy": bad, "recovered": noisy, "outcome": "defaulted" if bad else "repaid"})
    return rows


def write_rows(path: Path, rows: list[dict]) -> Path:
    header = list(rows[0])
    return write(path, "\n".join([",".join(header)] + [",".join(str(r[h]) for h in header) for r in rows]) + "\n")


def test_leaky_columns_and_identifiers_are_left_out_and_the_report_says_why(tmp_path):
    path = write_rows(tmp_path / "loans.csv", leaky_rows())
    report = run_json("scorecard", str(path), "--target", "outcome", "--folds", "3")
    assert report["dropped"]["copy"] == "leakage" and report["dropped"]["recovered"] == "leakage"
    assert report["dropped"]["loan_ref"] == "identifier" and "Unnamed: 0" in report["ignored_columns"]
    assert any("equals the target" in n for n in report["notes"])
    assert any("recovered left out as probable leakage" in n and "AUC" in n for n in report["notes"])
    assert [v["name"] for v in report["points_table"]["variables"]] == ["income"]
    assert report["cross_validation"]["auc"] < 0.95                        # an honest AUC, not a leaked one
    assert report["bad_value"] == "defaulted" and any("'defaulted' is read as bad" in w for w in report["warnings"])
    kept = run_json("scorecard", str(path), "--target", "outcome", "--folds", "3", "--allow-leakage", "recovered")
    assert "recovered" in [v["name"] for v in kept["points_table"]["variables"]]


def test_a_two_word_target_without_a_bad_word_needs_bad(tmp_path):
    rows = leaky_rows(300)
    for r in rows:
        r["outcome"] = "north" if r["copy"] else "south"
        del r["copy"], r["recovered"]
    path = write_rows(tmp_path / "t.csv", rows)
    with pytest.raises(CommandError, match="--bad VALUE"):
        run_json("scorecard", str(path), "--target", "outcome", "--folds", "3")
    report = run_json("scorecard", str(path), "--target", "outcome", "--folds", "3", "--bad", "north")
    assert report["bad_value"] == "north" and report["n_events"] == sum(r["outcome"] == "north" for r in rows)
    with pytest.raises(CommandError, match="is not a value of the target"):
        run_json("scorecard", str(path), "--target", "outcome", "--bad", "east")


def test_top_share_on_equal_scores_says_why_the_upper_class_is_empty(tmp_path):
    path = write(tmp_path / "flat.csv", "score\n" + "5\n" * 20)
    report = run_json("split", str(path), "--column", "score", "--method", "top_share", "--param", "q=0.2")
    assert report["counts"]["upper"] == 0
    assert any("20 clients share the score 5" in w and "0 of the 4 asked for" in w for w in report["warnings"])


def test_the_fast_paths_read_what_the_checked_paths_read(tmp_path):
    """Plain numbers and ISO dates are parsed in C; the result equals the cell-by-cell reading, and an odd
    cell anywhere sends the column through the checks (here: an impossible date is refused with its line)."""
    rows = [f"c{i % 7},2024-{1 + i % 12:02d}-{1 + i % 28:02d},{i * 1.25:.2f}" for i in range(200)]
    fast = read_table(write(tmp_path / "a.csv", "customer,date,amount\n" + "\n".join(rows) + "\n"),
                      lambda header: {"customer": "text", "date": "date", "amount": "number"})
    slow_rows = rows + ["c9,2024-01-05,NA"]                       # a marker: the checked path for amount
    slow = read_table(write(tmp_path / "b.csv", "customer,date,amount\n" + "\n".join(slow_rows) + "\n"),
                      lambda header: {"customer": "text", "date": "date", "amount": "number"})
    assert fast.columns["amount"].tolist() == slow.columns["amount"].tolist()[:200]
    assert fast.columns["date"].tolist() == slow.columns["date"].tolist()[:200]
    assert day(fast.columns["date"][1]) == dt.date(2024, 2, 2) and slow.missing["amount"] == 1
    bad = write(tmp_path / "c.csv", "date\n2024-01-05\n2024-02-30\n")
    with pytest.raises(CsvError, match="Line 3"):
        read_table(bad, lambda header: {"date": "date"})


def test_cdnow_master_file_is_read_as_shipped_and_its_spend_model_fits():
    """CDNOW's master file (whitespace separated, with a header) as the lifetimes package ships it: read by
    column name, and its zero-spend repeat buyers do not disable the spend model (issue 18, items 5 and 6)."""
    report = run_json("clv", str(MASTER), "--transactions", "--calibration-end", "1997-09-30")
    assert report["columns"] == {"customer": "customer_id", "date": "date", "amount": "dollar_value"}
    assert report["customers"] == 23570 and report["transactions"] == 69659
    assert report["gamma_gamma"] is not None and report["totals"]["clv"] > 0
