"""Backups that restore: one archive holding the database and the data folder's files, with a manifest.

``backup(path)`` writes a gzipped tar with

- ``database.sqlite3`` (SQLite's online backup API: a consistent copy of a live database, WAL included) or
  ``database.pgdump`` (``pg_dump`` custom format, from the same snapshot the row counts are taken in);
- ``files/…``: the data folder (keys, checkpoint file, outbox, import files …) but not the database files,
  collected static files or the backups themselves;
- ``manifest.json``: when, from which database kind, bcrm's migrations, the row count of every table, the
  audit trail's length and last digest, and the SHA-256 of every other member.

``restore(path)`` checks every checksum first (a damaged archive writes nothing), refuses a database or data
folder that is not empty, puts the files and the database in place, then checks the copy: the row counts of
the manifest, and the audit trail's hash chain and checkpoints. ``scheduled_backup`` keeps the newest N.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, connections, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from bcrm.audit import trail
from bcrm.audit.models import AuditSeal

log = logging.getLogger(__name__)

FORMAT = "bcrm-backup/1"
GENERATED = {"secret_key", "audit_key"}  # written by the settings at start-up: a fresh data folder has them


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


class InsideTransaction(BackupError):
    """A backup asked for inside a database transaction: its snapshot (PostgreSQL) or SQLite's backup API
    needs the connection to itself, and would not see, or would wait for ever on, that transaction's writes."""

    def __init__(self) -> None:
        super().__init__("A backup cannot run inside a database transaction; run it on its own "
                         "(bcrm backup, the worker, or a request outside a transaction).")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _database() -> dict[str, Any]:
    return dict(connection.settings_dict)


def _database_file() -> Path | None:
    """The SQLite database file (its -wal/-shm beside it), or None on PostgreSQL."""
    return Path(_database()["NAME"]).resolve() if connection.vendor == "sqlite" else None


def _skipped(relative: Path, database_file: Path | None, data_dir: Path, exclude: set[Path]) -> bool:
    absolute = data_dir / relative
    # Not the site's data: collected static files, earlier backups, the heartbeats of the processes running
    # now (bcrm.core.heartbeat: they come and go while the backup reads the folder, and mean nothing elsewhere),
    # and the cache (copies of what the database holds — the feature store, the assignments in force, the
    # portfolio fit — hundreds of megabytes at a million clients, rebuilt by the next run).
    if relative.parts and relative.parts[0] in {"static", "backups", "heartbeats", "cache"}:
        return True
    if any(part.startswith(".bcrm-backup-") for part in relative.parts):
        return True  # the scratch folder of a backup being written into the data folder (this one's included)
    if database_file is not None and absolute.name.startswith(database_file.name) and \
            absolute.parent == database_file.parent:
        return True  # the database and its -wal / -shm files: copied through the backup API instead
    return absolute in exclude


def _data_files(exclude: set[Path]) -> list[Path]:
    data_dir = Path(settings.DATA_DIR)
    database_file = _database_file()
    found = []
    for path in sorted(data_dir.rglob("*")):
        if path.is_file() and not path.is_symlink():
            relative = path.relative_to(data_dir)
            if not _skipped(relative, database_file, data_dir, exclude):
                found.append(relative)
    return found


def _tables() -> list[str]:
    names = {m._meta.db_table for m in apps.get_models(include_auto_created=True) if m._meta.managed}
    existing = set(connection.introspection.table_names())
    return sorted(names & existing)


def _counts(cursor) -> dict[str, int]:
    counts = {}
    for table in _tables():
        cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
        counts[table] = int(cursor.fetchone()[0])
    return counts


def _audit_tail(cursor) -> dict[str, Any]:
    table = AuditSeal._meta.db_table
    cursor.execute(f'SELECT position, digest FROM "{table}" ORDER BY position DESC LIMIT 1')
    row = cursor.fetchone()
    return {"sealed": int(row[0]) if row else 0, "digest": row[1] if row else None}


def _pg_uri(db: dict[str, Any], name: str | None = None) -> tuple[str, dict[str, str]]:
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    parts = [f"dbname={name or db['NAME']}"]
    if db.get("HOST"):
        parts.append(f"host={db['HOST']}")
    if db.get("PORT"):
        parts.append(f"port={db['PORT']}")
    if db.get("USER"):
        parts.append(f"user={db['USER']}")
    return " ".join(parts), env


def _run(command: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed (Debian: apt-get install postgresql-client).") from None
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip() or done.stdout.strip()}")


def _dump_database(folder: Path) -> tuple[str, dict[str, int], dict[str, Any]]:
    if connection.in_atomic_block:
        raise InsideTransaction()
    if connection.vendor == "sqlite":
        target = folder / "database.sqlite3"
        connection.ensure_connection()
        source = connection.connection
        with sqlite3.connect(target) as copy:
            source.backup(copy)  # a consistent copy of the live database, what is still in the WAL included
        with sqlite3.connect(target) as copy:
            copy_cursor = copy.cursor()
            counts, audit = _counts(copy_cursor), _audit_tail(copy_cursor)
        copy.close()
        return target.name, counts, audit
    if connection.vendor == "postgresql":
        target = folder / "database.pgdump"
        conninfo, env = _pg_uri(_database())
        # One snapshot for the dump and the counts, so the manifest describes exactly what was dumped.
        with transaction.atomic(), connection.cursor() as pg_cursor:
            pg_cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            pg_cursor.execute("SELECT pg_export_snapshot()")
            snapshot = pg_cursor.fetchone()[0]
            counts, audit = _counts(pg_cursor), _audit_tail(pg_cursor)
            _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                  f"--file={target}", f"--dbname={conninfo}"], env)
        return target.name, counts, audit
    raise BackupError(f"Backups support SQLite and PostgreSQL, not {connection.vendor}.")


def _migrations() -> dict[str, str]:
    latest: dict[str, str] = {}
    for app, name in MigrationRecorder(connection).migration_qs.order_by("id").values_list("app", "name"):
        latest[app] = name
    return latest


def backup(path: Path) -> dict[str, Any]:
    """Write a backup archive to ``path``; its manifest."""
    path = Path(path).resolve()
    data_dir = Path(settings.DATA_DIR)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".bcrm-backup-") as scratch:
        folder = Path(scratch)
        database_name, counts, audit = _dump_database(folder)
        members = {database_name: _sha256(folder / database_name)}
        files = []
        for relative in _data_files(exclude={path}):
            try:
                members[f"files/{relative.as_posix()}"] = _sha256(data_dir / relative)
            except FileNotFoundError:
                continue  # removed since the folder was listed (a finished import's upload): not in this backup
            files.append(relative)
        manifest = {
            "format": FORMAT, "created_at": timezone.now().isoformat(), "vendor": connection.vendor,
            "migrations": _migrations(), "counts": counts, "audit": audit, "members": members,
        }
        partial = path.with_name(path.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            data = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mtime, info.mode = len(data), int(timezone.now().timestamp()), 0o600
            tar.addfile(info, io.BytesIO(data))
            tar.add(folder / database_name, arcname=database_name)
            for relative in files:
                tar.add(data_dir / relative, arcname=f"files/{relative.as_posix()}")
        os.chmod(partial, 0o600)
        partial.replace(path)  # a backup that stops half-way leaves no file that looks whole
    return manifest


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    files: int = 0
    problems: list[str] = field(default_factory=list)
    audit_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _read_checked(path: Path, into: Path) -> dict[str, Any]:
    """Unpack the archive into a scratch folder and check every member against the manifest."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{path} is not a readable bcrm backup: {exc}") from exc
    try:
        manifest = json.loads((into / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} has no readable manifest: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a {FORMAT} archive.")
    found = {p.relative_to(into).as_posix() for p in into.rglob("*") if p.is_file()} - {"manifest.json"}
    if found != set(manifest["members"]):
        extra, missing = sorted(found - set(manifest["members"])), sorted(set(manifest["members"]) - found)
        raise BackupError(f"{path} does not hold what its manifest lists (extra: {extra}, missing: {missing}).")
    for name, expected in manifest["members"].items():
        if _sha256(into / name) != expected:
            raise BackupError(f"{path}: {name} does not match its checksum; the archive is damaged.")
    return manifest


def check(path: Path) -> dict[str, Any]:
    """Check an archive's checksums without restoring it; its manifest."""
    with tempfile.TemporaryDirectory(prefix=".bcrm-check-") as scratch:
        return _read_checked(Path(path), Path(scratch))


def _target_is_empty() -> None:
    if connection.introspection.table_names():
        raise BackupError("The database is not empty: restore into a new, empty database (and data folder).")
    data_dir = Path(settings.DATA_DIR)
    database_file = _database_file()
    leftovers = [p for p in data_dir.rglob("*") if p.is_file() and p.name not in GENERATED
                 and not (database_file and p.parent == database_file.parent
                          and p.name.startswith(database_file.name))]
    if leftovers:
        raise BackupError(f"The data folder {data_dir} is not empty ({len(leftovers)} files): restore into a new one.")


def restore(path: Path) -> RestoreReport:
    """Restore an archive into this (empty) installation, then check the copy."""
    path = Path(path).resolve()
    data_dir = Path(settings.DATA_DIR)
    with tempfile.TemporaryDirectory(prefix=".bcrm-restore-") as scratch:
        folder = Path(scratch)
        manifest = _read_checked(path, folder)
        if manifest["vendor"] != connection.vendor:
            raise BackupError(f"This backup is of a {manifest['vendor']} database; this installation uses "
                              f"{connection.vendor}.")
        _target_is_empty()
        report = RestoreReport(manifest=manifest)
        if connection.vendor == "sqlite":
            target = _database_file()
            assert target is not None
            connections.close_all()
            for suffix in ("-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(folder / "database.sqlite3", target)
            os.chmod(target, 0o600)
        else:
            conninfo, env = _pg_uri(_database())
            connections.close_all()
            _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={conninfo}",
                  str(folder / "database.pgdump")], env)
        files_root = folder / "files"
        for source in sorted(files_root.rglob("*")) if files_root.exists() else []:
            if source.is_file():
                destination = data_dir / source.relative_to(files_root)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, destination)
                os.chmod(destination, 0o600)
                report.files += 1
    key_file = data_dir / "audit_key"
    if "BCRM_AUDIT_KEY" not in os.environ and key_file.exists():
        settings.BCRM_AUDIT_KEY = key_file.read_text().strip()  # the restored key signs the restored checkpoints
    _check_copy(report)
    return report


def _check_copy(report: RestoreReport) -> None:
    manifest = report.manifest
    with connection.cursor() as cursor:
        counts = _counts(cursor)
        audit = _audit_tail(cursor)
    for table, expected in sorted(manifest["counts"].items()):
        if counts.get(table) != expected:
            report.problems.append(f"{table}: {counts.get(table)} rows restored, {expected} backed up")
    if audit != manifest["audit"]:
        report.problems.append(f"audit trail: {audit} restored, {manifest['audit']} backed up")
    result = trail.verify(seal=False)
    report.audit_checked = result.checked
    report.problems.extend(f"audit trail: {finding.message}" for finding in result.findings)


def backup_folder() -> Path:
    folder = Path(settings.BCRM_BACKUP_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest scheduled backups in ``folder``; the files deleted."""
    backups = sorted(folder.glob("bcrm-*.tar.gz"), key=lambda p: p.name, reverse=True)
    removed = backups[max(keep, 1):]
    for old in removed:
        old.unlink()
    return removed


def scheduled_backup(now: dt.datetime | None = None) -> Path:
    """The worker's job: a backup named by its time into the backup folder, keeping the newest N."""
    now = now or timezone.now()
    folder = backup_folder()
    path = folder / f"bcrm-{now.astimezone(dt.UTC):%Y%m%d-%H%M%S}.tar.gz"
    backup(path)
    removed = prune(folder, settings.BCRM_BACKUP_KEEP)
    log.info("backup written to %s; %d older backups removed", path, len(removed))
    return path
