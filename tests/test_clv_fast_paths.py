"""The fast paths of `bcrm analyse clv` (issue 19) give what the careful paths give: the columnar reader the
row-by-row reader's columns, warnings and errors; the interpolated lifetime value the month-by-month sum; the
calibration histogram's recurrence the incomplete beta function; the column-wise writer the csv module's
file. And a fit whose quasi-Newton search ended early says so, in both languages."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bcrm.fileanalysis import clvfile
from bcrm.fileanalysis.csvread import CsvError, read_table
from bcrm.fileanalysis.csvread import table as table_module
from bcrm.stats import clv
from bcrm.stats.clv import optimiser, value
from bcrm.stats.clv.expectations import _expected_counts, _p_alive, _prob_count
from tests.datafiles import SPEND
from tests.doors import command

PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def _read(path: Path, kinds: dict[str, str], careful: bool, **options) -> tuple[str, Any]:
    """("ok", what read_table gives) or ("error", (message, returncode)), with the columnar reader or not."""
    original = table_module._columnar
    table_module._columnar = (lambda *args: None) if careful else original
    try:
        table = read_table(path, lambda header: kinds, **options)
    except CsvError as exc:
        return "error", (str(exc), exc.returncode)
    finally:
        table_module._columnar = original
    columns = {name: (values.tolist() if isinstance(values, np.ndarray) else list(values))
               for name, values in table.columns.items()}
    return "ok", (columns, table.lines.tolist(), table.rows, table.missing, table.decimal, table.date_orders,
                  table.warnings)


def _same(path: Path, kinds: dict[str, str], **options) -> tuple[str, Any]:
    fast, careful = _read(path, kinds, False, **options), _read(path, kinds, True, **options)
    assert fast[0] == careful[0], (fast, careful)
    if fast[0] == "ok":
        fast_columns, *fast_rest = fast[1]
        careful_columns, *careful_rest = careful[1]
        assert fast_rest == careful_rest
        for name, values in careful_columns.items():       # NaN == NaN for the comparison
            assert [("nan" if isinstance(v, float) and math.isnan(v) else v) for v in fast_columns[name]] == \
                   [("nan" if isinstance(v, float) and math.isnan(v) else v) for v in values], name
    else:
        assert fast == careful
    return fast


CELLS = st.sampled_from(["1", "2.5", " 3 ", "-4e2", "0.001", "", "NA", "n/a", "-", "inf", "nan", "1,5", "1,500",
                         '"7"', '"8,5"', "abc", "1_000", "1e400", ".5", "5.", "+6", "１２", "٣", '""', "  "])
IDS = st.sampled_from(["C1", "C2", " C3 ", "", "NULL", '"a,b"', '"q""q"', "客户"])
ROWS = st.lists(st.tuples(IDS, CELLS, CELLS), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS, delimiter=st.sampled_from([",", ";", "\t"]), blank=st.booleans(), ending=st.sampled_from(["\n", "\r\n"]),
       final_newline=st.booleans())
def test_the_columnar_reader_reads_what_the_row_by_row_reader_reads(tmp_path, rows, delimiter, blank, ending,
                                                                     final_newline):
    lines = [delimiter.join(["ID", "frequency", "spend"])]
    for i, (ident, x, z) in enumerate(rows):
        if delimiter != "," and ("," in ident or "," in x or "," in z):
            ident, x, z = ident.replace('"', ""), x.replace('"', ""), z.replace('"', "")
        lines.append(delimiter.join([ident, x, z]))
        if blank and i == 0:
            lines.append("")
    path = tmp_path / "f.csv"
    path.write_bytes((ending.join(lines) + (ending if final_newline else "")).encode("utf-8"))
    _same(path, {"ID": "text", "frequency": "number", "spend": "number"})
    _same(path, {"ID": "text", "frequency": "number"}, decimal=",")


@pytest.mark.parametrize("body, kinds, options", [
    ("ID,frequency\nC1,1\nC2,x\n", {"frequency": "number"}, {}),                         # a bad cell: line 3
    ("ID,frequency\nC1,1\n\nC2,x\n", {"frequency": "number"}, {}),                       # after a blank line: line 4
    ('ID,frequency\nC1,"1\n2"\nC2,x\n', {"frequency": "number"}, {}),                    # a quoted line break
    ("ID;frequency\nC1;1,500\n", {"frequency": "number"}, {}),                             # ambiguous decimal mark
    ("ID,frequency\nC1,1e400\n", {"frequency": "number"}, {}),                             # infinity
    ("ID,date\nC1,01/02/2024\nC2,03/04/2024\n", {"date": "date"}, {}),                     # undecidable dates
    ("ID,date\nC1,2024-02-30\n", {"date": "date"}, {}),                                    # no such day
    ("ID,date\nC1,13/02/2024\nC2,2024-01-05\n", {"ID": "text", "date": "date"}, {}),       # day first, decided
    ("ID,frequency\nC1,NA\nC2,2\n", {"ID": "text", "frequency": "number"}, {}),            # a marker: counted
    ("ID,frequency\n\"\"\nC2,2\n", {"frequency": "number"}, {}),                           # a line of ""
    ("ID,frequency\r\nC1,1\rC2,2\r\n", {"frequency": "number"}, {}),                       # a lone carriage return
])
def test_bad_and_awkward_files_get_the_row_by_row_readers_answer(tmp_path, body, kinds, options):
    path = tmp_path / "f.csv"
    path.write_text(body, encoding="utf-8", newline="")
    _same(path, kinds, **options)


def test_the_columnar_reader_names_the_line_of_a_bad_cell(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("ID,frequency,recency,T\n" + "".join(f"C{i},1,2,3\n" for i in range(50)) + "C50,1,two,3\n")
    outcome, (message, returncode) = _read(path, {"frequency": "number", "recency": "number", "T": "number"}, False)
    assert outcome == "error" and returncode == 2 and "Line 52" in message and "'two'" in message


def test_a_plain_file_is_read_without_the_row_loop(tmp_path, monkeypatch):
    path = tmp_path / "f.csv"
    path.write_text("ID,frequency,recency,T\n" + "".join(f"C{i},{i % 3},{i % 5}.5,{i % 7 + 6}\n" for i in range(300)))
    monkeypatch.setattr(table_module, "_cells", lambda *args: pytest.fail("the row-by-row reader ran"))
    table = read_table(path, lambda header: {"ID": "text", "frequency": "number", "T": "number"})
    assert table.rows == 300 and table.lines[0] == 2 and table.lines[-1] == 301
    assert table.columns["ID"][299] == "C299" and table.columns["T"][299] == 299 % 7 + 6


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-1e300, max_value=1e300, allow_nan=False), min_size=1, max_size=30),
       st.sampled_from(["{!r}", "{:.17g}", "{:.3e}", "{:f}"]))
def test_pandas_parses_each_number_to_the_same_double_as_python(tmp_path_factory, numbers, fmt):
    path = tmp_path_factory.mktemp("n") / "f.csv"
    cells = [fmt.format(v) for v in numbers]
    path.write_text("v\n" + "\n".join(cells) + "\n")
    table = read_table(path, lambda header: {"v": "number"})
    assert table.columns["v"].tolist() == [float(c) for c in cells]


# --------------------------------------------------------------------------------------------------
# The lifetime value and the calibration histogram


def _month_by_month(params: dict[str, float], x, tx, T, months, rate, unit):
    bg = _fit(params)
    alive = _p_alive(bg.r, bg.alpha, bg.a, bg.b, x, tx, T)
    return alive * value._month_by_month(bg, x, bg.alpha + T, months, rate, unit)


def _fit(params: dict[str, float]) -> clv.BGNBDFit:
    return clv.BGNBDFit(r=params["r"], alpha=params["alpha"], a=params["a"], b=params["b"], se={},
                        covariance=np.zeros((4, 4)), log_likelihood=0.0, n_customers=1.0, n_distinct=1,
                        converged=True, iterations=0, evaluations=0, message="")


@pytest.mark.parametrize("params, unit, spread", [
    (PARAMS, 4.348, 39.0),                                            # weeks, CDNOW
    ({"r": 0.5, "alpha": 80.0, "a": 1.5, "b": 6.0}, 30.4375, 700.0),   # days
    ({"r": 2.0, "alpha": 0.05, "a": 0.4, "b": 0.9}, 1.0, 36.0),        # months, α tiny: 1/(α+T) spans decades
    ({"r": 0.3, "alpha": 3.0, "a": 2e5, "b": 5e5}, 4.348, 52.0),       # the degenerate fit (a, b without bound)
])
def test_the_interpolated_lifetime_value_is_the_month_by_month_sum(params, unit, spread):
    rng = np.random.default_rng(7)
    n = 4000
    x = rng.choice([0, 1, 2, 3, 7, 25, 150], size=n, p=[0.5, 0.2, 0.1, 0.08, 0.07, 0.04, 0.01]).astype(np.float64)
    T = rng.uniform(0.0, spread, n)
    T[x > 0] = np.maximum(T[x > 0], 1e-3)
    tx = np.where(x > 0, T * rng.uniform(0, 1, n), 0.0)
    bg = _fit(params)
    got = value._discount_factor(bg, x, tx, T, 12, 0.01, unit)
    exact = _month_by_month(params, x, tx, T, 12, 0.01, unit)
    assert np.all(np.isfinite(got))
    assert np.max(np.abs(got - exact) / np.maximum(np.abs(exact), 1e-12)) < 1e-9


def test_the_interpolation_declines_what_it_cannot_trust(monkeypatch):
    """A group whose interpolant is off (forced here) is evaluated month by month instead."""
    monkeypatch.setattr(value, "_TOLERANCE", -1.0)                    # nothing passes the check
    calls = []
    real = value._month_by_month
    monkeypatch.setattr(value, "_month_by_month", lambda bg, x, *rest: calls.append(x.size) or real(bg, x, *rest))
    x = np.zeros(500)
    T = np.linspace(1, 39, 500)
    got = value._discount_factor(_fit(PARAMS), x, np.zeros(500), T, 6, 0.02, 4.348)
    assert calls[-1] == 500                                           # every row, month by month
    exact = real(_fit(PARAMS), x, PARAMS["alpha"] + T, 6, 0.02, 4.348)
    assert np.allclose(got, exact, rtol=1e-14, atol=0)


@settings(max_examples=40, deadline=None)
@given(r=st.floats(0.05, 5), alpha=st.floats(0.05, 200), a=st.floats(0.05, 20), b=st.floats(0.05, 20),
       ts=st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 2000)), min_size=1, max_size=20))
def test_the_histograms_recurrence_is_the_incomplete_beta_function(r, alpha, a, b, ts):
    params = {"r": r, "alpha": alpha, "a": a, "b": b}
    t = np.array(ts)
    weights = np.arange(1, t.size + 1, dtype=np.float64)
    expected = weights @ _prob_count(params, t, np.arange(9))
    got = _expected_counts(params, t, weights, 9)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12 * weights.sum())


# --------------------------------------------------------------------------------------------------
# The predictions file


def test_the_predictions_file_is_what_the_csv_module_writes(tmp_path):
    ids = ["C1", "a,b", 'say "hi"', "two\nlines", "客户", ""]
    numbers = np.array([1.0, 2.5, 1 / 3, np.nan, np.inf, 1e-7])
    data = {"id": ids, "id_column": "ID", "frequency": numbers, "recency": numbers, "T": numbers}
    result = clv.CLVResult(bgnbd=_fit(PARAMS), gamma_gamma=None, horizon=52.0, expected_transactions=numbers * 2,
                           p_alive=numbers / 3, expected_spend=None, clv=None)
    out = tmp_path / "pred.csv"
    clvfile._write_predictions(str(out), data, result)
    expected = tmp_path / "expected.csv"
    with expected.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", "frequency", "recency", "T", "expected_transactions", "p_alive"])
        for i in range(len(ids)):
            writer.writerow([ids[i]] + ["" if not math.isfinite(v) else f"{v:.10g}" for v in
                                        (numbers[i], numbers[i], numbers[i], numbers[i] * 2, numbers[i] / 3)])
    assert out.read_bytes() == expected.read_bytes()


# --------------------------------------------------------------------------------------------------
# How the search ended


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 10**9), st.integers(1, 10**9))
def test_the_search_tolerance_follows_what_the_sum_can_resolve(small, large):
    small, large = sorted((small, large))
    assert 1e-15 <= optimiser._ftol(small) <= optimiser._ftol(large) <= 1e-10


def test_the_search_status_is_reported_in_the_report_and_both_languages(monkeypatch):
    real = optimiser.optimize.minimize

    def abnormal(*args, **kwargs):
        result = real(*args, **kwargs)
        result.success, result.status, result.message = False, 2, "ABNORMAL: "
        return result

    monkeypatch.setattr(optimiser.optimize, "minimize", abnormal)
    report = json.loads(command("analyse", "clv", str(SPEND), "--json"))
    for fit in (report["bgnbd"], report["gamma_gamma"]):
        assert fit["converged"] is True and fit["search_status"] == "line_search" and fit["message"] == "ABNORMAL: "
        assert fit["gradient_norm"] < 1e-9 and "line search" in fit["search"]
    assert sum("line search could not improve" in note for note in report["notes"]) == 2
    text = command("analyse", "clv", str(SPEND))
    assert text.count("search: quasi-Newton search ended early") == 2
    with translation.override("zh-hans"):
        chinese = command("analyse", "clv", str(SPEND))
        report = json.loads(command("analyse", "clv", str(SPEND), "--json"))
    assert "线搜索" in chinese and "线搜索" in report["gamma_gamma"]["search"]
    assert all("line search" not in note for note in report["notes"])


def test_a_normal_search_says_it_met_its_tolerance():
    report = json.loads(command("analyse", "clv", str(SPEND), "--json"))
    assert report["bgnbd"]["search_status"] == "converged" and report["gamma_gamma"]["search_status"] == "converged"
    assert not any("ended early" in note for note in report["notes"])
