"""Use cases of data import: record a job, store its file, run it, re-run it in another mode, delete it;
and the saved column mappings. The only code in this app that writes (the engine it drives included).

Modes
  dry_run       the same code path as a real import — rows are written, so later rows resolve references
                to rows created earlier in the file — inside a transaction rolled back at the end.
  commit        all or nothing: any rejected row rolls the whole import back.
  skip_invalid  valid rows are committed; rejected rows go to the error file (the original rows, original
                headers, same format, plus a reason column) to be fixed and imported again.

A file-level problem (encoding, missing required column, empty file, size, permission) fails the job
before any row is read. An import runs inside one transaction whatever its mode, so a failure half way
through leaves the database as it was. (On SQLite that transaction holds the database's single write
lock for the import's duration: other writers wait, up to the busy timeout.)
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import json
import logging
import os
import pickle
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import EDIT_ALL, can_see_compliance, can_write, has_any, require
from bcrm.core import heartbeat
from bcrm.core.bulk import long_lived_frozen
from bcrm.core.errors import InvalidInput, NotFound, PermissionDenied
from bcrm.dataio.adapters import importer_for
from bcrm.dataio.choices import Entity, FileFormat, ImportMode, JobSource, JobStatus, Outcome, entity_from
from bcrm.dataio.headers import HEADER_SCAN_ROWS, find_header_row, match_headers
from bcrm.dataio.importer import Context, Row, SystemOperator, actor_label, batch_rows, is_blank_row
from bcrm.dataio.models import ColumnMapping, ImportJob, ImportRow
from bcrm.dataio.parsers import neutralise
from bcrm.dataio.readers import ImportFileError, detect_format, open_table
from bcrm.dataio.specs import reason_text, spec_for

logger = logging.getLogger(__name__)


def max_upload_bytes() -> int:
    return int(settings.BCRM_IMPORT_MAX_BYTES)


def report_rows_kept() -> int:
    return int(settings.BCRM_IMPORT_REPORT_ROWS)


def import_root() -> Path:
    return Path(settings.BCRM_IMPORT_DIR)


def job_directory(job: ImportJob) -> Path:
    return import_root() / str(job.pk)


def job_file(job: ImportJob) -> Path:
    path = Path(job.stored_path)
    return path if path.is_absolute() else import_root() / path


def error_file_path(job: ImportJob) -> Path | None:
    return import_root() / job.error_file if job.error_file else None


def require_import(actor, entity: str) -> None:
    """Who may import at all; each row is then checked like the services check a single save."""
    if entity == Entity.ORGANIZATIONS:
        # Compliance may import KYC and sanctions updates onto existing organisations.
        require(can_write(actor) or can_see_compliance(actor), _("You may not import organisations."))
    else:
        require(can_write(actor), _("You may not import data."))


def _mode(mode: str | None) -> str:
    mode = mode or ImportMode.COMMIT
    if mode not in ImportMode.values:
        raise InvalidInput(fields={"mode": [_("Choose one of: %(modes)s.") % {"modes": ", ".join(ImportMode.values)}]})
    return mode


def _entity(entity: str) -> str:
    found = entity_from(entity)
    if found is None:
        raise InvalidInput(fields={"entity": [_("Choose one of: %(entities)s.") % {"entities": ", ".join(Entity.values)}]})
    return found


def mapping_get(*, entity: str, name: str | None) -> ColumnMapping | None:
    if not name:
        return None
    mapping = ColumnMapping.objects.filter(entity=entity, name=name).first()
    if mapping is None:
        raise InvalidInput(fields={"mapping": [_("No column mapping “%(name)s” for %(entity)s.")
                                               % {"name": name, "entity": entity}]})
    return mapping


def _record_refusal(*, actor, entity: str, mode: str, source: str, file_name: str, size: int, message: str) -> ImportJob:
    """Every import is recorded, refused ones too."""
    now = timezone.now()
    return ImportJob.objects.create(
        user=actor if getattr(actor, "pk", None) else None, user_label=actor_label(actor), entity=entity, mode=mode,
        source=source, status=JobStatus.FAILED, message=message, file_name=file_name[:255], file_size=size,
        started_at=now, finished_at=now,
    )


def import_job_create(*, actor, entity: str, upload, mode: str | None = None, mapping: str | None = None,
                      source: str = JobSource.WEB) -> ImportJob:
    """Record an import of an uploaded file (a Django UploadedFile) and store the file under the job's folder.

    The upload is copied in chunks while its SHA-256 is computed; it is never read into memory whole.
    """
    entity, mode = _entity(entity), _mode(mode)
    name = Path(getattr(upload, "name", "") or "upload").name
    size = int(getattr(upload, "size", 0) or 0)
    try:
        require_import(actor, entity)
    except PermissionDenied as exc:
        _record_refusal(actor=actor, entity=entity, mode=mode, source=source, file_name=name, size=size, message=exc.message)
        raise
    mapping_row = mapping_get(entity=entity, name=mapping)
    limit = max_upload_bytes()
    if size > limit:
        message = _("The file is %(size)s MB; the most an import takes is %(limit)s MB. Split it into smaller files.") % {
            "size": _mb(size), "limit": _mb(limit)}
        _record_refusal(actor=actor, entity=entity, mode=mode, source=source, file_name=name, size=size, message=message)
        raise InvalidInput(fields={"file": [message]})
    job = ImportJob.objects.create(
        user=actor if getattr(actor, "pk", None) else None, user_label=actor_label(actor), entity=entity, mode=mode,
        source=source, file_name=name[:255], file_size=size, mapping=mapping_row,
    )
    folder = job_directory(job)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = Path(name).suffix.lower()
    target = folder / ("upload" + (suffix if suffix in {".csv", ".txt", ".tsv", ".xlsx", ".xlsm"} else ""))
    digest = hashlib.sha256()
    written = 0
    with open(target, "wb") as out:
        for chunk in upload.chunks():
            written += len(chunk)
            if written > limit:
                break
            digest.update(chunk)
            out.write(chunk)
    job.stored_path = str(target.relative_to(import_root()))
    job.file_size = written
    job.file_sha256 = digest.hexdigest()
    if written > limit:
        _fail(job, _("The file is larger than %(limit)s MB, the most an import takes.") % {"limit": _mb(limit)})
        _remove_file(target)
        raise InvalidInput(fields={"file": [job.message]})
    try:
        job.file_format = detect_format(target, name)
    except ImportFileError as exc:
        _fail(job, exc.message)
        return job
    job.save(update_fields=["stored_path", "file_size", "file_sha256", "file_format"])
    return job


def import_job_create_from_path(*, actor, entity: str, path: Path, mode: str | None = None,
                                mapping: str | None = None, source: str = JobSource.CLI) -> ImportJob:
    """Record an import of a file already on the server (the command line): read in place, not copied."""
    entity, mode = _entity(entity), _mode(mode)
    actor = actor if actor is not None else SystemOperator()
    path = Path(path).resolve()
    if not path.is_file():
        raise InvalidInput(fields={"file": [_("No such file: %(path)s") % {"path": path}]})
    size = path.stat().st_size
    try:
        require_import(actor, entity)
    except PermissionDenied as exc:
        _record_refusal(actor=actor, entity=entity, mode=mode, source=source, file_name=str(path), size=size,
                        message=exc.message)
        raise
    mapping_row = mapping_get(entity=entity, name=mapping)
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    job = ImportJob.objects.create(
        user=actor if getattr(actor, "pk", None) else None, user_label=actor_label(actor), entity=entity, mode=mode,
        source=source, file_name=path.name[:255], file_size=size, file_sha256=digest.hexdigest(),
        stored_path=str(path), mapping=mapping_row,
    )
    job_directory(job).mkdir(parents=True, exist_ok=True)
    limit = max_upload_bytes()
    if size > limit:
        _fail(job, _("The file is %(size)s MB; the most an import takes is %(limit)s MB. Split it into smaller files.")
              % {"size": _mb(size), "limit": _mb(limit)})
        return job
    try:
        job.file_format = detect_format(path)
    except ImportFileError as exc:
        _fail(job, exc.message)
        return job
    job.save(update_fields=["file_format"])
    return job


def import_job_rerun(*, actor, job: ImportJob, mode: str) -> ImportJob:
    """Run an earlier job's file again in another mode (the preview's "commit" buttons)."""
    mode = _mode(mode)
    require(may_manage_job(actor, job))
    require_import(actor, job.entity)
    source = job_file(job)
    if not job.stored_path or not source.exists():
        raise InvalidInput(_("The uploaded file of this import is no longer kept; upload it again."))
    return _copy_job(job, mode=mode, user=actor if getattr(actor, "pk", None) else None, user_label=actor_label(actor))


def _copy_job(job: ImportJob, *, mode: str, user, user_label: str) -> ImportJob:
    """A new pending job reading ``job``'s file (a link to it, or the same CLI path)."""
    source = job_file(job)
    rerun = ImportJob.objects.create(
        user=user, user_label=user_label, entity=job.entity,
        mode=mode, source=job.source, file_name=job.file_name, file_size=job.file_size, file_sha256=job.file_sha256,
        file_format=job.file_format, mapping=job.mapping, based_on=job,
    )
    folder = job_directory(rerun)
    folder.mkdir(parents=True, exist_ok=True)
    if Path(job.stored_path).is_absolute():
        rerun.stored_path = job.stored_path  # a CLI file, read in place
    else:
        target = folder / source.name
        try:
            os.link(source, target)  # the same bytes, no copy; each job still owns (and deletes) its own name
        except OSError:
            shutil.copyfile(source, target)
        rerun.stored_path = str(target.relative_to(import_root()))
    rerun.save(update_fields=["stored_path"])
    return rerun


def may_manage_job(actor, job: ImportJob) -> bool:
    if has_any(actor, EDIT_ALL):
        return True
    return job.user_id is not None and job.user_id == getattr(actor, "pk", None)


def import_job_delete(*, actor, job: ImportJob) -> None:
    """Delete a finished job, its row reports, its stored upload and its error file."""
    require(may_manage_job(actor, job))
    if job.status == JobStatus.RUNNING:
        raise InvalidInput(_("This import is still running."))
    folder = job_directory(job)
    job.delete()
    shutil.rmtree(folder, ignore_errors=True)


def import_job_enqueue(job: ImportJob) -> ImportJob:
    """Run the job in the background (django-tasks); inline where tasks run immediately (tests)."""
    from bcrm.dataio.tasks import run_import

    if job.status != JobStatus.PENDING:
        return job
    result = run_import.enqueue(job.pk)
    # The queue entry, so the sweep can fail it with the job (inline backends have run it already).
    ImportJob.objects.filter(pk=job.pk).update(task_id=str(result.id)[:64])
    job.refresh_from_db()
    return job


# ------------------------------------------------------------------------------------------ running

ProgressHook = Callable[[int, float], Any]
RejectHook = Callable[[Row], Any]


def import_job_run(job: ImportJob | int, *, on_progress: ProgressHook | None = None,
                   on_reject: RejectHook | None = None) -> ImportJob:
    """Run a pending job to its end. Running it twice (two workers) runs it once."""
    job_id = job if isinstance(job, int) else job.pk
    now = timezone.now()
    if not ImportJob.objects.filter(pk=job_id, status=JobStatus.PENDING).update(
            status=JobStatus.RUNNING, started_at=now, heartbeat_at=now):
        return ImportJob.objects.get(pk=job_id)

    def record_beat(at) -> None:
        ImportJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(heartbeat_at=at)

    with heartbeat.beating(job_heartbeat_key(job_id), on_beat=record_beat), long_lived_frozen():
        return _run(job_id, now, on_progress, on_reject)


def job_heartbeat_key(job_id: int) -> str:
    return f"import-{job_id}"


def import_jobs_sweep(now=None) -> list[str]:
    """Jobs still "running" whose heartbeat stopped (their worker died): each is marked failed with the reason,
    its queue entry too, and — being all or nothing, so nothing of it was kept — queued again as a new job
    reading the same file (jobs the worker ran; a `bcrm import` that was killed is for its user to run again).
    The names of the jobs requeued."""
    now = now or timezone.now()
    requeued: list[str] = []
    for job_id, beat_at, started_at in ImportJob.objects.filter(status=JobStatus.RUNNING).values_list(
            "pk", "heartbeat_at", "started_at"):
        if not heartbeat.stopped(job_heartbeat_key(job_id), beat_at, started_at, now):
            continue
        again: ImportJob | None = None
        with transaction.atomic():
            job = ImportJob.objects.select_for_update().filter(pk=job_id, status=JobStatus.RUNNING).first()
            if job is None:
                continue  # another worker's sweep took it
            if job.source != JobSource.CLI and job.stored_path and job_file(job).exists():
                again = _copy_job(job, mode=job.mode, user=job.user, user_label=job.user_label)
            reason = heartbeat.reason(requeued_as=f"#{again.pk}" if again else None)
            job.status, job.reason, job.message = JobStatus.FAILED, reason, reason["message"]
            job.finished_at = now
            job.save(update_fields=["status", "reason", "message", "finished_at"])
            heartbeat.fail_queue_entries([job.task_id] if job.task_id else [], now=now)
            if again is not None:
                transaction.on_commit(lambda rerun=again: import_job_enqueue(rerun))  # type: ignore[misc]
        logger.warning("import job %s: no heartbeat since %s; marked failed%s", job_id, beat_at,
                       f", queued again as #{again.pk}" if again else "")
        heartbeat.forget(job_heartbeat_key(job_id))
        if again is not None:
            requeued.append(f"import #{again.pk}")
    return requeued


def _run(job_id: int, now, on_progress: ProgressHook | None, on_reject: RejectHook | None) -> ImportJob:
    job = ImportJob.objects.select_related("user", "mapping").get(pk=job_id)
    if job.user is not None:
        actor: Any = job.user
    elif job.source == JobSource.CLI:
        actor = SystemOperator()
    else:
        _fail(job, _("The user who started this import no longer exists."))
        return job
    folder = job_directory(job)
    folder.mkdir(parents=True, exist_ok=True)
    spool = RowSpool(folder / "rows.jsonl", keep=report_rows_kept())
    errors: ErrorFile | None = None
    stage: StageFile | None = None
    importer = None
    status, message = JobStatus.DONE, ""
    reason: dict[str, Any] = {}
    try:
        require_import(actor, job.entity)
        spec = spec_for(job.entity)
        mapping = job.mapping.columns if job.mapping else None
        with open_table(job_file(job), job.file_format or FileFormat.CSV) as table:
            rows = ((n, cells) for n, cells in table.rows() if not is_blank_row(cells))
            head = list(itertools.islice(rows, HEADER_SCAN_ROWS))
            if not head:
                raise ImportFileError(_("The file is empty."))
            index = find_header_row(spec, head, mapping)
            header_number, headers = head[index]
            match = match_headers(spec, headers, mapping)
            job.columns = match.as_mapping(headers)
            job.ignored_columns = match.ignored
            job.header_row = header_number
            job.save(update_fields=["columns", "ignored_columns", "header_row"])
            errors = ErrorFile(folder, table.format, list(headers), table.delimiter, entity=job.entity)
            ctx = Context(actor=actor, job=job, spec=spec, columns=sorted(match.columns.items()),
                          present=match.present, now=now)

            def report(row: Row) -> None:
                spool.add(row, dry_run=job.mode == ImportMode.DRY_RUN)
                if row.outcome == Outcome.REJECTED:
                    errors.add(row)
                    if on_reject:
                        on_reject(row)

            importer = importer_for(ctx, report=report)
            importer.label_limit = spool.keep  # the report keeps no label of the rows after these
            data_rows = itertools.chain(head[index + 1:], rows)
            progress = ProgressFile(folder / "progress.json")
            # On SQLite the write transaction holds the database's only write lock, so the whole file is read,
            # checked and staged first (on disk, batch by batch) and the transaction then only writes: other
            # writers wait seconds, not the length of the import. PostgreSQL locks rows, not the database: there
            # each batch is read and written in turn inside the one transaction.
            stage = StageFile(folder / "staged.pickle") if connection.vendor == "sqlite" else None
            stage_started = time.perf_counter()
            if stage is not None:
                importer.staged = True
                for batch in _batches(data_rows, batch_rows()):
                    staged = [Row(number=n, raw=cells) for n, cells in batch]
                    importer.stage(staged)
                    stage.add(staged)
                    fraction = table.fraction()
                    progress.write(importer.rows, fraction)
                    if on_progress:
                        on_progress(importer.rows, fraction)
            write_started = time.perf_counter()
            with transaction.atomic(), immediate_foreign_keys():
                if stage is not None:
                    for staged in stage.batches():
                        importer.commit(staged)
                    logger.info("import job %s: %s rows staged in %.1f s, written in %.1f s", job.pk, importer.rows,
                                write_started - stage_started, time.perf_counter() - write_started)
                else:
                    # Each next batch is read and parsed while the database stores the one before (Importer.ahead).
                    batches = _batches(data_rows, batch_rows())
                    ahead: list[list[Row] | None] = []

                    def read_ahead() -> None:
                        batch = next(batches, None)
                        rows = None if batch is None else [Row(number=n, raw=cells) for n, cells in batch]
                        if rows is not None:
                            importer.parse(rows)
                        ahead.append(rows)

                    read_ahead()
                    importer.defer_reports = True  # a batch's rows are reported while the next is stored
                    while (parsed := ahead.pop()) is not None:
                        importer.ahead = read_ahead
                        importer.process(parsed, parsed=True)
                        importer.run_ahead()  # when the batch gave the database nothing to store
                        fraction = table.fraction()
                        progress.write(importer.rows, fraction)
                        if on_progress:
                            on_progress(importer.rows, fraction)
                importer.flush_reports()
                if importer.rows == 0:
                    raise ImportFileError(_("The file has column headers but no data rows."))
                rejected = importer.counts[Outcome.REJECTED]
                if job.mode == ImportMode.DRY_RUN:
                    transaction.set_rollback(True)
                elif job.mode == ImportMode.COMMIT and rejected:
                    transaction.set_rollback(True)
                    status = JobStatus.ROLLED_BACK
                    message = _("%(n)s rows were rejected, so nothing was saved (all or nothing). Fix them, "
                                "or save only the valid rows.") % {"n": rejected}
    except (ImportFileError, PermissionDenied, InvalidInput) as exc:
        status, message = JobStatus.FAILED, exc.message
        reason = getattr(exc, "text", None) or {}
    except Exception as exc:  # recorded on the job; the database is as it was
        logger.exception("import job %s failed", job.pk)
        status, message = JobStatus.FAILED, _("The import stopped on an unexpected error (%(error)s); nothing was saved.") % {
            "error": f"{type(exc).__name__}: {exc}"}
    finally:
        if importer is not None and importer.unreported:
            importer.flush_reports()  # what was written before a failure, reported as before
        if errors is not None:
            errors.close()
        if stage is not None:
            stage.remove()
    if importer is not None:
        job.rows = importer.rows
        job.progress = importer.rows
        job.rejected = importer.counts[Outcome.REJECTED]
        job.created = importer.counts[Outcome.CREATED]
        job.updated = importer.counts[Outcome.UPDATED]
        job.unchanged = importer.counts[Outcome.UNCHANGED]
    if errors is not None and errors.path is not None:
        job.error_file = str(errors.path.relative_to(import_root()))
    # A sweep that took this job for dead meanwhile (a worker stalled past the timeout) has the last word.
    if ImportJob.objects.filter(pk=job.pk, status=JobStatus.FAILED, reason__code="worker_stopped").exists():
        return ImportJob.objects.get(pk=job.pk)
    job.status, job.message, job.reason = status, message, reason
    job.finished_at = timezone.now()
    job.save()
    spool.load(job)
    return job


@contextlib.contextmanager
def immediate_foreign_keys() -> Iterator[None]:
    """On PostgreSQL the foreign keys Django makes are DEFERRABLE INITIALLY DEFERRED: the import's rows would
    queue their checks for COMMIT. Inside the import's transaction they are checked as each statement ends
    instead — the same checks, no queue to keep and replay at COMMIT, and a row whose reference is gone fails
    its own batch (retried row by row, so only that row is rejected) rather than the whole import at the end.
    The default is put back afterwards when a caller's transaction goes on (a failure rolls the import's
    savepoint back, which undoes the setting too)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    yield
    if connection.savepoint_ids and not connection.needs_rollback:  # the import runs inside a caller's transaction
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _batches(rows: Iterable[tuple[int, list[Any]]], size: int) -> Iterator[list[tuple[int, list[Any]]]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _fail(job: ImportJob, message: str) -> None:
    job.status, job.message = JobStatus.FAILED, message
    job.started_at = job.started_at or timezone.now()
    job.finished_at = timezone.now()
    job.save()


def _remove_file(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("import file %s not removed: %s", path, exc)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):,.0f}"


class StageFile:
    """Staged batches of an import (rows read, checked and prepared, not yet written), pickled one after the
    other into the job's folder, read back in order for the write and removed after it."""

    def __init__(self, path: Path):
        self.path = path
        self.file: IO[bytes] | None = open(path, "wb")  # noqa: SIM115 - closed by batches() or remove()

    def add(self, rows: list[Row]) -> None:
        assert self.file is not None
        pickle.dump(rows, self.file, protocol=pickle.HIGHEST_PROTOCOL)

    def batches(self) -> Iterator[list[Row]]:
        if self.file is not None:
            self.file.close()
            self.file = None
        with open(self.path, "rb") as fh:
            while True:
                try:
                    yield pickle.load(fh)  # the file this job just wrote, in its own folder
                except EOFError:
                    return

    def remove(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        _remove_file(self.path)


class ProgressFile:
    """Rows processed so far, for the progress page: a file, since the import's own transaction is not
    visible to other connections until it ends (and on SQLite no other connection may write meanwhile)."""

    EVERY = 0.5  # seconds between writes: the page asks every second or two; a file per batch cost 1.5 ms each

    def __init__(self, path: Path):
        self.path = path
        self.written = -self.EVERY

    def write(self, rows: int, fraction: float) -> None:
        now = time.monotonic()
        if now - self.written < self.EVERY:
            return
        self.written = now
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"rows": rows, "fraction": round(fraction, 4)}))
        os.replace(tmp, self.path)


def live_progress(job: ImportJob) -> dict[str, Any]:
    """``{"rows": n, "fraction": f}`` for a running job; the final count once it has ended."""
    if job.status == JobStatus.RUNNING:
        try:
            return json.loads((job_directory(job) / "progress.json").read_text())
        except (OSError, ValueError):
            return {"rows": 0, "fraction": 0.0}
    return {"rows": job.progress, "fraction": 1.0 if job.is_finished else 0.0}


class RowSpool:
    """Row outcomes on disk while the import runs (every rejected row, the first ``keep`` others); loaded
    into ImportRow once the import's transaction has ended — a dry run's or a rolled-back import's
    report must outlive its rollback."""

    def __init__(self, path: Path, *, keep: int):
        self.path = path
        self.keep = keep
        self.kept = 0
        self.file: IO[str] | None = None

    def add(self, row: Row, *, dry_run: bool) -> None:
        rejected = row.outcome == Outcome.REJECTED
        if not rejected:
            if self.kept >= self.keep:
                return
            self.kept += 1
        if self.file is None:
            self.file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in load()
        object_id = None if (dry_run and row.outcome == Outcome.CREATED) or rejected else row.pk
        record = {"n": row.number, "o": row.outcome, "id": object_id, "l": row.label[:255],
                  "e": row_reasons(row),
                  "c": row.changes if row.outcome == Outcome.UPDATED else {}}
        self.file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")

    def load(self, job: ImportJob) -> None:
        if self.file is None:
            return
        self.file.close()
        with open(self.path, encoding="utf-8") as fh:
            records = (json.loads(line) for line in fh)
            while chunk := list(itertools.islice(records, 2000)):
                ImportRow.objects.bulk_create([
                    ImportRow(job=job, number=r["n"], outcome=r["o"], object_id=r["id"], label=r["l"], errors=r["e"],
                              changes=r["c"]) for r in chunk
                ])
        _remove_file(self.path)


def row_reasons(row: Row) -> list[dict[str, Any]]:
    """A row's errors as stored in the report: field, message as written, and its code and parameters when it
    has them (so the report renders it in each reader's language); a rule's refusal also keeps the error
    family's code the API answers with (``permission_denied``, ``invalid``, ``not_found``)."""
    out: list[dict[str, Any]] = []
    for i, (name, message) in enumerate(row.errors):
        text = (row.texts or {}).get(i)
        code = (row.codes or {}).get(i)
        out.append({"field": name, "message": message,
                    **({"template": text["template"], "params": text.get("params") or {}} if text else {}),
                    **({"code": code} if code else {})})
    return out


class ErrorFile:
    """Rejected rows as they were read (original headers, same format) plus a reason column."""

    def __init__(self, folder: Path, file_format: str, headers: list[Any], delimiter: str, entity: str = ""):
        self.entity = entity
        self.folder = folder
        self.format = file_format
        self.headers = headers
        self.delimiter = delimiter
        chinese = any(any("\u4e00" <= ch <= "\u9fff" for ch in str(h or "")) for h in headers)
        self.reason_header = "原因" if chinese else "reason"
        self.path: Path | None = None
        self._fh: Any = None
        self._writer: Any = None
        self._book: Any = None
        self._sheet: Any = None

    def add(self, row: Row) -> None:
        # The reasons in the language of the file's headers, fields named by their label.
        with translation.override("zh-hans" if self.reason_header == "原因" else "en"):
            reason = reason_text(self.entity, row_reasons(row))
        cells = list(row.raw)
        if len(cells) < len(self.headers):
            cells += [None] * (len(self.headers) - len(cells))
        if self.format == FileFormat.XLSX:
            self._xlsx_row(cells + [reason])
        else:
            self._csv_row(cells + [reason])

    def _csv_row(self, cells: list[Any]) -> None:
        if self._writer is None:
            self.path = self.folder / "errors.csv"
            self._fh = open(self.path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed in close()
            self._writer = csv.writer(self._fh, delimiter=self.delimiter)
            self._writer.writerow([_csv_cell(h) for h in self.headers] + [self.reason_header])
        self._writer.writerow([_csv_cell(c) for c in cells])

    def _xlsx_row(self, cells: list[Any]) -> None:
        from bcrm.dataio.exporters import xlsx_cell

        if self._book is None:
            import openpyxl

            self.path = self.folder / "errors.xlsx"
            self._book = openpyxl.Workbook(write_only=True)
            self._sheet = self._book.create_sheet()
            self._sheet.append([xlsx_cell(h) for h in self.headers] + [self.reason_header])
        self._sheet.append([xlsx_cell(c) for c in cells])

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._book is not None:
            self._book.save(self.path)
            self._book = None


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    return neutralise(value) if isinstance(value, str) else value


# ------------------------------------------------------------------------------------ column mappings

def _mapping_columns(entity: str, columns: Any) -> dict[str, str]:
    if not isinstance(columns, dict) or not columns:
        raise InvalidInput(fields={"columns": [_("Give at least one “file header → field” pair.")]})
    valid = set(spec_for(entity).names)
    cleaned, errors = {}, []
    for header, field in columns.items():
        header, field = str(header).strip(), str(field or "").strip()
        if not header:
            errors.append(_("A header is empty."))
        elif field and field not in valid:
            errors.append(_("“%(field)s” is not a column of %(entity)s.") % {"field": field, "entity": entity})
        else:
            cleaned[header] = field
    if errors:
        raise InvalidInput(fields={"columns": errors})
    return cleaned


@transaction.atomic
def column_mapping_create(*, actor, name: str, entity: str, columns: dict[str, str]) -> ColumnMapping:
    entity = _entity(entity)
    require_import(actor, entity)
    name = (name or "").strip()
    if not name:
        raise InvalidInput(fields={"name": [_("The name is required.")]})
    if ColumnMapping.objects.filter(entity=entity, name=name).exists():
        raise InvalidInput(fields={"name": [_("A mapping with this name already exists for this entity.")]})
    return ColumnMapping.objects.create(name=name[:100], entity=entity, columns=_mapping_columns(entity, columns),
                                        owner=actor if getattr(actor, "pk", None) else None)


@transaction.atomic
def column_mapping_update(*, actor, mapping: ColumnMapping, columns: dict[str, str]) -> ColumnMapping:
    require(has_any(actor, EDIT_ALL) or mapping.owner_id == getattr(actor, "pk", None))
    mapping.columns = _mapping_columns(mapping.entity, columns)
    mapping.save(update_fields=["columns", "updated_at"])
    return mapping


@transaction.atomic
def column_mapping_delete(*, actor, mapping: ColumnMapping) -> None:
    require(has_any(actor, EDIT_ALL) or mapping.owner_id == getattr(actor, "pk", None))
    mapping.delete()


def column_mapping_get(pk: int) -> ColumnMapping:
    mapping = ColumnMapping.objects.filter(pk=pk).first()
    if mapping is None:
        raise NotFound()
    return mapping
