"""Streaming readers for CSV and XLSX: one row at a time, whatever the file's size.

CSV: the encoding — UTF-8 (with or without BOM), GB18030, Big5, Shift-JIS or EUC-KR — is decided on the first
megabyte by bcrm.core.encodings (a file it is unsure of is refused) and then streamed with that codec; the delimiter (comma, semicolon, tab or pipe) is sniffed from the first
lines. A line longer than ``MAX_LINE`` characters is refused rather than read into memory.

Both are bounded (``ImportLimits``, from settings): rows, columns, characters per cell. An XLSX file is a zip
archive, so before openpyxl opens it the archive is checked against a zip bomb: the sizes its members
declare (in total, the shared strings and every other XML part), and how much each member is compressed.
Python's zipfile never inflates a member past its declared size, so those checks are an upper bound; the
parts that openpyxl would hold in memory whole (the shared strings) or parse a row at a time (the sheet) are
then streamed once in 1 MB chunks with a bound on each string and each row, so a row or string that would
not fit is refused before openpyxl builds it.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from bcrm.core import encodings

SAMPLE_BYTES = 1 << 20
MAX_LINE = 16 * 1024 * 1024
DELIMITERS = [",", ";", "\t", "|"]
CSV_EXTENSIONS = {".csv", ".txt", ".tsv"}
XLSX_EXTENSIONS = {".xlsx", ".xlsm"}

csv.field_size_limit(MAX_LINE)


MB = 1024 * 1024
CHUNK = 1 << 20
# XML of one row of the sheet, or of one shared string, longer than this is refused (openpyxl builds a row
# or a string whole): 16 MB, as for one line of a CSV file.
MAX_ROW_XML = MAX_LINE
# Parts other than the worksheets and the shared strings (workbook, styles, relationships…) are parsed whole.
MAX_OTHER_PART = 16 * MB
# A member bigger than this is checked for its compression ratio (tiny parts compress a lot legitimately).
RATIO_FLOOR = 1 * MB


@dataclass(frozen=True)
class ImportLimits:
    """How big a file may be once read; the defaults hold a million-row spreadsheet, not a zip bomb."""

    unpacked_bytes: int = 1024 * MB
    ratio: int = 100
    shared_strings_bytes: int = 128 * MB
    rows: int = 1_048_576
    columns: int = 1_000
    cell_chars: int = 32_767
    members: int = 10_000

    @classmethod
    def from_settings(cls) -> ImportLimits:
        return cls(unpacked_bytes=settings.BCRM_IMPORT_MAX_UNPACKED_BYTES, ratio=settings.BCRM_IMPORT_MAX_RATIO,
                   shared_strings_bytes=settings.BCRM_IMPORT_MAX_SHARED_STRINGS_BYTES,
                   rows=settings.BCRM_IMPORT_MAX_ROWS, columns=settings.BCRM_IMPORT_MAX_COLUMNS,
                   cell_chars=settings.BCRM_IMPORT_MAX_CELL_CHARS, members=settings.BCRM_IMPORT_MAX_MEMBERS)


class ImportFileError(Exception):
    """The file as a whole cannot be imported: nothing is written, and the message says why (``text``: the
    reason as a code with parameters, where it has one, bcrm.core.texts)."""

    def __init__(self, message: str, text: dict[str, Any] | None = None):
        self.message = str(message)
        self.text = text
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
    """The codec to read a CSV file with (bcrm.core.encodings decides, for the import and `bcrm analyse`)."""
    with open(path, "rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    if not sample.lstrip(codecs.BOM_UTF8).strip():
        raise ImportFileError(_("The file is empty."))
    try:
        return encodings.detect(sample, final=len(sample) < SAMPLE_BYTES).encoding
    except encodings.EncodingError as exc:
        raise ImportFileError(exc.message, exc.text) from None


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
    limits: ImportLimits = ImportLimits()

    def checked(self, number: int, cells: list[Any]) -> list[Any]:
        """``cells`` of row ``number`` once within the limits on rows, columns and characters per cell."""
        limits = self.limits
        if number > limits.rows:
            raise ImportFileError(_("The file has more than %(max)s rows; split it into smaller files.")
                                  % {"max": f"{limits.rows:,}"})
        if len(cells) > limits.columns:
            while cells and (cells[-1] is None or cells[-1] == ""):
                cells.pop()
            if len(cells) > limits.columns:
                raise ImportFileError(_("Row %(row)s has more than %(max)s columns.")
                                      % {"row": number, "max": f"{limits.columns:,}"})
        try:
            widest = max(map(len, cells), default=0)  # a CSV row: all text
        except TypeError:  # a spreadsheet's numbers and dates
            widest = max((len(cell) for cell in cells if isinstance(cell, str)), default=0)
        if widest > limits.cell_chars:
            raise ImportFileError(_("A cell in row %(row)s is longer than %(max)s characters.")
                                  % {"row": number, "max": f"{limits.cell_chars:,}"})
        return cells

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

    def __init__(self, path: Path, limits: ImportLimits | None = None):
        self.limits = limits or ImportLimits.from_settings()
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
                yield number, self.checked(number, cells)
        except UnicodeDecodeError:
            raise ImportFileError(
                _("The file is not UTF-8 or GB18030 text: row %(row)s cannot be read as %(codec)s.")
                % {"row": number + 1, "codec": encodings.LABELS.get(self.encoding, self.encoding)}
            ) from None
        except csv.Error as exc:
            raise ImportFileError(_("Row %(row)s is not valid CSV: %(error)s") % {"row": number + 1, "error": exc}) from exc

    def fraction(self) -> float:
        try:
            return min(1.0, self.raw.tell() / self.size)
        except (OSError, ValueError):
            return 0.0

    def close(self) -> None:
        self.text.close()


def _mb_text(n: int) -> str:
    return f"{n / MB:,.0f}" if n >= 10 * MB else f"{n / MB:,.1f}"


def _too_big(what: str, size: int, limit: int) -> ImportFileError:
    return ImportFileError(
        _("The workbook is refused: %(what)s unpacks to %(size)s MB, more than the %(limit)s MB an import "
          "reads. Save the sheet as CSV or split it.") % {"what": what, "size": _mb_text(size), "limit": _mb_text(limit)})


def check_archive(archive: zipfile.ZipFile, limits: ImportLimits) -> dict[str, list[tuple[int, int, int, int]]]:
    """Refuse a zip bomb from what the archive declares, before anything is inflated; then stream the parts
    openpyxl would build whole (the shared strings, and each worksheet up to its end when it has no
    dimension) once, bounded. Returns the merged areas of each worksheet."""
    members = archive.infolist()
    if len(members) > limits.members:
        raise ImportFileError(_("The workbook is refused: it has more than %(max)s parts.")
                              % {"max": f"{limits.members:,}"})
    total = sum(m.file_size for m in members)
    if total > limits.unpacked_bytes:
        raise _too_big(_("the workbook"), total, limits.unpacked_bytes)
    for m in members:
        if m.file_size > RATIO_FLOOR and m.file_size > limits.ratio * max(1, m.compress_size):
            raise ImportFileError(
                _("The workbook is refused: a part of it is compressed more than %(ratio)s times (%(packed)s MB "
                  "unpacking to %(size)s MB), as in a zip bomb. Save the sheet again from Excel or as CSV.")
                % {"ratio": limits.ratio, "packed": _mb_text(m.compress_size), "size": _mb_text(m.file_size)})
    parts = content_types(archive)
    strings = {name for name, kind in parts.items() if "sharedStrings" in kind}
    sheets = {name for name, kind in parts.items() if "worksheet+xml" in kind}
    for m in members:
        name = m.filename
        if name in strings:
            if m.file_size > limits.shared_strings_bytes:
                raise _too_big(_("the shared strings"), m.file_size, limits.shared_strings_bytes)
        elif name.endswith((".xml", ".rels")) and name not in sheets and m.file_size > MAX_OTHER_PART:
            raise _too_big(name, m.file_size, MAX_OTHER_PART)
    names = {m.filename for m in members}
    for name in sorted(strings & names):
        scan_elements(archive, name, b"si", limit=min(MAX_ROW_XML, max(MB, 16 * limits.cell_chars)),
                      error=lambda: ImportFileError(
                          _("A cell of the workbook is longer than %(max)s characters.")
                          % {"max": f"{limits.cell_chars:,}"}))
    # Every XML part but the strings, not only the declared worksheets: openpyxl finds sheets through the
    # workbook's relationships and reads each one's dimension when it loads.
    xml = {name for name in names if name.endswith(".xml")} - strings
    return {name: scan_sheet(archive, name, limits) for name in sorted((sheets & names) | xml)}


_OVERRIDE = re.compile(rb"<(?:\w+:)?Override\s([^>]*)>")
_ATTRIBUTE = re.compile(rb'(PartName|ContentType)\s*=\s*"([^"]*)"')


def content_types(archive: zipfile.ZipFile) -> dict[str, str]:
    """Part name → content type, from ``[Content_Types].xml`` (the part names openpyxl reads)."""
    try:
        info = archive.getinfo("[Content_Types].xml")
    except KeyError:
        return {}
    if info.file_size > MAX_OTHER_PART:
        raise _too_big("[Content_Types].xml", info.file_size, MAX_OTHER_PART)
    found = {}
    for m in _OVERRIDE.finditer(archive.read(info)):
        attributes = {k.decode(): v.decode("utf-8", "replace") for k, v in _ATTRIBUTE.findall(m.group(1))}
        if "PartName" in attributes and "ContentType" in attributes:
            found[attributes["PartName"].lstrip("/")] = attributes["ContentType"]
    return found


def _tag(name: bytes) -> re.Pattern[bytes]:
    """The opening or closing tag of element ``name`` (any namespace prefix), group 1 "/" when closing,
    group 2 "/" when self-closing."""
    return re.compile(rb"<(/?)(?:\w+:)?" + name + rb"(?=[\s>/])[^>]*?(/?)>")


def scan_elements(archive: zipfile.ZipFile, member: str, element: bytes, *, limit: int, error,
                  on_chunk=None, on_element=None) -> None:
    """Stream ``member`` in 1 MB chunks and raise ``error()`` if one ``element`` (or the text between two)
    is longer than ``limit`` bytes. ``on_chunk(segment)`` sees the XML in whole tags; ``on_element(segment)``
    each time an element opens (with the XML since the previous boundary)."""
    tag = _tag(element)
    carry = b""
    since = 0  # bytes since the last boundary of ``element``
    with archive.open(member) as src:
        while chunk := src.read(CHUNK):
            data = carry + chunk
            cut = data.rfind(b">") + 1
            if cut == 0:
                carry = data
                if len(carry) + since > limit:
                    raise error()
                continue
            segment, carry = data[:cut], data[cut:]
            if on_chunk:
                on_chunk(segment)
            pos = 0
            for m in tag.finditer(segment):
                since += m.start() - pos
                if since > limit:
                    raise error()
                if on_element:
                    on_element(m)
                since = 0
                pos = m.end()
            since += len(segment) - pos
            if since + len(carry) > limit:
                raise error()


_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s[^>]*?ref="([A-Z]+)(\d+):([A-Z]+)(\d+)"')
_CELL = re.compile(rb"<(?:\w+:)?c(?=[\s>/])")
MAX_MERGES = 100_000


def _column_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n


def scan_sheet(archive: zipfile.ZipFile, member: str, limits: ImportLimits) -> list[tuple[int, int, int, int]]:
    """One streamed pass over the sheet XML: refuse a row too long or too wide before openpyxl builds it,
    and collect the merged areas, ``(min_col, min_row, max_col, max_row)`` each (read-only openpyxl does not
    report them; ``mergeCells`` sits after the cell data)."""
    found: set[tuple[int, int, int, int]] = set()
    state = {"row": 0, "cells": 0, "open": False}

    def too_wide() -> ImportFileError:
        return ImportFileError(_("Row %(row)s has more than %(max)s columns.")
                               % {"row": state["row"], "max": f"{limits.columns:,}"})

    def on_chunk(segment: bytes) -> None:
        if b"mergeCell" in segment:
            for m in _MERGE.finditer(segment):
                found.add((_column_index(m.group(1)), int(m.group(2)), _column_index(m.group(3)), int(m.group(4))))
            if len(found) > MAX_MERGES:
                raise ImportFileError(_("The workbook is refused: it has more than %(max)s merged areas.")
                                      % {"max": f"{MAX_MERGES:,}"})

    row_tag = _tag(b"row")

    def on_row(m: re.Match[bytes]) -> None:
        state["open"] = not m.group(1) and not m.group(2)
        if not m.group(1):
            state["row"] += 1
            if state["row"] > limits.rows:
                raise ImportFileError(_("The file has more than %(max)s rows; split it into smaller files.")
                                      % {"max": f"{limits.rows:,}"})

    # Count the cells of each row: a second, cheap pass per chunk over whole tags.
    def on_chunk_cells(segment: bytes) -> None:
        on_chunk(segment)
        pos = 0
        for m in row_tag.finditer(segment):
            if state["open"]:
                state["cells"] += len(_CELL.findall(segment, pos, m.start()))
                if state["cells"] > limits.columns:
                    raise too_wide()
            state["cells"] = 0
            on_row(m)
            pos = m.end()
        if state["open"]:
            state["cells"] += len(_CELL.findall(segment, pos))
            if state["cells"] > limits.columns:
                raise too_wide()

    scan_elements(archive, member, b"row", limit=MAX_ROW_XML,
                  error=lambda: ImportFileError(_("Row %(row)s of the workbook is longer than %(mb)s MB.")
                                                % {"row": state["row"] + 1, "mb": MAX_ROW_XML // MB}),
                  on_chunk=on_chunk_cells)
    return sorted(found, key=lambda r: (r[1], r[0]))


class XlsxTable(Table):
    format = "xlsx"

    def __init__(self, path: Path, limits: ImportLimits | None = None):
        import openpyxl

        self.limits = limits or ImportLimits.from_settings()
        try:
            with zipfile.ZipFile(path) as archive:
                merges = check_archive(archive, self.limits)
            self.workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, OSError, ValueError, EOFError) as exc:
            raise ImportFileError(_("The workbook cannot be opened: %(error)s") % {"error": exc}) from exc
        if not self.workbook.worksheets:
            raise ImportFileError(_("The workbook has no worksheet."))
        self.sheet = self.workbook.worksheets[0]
        self.estimated_rows = self.sheet.max_row or 0
        self.sheet.reset_dimensions()  # trust the cells, not the (often wrong) stored dimension
        self.merges = merges.get(self.sheet._worksheet_path)
        if self.merges is None:  # a worksheet not declared in [Content_Types].xml: scan it now
            try:
                self.merges = scan_sheet(self.workbook._archive, self.sheet._worksheet_path, self.limits)
            except ImportFileError:
                self.workbook.close()
                raise
        self.current = 0

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        merges = self.merges
        pending = 0  # index of the next merge not yet started
        active: list[tuple[int, int, int, Any]] = []  # (min_col, max_col, max_row, value)
        for number, values in enumerate(self.sheet.iter_rows(values_only=True), start=1):
            self.current = number
            cells = self.checked(number, list(values))
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
