"""`bcrm restore FILE`: restore a backup into an empty database and data folder, then check the copy."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from bcrm.backup.archive import BackupError, restore


class Command(BaseCommand):
    help = ("Restore a `bcrm backup` archive into an empty database and data folder, then check the copy: "
            "row counts against the manifest, and the audit trail's hash chain. Exit 1 if the check fails.")

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **options):
        try:
            report = restore(Path(file))
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        counts = report.manifest["counts"]
        self.stdout.write(f"Restored {sum(counts.values()):,} rows in {len(counts)} tables and {report.files} files "
                          f"from the backup of {report.manifest['created_at']}.")
        for problem in report.problems:
            self.stderr.write(problem)
        if not report.ok:
            raise SystemExit(1)
        self.stdout.write(f"The copy checks: every table's row count matches, and the audit trail's "
                          f"{report.audit_checked} entries verify.")
