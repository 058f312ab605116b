"""On SQLite the import reads, checks and stages the whole file before its write transaction (which then only
writes), so other writers wait seconds, not the import's length; all or nothing still holds."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import F

from bcrm.dataio import services
from bcrm.dataio.choices import JobSource, JobStatus
from bcrm.parties.models import Organization
from tests.factories import make_org
from tests.fixtures_dataio.helpers import write_csv

pytestmark = pytest.mark.usefixtures("import_dir")

HEADER = ["external_id", "legal_name", "kind", "country"]


def run(lead, path, hook):
    job = services.import_job_create_from_path(actor=lead, entity="organizations", path=path, source=JobSource.CLI)
    return services.import_job_run(job, on_progress=hook)


def test_rows_are_staged_outside_the_write_transaction(tmp_path, lead, settings):
    settings.BCRM_IMPORT_BATCH_ROWS = 2
    outer = len(connection.atomic_blocks)   # the test's own transaction
    depths = []
    rows = [HEADER] + [[f"S-{i}", f"Staged {i}", "fund", "CN"] for i in range(5)]
    job = run(lead, write_csv(tmp_path / "s.csv", rows), lambda n, f: depths.append(len(connection.atomic_blocks)))
    assert job.status == JobStatus.DONE and job.created == 5
    assert Organization.objects.filter(external_id__startswith="S-").count() == 5
    assert len(depths) == 3
    if connection.vendor == "sqlite":
        assert depths == [outer] * 3            # every batch staged before the write transaction began
    else:
        assert depths == [outer + 1] * 3        # PostgreSQL: read and written in turn inside it
    assert not list((services.job_directory(job)).glob("staged*"))   # the staged rows are removed


def test_a_record_changed_between_staging_and_writing_is_not_overwritten(tmp_path, lead):
    org = make_org(legal_name="Before", external_id="S-9")

    def someone_else_edits(n, f):
        Organization.objects.filter(pk=org.pk).update(notes="edited meanwhile", version=F("version") + 1)

    job = run(lead, write_csv(tmp_path / "s.csv", [HEADER, ["S-9", "After", "fund", "CN"]]), someone_else_edits)
    org.refresh_from_db()
    if connection.vendor == "sqlite":
        # Staged from the record as it was read; the edit came before the write: the row is rejected, all or
        # nothing rolls the import back, and the other writer's change stands.
        assert job.status == JobStatus.ROLLED_BACK and job.rejected == 1
        assert "changed by someone else" in job.row_reports.get().reason_text
        assert (org.legal_name, org.notes) == ("Before", "edited meanwhile")
    else:
        # Read and written in one step: the edit comes after the import's write.
        assert job.status == JobStatus.DONE and org.legal_name == "After" and org.notes == "edited meanwhile"
