"""Zip bombs dressed as workbooks, small on disk, written in a second.

A member's data is built from ``(block, times)`` pieces: each block is deflated once and ended with a full
flush (no back-references across it), so the compressed bytes can be repeated ``times`` — the inflated
member is ``block * times`` and honest (its declared sizes and CRC are the real ones).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

Pieces = list[tuple[bytes, int]]

SHEET_HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
              b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
SHEET_TAIL = b"</sheetData></worksheet>"
STRINGS_HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">')


def _deflate(pieces: Pieces) -> tuple[bytes, int, int]:
    out = io.BytesIO()
    crc = size = 0
    for block, times in pieces:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        packed = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
        for _ in range(times):
            out.write(packed)
            crc = zlib.crc32(block, crc)
        size += len(block) * times
    out.write(zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH))
    return out.getvalue(), crc & 0xFFFFFFFF, size


def write_zip(path: Path, members: dict[str, Pieces]) -> Path:
    """A zip file (deflate, no zip64: each member under 4 GiB) of ``members``."""
    central = io.BytesIO()
    with open(path, "wb") as fh:
        for name, pieces in members.items():
            data, crc, size = _deflate(pieces)
            raw = name.encode()
            offset = fh.tell()
            fh.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(raw), 0))
            fh.write(raw)
            fh.write(data)
            central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data), size,
                                      len(raw), 0, 0, 0, 0, 0, offset))
            central.write(raw)
        start = fh.tell()
        fh.write(central.getvalue())
        count = len(members)
        fh.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central.getvalue()), start, 0))
    return path


def workbook(path: Path, *, sheet: Pieces | None = None, strings: Pieces | None = None) -> Path:
    """A workbook made by openpyxl (one string cell), with its sheet and/or shared strings replaced."""
    import openpyxl

    template = io.BytesIO()
    book = openpyxl.Workbook()
    book.active.append(["legal_name"])
    book.save(template)
    members: dict[str, Pieces] = {}
    with zipfile.ZipFile(template) as archive:
        for info in archive.infolist():
            members[info.filename] = [(archive.read(info), 1)]
    if sheet is not None:
        members["xl/worksheets/sheet1.xml"] = [(SHEET_HEAD, 1), *sheet, (SHEET_TAIL, 1)]
    if strings is not None:
        types = members["[Content_Types].xml"][0][0]
        if b"sharedStrings" not in types:
            types = types.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                                  b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
        members["[Content_Types].xml"] = [(types, 1)]
        members["xl/sharedStrings.xml"] = [(STRINGS_HEAD, 1), *strings, (b"</sst>", 1)]
    return write_zip(path, members)


def repeated(unit: bytes, total: int) -> Pieces:
    """About ``total`` bytes of ``unit`` repeated, as a 1 MiB block repeated."""
    block = unit * max(1, (1 << 20) // len(unit))
    return [(block, max(1, total // len(block)))]


def row_bomb(path: Path, unpacked: int) -> Path:
    """A sheet of identical rows, ``unpacked`` bytes of XML (a 1.3 GB sheet is ~3 MB on disk)."""
    row = b'<row><c t="inlineStr"><is><t>Bomb Capital Ltd</t></is></c><c t="n"><v>12345</v></c></row>'
    return workbook(path, sheet=repeated(row, unpacked))


def string_bomb(path: Path, chars: int) -> Path:
    """One cell whose shared string is ``chars`` characters long."""
    row = b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
    return workbook(path, sheet=[(row, 1)], strings=[(b"<si><t>", 1), *repeated(b"A" * 1024, chars), (b"</t></si>", 1)])


def wide_row(path: Path, cells: int) -> Path:
    """One row of ``cells`` small cells."""
    return workbook(path, sheet=[(b"<row>", 1), *repeated(b'<c t="n"><v>1</v></c>', cells * 20), (b"</row>", 1)])


def long_inline_cell(path: Path, chars: int) -> Path:
    """One inline-string cell of ``chars`` characters (not a bomb: just a cell too long)."""
    text = b"B" * chars
    return workbook(path, sheet=[(b'<row r="1"><c r="A1" t="inlineStr"><is><t>' + text + b"</t></is></c></row>", 1)])
