"""Reading columns of any CSV file, shared by the ``bcrm analyse`` subcommands.

Any of UTF-8, UTF-8 with BOM, UTF-16 with BOM or GB18030; the delimiter sniffed (``,;\t|``), and for a
file without a header also runs of spaces (as in the CDNOW transaction log); thousands separators
accepted in numbers; only the wanted columns kept in memory, each converted as it is read.

* :func:`read_columns` — a score column with an optional 0/1 outcome and a cost column (``analyse split``);
* :func:`read_table` — any set of columns, each read as numbers, text or dates, chosen once the header is
  known (``analyse clv`` and ``analyse scorecard``).

A cell that cannot be read raises :class:`CsvError` with ``returncode`` 2 naming its line and value;
anything else wrong with the file (missing, empty, unknown column, undecodable) ``returncode`` 1.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from array import array
from collections.abc import Callable, Iterator, Sequence
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


def parse_date(text: str) -> int | None:
    """A cell as days since 1970-01-01: ``YYYYMMDD``, ``YYYY-MM-DD`` (a time after it ignored),
    ``YYYY/MM/DD``, ``YYYY.MM.DD`` or ``DD/MM/YYYY``; ``None`` when empty. Raises ``ValueError`` otherwise."""
    cell = text.strip()
    if not cell:
        return None
    if len(cell) == 8 and cell.isdigit():
        return dt.date(int(cell[:4]), int(cell[4:6]), int(cell[6:])).toordinal() - _EPOCH
    head = cell[:10]
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(head, fmt).date().toordinal() - _EPOCH
        except ValueError:
            continue
    raise ValueError(cell)


def _looks_headerless(first: str) -> bool:
    return bool(first.strip()) and not any(ch.isalpha() for ch in first)


def _split_spaces(path: Path, encoding: str) -> Iterator[tuple[int, list[str]]]:
    with path.open(encoding=encoding, newline="") as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.split()


def read_table(path: str | Path, choose: Callable[[list[str]], dict[str, str]], *,
               header: bool | None = True) -> Table:
    """Read the columns ``choose(header)`` names, each as the kind it maps the name to.

    ``choose`` gets the file's column names (or ``"1"``, ``"2"``, … for a file without a header) and returns
    ``{name: kind}`` with kind one of :data:`KINDS`; it raises :class:`CsvError` when a column it needs is
    not there. ``header=None`` detects a headerless file (a first line without letters). A headerless file
    whose lines have none of ``,;\t|`` is split on runs of spaces. Names match as in :func:`read_columns`
    (exact, then case-insensitively when unique)."""
    file = Path(path)
    if not file.is_file():
        raise CsvError(_("No such file: %(path)s") % {"path": str(path)})
    failure: UnicodeDecodeError | None = None
    for encoding in _encodings(file):
        try:
            return _read_table(file, encoding, choose, header)
        except UnicodeDecodeError as exc:
            failure = exc
    raise CsvError(_("%(path)s is not UTF-8, UTF-16 or GB18030 text (%(reason)s).")
                   % {"path": str(path), "reason": str(failure)})


def _read_table(file: Path, encoding: str, choose: Callable[[list[str]], dict[str, str]],
                header: bool | None) -> Table:
    with file.open(encoding=encoding, newline="") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if not sample.strip():
        raise CsvError(_("The file is empty: it needs a header row naming the columns.") if header else
                       _("The file is empty."))
    first = next((line for line in sample.splitlines() if line.strip()), "")
    has_header = (not _looks_headerless(first)) if header is None else header
    spaces = not has_header and not any(d in first for d in DELIMITERS) and len(first.split()) > 1
    delimiter = " " if spaces else _sniff(sample)
    if not has_header:
        width = len(first.split()) if spaces else len(next(csv.reader(io.StringIO(first), delimiter=delimiter)))
        names = [str(i) for i in range(1, width + 1)]
        wanted = choose(names)
        positions = {name: int(name) - 1 for name in wanted}
    else:
        tried = list(dict.fromkeys([delimiter, *DELIMITERS]))
        headers = {candidate: next(csv.reader(io.StringIO(sample), delimiter=candidate), [])
                   for candidate in tried}
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
            positions[name] = index
    if not wanted:                                          # only the header was wanted
        return Table(header=names, columns={}, kinds={}, lines=np.zeros(0, dtype=np.int64), rows=0,
                     encoding=encoding, delimiter=delimiter, has_header=has_header)
    for name, kind in wanted.items():
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r} for {name!r}")
    numbers = {name: array("d") for name, kind in wanted.items() if kind == "number"}
    dates = {name: array("q") for name, kind in wanted.items() if kind == "date"}
    texts: dict[str, list[str]] = {name: [] for name, kind in wanted.items() if kind == "text"}
    shown = {name: names[positions[name]] for name in wanted}
    lines = array("q")
    rows_iter = _split_spaces(file, encoding) if spaces else _rows(file, encoding, delimiter)
    if has_header:
        next(rows_iter, None)
    nan = math.nan
    for line, row in rows_iter:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        lines.append(line)
        for name, values in numbers.items():
            at = positions[name]
            text = row[at] if at < len(row) else ""
            try:
                number = parse_number(text)
            except ValueError:
                raise _bad_cell(line, shown[name], text, _("a number"))
            values.append(nan if number is None else number)
        for name, days in dates.items():
            at = positions[name]
            text = row[at] if at < len(row) else ""
            try:
                day = parse_date(text)
            except ValueError:
                raise _bad_cell(line, shown[name], text, _("a date (YYYY-MM-DD or YYYYMMDD)"))
            days.append(NO_DATE if day is None else day)
        for name, cells in texts.items():
            at = positions[name]
            cells.append(row[at].strip() if at < len(row) else "")
    columns: dict[str, Any] = {}
    for name, kind in wanted.items():
        if kind == "number":
            columns[name] = np.frombuffer(numbers[name], dtype=np.float64).copy() if numbers[name] else np.zeros(0)
        elif kind == "date":
            columns[name] = np.frombuffer(dates[name], dtype=np.int64).copy() if dates[name] else \
                np.zeros(0, dtype=np.int64)
        else:
            columns[name] = texts[name]
    return Table(header=names, columns=columns, kinds=dict(wanted),
                 lines=np.frombuffer(lines, dtype=np.int64).copy() if lines else np.zeros(0, dtype=np.int64),
                 rows=len(lines), encoding=encoding, delimiter=delimiter, has_header=has_header, names=shown)


def find_column(header: Sequence[str], name: str) -> str | None:
    """The header's spelling of column ``name`` (exact, or case-insensitive when unique), or ``None``."""
    index = _find(list(header), name)
    return None if index is None else list(header)[index]
