"""`bcrm import ENTITY FILE`: import a CSV or XLSX file, all or nothing unless told otherwise.

Exit status: 0 imported (or dry run / skip-invalid finished); 1 rows were rejected in all-or-nothing
mode or in a dry run (nothing written; the rejects are listed on stderr); 2 the file could not be
imported at all (encoding, missing column, permission…).

Without ``--as`` the import runs as the system operator: whoever runs ``bcrm`` on the server already
holds the database, so permission checks would protect nothing; the audit trail says "system". With
``--as USER`` that user's permissions apply, exactly as in the web UI and the API.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from bcrm.core.errors import ServiceError
from bcrm.dataio.choices import Entity, ImportMode, JobSource, JobStatus
from bcrm.dataio.cli import resolve_actor
from bcrm.dataio.services import error_file_path, import_job_create_from_path, import_job_run, row_reasons
from bcrm.dataio.specs import reason_text


class Command(BaseCommand):
    help = "Import organisations, contacts, projects, participations or interactions from a CSV or XLSX file."

    def add_arguments(self, parser):
        parser.add_argument("entity", help=f"one of: {', '.join(Entity.values)}")
        parser.add_argument("file")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--dry-run", action="store_true", help="check every row and report; save nothing")
        mode.add_argument("--skip-invalid", action="store_true",
                          help="save the valid rows; rejected rows go to an error file")
        parser.add_argument("--mapping", help="a saved column mapping's name")
        parser.add_argument("--as", dest="as_user", metavar="USER",
                            help="act as this user (their permissions apply); default: the system operator")
        parser.add_argument("--json", action="store_true", help="print the job as JSON on stdout")

    def handle(self, *args, entity, file, dry_run, skip_invalid, mapping, as_user, json: bool, **options):
        mode = ImportMode.DRY_RUN if dry_run else ImportMode.SKIP_INVALID if skip_invalid else ImportMode.COMMIT
        actor = resolve_actor(as_user)
        try:
            job = import_job_create_from_path(actor=actor, entity=entity, path=file, mode=mode, mapping=mapping,
                                              source=JobSource.CLI)
        except ServiceError as exc:
            self._fail(exc.message + "".join(f"\n  {f['path']}: {f['message']}" for f in exc.as_dict()["fields"]))
        quiet = options.get("verbosity", 1) == 0
        bar = tqdm(total=max(job.file_size, 1), unit="B", unit_scale=True, file=sys.stderr, dynamic_ncols=True,
                   disable=quiet or job.status == JobStatus.FAILED, desc=f"import {job.entity}")

        def progress(rows: int, fraction: float) -> None:
            bar.update(int(fraction * job.file_size) - bar.n)
            bar.set_postfix(rows=f"{rows:,}")

        def rejected(row) -> None:
            reason = reason_text(job.entity, row_reasons(row))
            bar.write(f"row {row.number}: {reason}", file=sys.stderr)

        if job.status == JobStatus.PENDING:
            job = import_job_run(job, on_progress=progress, on_reject=rejected)
        bar.close()
        self._report(job, as_json=json)

    def _report(self, job, *, as_json: bool) -> None:
        errors = error_file_path(job)
        if as_json:
            self.stdout.write(json_dumps(job, errors))
        else:
            verb = "would be " if job.mode == ImportMode.DRY_RUN else ""
            if job.status != JobStatus.FAILED:
                self.stderr.write(
                    f"{job.rows:,} rows: {job.created:,} {verb}created, {job.updated:,} {verb}updated, "
                    f"{job.unchanged:,} unchanged, {job.rejected:,} rejected  (import #{job.pk}, "
                    f"{job.get_status_display()})"
                )
            if job.message:
                self.stderr.write(job.message)
            if job.ignored_columns:
                self.stderr.write(f"Ignored columns: {', '.join(job.ignored_columns)}")
            if errors is not None:
                self.stderr.write(f"Rejected rows with reasons: {errors}")
        if job.status == JobStatus.FAILED:
            sys.exit(2)
        if job.rejected and job.mode in (ImportMode.COMMIT, ImportMode.DRY_RUN):
            sys.exit(1)

    def _fail(self, message: str) -> None:
        self.stderr.write(message)
        sys.exit(2)


def json_dumps(job, errors) -> str:
    return json.dumps({
        "id": job.pk, "entity": job.entity, "mode": job.mode, "status": job.status, "message": job.message,
        "file": job.file_name, "sha256": job.file_sha256, "rows": job.rows, "created": job.created,
        "updated": job.updated, "unchanged": job.unchanged, "rejected": job.rejected,
        "ignored_columns": job.ignored_columns, "columns": job.columns,
        "error_file": str(errors) if errors else None,
        "duration_seconds": job.duration.total_seconds() if job.duration else None,
    }, ensure_ascii=False, indent=2)
