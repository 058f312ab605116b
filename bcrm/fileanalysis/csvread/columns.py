"""Reading a score column, with an optional 0/1 outcome and a cost column (``analyse split``)."""

from __future__ import annotations

import csv
import io
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.utils.translation import gettext as _

from bcrm.fileanalysis.csvread.cells import (
    DELIMITERS,
    SAMPLE_BYTES,
    CsvError,
    _bad_cell,
    _encodings,
    _find,
    _refuse_duplicate,
    _rows,
    _sniff,
    parse_flag,
)
from bcrm.fileanalysis.csvread.table import _numbers, decimal_mark


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
