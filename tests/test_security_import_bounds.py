"""Import files that would exhaust memory are refused with a clear message, and memory stays bounded.

The bombs are real (honest sizes and CRCs) and small on disk (``tests/fixtures_dataio/bombs.py``). The
memory checks read the file in a subprocess (its own peak resident memory), under an address-space limit
so a regression fails the test instead of the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import translation

from bcrm.dataio.models import ImportJob
from bcrm.dataio.readers import ImportFileError, ImportLimits, open_table
from bcrm.parties.models import Organization
from tests.fixtures_dataio import bombs
from tests.fixtures_dataio.helpers import run_import, write_csv, write_xlsx

MIB = 1024 * 1024
MEMORY_BOUND_MIB = 300
ROOT = Path(__file__).resolve().parent.parent

READ_ALL = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
import django
django.setup()
from pathlib import Path
from bcrm.dataio.readers import ImportFileError, open_table
error, rows = None, 0
try:
    with open_table(Path(sys.argv[1]), "xlsx") as table:
        for _ in table.rows():
            rows += 1
except ImportFileError as exc:
    error = exc.message
except MemoryError:
    error = "out of memory"
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so it would report the parent's
# (a long pytest session's) peak; VmHWM is this program's own high-water mark.
peak = None
try:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
except OSError:
    pass
if peak is None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"error": error, "rows": rows, "peak_mib": peak}))
"""


def read_in_subprocess(path: Path, tmp_path: Path, **env: str) -> dict:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "bcrm.settings", "BCRM_DATA_DIR": str(tmp_path / "data"),
                   **env}
    environment.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-c", READ_ALL, str(path)], capture_output=True, text=True, timeout=120,
                          env=environment, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def bomb_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("bombs")


def test_a_sheet_that_unpacks_to_1_3_gb_is_refused_before_reading(bomb_dir, tmp_path):
    path = bombs.row_bomb(bomb_dir / "rows.xlsx", 1_300_000_000)
    assert path.stat().st_size < 8 * MIB
    result = read_in_subprocess(path, tmp_path)
    assert "zip bomb" in result["error"] or "unpacks to" in result["error"], result
    assert result["rows"] == 0
    assert result["peak_mib"] < MEMORY_BOUND_MIB, result


def test_a_one_cell_file_with_a_huge_shared_string_is_refused(bomb_dir, tmp_path):
    path = bombs.string_bomb(bomb_dir / "one-cell.xlsx", 900 * MIB)
    assert path.stat().st_size < 2 * MIB
    result = read_in_subprocess(path, tmp_path)
    assert "zip bomb" in result["error"] or "unpacks to" in result["error"], result
    assert result["rows"] == 0
    assert result["peak_mib"] < MEMORY_BOUND_MIB, result


def test_the_streamed_bounds_hold_when_the_declared_checks_are_lifted(bomb_dir, tmp_path):
    """Ratio and size limits lifted: the bounds on a string, a row and the row count still stop the read."""
    lifted = {"BCRM_IMPORT_MAX_RATIO": "100000000", "BCRM_IMPORT_MAX_UNPACKED_BYTES": str(1 << 40),
              "BCRM_IMPORT_MAX_SHARED_STRINGS_BYTES": str(1 << 40)}
    string = read_in_subprocess(bombs.string_bomb(bomb_dir / "s.xlsx", 600 * MIB), tmp_path, **lifted)
    assert "longer than 32,767 characters" in string["error"], string
    assert string["peak_mib"] < MEMORY_BOUND_MIB, string

    wide = read_in_subprocess(bombs.wide_row(bomb_dir / "w.xlsx", 3_000_000), tmp_path, **lifted)
    assert "more than 1,000 columns" in wide["error"], wide
    assert wide["peak_mib"] < MEMORY_BOUND_MIB, wide

    rows = read_in_subprocess(bombs.row_bomb(bomb_dir / "r.xlsx", 200 * MIB), tmp_path,
                              BCRM_IMPORT_MAX_ROWS="100000", **lifted)
    assert "more than 100,000 rows" in rows["error"] and rows["rows"] == 0, rows
    assert rows["peak_mib"] < MEMORY_BOUND_MIB, rows


def test_ratio_check_names_a_zip_bomb(bomb_dir):
    path = bombs.row_bomb(bomb_dir / "small-rows.xlsx", 50 * MIB)
    with pytest.raises(ImportFileError) as err, open_table(path, "xlsx"):
        pass
    assert "zip bomb" in err.value.message


def test_declared_size_over_the_limit_is_refused(bomb_dir):
    path = bombs.row_bomb(bomb_dir / "declared.xlsx", 50 * MIB)
    limits = ImportLimits(unpacked_bytes=10 * MIB, ratio=1_000_000)
    from bcrm.dataio.readers import XlsxTable

    with pytest.raises(ImportFileError) as err:
        XlsxTable(path, limits)
    assert "unpacks to" in err.value.message and "more than the 10 MB" in err.value.message


def test_a_cell_too_long_is_refused_in_xlsx_and_csv(tmp_path):
    from bcrm.dataio.readers import CsvTable, XlsxTable

    limits = ImportLimits(cell_chars=1000)
    with pytest.raises(ImportFileError) as err:  # noqa: PT012 - the bound may trip on opening or on reading
        table = XlsxTable(bombs.long_inline_cell(tmp_path / "c.xlsx", 5000), limits)
        list(table.rows())
    assert "longer than 1,000 characters" in err.value.message
    path = write_csv(tmp_path / "c.csv", [["legal_name"], ["x" * 5000]])
    with pytest.raises(ImportFileError), CsvTable(path, limits) as table:
        list(table.rows())


def test_rows_and_columns_are_bounded_in_csv_and_xlsx(tmp_path):
    from bcrm.dataio.readers import CsvTable, XlsxTable

    limits = ImportLimits(rows=3, columns=4)
    rows = [["a", "b"]] * 5
    wide = [["x"] * 6]
    for kind, data, message in [("rows", rows, "more than 3 rows"), ("wide", wide, "more than 4 columns")]:
        for make, cls in [(write_csv, CsvTable), (write_xlsx, XlsxTable)]:
            suffix = "csv" if cls is CsvTable else "xlsx"
            with pytest.raises(ImportFileError) as err, cls(make(tmp_path / f"{kind}.{suffix}", data), limits) as table:
                list(table.rows())
            assert message in err.value.message, (kind, suffix)
    # trailing empty cells do not count
    ok = [["a", "b", None, None, None, None]]
    with XlsxTable(write_xlsx(tmp_path / "ok.xlsx", ok), limits) as table:
        assert [cells[:2] for _, cells in table.rows()] == [["a", "b"]]


def test_an_ordinary_workbook_still_reads(tmp_path):
    rows = [["legal_name", "kind"]] + [[f"Client {i}", "fund"] for i in range(2000)]
    with open_table(write_xlsx(tmp_path / "ok.xlsx", rows), "xlsx") as table:
        assert sum(1 for _ in table.rows()) == 2001


@pytest.mark.django_db
@pytest.mark.parametrize("language, words", [("en", "zip bomb"), ("zh-hans", "压缩炸弹")])
def test_an_import_of_a_bomb_fails_writes_nothing_and_says_why(bomb_dir, tmp_path, import_dir, lead, language, words):
    path = bombs.row_bomb(bomb_dir / f"import-{language}.xlsx", 30 * MIB)
    with translation.override(language):
        job = run_import(lead, "organizations", path)
    job = ImportJob.objects.get(pk=job.pk)
    assert job.status == "failed" and words in job.message, job.message
    assert Organization.objects.count() == 0


def test_the_upload_limit_is_read_from_the_environment(tmp_path):
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "bcrm.settings", "BCRM_DATA_DIR": str(tmp_path),
                   "BCRM_IMPORT_MAX_BYTES": "12345", "BCRM_IMPORT_MAX_ROWS": "77"}
    code = ("import django; django.setup(); from django.conf import settings; "
            "from bcrm.dataio.services import max_upload_bytes; from bcrm.dataio.readers import ImportLimits; "
            "print(max_upload_bytes(), ImportLimits.from_settings().rows)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, cwd=ROOT,
                          timeout=120)
    assert done.stdout.split() == ["12345", "77"], done.stderr[-1000:]
