"""A 200 MB file streams through the importer with bounded memory; above the configured cap it is refused."""

import tracemalloc

import pytest

from bcrm.dataio.choices import JobStatus
from bcrm.engagement.models import Interaction
from tests.factories import make_org
from tests.fixtures_dataio.helpers import run_import

pytestmark = pytest.mark.usefixtures("import_dir")  # uploads go to the test's own folder

TARGET_BYTES = 200 * 1024 * 1024


def write_big_csv(path, orgs: list[str], size: int) -> int:
    """Interactions with 5 kB summaries until the file reaches ``size`` bytes; returns the row count."""
    filler = ("Quarterly review of the drawdown schedule, covenants and the DSCR forecast. " * 70)[:5000]
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("organization_external_id,kind,occurred_at,minutes_spent,summary\r\n")
        written = 0
        while written < size:
            line = (f"{orgs[rows % len(orgs)]},meeting,2026-01-{rows % 28 + 1:02d} {rows % 10 + 8:02d}:{rows % 60:02d}:"
                    f"{rows // 3600 % 60:02d},45,\"#{rows} {filler}\"\r\n")
            fh.write(line)
            written += len(line.encode())
            rows += 1
    return rows


def test_200_mb_csv_streams_with_bounded_memory(tmp_path, lead):
    orgs = [make_org(legal_name=f"Big {i}", external_id=f"B-{i}").external_id for i in range(50)]
    path = tmp_path / "big.csv"
    rows = write_big_csv(path, orgs, TARGET_BYTES)
    assert path.stat().st_size >= TARGET_BYTES
    tracemalloc.start()
    try:
        job = run_import(lead, "interactions", path, mode="dry_run")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert job.status == JobStatus.DONE, job.message
    assert (job.rows, job.created, job.rejected) == (rows, rows, 0)
    assert not Interaction.objects.exists()  # a dry run
    # Loose bound: a batch of rows and its audit entries, not the file (the file alone is 200 MB).
    assert peak < 120 * 1024 * 1024, f"peak Python memory {peak / 2**20:.0f} MiB"


def test_file_above_the_cap_is_refused_before_reading(tmp_path, lead, settings):
    settings.BCRM_IMPORT_MAX_BYTES = 1024 * 1024
    path = tmp_path / "big.csv"
    write_big_csv(path, ["B-1"], 2 * 1024 * 1024)
    job = run_import(lead, "interactions", path)
    assert job.status == JobStatus.FAILED
    assert "the most an import takes is 1 MB" in job.message
    assert job.rows == 0
