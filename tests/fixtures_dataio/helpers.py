"""Helpers shared by the data import/export tests."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from bcrm.dataio import services
from bcrm.dataio.choices import JobSource


def write_csv(path: Path, rows: list[list], *, encoding: str = "utf-8", delimiter: str = ",") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[list], merges: Sequence[str] = ()) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    for ref in merges:
        sheet.merge_cells(ref)
    book.save(path)
    return path


def run_import(actor, entity: str, path: Path, mode: str = "commit", mapping: str | None = None):
    """Record and run an import of a file on disk, as the command line does, acting as ``actor``."""
    job = services.import_job_create_from_path(actor=actor, entity=entity, path=path, mode=mode, mapping=mapping,
                                               source=JobSource.CLI)
    return services.import_job_run(job)


def reasons(job) -> dict[int, str]:
    return {r.number: r.reason_text for r in job.row_reports.filter(outcome="rejected")}


def read_csv_bytes(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
