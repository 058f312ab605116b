"""The audit and backup state for administrators and compliance: the last check of the audit trail, its
signed checkpoints, the backups in ``BCRM_BACKUP_DIR`` with the result of checking each, and the two actions
(check the trail now; take a backup now). The page ``/audit/`` and ``/api/v1/audit/…``, ``/api/v1/backups``
are doors onto these functions, which check who may."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.permissions import has_any, require
from bcrm.audit import trail
from bcrm.audit.models import AuditAction, AuditCheck, AuditCheckpoint, AuditEntry
from bcrm.audit.selectors import ranged_entry_ids
from bcrm.audit.services import audit_event, batch_only, is_batch
from bcrm.backup import archive
from bcrm.core.errors import Conflict, InvalidInput, ServiceError

log = logging.getLogger(__name__)

VIEW_ROLES = {Role.ADMIN, Role.COMPLIANCE}
CHECKS_FILE = ".checks.json"  # in the backup folder: each archive's last check (checking one unpacks it)


class BackupFailed(ServiceError):
    status = 500
    code = "backup_failed"


def can_view_audit(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and has_any(user, VIEW_ROLES)


def can_take_backup(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and has_any(user, {Role.ADMIN})


@dataclass
class BackupFile:
    name: str
    size: int
    modified: dt.datetime
    checked_at: str | None
    ok: bool | None
    problem: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "modified": self.modified, "checked_at": self.checked_at,
                "ok": self.ok, "problem": self.problem}


def _checks(folder: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((folder / CHECKS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _record_check(folder: Path, name: str, ok: bool, problem: str = "") -> None:
    checks = {k: v for k, v in _checks(folder).items() if (folder / k).exists()}  # forget pruned archives
    checks[name] = {"ok": ok, "at": timezone.now().isoformat(), "problem": problem}
    target = folder / CHECKS_FILE
    partial = target.with_name(target.name + ".partial")
    partial.write_text(json.dumps(checks, indent=1, sort_keys=True))
    partial.replace(target)


def backup_check(name: str) -> tuple[bool, str]:
    """Check one archive in the backup folder (every checksum) and remember the result."""
    folder = archive.backup_folder()
    path = folder / Path(name).name
    if not path.is_file():
        raise InvalidInput(fields={"name": [_("No backup named %(name)s.") % {"name": name}]})
    try:
        archive.check(path)
    except archive.BackupError as exc:
        _record_check(folder, path.name, False, str(exc))
        return False, str(exc)
    _record_check(folder, path.name, True)
    return True, ""


def backups_list(*, actor) -> list[BackupFile]:
    """The archives in the backup folder, newest first, each with its last check (None: never checked)."""
    require(can_view_audit(actor))
    folder = Path(settings.BCRM_BACKUP_DIR)
    if not folder.is_dir():
        return []
    checks = _checks(folder)
    found = []
    for path in folder.glob("*.tar.gz"):
        if not path.is_file():
            continue
        stat = path.stat()
        check = checks.get(path.name, {})
        found.append(BackupFile(name=path.name, size=stat.st_size,
                                modified=dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC),
                                checked_at=check.get("at"), ok=check.get("ok"), problem=check.get("problem", "")))
    return sorted(found, key=lambda b: b.modified, reverse=True)


def audit_status(*, actor, checkpoints: int = 5) -> dict[str, Any]:
    """The last scheduled (or on-demand) check, the newest signed checkpoints, the trail's length."""
    require(can_view_audit(actor))
    return {
        "last_check": AuditCheck.objects.order_by("-at", "-id").first(),
        "checkpoints": list(AuditCheckpoint.objects.order_by("-position", "-id")[:checkpoints]),
        "entries": AuditEntry.objects.count(),
    }


def audit_check_now(*, actor) -> AuditCheck:
    """Seal, check the whole chain, sign its end when it holds; recorded like the daily check."""
    require(can_view_audit(actor))
    return trail.scheduled_check()


def backup_now(*, actor) -> BackupFile:
    """Take a backup into the backup folder now (as the worker does, keeping the newest few), check it,
    and audit who took it."""
    require(can_take_backup(actor))
    try:
        path = archive.scheduled_backup(now=timezone.now().astimezone(dt.UTC))
    except archive.InsideTransaction as exc:
        raise Conflict(str(exc), code="backup_in_transaction") from exc
    except (archive.BackupError, OSError) as exc:
        log.exception("backup on demand failed")
        raise BackupFailed(_("The backup failed: %(error)s") % {"error": exc}) from exc
    ok, problem = backup_check(path.name)
    audit_event(actor=actor, action=AuditAction.BACKUP, model=get_user_model(), object_id=actor.pk,
                object_repr=str(actor), changes={"file": path.name, "size": path.stat().st_size, "checked": ok})
    return next(b for b in backups_list(actor=actor) if b.name == path.name)


def _moment(value: str | dt.datetime | dt.date | None, name: str) -> dt.datetime | None:
    """A date (midnight, local time) or a time with its offset; text in ISO 8601."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value) if len(value) == 10 else dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(fields={name: [_("Give a date (2026-12-01) or a time with its offset "
                                                "(2026-12-01T08:00+08:00).")]}) from None
    if not isinstance(value, dt.datetime):
        return timezone.make_aware(dt.datetime.combine(value, dt.time()))
    if timezone.is_naive(value):
        raise InvalidInput(fields={name: [_("Give the time with its offset.")]})
    return value


def _ranged_entries(types, object_id: str) -> list[int]:
    """The entries about many rows at once (a capture's or an import's batch) that cover ``object_id``."""
    return ranged_entry_ids(types, object_id)


def object_changes(changes: Any, obj: str = "") -> Any:
    """An entry's changes as listed under the object filter ``obj``: an import batch's entry (many records'
    values) narrowed to the record the filter names, so the list shows that record's creation and its values."""
    _kind, _sep, object_id = obj.partition(":")
    if object_id.isdigit() and is_batch(changes):
        wanted = int(object_id)
        return batch_only(changes, lambda row: bool(row) and row[0] == wanted)
    return changes


def audit_entries(*, actor, obj: str = "", user: str = "", start: str | dt.datetime | dt.date | None = None,
                  end: str | dt.datetime | dt.date | None = None) -> QuerySet[AuditEntry]:
    """Audit entries, newest first, filtered by object (``model:id``, ``app.model:id`` or just ``model``),
    by actor (username or id) and by time (``start`` inclusive, ``end`` exclusive)."""
    from django.contrib.contenttypes.models import ContentType

    require(can_view_audit(actor))
    entries = AuditEntry.objects.select_related("content_type").order_by("-at", "-id")
    if obj:
        kind, _sep, object_id = obj.partition(":")
        app, _dot, model = kind.rpartition(".")
        types = ContentType.objects.filter(model=model.lower())
        if app:
            types = types.filter(app_label=app.lower())
        if not model or not types.exists():
            raise InvalidInput(fields={"object": [_("Name the object as model:id, e.g. organization:12.")]})
        entries = entries.filter(content_type__in=types)
        if object_id:
            entries = entries.filter(Q(object_id=object_id) | Q(pk__in=_ranged_entries(types, object_id)))
    if user:
        entries = entries.filter(actor_id=int(user)) if user.isdigit() else entries.filter(actor_label=user)
    since, until = _moment(start, "from"), _moment(end, "to")
    if since is not None and until is not None and until <= since:
        raise InvalidInput(fields={"to": [_("The end must be after the start.")]})
    if since is not None:
        entries = entries.filter(at__gte=since)
    if until is not None:
        entries = entries.filter(at__lt=until)
    return entries
