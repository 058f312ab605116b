"""`bcrm backup FILE` writes a backup archive; `bcrm backup --check FILE` checks one without restoring it."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from bcrm.backup.archive import BackupError, backup, check


class Command(BaseCommand):
    help = ("Back up the database (SQLite online backup or pg_dump) and the data folder into one archive with a "
            "checksum manifest; --check verifies an archive's checksums.")

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--check", action="store_true", help="check FILE's checksums; write nothing")

    def handle(self, *args, file, check: bool = False, **options):
        path = Path(file)
        try:
            if check:
                manifest = check_archive(path)
                self.stdout.write(f"{path}: {len(manifest['members'])} members match their checksums; "
                                  f"{sum(manifest['counts'].values()):,} rows in {len(manifest['counts'])} tables, "
                                  f"from {manifest['vendor']} at {manifest['created_at']}.")
                return
            if path.exists():
                raise CommandError(f"{path} exists; give a new file name.")
            manifest = backup(path)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc.strerror or exc}") from exc
        self.stdout.write(f"Backed up {sum(manifest['counts'].values()):,} rows in {len(manifest['counts'])} tables "
                          f"and {len(manifest['members']) - 1} files to {path}.")


check_archive = check
