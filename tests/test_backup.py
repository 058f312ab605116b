"""`bcrm backup` and `bcrm restore` in real processes, on the database kind this run of the suite uses
(SQLite: the online backup API on a live database; PostgreSQL: pg_dump and pg_restore) (issue 20)."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from bcrm.backup.archive import prune

ROOT = Path(__file__).resolve().parent.parent
BCRM = Path(sys.executable).with_name("bcrm")
POSTGRES = connection.vendor == "postgresql"
# Each test runs a site of its own on the database the suite runs on (its subprocesses get DATABASE_URL).
pytestmark = pytest.mark.database

SETUP = """
from bcrm.accounts.services import user_create
from bcrm.audit.trail import checkpoint
from bcrm.parties.services import organization_create, organization_update
admin = user_create(actor=None, username="alice", password="a-strong-passphrase-2026", roles=["admin"])
org = organization_create(actor=admin, data={"legal_name": "Huaneng Capital", "local_name": "华能资本",
                                             "kind": "fund", "country": "CN"})
organization_update(actor=admin, organization=org, data={"notes": "first call 首次通话"}, expected_version=org.version)
checkpoint()
"""


class Site:
    """One bcrm installation: a data folder and a database of its own."""

    def __init__(self, folder: Path, copy_of: Site | None = None):
        self.folder = folder
        folder.mkdir(mode=0o700)
        self.dbname = f"bcrm_bk_{uuid.uuid4().hex[:10]}"
        if POSTGRES:
            template = f' TEMPLATE "{copy_of.dbname}"' if copy_of else ""
            with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.dbname}"{template}')
        elif copy_of is not None:
            with sqlite3.connect(copy_of.folder / "bcrm.sqlite3") as src, \
                    sqlite3.connect(folder / "bcrm.sqlite3") as dst:
                src.backup(dst)
        if copy_of is not None:
            for name in ("secret_key", "audit_key"):
                (folder / name).write_bytes((copy_of.folder / name).read_bytes())
        if POSTGRES:
            url = f"postgresql://{self.db['USER']}@{self.db['HOST']}:{self.db['PORT']}/{self.dbname}"
        else:
            url = f"sqlite:///{folder}/bcrm.sqlite3"
        self.env = {**os.environ, "BCRM_DATA_DIR": str(folder), "DATABASE_URL": url}
        self.env.pop("BCRM_AUDIT_KEY", None)

    @property
    def db(self):
        return settings.DATABASES["default"]

    @property
    def admin_dsn(self) -> str:
        return f"host={self.db['HOST']} port={self.db['PORT']} user={self.db['USER']} dbname=postgres"

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([str(BCRM), *args], env=self.env, input=stdin, capture_output=True, text=True,
                              cwd=ROOT, check=False)

    def ok(self, *args: str, stdin: str = "") -> str:
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def scalar(self, sql: str):
        if POSTGRES:
            with psycopg.connect(self.admin_dsn.replace("dbname=postgres", f"dbname={self.dbname}")) as conn:
                row = conn.execute(sql).fetchone()
                assert row is not None
                return row[0]
        with sqlite3.connect(self.folder / "bcrm.sqlite3") as conn:
            return conn.execute(sql).fetchone()[0]

    def tamper(self, sql: str) -> None:
        """Change the database behind bcrm's back (on PostgreSQL as a superuser who switches triggers off)."""
        if POSTGRES:
            with psycopg.connect(self.admin_dsn.replace("dbname=postgres", f"dbname={self.dbname}")) as conn:
                conn.execute("SET session_replication_role = replica")
                conn.execute(sql)
            return
        with sqlite3.connect(self.folder / "bcrm.sqlite3") as conn:
            conn.execute(sql)

    def tables(self) -> int:
        if POSTGRES:
            return self.scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        if not (self.folder / "bcrm.sqlite3").exists():
            return 0
        return self.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table'")

    def drop(self) -> None:
        if POSTGRES:
            with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("bk") / "source")
    site.ok("migrate", "-v0")
    site.ok("shell", "-c", SETUP)  # a user, a client, an audited edit and a signed audit checkpoint
    yield site
    site.drop()


@pytest.fixture
def empty_site(tmp_path):
    site = Site(tmp_path / "target")
    yield site
    site.drop()


@pytest.fixture(scope="module")
def archive(source, tmp_path_factory):
    path = tmp_path_factory.mktemp("archive") / "backup.tar.gz"
    live = None
    if not POSTGRES:
        # A live database: a committed row still in the WAL (no checkpoint), the connection still open. A plain
        # copy of the database file misses it; the backup API does not.
        live = sqlite3.connect(source.folder / "bcrm.sqlite3")
        live.execute("PRAGMA journal_mode=WAL")
        live.execute("PRAGMA wal_autocheckpoint=0")
        live.execute("INSERT INTO auth_group (name) VALUES ('written just before the backup')")
        live.commit()
    out = source.ok("backup", str(path))
    if live is not None:
        live.close()
    assert "Backed up" in out and path.stat().st_mode & 0o077 == 0
    return path


def test_a_backup_restores_into_an_empty_site_and_checks(source, archive, empty_site):
    out = empty_site.ok("restore", str(archive))
    assert "The copy checks" in out and "verify" in out
    assert "The audit trail is intact." in empty_site.ok("audit", "verify")
    assert empty_site.scalar("SELECT local_name FROM parties_organization") == "华能资本"
    assert empty_site.scalar("SELECT count(*) FROM audit_auditentry") == source.scalar(
        "SELECT count(*) FROM audit_auditentry")
    assert (empty_site.folder / "audit-checkpoints.jsonl").read_text() == (
        source.folder / "audit-checkpoints.jsonl").read_text()
    if not POSTGRES:
        assert empty_site.scalar("SELECT count(*) FROM auth_group WHERE name = 'written just before the backup'") == 1


def test_check_reads_the_manifest_and_every_checksum(archive, source):
    out = source.ok("backup", "--check", str(archive))
    assert "match their checksums" in out and ("postgresql" if POSTGRES else "sqlite") in out


def damaged_copy(archive: Path, folder: Path) -> Path:
    """The same archive with one byte of the database member changed and the manifest left as it was."""
    damaged = folder / "damaged.tar.gz"
    with tarfile.open(archive, "r:gz") as src, tarfile.open(damaged, "w:gz") as dst:
        for member in src.getmembers():
            stream = src.extractfile(member) if member.isfile() else None
            data = stream.read() if stream is not None else b""
            if member.name.startswith("database."):
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            dst.addfile(member, io.BytesIO(data))
    return damaged


def test_a_damaged_archive_is_refused_and_nothing_is_written(archive, empty_site, tmp_path):
    damaged = damaged_copy(archive, tmp_path)
    done = empty_site.run("restore", str(damaged))
    assert done.returncode == 1 and "does not match its checksum" in done.stderr
    assert empty_site.tables() == 0
    assert {p.name for p in empty_site.folder.iterdir() if p.is_file()} <= {"secret_key", "audit_key"}
    done = empty_site.run("backup", "--check", str(damaged))
    assert done.returncode == 1 and "damaged" in done.stderr


def test_a_site_that_is_not_empty_is_not_overwritten(archive, source):
    before = source.scalar("SELECT count(*) FROM audit_auditentry")
    done = source.run("restore", str(archive))
    assert done.returncode == 1 and "not empty" in done.stderr
    assert source.scalar("SELECT count(*) FROM audit_auditentry") == before


def test_a_backup_never_overwrites_a_file(archive, source):
    done = source.run("backup", str(archive))
    assert done.returncode == 1 and "exists" in done.stderr


def test_not_a_backup_is_named(empty_site, tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")
    done = empty_site.run("restore", str(junk))
    assert done.returncode == 1 and "not a readable bcrm backup" in done.stderr


def test_a_copy_of_a_tampered_audit_trail_fails_its_check(source, archive, tmp_path):
    """Entries changed behind bcrm's back before the backup: the archive is whole, the restored copy is not."""
    tampered, target = Site(tmp_path / "tampered", copy_of=source), Site(tmp_path / "target")
    try:
        tampered.tamper("UPDATE audit_auditentry SET actor_label = 'someone else'")
        archive = tmp_path / "tampered.tar.gz"
        tampered.ok("backup", str(archive))
        done = target.run("restore", str(archive))
        assert done.returncode == 1 and "audit trail" in done.stderr and "does not match the chain" in done.stderr
    finally:
        tampered.drop()
        target.drop()


def test_scheduled_backups_keep_the_newest(tmp_path):
    for stamp in ("20261201-020000", "20261202-020000", "20261203-020000", "20261204-020000"):
        (tmp_path / f"bcrm-{stamp}.tar.gz").write_bytes(b"x")
    (tmp_path / "unrelated.txt").write_text("kept")
    removed = prune(tmp_path, keep=2)
    assert sorted(p.name for p in removed) == ["bcrm-20261201-020000.tar.gz", "bcrm-20261202-020000.tar.gz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bcrm-20261203-020000.tar.gz", "bcrm-20261204-020000.tar.gz", "unrelated.txt"]


def test_the_worker_backs_up_once_per_period_and_checks_the_audit_trail_once_a_day(transactional_db, settings, tmp_path,
                                                                                     lead):
    from bcrm.audit.models import AuditCheck
    from bcrm.backup.archive import check
    from bcrm.core import schedule

    settings.BCRM_BACKUP_DIR = tmp_path / "backups"
    settings.BCRM_BACKUP_EVERY_HOURS = 24
    settings.BCRM_AUDIT_CHECKPOINTS = tmp_path / "checkpoints.jsonl"
    first = schedule.tick()
    assert "backup" in first and "audit check" in first
    assert schedule.tick() == []  # nothing due again the same day
    backups = list((tmp_path / "backups").glob("bcrm-*.tar.gz"))
    assert len(backups) == 1 and check(backups[0])["counts"]["auth_user"] == 1
    assert AuditCheck.objects.get().ok


def test_the_heartbeats_of_running_processes_are_not_backed_up_and_a_vanished_file_is_skipped(settings, tmp_path,
                                                                                              monkeypatch):
    """A worker's heartbeat file came and went while a backup listed the data folder (CI, 2026-12-07: the backup
    failed with FileNotFoundError). Heartbeats are not the site's data; a file removed after the listing is left out
    of the manifest and the archive alike."""
    from bcrm.backup import archive

    settings.DATA_DIR = tmp_path
    (tmp_path / "heartbeats").mkdir()
    (tmp_path / "heartbeats" / "automation-87").write_text("")
    (tmp_path / "imports").mkdir()
    (tmp_path / "imports" / "kept.csv").write_text("a,b\n")
    (tmp_path / "imports" / "gone.csv").write_text("a,b\n")
    (tmp_path / "cache" / "feature-store-x").mkdir(parents=True)  # copies of the database's data: rebuilt
    (tmp_path / "cache" / "feature-store-x" / "block-1.npy").write_bytes(b"\x93NUMPY")
    listed = archive._data_files(exclude=set())
    assert Path("heartbeats/automation-87") not in listed and Path("imports/gone.csv") in listed
    assert not [p for p in listed if p.parts[0] == "cache"]

    hashed = archive._sha256

    def sha_after_the_upload_went(path):
        if path.name == "gone.csv":
            path.unlink()
        return hashed(path)

    monkeypatch.setattr(archive, "_sha256", sha_after_the_upload_went)
    def dump(folder):  # the database part is the other tests' (a real dump needs committed data)
        (folder / "db").write_bytes(b"x")
        return "db", {}, {"sealed": 0, "digest": None}

    monkeypatch.setattr(archive, "_dump_database", dump)
    monkeypatch.setattr(archive, "_migrations", dict)
    manifest = archive.backup(tmp_path / "out.tar.gz")
    assert set(manifest["members"]) == {"db", "files/imports/kept.csv"}
    with tarfile.open(tmp_path / "out.tar.gz") as tar:
        assert set(tar.getnames()) == {"manifest.json", "db", "files/imports/kept.csv"}
