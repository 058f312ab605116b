"""Streaming readers for CSV and XLSX: one row at a time, whatever the file's size.

CSV: the encoding is UTF-8 (with or without BOM) or GB18030, decided on the first megabyte and then
streamed with that codec; the delimiter (comma, semicolon, tab or pipe) is sniffed from the first
lines. A line longer than ``MAX_LINE`` characters is refused rather than read into memory.

XLSX: openpyxl in read-only mode streams the first worksheet's rows. Read-only mode does not report
merged cells (their covered cells come back empty), so the ``<mergeCells>`` list is read from the
sheet's XML with a byte scan and each merged area is filled with its top-left value — a date merged
down over five rows gives that date on each of the five.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

SAMPLE_BYTES = 1 << 20
MAX_LINE = 16 * 1024 * 1024
DELIMITERS = [",", ";", "\t", "|"]
CSV_EXTENSIONS = {".csv", ".txt", ".tsv"}
XLSX_EXTENSIONS = {".xlsx", ".xlsm"}

csv.field_size_limit(MAX_LINE)


class ImportFileError(Exception):
    """The file as a whole cannot be imported: nothing is written, and the message says why."""

    def __init__(self, message: str):
        self.message = str(message)
        super().__init__(self.message)


def detect_format(path: Path, name: str | None = None) -> str:
    """``csv`` or ``xlsx``, from the file's first bytes and then its name."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    suffix = Path(name or path.name).suffix.lower()
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(_("Excel 97–2003 (.xls) files cannot be read; save the sheet as .xlsx or CSV."))
    if suffix in XLSX_EXTENSIONS:
        raise ImportFileError(_("The file is named .xlsx but is not an Excel workbook."))
    return "csv"


def detect_encoding(path: Path) -> str:
    with open(path, "rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    if not sample.lstrip(codecs.BOM_UTF8).strip():
        raise ImportFileError(_("The file is empty."))
    if b"\x00" in sample:
        raise ImportFileError(_("The file is not UTF-8 or GB18030 text (it looks like UTF-16 or a binary file)."))
    final = len(sample) < SAMPLE_BYTES
    for codec in ("utf-8-sig", "gb18030"):
        try:
            codecs.getincrementaldecoder(codec)().decode(sample, final=final)
        except UnicodeDecodeError:
            continue
        return codec
    raise ImportFileError(_("The file is not UTF-8 or GB18030 text. Save it as CSV UTF-8 and upload it again."))


def sniff_delimiter(text: str) -> str:
    """The candidate that splits the first lines into the same number (> 1) of fields most consistently."""
    lines = text.splitlines()[:30]
    if len(lines) > 1:
        lines = lines[:-1]  # the sample may end inside a line
    lines = [line for line in lines if line.strip()]
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        except csv.Error:
            continue
        if not counts:
            continue
        widest = max(counts)
        if widest < 2:
            continue
        share = sum(1 for c in counts if c == widest)
        score = (share, widest)
        if score > best_score:
            best, best_score = delimiter, score
    return best


class Table:
    """Rows of a file as ``(row_number, cells)``; ``row_number`` is what a spreadsheet would show."""

    format: str = ""
    delimiter: str = ","
    encoding: str = "utf-8"

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        raise NotImplementedError

    def fraction(self) -> float:
        """How far through the file reading has come, 0–1 (an estimate)."""
        return 0.0

    def close(self) -> None:
        pass

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CsvTable(Table):
    format = "csv"

    def __init__(self, path: Path):
        self.path = path
        self.size = max(1, path.stat().st_size)
        self.encoding = detect_encoding(path)
        with open(path, "rb") as fh:
            sample = fh.read(SAMPLE_BYTES)
        text = codecs.getincrementaldecoder(self.encoding)(errors="replace").decode(sample, final=False)
        self.delimiter = sniff_delimiter(text)
        self.raw = open(path, "rb")  # noqa: SIM115 - closed by close()
        self.text = io.TextIOWrapper(self.raw, encoding=self.encoding, newline="")

    def _lines(self) -> Iterator[str]:
        readline = self.text.readline
        while True:
            line = readline(MAX_LINE)
            if not line:
                return
            if len(line) >= MAX_LINE and not line.endswith(("\n", "\r")):
                raise ImportFileError(_("A line of the file is longer than %(mb)s MB; is it really a CSV file?")
                                      % {"mb": MAX_LINE // (1024 * 1024)})
            yield line

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        reader = csv.reader(self._lines(), delimiter=self.delimiter)
        number = 0
        try:
            for cells in reader:
                number += 1
                yield number, cells
        except UnicodeDecodeError:
            raise ImportFileError(
                _("The file is not UTF-8 or GB18030 text: row %(row)s cannot be read as %(codec)s.")
                % {"row": number + 1, "codec": "UTF-8" if self.encoding.startswith("utf") else "GB18030"}
            )
        except csv.Error as exc:
            raise ImportFileError(_("Row %(row)s is not valid CSV: %(error)s") % {"row": number + 1, "error": exc})

    def fraction(self) -> float:
        try:
            return min(1.0, self.raw.tell() / self.size)
        except (OSError, ValueError):
            return 0.0

    def close(self) -> None:
        self.text.close()


_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s[^>]*?ref="([A-Z]+)(\d+):([A-Z]+)(\d+)"')


def _column_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n


def merged_ranges(archive: zipfile.ZipFile, member: str) -> list[tuple[int, int, int, int]]:
    """``(min_col, min_row, max_col, max_row)`` of each merged area, read by a byte scan of the sheet XML
    (``mergeCells`` sits after the cell data, so most of the file is skipped at ``bytes.find`` speed)."""
    found: set[tuple[int, int, int, int]] = set()
    tail = b""
    with archive.open(member) as src:
        while chunk := src.read(1 << 20):
            data = tail + chunk
            if b"mergeCell" in data:
                for m in _MERGE.finditer(data):
                    found.add((_column_index(m.group(1)), int(m.group(2)), _column_index(m.group(3)), int(m.group(4))))
            tail = data[-512:]
    return sorted(found, key=lambda r: (r[1], r[0]))


class XlsxTable(Table):
    format = "xlsx"

    def __init__(self, path: Path):
        import openpyxl

        try:
            self.workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise ImportFileError(_("The workbook cannot be opened: %(error)s") % {"error": exc})
        if not self.workbook.worksheets:
            raise ImportFileError(_("The workbook has no worksheet."))
        self.sheet = self.workbook.worksheets[0]
        self.estimated_rows = self.sheet.max_row or 0
        self.sheet.reset_dimensions()  # trust the cells, not the (often wrong) stored dimension
        self.merges = merged_ranges(self.workbook._archive, self.sheet._worksheet_path)
        self.current = 0

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        merges = self.merges
        pending = 0  # index of the next merge not yet started
        active: list[tuple[int, int, int, Any]] = []  # (min_col, max_col, max_row, value)
        for number, values in enumerate(self.sheet.iter_rows(values_only=True), start=1):
            self.current = number
            cells = list(values)
            if merges:
                active = [a for a in active if a[2] >= number]
                while pending < len(merges) and merges[pending][1] <= number:
                    c1, r1, c2, r2 = merges[pending]
                    pending += 1
                    if r1 == number and r2 >= number:
                        active.append((c1, c2, r2, cells[c1 - 1] if c1 - 1 < len(cells) else None))
                for c1, c2, _r2, value in active:
                    if value is None:
                        continue
                    if len(cells) < c2:
                        cells.extend([None] * (c2 - len(cells)))
                    for c in range(c1 - 1, c2):
                        if cells[c] is None:
                            cells[c] = value
            yield number, cells

    def fraction(self) -> float:
        return min(1.0, self.current / self.estimated_rows) if self.estimated_rows else 0.0

    def close(self) -> None:
        self.workbook.close()


def open_table(path: Path, file_format: str) -> Table:
    if file_format == "xlsx":
        return XlsxTable(path)
    return CsvTable(path)
