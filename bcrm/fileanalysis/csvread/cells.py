"""A CSV file's text: encodings, the delimiter, header names, and the cells every reader parses (numbers with
their decimal mark, 0/1 flags, missing-value markers), with the error a bad cell raises."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

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
    """The codec to read ``path`` with, decided by bcrm.core.encodings (as the import decides): a list of one.
    A file it cannot recognise with confidence raises :class:`CsvError`, naming why."""
    from bcrm.core import encodings

    with path.open("rb") as handle:
        sample = handle.read(ENCODING_SAMPLE_BYTES)
    try:
        return [encodings.detect(sample, final=len(sample) < ENCODING_SAMPLE_BYTES, allow_utf16=True).encoding]
    except encodings.EncodingError as exc:
        raise CsvError(f"{path}: {exc.message}") from None


ENCODING_SAMPLE_BYTES = 1024 * 1024


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
