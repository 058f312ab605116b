"""``bcrm analyse split FILE.csv --column C``: where would each split method draw the line through a
column of any CSV file?

Two parts: reading the columns of a CSV file (:func:`read_columns`: any of UTF-8, UTF-8 with BOM, UTF-16
with BOM or GB18030; the delimiter sniffed; thousands separators accepted; only the named columns kept
in memory) and the ``split`` subcommand of ``bcrm analyse`` (:func:`add_arguments`, :func:`handle`),
a thin door onto :mod:`bcrm.segmentation.splits`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from bcrm.segmentation import splits

HELP = "Split a column of scores from a CSV file in two and compare the split methods."
DESCRIPTION = """\
Split a column of scores from any CSV file in two (higher score = upper class) and show where the line
falls, the class sizes and the diagnostics of the split.

methods and their --param:
  fixed             threshold=T   clients scoring T or more
  top_share         q=0.2         the top share q (floor(q x n) clients, ties at the line go below)
  top_k             k=100         the k best (ties at the line go below)
  pareto            p=0.8         the fewest top clients holding share p of the total score
  natural_break                   the least within-class squared error (default)
  capacity          budget=400 cost=2.5 (or --costs COLUMN)   most total score within the hours
  information_gain                needs --outcome COLUMN: the largest entropy reduction

Without --method: natural_break, and a table comparing the methods that need no parameter.
Exit status: 0 done, 1 bad arguments or file, 2 a cell that is not a number (its line is named).
"""
DEFAULT_METHOD = "natural_break"
SAMPLE_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
TRUE_WORDS = frozenset({"1", "1.0", "true", "t", "yes", "y", "是", "真"})
FALSE_WORDS = frozenset({"0", "0.0", "false", "f", "no", "n", "否", "假"})
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?([eE][+-]?\d+)?$")
EXIT_BAD_CELL = 2


class CsvError(ValueError):
    """A file that cannot be read as asked; ``returncode`` 2 for a bad cell, 1 otherwise."""

    def __init__(self, message: str, returncode: int = 1) -> None:
        super().__init__(message)
        self.returncode = returncode


@dataclass
class ColumnData:
    """The wanted columns of a CSV file, aligned: one entry per row that has every wanted value."""

    column: str                      # the score column's name as written in the header
    scores: np.ndarray               # float64
    outcome_column: str | None
    outcome: np.ndarray | None       # bool
    costs_column: str | None
    costs: np.ndarray | None         # float64, > 0
    rows: int                        # data rows read (blank lines not counted)
    skipped: int                     # rows left out because a wanted cell was empty
    encoding: str
    delimiter: str


# --------------------------------------------------------------------------------------------------
# Reading


def parse_number(text: str) -> float | None:
    """A cell as a number: ``None`` when empty; ``"1,234.5"`` (thousands separators) accepted.

    Raises ``ValueError`` for anything else, including NaN and infinity."""
    cell = text.strip().replace("\u2212", "-")
    if not cell:
        return None
    if "," in cell:
        if not _THOUSANDS.match(cell):
            raise ValueError(cell)
        cell = cell.replace(",", "")
    number = float(cell)
    if not math.isfinite(number):
        raise ValueError(cell)
    return number


def parse_flag(text: str) -> bool | None:
    """A 0/1 cell: 1/0, true/false, yes/no, y/n, 是/否 (any case); ``None`` when empty."""
    cell = text.strip().lower()
    if not cell:
        return None
    if cell in TRUE_WORDS:
        return True
    if cell in FALSE_WORDS:
        return False
    raise ValueError(cell)


def _encodings(path: Path) -> list[str]:
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(b"\xef\xbb\xbf"):
        return ["utf-8-sig"]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return ["utf-16"]
    return ["utf-8-sig", "gb18030"]


def _sniff(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def _find(header: list[str], name: str) -> int | None:
    cleaned = [cell.strip().lstrip("\ufeff").strip() for cell in header]
    wanted = name.strip()
    if wanted in cleaned:
        return cleaned.index(wanted)
    folded = [i for i, cell in enumerate(cleaned) if cell.casefold() == wanted.casefold()]
    return folded[0] if len(folded) == 1 else None


def _rows(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    with path.open(encoding=encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        for row in reader:
            yield reader.line_num, row


def read_columns(path: str | Path, column: str, *, outcome: str | None = None,
                 costs: str | None = None) -> ColumnData:
    """Read the score column (and the outcome and cost columns, if named) of a CSV file.

    Rows whose score — or outcome or cost, when asked for — is empty are counted in ``skipped``; a cell
    that is not a number (or not 0/1 for the outcome, or not above zero for a cost) raises
    :class:`CsvError` with ``returncode`` 2 naming its line and value. Nothing but the named columns is
    kept, so memory grows with the number of rows only.
    """
    file = Path(path)
    if not file.is_file():
        raise CsvError(_("No such file: %(path)s") % {"path": str(path)})
    failure: UnicodeDecodeError | None = None
    for encoding in _encodings(file):
        try:
            return _read(file, encoding, column, outcome, costs)
        except UnicodeDecodeError as exc:
            failure = exc
    raise CsvError(_("%(path)s is not UTF-8, UTF-16 or GB18030 text (%(reason)s).")
                   % {"path": str(path), "reason": str(failure)})


def _read(file: Path, encoding: str, column: str, outcome: str | None, costs: str | None) -> ColumnData:
    with file.open(encoding=encoding, newline="") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if not sample.strip():
        raise CsvError(_("The file is empty: it needs a header row naming the columns."))
    wanted = [name for name in (column, outcome, costs) if name]
    # The sniffed delimiter first; if the header does not name the columns with it, any that does.
    tried = list(dict.fromkeys([_sniff(sample), *DELIMITERS]))
    headers = {candidate: next(csv.reader(io.StringIO(sample), delimiter=candidate), [])
               for candidate in tried}
    delimiter = next((candidate for candidate in tried
                      if all(_find(headers[candidate], name) is not None for name in wanted)), tried[0])
    header = headers[delimiter]
    positions: dict[str, int] = {}
    for name in wanted:
        index = _find(header, name)
        if index is None:
            shown = ", ".join(cell.strip().lstrip("\ufeff") for cell in header[:30])
            raise CsvError(_("No column %(name)s in the header; the columns are: %(columns)s")
                           % {"name": repr(name), "columns": shown})
        positions[name] = index
    score_at = positions[column]
    outcome_at = positions[outcome] if outcome else None
    cost_at = positions[costs] if costs else None
    names = [cell.strip().lstrip("\ufeff").strip() for cell in header]

    score_values = array("d")
    flag_values = array("b")
    cost_values = array("d")
    rows = skipped = 0
    rows_iter = _rows(file, encoding, delimiter)
    next(rows_iter, None)                                   # the header
    for line, row in rows_iter:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue                                        # a blank line is not a row
        rows += 1
        score_text = row[score_at] if score_at < len(row) else ""
        try:
            score = parse_number(score_text)
        except ValueError:
            raise _bad_cell(line, names[score_at], score_text, _("a number"))
        flag: bool | None = True
        if outcome_at is not None:
            flag_text = row[outcome_at] if outcome_at < len(row) else ""
            try:
                flag = parse_flag(flag_text)
            except ValueError:
                raise _bad_cell(line, names[outcome_at], flag_text, _("0/1, true/false, yes/no or 是/否"))
        cost: float | None = 1.0
        if cost_at is not None:
            cost_text = row[cost_at] if cost_at < len(row) else ""
            try:
                cost = parse_number(cost_text)
            except ValueError:
                raise _bad_cell(line, names[cost_at], cost_text, _("a number of hours"))
            if cost is not None and cost <= 0:
                raise _bad_cell(line, names[cost_at], cost_text, _("a number of hours above zero"))
        if score is None or flag is None or cost is None:
            skipped += 1
            continue
        score_values.append(score)
        if outcome_at is not None:
            flag_values.append(1 if flag else 0)
        if cost_at is not None:
            cost_values.append(cost)
    return ColumnData(
        column=names[score_at],
        scores=np.frombuffer(score_values, dtype=np.float64).copy() if score_values else np.zeros(0),
        outcome_column=names[outcome_at] if outcome_at is not None else None,
        outcome=(np.frombuffer(flag_values, dtype=np.int8) == 1) if outcome_at is not None else None,
        costs_column=names[cost_at] if cost_at is not None else None,
        costs=(np.frombuffer(cost_values, dtype=np.float64).copy() if cost_values else np.zeros(0))
        if cost_at is not None else None,
        rows=rows, skipped=skipped, encoding=encoding, delimiter=delimiter,
    )


def _bad_cell(line: int, column: str, value: str, expected: str) -> CsvError:
    return CsvError(_("Line %(line)d, column %(column)s: %(value)s is not %(expected)s. "
                      "Fix the cell, or leave it empty to skip the row.")
                    % {"line": line, "column": repr(column), "value": repr(value), "expected": expected},
                    returncode=EXIT_BAD_CELL)


# --------------------------------------------------------------------------------------------------
# The subcommand


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument("file", help=_("CSV file (UTF-8, UTF-8 with BOM or GB18030; delimiter detected)"))
    parser.add_argument("--column", required=True, help=_("the column holding the scores (higher = upper class)"))
    parser.add_argument("--method", choices=splits.METHODS, default=None,
                        help=_("split method (default natural_break, compared with every other method)"))
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help=_("a parameter of the method, e.g. q=0.2, k=100, p=0.8, budget=400 (repeatable)"))
    parser.add_argument("--outcome", default=None,
                        help=_("a 0/1 column: the information gain of the split against it is reported"))
    parser.add_argument("--costs", default=None,
                        help=_("a column of hours per client, for the capacity method"))
    parser.add_argument("--json", action="store_true", help=_("print one JSON document"))


def _params(items: list[str]) -> dict[str, str]:
    raw: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CommandError(_("--param takes NAME=VALUE, e.g. q=0.2; got %(item)s.") % {"item": repr(item)})
        raw[name.strip()] = value.strip()
    return raw


def _split_error(exc: splits.SplitError) -> CommandError:
    return CommandError(_(exc.template) % exc.params)


def handle(command: BaseCommand, options: dict[str, Any]) -> None:
    """Run ``bcrm analyse split`` with parsed ``options``; output to ``command.stdout``."""
    method = options["method"] or DEFAULT_METHOD
    try:
        params = splits.parse_params(method, _params(options["param"]))
    except splits.SplitError as exc:
        raise _split_error(exc)
    try:
        data = read_columns(options["file"], options["column"], outcome=options["outcome"],
                            costs=options["costs"])
    except CsvError as exc:
        raise CommandError(str(exc), returncode=exc.returncode)
    if data.scores.size == 0:
        raise CommandError(_("Column %(column)s has no numbers (%(rows)d rows, %(skipped)d skipped as empty).")
                           % {"column": repr(data.column), "rows": data.rows, "skipped": data.skipped})
    try:
        result = splits.split(method, data.scores, outcome=data.outcome, costs=data.costs, **params)
        comparison = [] if options["method"] else splits.compare_methods(
            data.scores, outcome=data.outcome, costs=data.costs)
    except splits.SplitError as exc:
        raise _split_error(exc)
    report = _report(options["file"], data, method, params, result, comparison)
    if options["json"]:
        command.stdout.write(json.dumps(report, ensure_ascii=False, indent=2, allow_nan=False))
    else:
        command.stdout.write(_render(report))


def _params_of(result: splits.SplitResult) -> dict[str, Any]:
    declared = splits.PARAMS[result.method]
    return {name: result.diagnostics[name] for name in declared if result.diagnostics.get(name) is not None}


def _report(file: str, data: ColumnData, method: str, params: dict[str, Any], result: splits.SplitResult,
            comparison: list[splits.SplitResult]) -> dict[str, Any]:
    rows = []
    for other in comparison:
        diagnostics = other.diagnostics
        row = {
            "method": other.method, "params": _params_of(other), "threshold": other.threshold,
            "n_upper": diagnostics["n_upper"], "share_upper": diagnostics["share_upper"],
            "value_share_upper": diagnostics["value_share_upper"], "within_ss": diagnostics["within_ss"],
            "between_ss": diagnostics["between_ss"],
        }
        if data.outcome is not None:
            row["information_gain"] = diagnostics.get("information_gain")
        rows.append(row)
    return {
        "file": str(file), "column": data.column, "outcome": data.outcome_column, "costs": data.costs_column,
        "method": method, "params": params, "threshold": result.threshold,
        "counts": {"upper": result.diagnostics["n_upper"], "lower": result.diagnostics["n_lower"],
                   "skipped": data.skipped, "rows": data.rows},
        "diagnostics": result.diagnostics, "comparison": rows,
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return pgettext("split report", "yes") if value else pgettext("split report", "no")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e15 else f"{value:.6g}"
    return str(value)


def _share(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _render(report: dict[str, Any]) -> str:
    counts = report["counts"]
    params = ", ".join(f"{k}={_fmt(v)}" for k, v in report["params"].items())
    pairs = [(pgettext("split report", "File"), report["file"]), (pgettext("split report", "Column"), report["column"])]
    if report["outcome"]:
        pairs.append((pgettext("split report", "Outcome"), report["outcome"]))
    pairs += [
        (pgettext("split report", "Method"), report["method"] + (f" ({params})" if params else "")),
        (pgettext("split report", "Threshold"), _fmt(report["threshold"])),
        (pgettext("split report", "Upper"), f"{_fmt(counts['upper'])} ({_share(report['diagnostics']['share_upper'])})"),
        (pgettext("split report", "Lower"), _fmt(counts["lower"])),
        (pgettext("split report", "Skipped"), f"{_fmt(counts['skipped'])} " + pgettext("split report", "(empty cells)")),
    ]
    lines = [f"{label:<12}{value}" for label, value in pairs]
    lines += ["", pgettext("split report", "Diagnostics")]
    for key, value in report["diagnostics"].items():
        lines.append(f"  {key:<34}{_fmt(value)}")
    if report["comparison"]:
        with_gain = any("information_gain" in row for row in report["comparison"])
        titles = [pgettext("split report", "method"), pgettext("split report", "params"), pgettext("split report", "threshold"), pgettext("split report", "upper"), pgettext("split report", "share"), pgettext("split report", "value share")]
        head = (f"{titles[0]:<18}{titles[1]:<12}{titles[2]:>14}{titles[3]:>12}{titles[4]:>9}{titles[5]:>13}")
        if with_gain:
            gain_title = pgettext("split report", "info gain")
            head += f"{gain_title:>11}"
        lines += ["", pgettext("split report", "Comparison: where each method draws the line (* the method above)"), head]
        for row in report["comparison"]:
            params = ",".join(f"{k}={_fmt(v)}" for k, v in row["params"].items())
            name = row["method"] + (" *" if row["method"] == report["method"] else "")
            line = (f"{name:<18}{params:<12}{_fmt(row['threshold']):>14}{_fmt(row['n_upper']):>12}"
                    f"{_share(row['share_upper']):>9}{_share(row['value_share_upper']):>13}")
            if with_gain:
                gain = row.get("information_gain")
                line += f"{'—' if gain is None else f'{gain:.4f}':>11}"
            lines.append(line)
    return "\n".join(lines) + "\n"
