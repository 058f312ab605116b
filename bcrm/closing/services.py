"""The rules of closing checklists: made from the sector's template, item moves (open → submitted →
satisfied, or waived with a reason by a lead), evidence files kept in the data folder, sign-off by a lead.
Every project access goes through bcrm.financing.selectors."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.permissions import can_write, has_any, require
from bcrm.audit.services import audit_record
from bcrm.closing import defaults
from bcrm.closing.models import (
    ITEM_TRANSITIONS,
    Checklist,
    ChecklistItem,
    ChecklistTemplate,
    Evidence,
    ItemStatus,
    TemplateItem,
)
from bcrm.closing.selectors import checklist_readiness
from bcrm.core.errors import Conflict, InvalidInput
from bcrm.core.services import update_instance
from bcrm.core.texts import register_shipped

register_shipped([title for sector in ("energy", "transport", "water", "other")
                  for _c, title, _d in defaults.default_items(sector)])

#: evidence files: what may be uploaded (extension → content type) and how large
EVIDENCE_TYPES = {
    ".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".txt": "text/plain", ".csv": "text/csv",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
MAGIC = {".pdf": b"%PDF", ".png": b"\x89PNG", ".jpg": b"\xff\xd8", ".jpeg": b"\xff\xd8", ".docx": b"PK\x03\x04",
         ".xlsx": b"PK\x03\x04"}


def evidence_max_bytes() -> int:
    return settings.BCRM_EVIDENCE_MAX_BYTES


def evidence_dir() -> Path:
    return Path(settings.DATA_DIR) / "closing-evidence"


def is_lead(user) -> bool:
    return has_any(user, {Role.LEAD, Role.ADMIN})


def _user(actor):
    return actor if getattr(actor, "pk", None) and getattr(actor, "is_authenticated", False) else None


def template_for_sector(sector: str) -> ChecklistTemplate:
    """The sector's template, made from bcrm's defaults the first time it is needed."""
    template = ChecklistTemplate.objects.filter(sector=sector).first()
    if template is not None:
        return template
    with transaction.atomic():
        template, created = ChecklistTemplate.objects.get_or_create(
            sector=sector, defaults={"name": f"Conditions precedent: {sector}"})
        if created:
            TemplateItem.objects.bulk_create([
                TemplateItem(template=template, position=i, category=c, title=t, days_before_close=d)
                for i, (c, t, d) in enumerate(defaults.default_items(sector))])
    return template


@transaction.atomic
def checklist_create(*, actor, project, template: ChecklistTemplate | None = None,
                     now: dt.datetime | None = None) -> Checklist:
    """The project's checklist from its sector's template; due dates count back from the expected close."""
    require(can_write(actor))
    if Checklist.objects.filter(project=project).exists():
        raise InvalidInput(_("This project has a closing checklist already."), code="checklist_exists")
    template = template or template_for_sector(project.sector)
    checklist = Checklist.objects.create(project=project, template=template, created_by=_user(actor))
    close = project.expected_close
    ChecklistItem.objects.bulk_create([
        ChecklistItem(checklist=checklist, position=t.position, category=t.category, title=t.title,
                      due_on=(close - dt.timedelta(days=t.days_before_close)) if close else None)
        for t in template.items.all()])
    audit_record(actor=actor, action="create", instance=checklist,
                 changes={"project": [None, project.pk], "template": [None, template.pk]})
    return checklist


def item_add(*, actor, checklist: Checklist, category: str, title: str, due_on: dt.date | None = None) -> ChecklistItem:
    require(can_write(actor))
    from bcrm.core.services import create_instance

    position = (checklist.items.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    return create_instance(actor=actor, instance=ChecklistItem(
        checklist=checklist, position=position, category=category, title=title, due_on=due_on))


def item_update(*, actor, item: ChecklistItem, data: dict[str, Any], expected_version: int | None = None) -> ChecklistItem:
    """Owner (team member or a contact of a client taking part), due date, title, category."""
    require(can_write(actor))
    allowed = {k: v for k, v in data.items() if k in {"owner_user", "owner_contact", "due_on", "title", "category"}}
    contact = allowed.get("owner_contact")
    if contact is not None and not item.checklist.project.participations.filter(
            organization_id=contact.organization_id).exists():
        raise InvalidInput(fields={"owner_contact": [_("The contact's organisation does not take part in the project.")]})
    return update_instance(actor=actor, instance=item, data=allowed, expected_version=expected_version)


@transaction.atomic
def item_set_status(*, actor, item: ChecklistItem, to: str, reason: str = "", expected_version: int | None = None,
                    now: dt.datetime | None = None) -> ChecklistItem:
    require(can_write(actor))
    if to not in ItemStatus.values:
        raise InvalidInput(fields={"status": [_("Unknown status %(status)r.") % {"status": to}]})
    locked = ChecklistItem.objects.select_for_update().get(pk=item.pk)
    if expected_version is not None and locked.version != expected_version:
        raise Conflict()
    if locked.checklist.signed_off_at is not None:
        raise InvalidInput(_("The checklist is signed off; nothing on it changes."), code="signed_off")
    if to not in ITEM_TRANSITIONS[locked.status]:
        raise InvalidInput(_("An item cannot move from %(from)s to %(to)s.") % {
            "from": locked.get_status_display(), "to": ItemStatus(to).label}, code="bad_transition")
    if to == ItemStatus.WAIVED or locked.status in (ItemStatus.WAIVED,):
        require(is_lead(actor), _("Only a lead or an administrator waives a condition."))
    if to == ItemStatus.WAIVED and not (reason or "").strip():
        raise InvalidInput(fields={"reason": [_("A waiver needs a reason.")]}, code="waiver_reason_missing")
    before = locked.status
    locked.status = to
    locked.waiver_reason = reason.strip() if to == ItemStatus.WAIVED else ""
    locked.status_changed_at = now or timezone.now()
    locked.status_changed_by = _user(actor)
    locked.version += 1
    locked.save()
    audit_record(actor=actor, action="update", instance=locked, changes={
        "status": [before, to], **({"waiver_reason": ["", locked.waiver_reason]} if locked.waiver_reason else {})})
    item.refresh_from_db()
    return locked


def _extension(name: str) -> str:
    return Path(name).suffix.lower()


@transaction.atomic
def evidence_upload(*, actor, item: ChecklistItem, file_name: str, content: bytes,
                    now: dt.datetime | None = None) -> Evidence:
    """Keep a file in the data folder as evidence for the item: its type by extension and first bytes, its
    size under BCRM_EVIDENCE_MAX_BYTES. Submitting an open item is a separate move."""
    require(can_write(actor))
    name = Path(file_name or "").name[:200]
    extension = _extension(name)
    if extension not in EVIDENCE_TYPES:
        raise InvalidInput(fields={"file": [_("Upload a PDF, an image, a Word or Excel file, or text (%(types)s).")
                                            % {"types": ", ".join(sorted(EVIDENCE_TYPES))}]}, code="file_type")
    if not content:
        raise InvalidInput(fields={"file": [_("The file is empty.")]}, code="file_empty")
    if len(content) > evidence_max_bytes():
        raise InvalidInput(fields={"file": [_("The file is larger than %(mb)s MB.") % {
            "mb": evidence_max_bytes() // (1024 * 1024) or 1}]}, code="file_too_large")
    magic = MAGIC.get(extension)
    if magic is not None and not content.startswith(magic):
        raise InvalidInput(fields={"file": [_("The file's content is not what its name says.")]}, code="file_type")
    if magic is None and b"\x00" in content[:4096]:
        raise InvalidInput(fields={"file": [_("The file's content is not what its name says.")]}, code="file_type")
    stored = f"{secrets.token_hex(16)}{extension}"
    folder = evidence_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / stored
    path.write_bytes(content)
    try:
        evidence = Evidence.objects.create(
            item=item, file_name=name, stored_name=stored, content_type=EVIDENCE_TYPES[extension], size=len(content),
            sha256=hashlib.sha256(content).hexdigest(), uploaded_by=_user(actor), uploaded_at=now or timezone.now())
        audit_record(actor=actor, action="create", instance=evidence,
                     changes={"item": [None, item.pk], "file_name": [None, name], "sha256": [None, evidence.sha256]})
    except Exception:
        path.unlink(missing_ok=True)  # no row, no file
        raise
    return evidence


def evidence_path(evidence: Evidence) -> Path:
    return evidence_dir() / evidence.stored_name


@transaction.atomic
def checklist_sign_off(*, actor, checklist: Checklist, today: dt.date | None = None,
                       now: dt.datetime | None = None) -> Checklist:
    require(is_lead(actor), _("Only a lead or an administrator signs a checklist off."))
    locked = Checklist.objects.select_for_update().get(pk=checklist.pk)
    if locked.signed_off_at is not None:
        raise InvalidInput(_("The checklist is signed off already."), code="signed_off")
    state = checklist_readiness(locked, today=today)
    if not state.ready:
        raise InvalidInput(_("%(n)s conditions still block close: satisfy or waive them first.") % {
            "n": len(state.blocking)}, code="not_ready")
    locked.signed_off_by = _user(actor)
    locked.signed_off_at = now or timezone.now()
    locked.version += 1
    locked.save()
    audit_record(actor=actor, action="update", instance=locked, changes={"signed_off_at": [None, str(locked.signed_off_at)]})
    checklist.refresh_from_db()
    return locked


# Templates -------------------------------------------------------------------------------------------------


def template_item_add(*, actor, template: ChecklistTemplate, category: str, title: str,
                      days_before_close: int) -> TemplateItem:
    """A condition added to the sector's template (later checklists get it; existing ones keep theirs)."""
    require(is_lead(actor), _("Only a lead or an administrator edits checklist templates."))
    from bcrm.core.services import validate_and_save

    position = (template.items.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    item = TemplateItem(template=template, position=position, category=category, title=(title or "").strip(),
                        days_before_close=days_before_close)
    validate_and_save(item)
    audit_record(actor=actor, action="create", instance=item,
                 changes={"template": [None, template.pk], "title": [None, item.title]})
    return item


def template_item_remove(*, actor, item: TemplateItem) -> None:
    require(is_lead(actor), _("Only a lead or an administrator edits checklist templates."))
    from bcrm.core.services import delete_instance

    delete_instance(actor=actor, instance=item)
