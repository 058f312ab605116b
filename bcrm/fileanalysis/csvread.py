"""Reading columns of any CSV file, shared by the ``bcrm analyse`` subcommands.

Any of UTF-8, UTF-8 with BOM, UTF-16 with BOM or GB18030; the delimiter sniffed (``,;\t|``), and for a
file without a header also runs of spaces (as in the CDNOW transaction log); thousands separators
accepted in numbers; only the wanted columns kept in memory, each converted as it is read.

* :func:`read_columns` — a score column with an optional 0/1 outcome and a cost column (``analyse split``);
* :func:`read_table` — any set of columns, each read as numbers, text or dates, chosen once the header is
  known (``analyse clv`` and ``analyse scorecard``).

A cell that cannot be read raises :class:`CsvError` with ``returncode`` 2 naming its line and value;
anything else wrong with the file (missing, empty, unknown column, undecodable) ``returncode`` 1.

Real spreadsheets must not fool the readers silently:

* the common missing-value markers (R's ``NA``, ``n/a``, ``NULL``, ``-``, ``#N/A``, ``—`` …, see
  :data:`MISSING_MARKERS`) are empty cells, counted per column;
* the decimal mark is decided once per file from the delimiter and every number cell (``1,5`` in a
  semicolon file is one and a half; ``1,500`` alone in a semicolon file is ambiguous and refused unless the
  caller names the mark), see :func:`infer_decimal`;
* the order of day and month in ``01/02/2024``-style dates is decided per column from all its values, and a
  column whose values cannot tell (or that mixes both orders) is refused with a message naming the option
  that settles it, see :func:`date_order`;
* a file with a header whose columns are separated by runs of spaces (CDNOW's master file) is read by name;
* a header that names a column twice is refused rather than silently reading the first.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.utils.translation import gettext as _

SAMPLE_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
TRUE_WORDS = frozenset({"1", "1.0", "true", "t", "yes", "y", "是", "真"})
FALSE_WORDS = frozenset({"0", "0.0", "false", "f", "no", "n", "否", "假"})
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?([eE][+-]?\d+)?$")
# the same with a decimal comma: "." or a space (also the narrow no-break one) groups thousands
_THOUSANDS_DECIMAL_COMMA = re.compile(r"^[+-]?\d{1,3}([. \u00a0\u202f]\d{3})+(,\d*)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+$")
# "1.500" or "12.345.678": a decimal point, or dot-grouped thousands
_DOT_GROUPS = re.compile(r"^[1-9]\d{0,2}(\.\d{3})+$")
EXIT_BAD_CELL = 2
#: Cells that spreadsheets, R, SAS and databases write for "no value", compared case-insensitively:
#: read as an empty cell everywhere (numbers, dates, flags, categories) and counted per column.
MISSING_MARKERS = frozenset({
    "na", "n/a", "#n/a", "n.a.", "nan", "null", "#null!", "none", "nil", "missing",
    "-", "--", "—", "–", "?", ".",
})
#: The decimal marks a caller may name (``--decimal``).
DECIMAL_MARKS = (".", ",")
#: The orders a caller may name for ``01/02/2024``-style dates (``--dayfirst`` / ``--monthfirst``).
DATE_ORDERS = ("dmy", "mdy")


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
    decimal: str = "."               # the decimal mark the numbers were read with


# --------------------------------------------------------------------------------------------------
# Reading


def is_missing(text: str) -> bool:
    """An empty cell, or one of the :data:`MISSING_MARKERS`."""
    cell = text.strip()
    return not cell or cell.casefold() in MISSING_MARKERS


def parse_number(text: str, decimal: str = ".") -> float | None:
    """A cell as a number: ``None`` when empty or a missing-value marker.

    With ``decimal="."`` (the default) ``"1,234.5"`` (thousands separators) is accepted; with ``decimal=","``
    ``"1,5"`` and ``"1.234,5"`` are. Raises ``ValueError`` for anything else, including NaN and infinity."""
    cell = text.strip().replace("\u2212", "-")
    if not cell or cell.casefold() in MISSING_MARKERS:
        return None
    if decimal == ",":
        if "." in cell or " " in cell or "\u00a0" in cell or "\u202f" in cell:
            if not _THOUSANDS_DECIMAL_COMMA.match(cell):
                raise ValueError(cell)
            cell = re.sub(r"[. \u00a0\u202f]", "", cell)
        cell = cell.replace(",", ".")
    elif "," in cell:
        if not _THOUSANDS.match(cell):
            raise ValueError(cell)
        cell = cell.replace(",", "")
    number = float(cell)
    if not math.isfinite(number):
        raise ValueError(cell)
    return number


def infer_decimal(cells: Iterable[str], delimiter: str) -> str | None:
    """The file's decimal mark, from its number cells and its delimiter: ``"."``, ``","``, or ``None`` when
    the cells cannot tell (only ``1,500``-shaped values in a file whose delimiter is not a comma — a
    thousands separator in one country, a decimal comma in another).

    A comma followed by other than three digits (``1,5``, ``0,25``) or a comma after dot-grouped thousands
    (``1.234,5``) is a decimal comma; a dot followed by other than three digits (``1.5``) or a dot after
    comma-grouped thousands (``1,234.5``) is a decimal point. Raises :class:`CsvError` when both appear."""
    comma = point = ambiguous_comma = ambiguous_point = None
    for text in cells:
        cell = text.strip().lstrip("+-\u2212")
        if not cell or not cell[0].isdigit():
            continue
        if "," in cell and "." in cell:
            if cell.rfind(",") > cell.rfind("."):
                comma = comma or cell
            else:
                point = point or cell
        elif "," in cell:
            if _THOUSANDS.match(cell) and cell[0] != "0":
                ambiguous_comma = ambiguous_comma or cell
            elif _DECIMAL_COMMA.match(cell):
                comma = comma or cell
        elif "." in cell:
            if _DOT_GROUPS.match(cell):
                ambiguous_point = ambiguous_point or cell
            else:
                point = point or cell
        if comma and point:
            raise CsvError(_("The file mixes decimal marks: %(comma)s has a decimal comma, %(point)s a decimal "
                             "point. Make them agree, or name the mark (--decimal , or --decimal .).")
                           % {"comma": repr(comma), "point": repr(point)})
    if comma:
        return ","
    if point:
        return "."
    if ambiguous_comma and delimiter != ",":
        return None
    if ambiguous_point and delimiter == ";":
        return None
    return "."


def parse_flag(text: str) -> bool | None:
    """A 0/1 cell: 1/0, true/false, yes/no, y/n, 是/否 (any case); ``None`` when empty."""
    cell = text.strip().lower()
    if not cell or cell in MISSING_MARKERS:
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
                 costs: str | None = None, decimal: str | None = None) -> ColumnData:
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
            return _read(file, encoding, column, outcome, costs, decimal)
        except UnicodeDecodeError as exc:
            failure = exc
    raise CsvError(_("%(path)s is not UTF-8, UTF-16 or GB18030 text (%(reason)s).")
                   % {"path": str(path), "reason": str(failure)})


def _read(file: Path, encoding: str, column: str, outcome: str | None, costs: str | None,
          decimal: str | None) -> ColumnData:
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
        _refuse_duplicate([cell.strip().lstrip("\ufeff").strip() for cell in header], index)
        positions[name] = index
    score_at = positions[column]
    outcome_at = positions[outcome] if outcome else None
    cost_at = positions[costs] if costs else None
    names = [cell.strip().lstrip("\ufeff").strip() for cell in header]

    score_cells: list[str] = []
    flag_cells: list[str] = []
    cost_cells: list[str] = []
    lines = array("q")
    rows_iter = _rows(file, encoding, delimiter)
    next(rows_iter, None)                                   # the header
    for line, row in rows_iter:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue                                        # a blank line is not a row
        lines.append(line)
        score_cells.append(row[score_at].strip() if score_at < len(row) else "")
        if outcome_at is not None:
            flag_cells.append(row[outcome_at].strip() if outcome_at < len(row) else "")
        if cost_at is not None:
            cost_cells.append(row[cost_at].strip() if cost_at < len(row) else "")
    line_numbers = np.frombuffer(lines, dtype=np.int64).copy() if lines else np.zeros(0, dtype=np.int64)
    number_cells = [score_cells] + ([cost_cells] if cost_at is not None else [])
    number_names = [names[score_at]] + ([names[cost_at]] if cost_at is not None else [])
    mark = decimal or decimal_mark(number_cells, delimiter, line_numbers, number_names)
    scores = _numbers(score_cells, line_numbers, names[score_at], mark)
    keep = ~np.isnan(scores)
    flags: np.ndarray | None = None
    if outcome_at is not None:
        flags = np.zeros(len(flag_cells), dtype=bool)
        for i, text in enumerate(flag_cells):
            try:
                flag = parse_flag(text)
            except ValueError:
                raise _bad_cell(int(line_numbers[i]), names[outcome_at], text, _("0/1, true/false, yes/no or 是/否")) from None
            if flag is None:
                keep[i] = False
            else:
                flags[i] = flag
    costs_array: np.ndarray | None = None
    if cost_at is not None:
        costs_array = _numbers(cost_cells, line_numbers, names[cost_at], mark)
        for i, cost in enumerate(costs_array):
            if cost <= 0:
                raise _bad_cell(int(line_numbers[i]), names[cost_at], cost_cells[i], _("a number of hours above zero"))
        keep &= ~np.isnan(costs_array)
    return ColumnData(
        column=names[score_at], scores=scores[keep],
        outcome_column=names[outcome_at] if outcome_at is not None else None,
        outcome=flags[keep] if flags is not None else None,
        costs_column=names[cost_at] if cost_at is not None else None,
        costs=costs_array[keep] if costs_array is not None else None,
        rows=len(lines), skipped=int((~keep).sum()), encoding=encoding, delimiter=delimiter, decimal=mark,
    )


def _refuse_duplicate(names: list[str], index: int) -> None:
    """A header that names the wanted column twice: which one is meant cannot be guessed."""
    places = [str(i + 1) for i, name in enumerate(names) if name.casefold() == names[index].casefold()]
    if len(places) > 1:
        raise CsvError(_("The header names column %(name)s more than once (columns %(places)s): rename the "
                         "copies so that it is clear which one is meant.")
                       % {"name": repr(names[index]), "places": ", ".join(places)})


def _bad_cell(line: int, column: str, value: str, expected: str) -> CsvError:
    return CsvError(_("Line %(line)d, column %(column)s: %(value)s is not %(expected)s. "
                      "Fix the cell, or leave it empty to skip the row.")
                    % {"line": line, "column": repr(column), "value": repr(value), "expected": expected},
                    returncode=EXIT_BAD_CELL)


# --------------------------------------------------------------------------------------------------
# Any columns: numbers, text or dates

#: What :func:`read_table` turns a column into.
KINDS = ("number", "text", "date")
_EPOCH = dt.date(1970, 1, 1).toordinal()
#: Marks an empty date cell in :attr:`Table.columns` (days since 1970-01-01 otherwise).
NO_DATE = np.iinfo(np.int64).min
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%d/%m/%Y")


@dataclass
class Table:
    """Columns read by :func:`read_table`: ``columns[name]`` is a float64 array (NaN for an empty cell),
    a list of stripped strings ("" for empty) or an int64 array of days since 1970-01-01 (:data:`NO_DATE`
    for empty), by the kind asked for; one entry per data row, blank lines not counted."""

    header: list[str]                      # every column name of the file (positions "1", "2", … without one)
    columns: dict[str, Any]
    kinds: dict[str, str]
    lines: np.ndarray                      # the file line of each row, for messages
    rows: int
    encoding: str
    delimiter: str                         # " " for runs of spaces
    has_header: bool
    names: dict[str, str] = field(default_factory=dict)   # asked name → name as written in the header
    missing: dict[str, int] = field(default_factory=dict)  # column → cells empty or marked missing
    decimal: str = "."                                      # the decimal mark the numbers were read with
    date_orders: dict[str, str] = field(default_factory=dict)  # column → "dmy" / "mdy" where it mattered
    warnings: list[str] = field(default_factory=list)      # what the reader decided or left out, in words


_ISO_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:$|[ T])")
_CN_DATE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日")
_SHORT_DATE = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?:$|[ T])")


def parse_date(text: str, order: str | None = "dmy", date_format: str | None = None) -> int | None:
    """A cell as days since 1970-01-01; ``None`` when empty or a missing-value marker.

    ``YYYYMMDD``, ``YYYY-MM-DD`` (also with ``/`` or ``.``; a time after it ignored) and ``2026年3月5日`` are
    read as they are; ``01/02/2024`` (also ``-`` or ``.``) by ``order``, ``"dmy"`` or ``"mdy"`` (``None``:
    refused as ambiguous unless the day or the month is above 12). With ``date_format`` (``strptime``
    codes, e.g. ``%m/%d/%Y``) only that format is read. Raises ``ValueError`` otherwise."""
    cell = text.strip()
    if not cell or cell.casefold() in MISSING_MARKERS:
        return None
    if date_format:
        return dt.datetime.strptime(cell, date_format).date().toordinal() - _EPOCH
    if len(cell) == 8 and cell.isdigit():
        return dt.date(int(cell[:4]), int(cell[4:6]), int(cell[6:])).toordinal() - _EPOCH
    match = _ISO_DATE.match(cell) or _CN_DATE.match(cell)
    if match:
        year, month, day = (int(g) for g in match.groups())
        return dt.date(year, month, day).toordinal() - _EPOCH
    short = _SHORT_DATE.match(cell)
    if short:
        first, second, year = (int(g) for g in short.groups())
        if order is None:
            order = "dmy" if first > 12 else "mdy" if second > 12 else None
        if order is None:
            raise ValueError(cell)
        day, month = (first, second) if order == "dmy" else (second, first)
        return dt.date(year, month, day).toordinal() - _EPOCH
    raise ValueError(cell)


def date_order(cells: Iterable[str], lines: Sequence[int] | np.ndarray, column: str) -> str | None:
    """The order of day and month in a column's ``01/02/2024``-style dates, from all its values: ``"dmy"``
    when some first number is above 12, ``"mdy"`` when some second one is, ``None`` when the column has no
    such dates. Raises :class:`CsvError` when they cannot tell (every day and month 12 or below) or when
    the column has both (a column mixing the two orders), naming the lines and the options that settle it."""
    day_first = month_first = undecided = None
    for line, text in zip(lines, cells, strict=False):
        short = _SHORT_DATE.match(text.strip())
        if not short:
            continue
        first, second = int(short.group(1)), int(short.group(2))
        if first > 12 and second <= 12:
            day_first = day_first or (line, text.strip())
        elif second > 12 and first <= 12:
            month_first = month_first or (line, text.strip())
        else:
            undecided = undecided or (line, text.strip())
    if day_first and month_first:
        raise CsvError(_("Column %(column)s mixes day-first and month-first dates: line %(line1)d has "
                         "%(value1)s (day first), line %(line2)d has %(value2)s (month first). Make them agree, "
                         "or name the format (--date-format, e.g. %%d/%%m/%%Y).")
                       % {"column": repr(column), "line1": day_first[0], "value1": repr(day_first[1]),
                          "line2": month_first[0], "value2": repr(month_first[1])}, returncode=EXIT_BAD_CELL)
    if day_first:
        return "dmy"
    if month_first:
        return "mdy"
    if undecided:
        raise CsvError(_("Column %(column)s has dates such as %(value)s (line %(line)d) that read both ways: "
                         "no day or month above 12 tells whether the day or the month comes first. Say which "
                         "with --dayfirst or --monthfirst (or --date-format).")
                       % {"column": repr(column), "value": repr(undecided[1]), "line": undecided[0]},
                       returncode=EXIT_BAD_CELL)
    return None


def _looks_headerless(first: str) -> bool:
    return bool(first.strip()) and not any(ch.isalpha() for ch in first)


def _split_spaces(path: Path, encoding: str) -> Iterator[tuple[int, list[str]]]:
    with path.open(encoding=encoding, newline="") as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.split()


def read_table(path: str | Path, choose: Callable[[list[str]], dict[str, str]], *,
               header: bool | None = True, decimal: str | None = None, dayfirst: bool | None = None,
               date_format: str | None = None) -> Table:
    """Read the columns ``choose(header)`` names, each as the kind it maps the name to.

    ``choose`` gets the file's column names (or ``"1"``, ``"2"``, … for a file without a header) and returns
    ``{name: kind}`` with kind one of :data:`KINDS`; it raises :class:`CsvError` when a column it needs is
    not there. ``header=None`` detects a headerless file (a first line without letters). A headerless file
    whose lines have none of ``,;\t|`` is split on runs of spaces. Names match as in :func:`read_columns`
    (exact, then case-insensitively when unique).

    ``decimal`` names the decimal mark (``"."`` or ``","``; inferred by default, see :func:`infer_decimal`);
    ``dayfirst`` the order of ``01/02/2024``-style dates (inferred per column by default, see
    :func:`date_order`); ``date_format`` a ``strptime`` format every date cell must have."""
    if decimal is not None and decimal not in DECIMAL_MARKS:
        raise CsvError(_("The decimal mark must be . or , (got %(mark)s).") % {"mark": repr(decimal)})
    file = Path(path)
    if not file.is_file():
        raise CsvError(_("No such file: %(path)s") % {"path": str(path)})
    failure: UnicodeDecodeError | None = None
    for encoding in _encodings(file):
        try:
            return _read_table(file, encoding, choose, header, decimal,
                               None if dayfirst is None else "dmy" if dayfirst else "mdy", date_format)
        except UnicodeDecodeError as exc:
            failure = exc
    raise CsvError(_("%(path)s is not UTF-8, UTF-16 or GB18030 text (%(reason)s).")
                   % {"path": str(path), "reason": str(failure)})


def _read_table(file: Path, encoding: str, choose: Callable[[list[str]], dict[str, str]],
                header: bool | None, decimal: str | None, date_order_option: str | None,
                date_format: str | None) -> Table:
    with file.open(encoding=encoding, newline="") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if not sample.strip():
        raise CsvError(_("The file is empty: it needs a header row naming the columns.") if header else
                       _("The file is empty."))
    first = next((line for line in sample.splitlines() if line.strip()), "")
    has_header = (not _looks_headerless(first)) if header is None else header
    # columns separated by runs of spaces (no , ; tab or | on the first line), with or without a header
    spaces = not any(d in first for d in DELIMITERS) and len(first.split()) > 1
    delimiter = " " if spaces else _sniff(sample)
    if not has_header:
        width = len(first.split()) if spaces else len(next(csv.reader(io.StringIO(first), delimiter=delimiter)))
        names = [str(i) for i in range(1, width + 1)]
        wanted = choose(names)
        positions = {name: int(name) - 1 for name in wanted}
    else:
        tried = [" "] if spaces else list(dict.fromkeys([delimiter, *DELIMITERS]))
        headers = {candidate: first.split() if candidate == " " else
                   next(csv.reader(io.StringIO(sample), delimiter=candidate), []) for candidate in tried}
        chosen: dict[str, str] | None = None
        error: CsvError | None = None
        for candidate in tried:
            cleaned = [cell.strip().lstrip("\ufeff").strip() for cell in headers[candidate]]
            try:
                chosen = choose(cleaned)
            except CsvError as exc:
                error = error or exc
                continue
            delimiter = candidate
            break
        if chosen is None:
            assert error is not None
            raise error
        wanted = chosen
        names = [cell.strip().lstrip("\ufeff").strip() for cell in headers[delimiter]]
        positions = {}
        for name in wanted:
            index = _find(names, name)
            if index is None:
                raise CsvError(_("No column %(name)s in the header; the columns are: %(columns)s")
                               % {"name": repr(name), "columns": ", ".join(names[:30])})
            _refuse_duplicate(names, index)
            positions[name] = index
    if not wanted:                                          # only the header was wanted
        return Table(header=names, columns={}, kinds={}, lines=np.zeros(0, dtype=np.int64), rows=0,
                     encoding=encoding, delimiter=delimiter, has_header=has_header)
    for name, kind in wanted.items():
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r} for {name!r}")
    shown = {name: names[positions[name]] for name in wanted}
    cells: dict[str, list[str]] = {name: [] for name in wanted}
    lines = array("q")
    rows_iter = _split_spaces(file, encoding) if spaces else _rows(file, encoding, delimiter)
    if has_header:
        next(rows_iter, None)
    for line, row in rows_iter:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        lines.append(line)
        for name, values in cells.items():
            at = positions[name]
            values.append(row[at].strip() if at < len(row) else "")
    line_numbers = np.frombuffer(lines, dtype=np.int64).copy() if lines else np.zeros(0, dtype=np.int64)
    number_columns = [name for name, kind in wanted.items() if kind == "number"]
    # Fast paths (C-level parsing) for what nearly every file holds: plain numbers with a decimal point and
    # no empty cell, ISO dates. Anything else takes the cell-by-cell path with its checks and messages.
    plain = {name: _plain_numbers(cells[name]) for name in number_columns} if decimal in (None, ".") else {}
    if decimal:
        mark = decimal
    elif number_columns and all(plain[name] is not None for name in number_columns) and delimiter != ";":
        mark = "."                                          # no comma in any number: nothing to decide
    else:
        mark = decimal_mark([cells[name] for name in number_columns], delimiter, line_numbers,
                            [shown[name] for name in number_columns])
    columns: dict[str, Any] = {}
    missing: dict[str, int] = {}
    orders: dict[str, str] = {}
    for name, kind in wanted.items():
        values = cells[name]
        fast = plain.get(name) if kind == "number" and mark == "." else \
            _iso_dates(values) if kind == "date" and not date_format else None
        if fast is not None:
            missing[shown[name]] = 0
            columns[name] = fast
            continue
        missing[shown[name]] = sum(1 for cell in values if not cell or cell.casefold() in MISSING_MARKERS)
        if kind == "number":
            columns[name] = _numbers(values, line_numbers, shown[name], mark)
        elif kind == "date":
            order = date_order_option or date_order(values, line_numbers, shown[name]) if not date_format else None
            if order:
                orders[shown[name]] = order
            columns[name] = _dates(values, line_numbers, shown[name], order, date_format)
        else:
            columns[name] = ["" if cell.casefold() in MISSING_MARKERS else cell for cell in values]
    warnings = [_("Column %(column)s: %(count)d cell(s) empty or marked missing (NA, n/a, NULL, -, #N/A …).")
                % {"column": repr(column), "count": count} for column, count in missing.items() if count]
    if mark == "," and number_columns:
        warnings.append(_("Numbers read with a decimal comma (1,5 is one and a half)."))
    return Table(header=names, columns=columns, kinds=dict(wanted), lines=line_numbers, rows=len(lines),
                 encoding=encoding, delimiter=delimiter, has_header=has_header, names=shown, missing=missing,
                 decimal=mark, date_orders=orders, warnings=warnings)


def _plain_numbers(values: list[str]) -> np.ndarray | None:
    """The cells as float64 when every one is a plain finite number with a decimal point (NumPy parses
    them in C); ``None`` when any is not (empty, a marker, a comma, inf or nan): the checked path then."""
    try:
        out = np.array(values, dtype=np.float64)
    except ValueError:
        return None
    return out if np.isfinite(out).all() else None


def _iso_dates(values: list[str]) -> np.ndarray | None:
    """Days since 1970-01-01 when every cell is an ISO date ``YYYY-MM-DD`` (NumPy parses them in C);
    ``None`` otherwise (empty cells, other formats, impossible dates): the checked path then."""
    if not values or not all(len(v) == 10 and v[4] == "-" and v[7] == "-" for v in values):
        return None
    try:
        return np.array(values, dtype="datetime64[D]").astype(np.int64)
    except ValueError:
        return None


def decimal_mark(columns: list[list[str]], delimiter: str, lines: np.ndarray, names: list[str]) -> str:
    """The file's decimal mark from its number columns, or a :class:`CsvError` naming a cell that reads both
    ways."""
    mark = infer_decimal((cell for values in columns for cell in values), delimiter)
    if mark is not None:
        return mark
    for values, name in zip(columns, names, strict=True):
        for i, cell in enumerate(values):
            if _THOUSANDS.match(cell.lstrip("+-")) or _DOT_GROUPS.match(cell.lstrip("+-")):
                raise CsvError(_("Line %(line)d, column %(column)s: %(value)s reads both ways, with a decimal "
                                 "comma or with a thousands separator, and no other number in the file tells "
                                 "which. Name the decimal mark: --decimal , or --decimal .")
                               % {"line": int(lines[i]), "column": repr(name), "value": repr(cell)},
                               returncode=EXIT_BAD_CELL)
    return "."


def _numbers(values: list[str], lines: np.ndarray, name: str, mark: str) -> np.ndarray:
    out = np.empty(len(values), dtype=np.float64)
    nan = math.nan
    for i, cell in enumerate(values):
        try:
            number = parse_number(cell, mark)
        except ValueError:
            expected = _("a number") if mark == "." else _("a number with a decimal comma")
            raise _bad_cell(int(lines[i]), name, cell, expected) from None
        out[i] = nan if number is None else number
    return out


def _dates(values: list[str], lines: np.ndarray, name: str, order: str | None,
           date_format: str | None) -> np.ndarray:
    out = np.empty(len(values), dtype=np.int64)
    for i, cell in enumerate(values):
        try:
            day = parse_date(cell, order, date_format)
        except ValueError:
            expected = (_("a date in the format %(format)s") % {"format": date_format}) if date_format else \
                _("a date (YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY or MM/DD/YYYY)")
            raise _bad_cell(int(lines[i]), name, cell, expected) from None
        out[i] = NO_DATE if day is None else day
    return out


def find_column(header: Sequence[str], name: str) -> str | None:
    """The header's spelling of column ``name`` (exact, or case-insensitive when unique), or ``None``."""
    index = _find(list(header), name)
    return None if index is None else list(header)[index]


# --------------------------------------------------------------------------------------------------
# The options that settle what the file cannot tell, shared by every analyst tool's doors

#: The keyword arguments :func:`read_table` takes for them (``read_columns``: ``decimal`` only).
READING_OPTIONS = ("decimal", "dayfirst", "date_format")


def add_reading_arguments(parser: Any, *, dates: bool = True) -> None:
    """``--decimal``, and with ``dates`` ``--dayfirst`` / ``--monthfirst`` and ``--date-format``."""
    parser.add_argument("--decimal", choices=DECIMAL_MARKS, default=None,
                        help=_("the decimal mark of the file's numbers (default: decided from the file; "
                               "refused when it cannot tell)"))
    if dates:
        order = parser.add_mutually_exclusive_group()
        order.add_argument("--dayfirst", dest="dayfirst", action="store_const", const=True, default=None,
                           help=_("read 01/02/2024 as 1 February (default: decided per column from its values)"))
        order.add_argument("--monthfirst", dest="dayfirst", action="store_const", const=False,
                           help=_("read 01/02/2024 as 2 January"))
        parser.add_argument("--date-format", default=None, metavar="FORMAT",
                            help=_("the format of every date cell, in strptime codes, e.g. %%m/%%d/%%Y"))


def reading_options(options: dict[str, Any]) -> dict[str, Any]:
    """The reading options among a door's parsed ``options``, for :func:`read_table`."""
    return {name: options.get(name) for name in READING_OPTIONS}

