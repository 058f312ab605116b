"""Reading any set of columns, each as numbers, text or dates, chosen once the header is known (``analyse clv``
and ``analyse scorecard``)."""

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

from bcrm.fileanalysis.csvread.cells import (
    _DOT_GROUPS,
    _THOUSANDS,
    DECIMAL_MARKS,
    DELIMITERS,
    EXIT_BAD_CELL,
    MISSING_MARKERS,
    SAMPLE_BYTES,
    CsvError,
    _bad_cell,
    _encodings,
    _find,
    _refuse_duplicate,
    _rows,
    _sniff,
    infer_decimal,
    parse_number,
)

_LONGEST_MARKER = max(len(marker) for marker in MISSING_MARKERS)
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
    has_header, spaces, delimiter, names, wanted, positions = _layout(sample, choose, header)
    if not wanted:                                          # only the header was wanted
        return Table(header=names, columns={}, kinds={}, lines=np.zeros(0, dtype=np.int64), rows=0,
                     encoding=encoding, delimiter=delimiter, has_header=has_header)
    for name, kind in wanted.items():
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r} for {name!r}")
    shown = {name: names[positions[name]] for name in wanted}
    number_columns = [name for name, kind in wanted.items() if kind == "number"]
    # Numbers may be parsed by the columnar reader straight away when the decimal mark needs no deciding from
    # the cells: named ".", or inferred in a file whose delimiter is not ";" from numbers that have no comma.
    floats = decimal == "." or (decimal is None and delimiter != ";")
    columnar = None if spaces else _columnar(file, encoding, delimiter, has_header, positions, wanted, floats)
    if columnar is None:                                    # what the columnar reader cannot prove: row by row
        cells, lines = _cells(file, encoding, spaces, delimiter, has_header, positions, wanted)
        line_numbers = np.frombuffer(lines, dtype=np.int64).copy() if lines else np.zeros(0, dtype=np.int64)
        parsed: dict[str, np.ndarray] = {}
    else:
        cells, line_numbers, parsed = columnar
    # Fast paths (C-level parsing) for what nearly every file holds: plain numbers with a decimal point and
    # no empty cell, ISO dates. Anything else takes the cell-by-cell path with its checks and messages.
    plain = {name: parsed[name] if name in parsed else _plain_numbers(cells[name]) for name in number_columns} \
        if decimal in (None, ".") else {}
    if decimal:
        mark = decimal
    elif number_columns and all(plain[name] is not None for name in number_columns) and delimiter != ";":
        mark = "."                                          # no comma in any number: nothing to decide
    else:
        mark = decimal_mark([cells[name] for name in number_columns], delimiter, line_numbers,
                            [shown[name] for name in number_columns])
    columns, missing, orders = _typed_columns(wanted, cells, plain, mark, line_numbers, shown, date_order_option,
                                              date_format)
    warnings = [_("Column %(column)s: %(count)d cell(s) empty or marked missing (NA, n/a, NULL, -, #N/A …).")
                % {"column": repr(column), "count": count} for column, count in missing.items() if count]
    if mark == "," and number_columns:
        warnings.append(_("Numbers read with a decimal comma (1,5 is one and a half)."))
    return Table(header=names, columns=columns, kinds=dict(wanted), lines=line_numbers, rows=int(line_numbers.size),
                 encoding=encoding, delimiter=delimiter, has_header=has_header, names=shown, missing=missing,
                 decimal=mark, date_orders=orders, warnings=warnings)


def _layout(sample: str, choose: Callable[[list[str]], dict[str, str]], header: bool | None
            ) -> tuple[bool, bool, str, list[str], dict[str, str], dict[str, int]]:
    """How the file is laid out, from its first bytes: (has a header, columns separated by runs of spaces,
    delimiter, column names, the columns wanted with their kinds, their positions)."""
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
        return has_header, spaces, delimiter, names, wanted, positions
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
    return has_header, spaces, delimiter, names, wanted, positions


def _cells(file: Path, encoding: str, spaces: bool, delimiter: str, has_header: bool, positions: dict[str, int],
           wanted: dict[str, str]) -> tuple[dict[str, list[str]], array]:
    """The wanted columns' cells as text, and the line number of each row (blank rows skipped)."""
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
    return cells, lines


#: Encodings in which a newline byte is always a newline (every multi-byte sequence of these uses bytes above
#: 0x2f after its first), so lines can be counted on the bytes.
_LINE_COUNTABLE = ("utf-8", "utf-8-sig", "ascii", "gb18030", "cp950", "cp932", "cp949")
_COUNT_CHUNK = 16 * 1024 * 1024


def _columnar(file: Path, encoding: str, delimiter: str, has_header: bool, positions: dict[str, int],
              wanted: dict[str, str], floats: bool
              ) -> tuple[dict[str, list[str]], np.ndarray, dict[str, np.ndarray]] | None:
    """The wanted columns read by pandas' C reader: (cells as stripped text, line numbers, number columns
    already parsed). ``None`` when it cannot prove it read what the row-by-row reader would: an encoding
    whose lines cannot be counted on the bytes, a tokenising or decoding error, or rows that are not one per
    line (a blank line, a quoted line break, a lone carriage return); the caller then reads row by row.

    With ``floats``, the number columns are parsed to float64 in C; a column that is not entirely plain
    finite numbers (an empty cell, a marker, a comma, infinity) is read as text instead and goes through
    the cell-by-cell checks, so every message and decision stays the row-by-row reader's. pandas accepts no
    number that Python's ``float`` refuses and gives the same double for each (tests/test_analysis_readers.py)."""
    if encoding.lower().replace("_", "-") not in _LINE_COUNTABLE:
        return None
    import pandas as pd

    at = sorted(set(positions.values()))
    number_at = {positions[name] for name, kind in wanted.items() if kind == "number"}
    text_at = {positions[name] for name, kind in wanted.items() if kind != "number"}
    as_float = (number_at - text_at) if floats else set()

    def read(columns: list[int], float_at: set[int]) -> Any:
        return pd.read_csv(file, sep=delimiter, header=None, skiprows=1 if has_header else 0, usecols=columns,
                           dtype={i: (np.float64 if i in float_at else str) for i in columns}, na_filter=False,
                           keep_default_na=False, engine="c", encoding=encoding, quotechar='"', doublequote=True,
                           skip_blank_lines=True, skipinitialspace=False, low_memory=False)

    try:
        try:
            frame = read(at, as_float)
        except ValueError:                                  # a number column that is not all plain numbers
            if not as_float:
                raise
            as_float = set()
            frame = read(at, as_float)
    except (ValueError, OSError):                           # tokenising, decoding: the careful reader says why
        return None
    rows = len(frame)
    if rows != _data_lines(file, has_header):
        return None
    parsed: dict[int, np.ndarray] = {}
    text: dict[int, list[str]] = {}
    for i in at:
        if i not in as_float:
            text[i] = [cell.strip() for cell in frame[i].tolist()]
        elif np.isfinite(numbers := frame[i].to_numpy(dtype=np.float64)).all():
            parsed[i] = numbers
    del frame
    # A number column that held infinity: every number column's text, for the checks (the decimal mark is
    # then decided from all of them, as the row-by-row reader decides it).
    retry = sorted(as_float) if as_float - set(parsed) else []
    if retry:
        parsed.clear()
    if retry:
        try:
            again = read(retry, set())
        except (ValueError, OSError):
            return None
        if len(again) != rows:
            return None
        text.update({i: [cell.strip() for cell in again[i].tolist()] for i in retry})
    # A line holding only an empty quoted cell ("") is a blank row to the row-by-row reader, a row to pandas:
    # when no wanted cell of some row has anything, the row-by-row reader decides.
    if not parsed and rows:
        empty = np.ones(rows, dtype=bool)
        for values in text.values():
            empty &= np.array([not cell for cell in values], dtype=bool)
        if empty.any():
            return None
    lines = np.arange(1, rows + 1, dtype=np.int64) + (1 if has_header else 0)
    cells = {name: text[positions[name]] for name in wanted if positions[name] in text}
    numbers = {name: parsed[positions[name]] for name, kind in wanted.items()
               if kind == "number" and positions[name] in parsed}
    return cells, lines, numbers


def _data_lines(file: Path, has_header: bool) -> int:
    """The number of lines of the file, less the header: the rows it has if each is one line."""
    newlines = 0
    last = b""
    with file.open("rb") as handle:
        while chunk := handle.read(_COUNT_CHUNK):
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    lines = newlines + (1 if last and last != b"\n" else 0)
    return lines - (1 if has_header else 0)


def _typed_columns(wanted: dict[str, str], cells: dict[str, list[str]], plain: dict[str, np.ndarray | None],
                   mark: str, line_numbers: np.ndarray, shown: dict[str, str], date_order_option: str | None,
                   date_format: str | None) -> tuple[dict[str, Any], dict[str, int], dict[str, str]]:
    """Each wanted column parsed by its kind: (columns, missing cells per shown name, date order per shown
    name)."""
    columns: dict[str, Any] = {}
    missing: dict[str, int] = {}
    orders: dict[str, str] = {}
    for name, kind in wanted.items():
        fast = plain.get(name) if kind == "number" and mark == "." else \
            _iso_dates(cells[name]) if kind == "date" and not date_format else None
        if fast is not None:
            missing[shown[name]] = 0
            columns[name] = fast
            continue
        values = cells[name]
        if kind == "text":                                  # one pass: a million IDs are common
            marked = [not cell or (len(cell) <= _LONGEST_MARKER and cell.casefold() in MISSING_MARKERS)
                      for cell in values]
            missing[shown[name]] = sum(marked)
            columns[name] = ["" if flag else cell for cell, flag in zip(values, marked, strict=True)] \
                if missing[shown[name]] else values
            continue
        missing[shown[name]] = sum(1 for cell in values if not cell or cell.casefold() in MISSING_MARKERS)
        if kind == "number":
            columns[name] = _numbers(values, line_numbers, shown[name], mark)
        elif kind == "date":
            order = date_order_option or date_order(values, line_numbers, shown[name]) if not date_format else None
            if order:
                orders[shown[name]] = order
            columns[name] = _dates(values, line_numbers, shown[name], order, date_format)
    return columns, missing, orders


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
