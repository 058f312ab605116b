"""Privacy requests: the only code in this app that writes.

- :func:`export_package` — subject access and portability (PIPL Art. 45, GDPR Art. 15/20): a ZIP of JSON plus
  CSVs with everything held on one contact, found through the rows linked to them and a scan of every text
  column of every table for their name, e-mail and phone.
- :func:`erase` — erasure (PIPL Art. 47, GDPR Art. 17): the same scan, rewriting what it finds; rows and ids
  stay (aggregates keep), the audit entries about the person are rewritten through signed redactions (the chain
  still verifies, :func:`bcrm.audit.trail.redact`), outbox files naming them are deleted and other text files
  in the data folder rewritten. A retention hold refuses it, saying until when.
- :func:`mail_gate` — the check every e-mail to a contact passes in the one delivery service: an active
  processing purpose for that kind of mail, consent where the purpose rests on it, no retention hold.
"""

from __future__ import annotations

import csv
import datetime as dt
import email
import email.policy
import io
import json
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.forms.models import model_to_dict
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.permissions import has_any
from bcrm.audit import trail
from bcrm.audit.models import AuditAction, AuditEntry
from bcrm.audit.services import audit_record, batch_only, is_batch
from bcrm.core.errors import InvalidInput, NotFound, PermissionDenied
from bcrm.engagement.models import Interaction, Task
from bcrm.parties.models import Contact
from bcrm.privacy.models import BUILTIN_PURPOSES, Erasure, LegalBasis, ProcessingPurpose, RetentionHold

PRIVACY_ROLES = {Role.ADMIN, Role.COMPLIANCE}
ERASED = "[erased]"
PERSONAL_FIELDS = ("full_name", "local_name", "title", "email", "phone", "comment")
# Tables the scan leaves alone: the audit trail (rewritten through signed redactions), sessions and content
# types, and the staff's accounts, sign-in records and second factors (a user who shares a client's name or
# address is not the client: erasing a contact must not lock an employee out).
SKIPPED_APPS = {"audit", "sessions", "contenttypes", "auth", "accounts", "axes", "otp_static", "otp_totp"}
MIN_NEEDLE = 2


def can_handle_requests(user) -> bool:
    return has_any(user, PRIVACY_ROLES)


def require_privacy(actor) -> None:
    """Compliance and administrators; ``None`` is the system operator (the command line without ``--as``)."""
    if actor is not None and not can_handle_requests(actor):
        raise PermissionDenied(_("Only compliance officers and administrators handle privacy requests."))


def _contact(contact_id: int) -> Contact:
    try:
        return Contact.objects.select_related("organization").get(pk=contact_id)
    except (Contact.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


# Finding the person ------------------------------------------------------------------------------------------


@dataclass
class Needles:
    """The strings that identify a person in free text, each with what replaces it on erasure."""

    contact_id: int
    pairs: list[tuple[str, str]] = field(default_factory=list)
    shared_name: bool = False  # another contact has the same name: the name is not searched for elsewhere

    @property
    def texts(self) -> list[str]:
        return [text for text, _r in self.pairs]

    def replace(self, value: Any) -> Any:
        if isinstance(value, str):
            for text, replacement in self.pairs:
                if text in value:
                    value = value.replace(text, replacement)
                elif "@" in text and text.lower() in value.lower():
                    value = _replace_casefold(value, text, replacement)
            return value
        if isinstance(value, list):
            return [self.replace(v) for v in value]
        if isinstance(value, dict):
            return {self.replace(k): self.replace(v) for k, v in value.items()}
        return value

    def found_in(self, value: Any) -> bool:
        return self.replace(value) != value


def _replace_casefold(value: str, text: str, replacement: str) -> str:
    lower, target, out, start = value.lower(), text.lower(), [], 0
    while (index := lower.find(target, start)) >= 0:
        out.append(value[start:index] + replacement)
        start = index + len(text)
    return "".join(out) + value[start:]


def needles_of(contact: Contact) -> Needles:
    found = Needles(contact.pk)
    erased_email = f"erased-{contact.pk}@erased.invalid"
    names = [n for n in (contact.full_name, contact.local_name) if n and len(n.strip()) >= MIN_NEEDLE]
    others = Contact.objects.exclude(pk=contact.pk)
    found.shared_name = any(others.filter(Q(full_name=n) | Q(local_name=n)).exists() for n in names)
    if contact.email:
        found.pairs.append((contact.email, erased_email))
    if contact.phone and len(contact.phone.strip()) >= 6:
        found.pairs.append((contact.phone.strip(), ERASED))
    if not found.shared_name:
        found.pairs.extend((n.strip(), ERASED) for n in sorted(names, key=len, reverse=True))
    return found


def _text_fields(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField | models.JSONField) and not f.primary_key]


def _scanned_models() -> Iterator[type[models.Model]]:
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed or meta.app_label in SKIPPED_APPS:
            continue
        if _text_fields(model):
            yield model


def _match_q(model: type[models.Model], needles: Needles) -> tuple[models.QuerySet, Q] | None:
    """The rows of ``model`` whose text columns contain a needle (JSON columns searched as their text, with the
    needle also in its JSON-escaped form, which SQLite stores)."""
    fields = _text_fields(model)
    queryset = model._base_manager.all()
    condition = Q()
    for f in fields:
        name = f.name if not isinstance(f, models.JSONField) else f"_privacy_{f.name}"
        if isinstance(f, models.JSONField):
            queryset = queryset.annotate(**{name: Cast(f.name, TextField())})
        for text in needles.texts:
            forms = {text, json.dumps(text)[1:-1]} if isinstance(f, models.JSONField) else {text}
            for form in forms:
                condition |= Q(**{f"{name}__icontains" if "@" in text else f"{name}__contains": form})
    if not condition:
        return None
    return queryset, condition


@dataclass
class Mention:
    model: type[models.Model]
    pk: Any
    fields: dict[str, Any]  # field name -> value holding a needle


def mentions(needles: Needles, *, skip: Iterable[type[models.Model]] = ()) -> Iterator[Mention]:
    """Every row of every table (but the skipped apps) with the person's name, e-mail or phone in a text
    column."""
    skipped = set(skip)
    for model in _scanned_models():
        if model in skipped:
            continue
        match = _match_q(model, needles)
        if match is None:
            continue
        queryset, condition = match
        names = [f.name for f in _text_fields(model)]
        for row in queryset.filter(condition).values("pk", *names).iterator(chunk_size=500):
            hits = {name: row[name] for name in names if needles.found_in(row[name])}
            if hits:
                yield Mention(model, row["pk"], hits)


def _audit_entries(contact: Contact, needles: Needles) -> list[AuditEntry]:
    from django.contrib.contenttypes.models import ContentType

    about = Q(content_type=ContentType.objects.get_for_model(Contact), object_id=str(contact.pk))
    responses = apps.get_model("engagement", "SurveyResponse")
    about |= Q(content_type=ContentType.objects.get_for_model(responses),  # their survey comments
               object_id__in=[str(pk) for pk in responses.objects.filter(contact=contact).values_list("pk", flat=True)])
    queryset = AuditEntry.objects.annotate(_privacy_changes=Cast("changes", TextField()))
    condition = Q()
    for text in needles.texts:
        op = "icontains" if "@" in text else "contains"
        for form in {text, json.dumps(text)[1:-1]}:
            condition |= Q(**{f"object_repr__{op}": form}) | Q(**{f"_privacy_changes__{op}": form}) | Q(
                **{f"actor_label__{op}": form})
    return list(queryset.filter(about | condition).order_by("id"))


# Export -------------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | dict | str | int | float | bool) or value is None:
        return value
    return str(value)


def _row(instance: models.Model, names: Iterable[str] | None = None) -> dict[str, Any]:
    data = model_to_dict(instance, fields=list(names) if names else None)
    data["id"] = instance.pk
    for f in instance._meta.concrete_fields:
        if names and f.name not in names:
            continue
        if f.name not in data or isinstance(f, models.ForeignKey):
            data[f.name] = getattr(instance, f.attname)
    for key in ("tags", "contacts"):
        if key in data:
            data[key] = [getattr(v, "pk", v) for v in data[key]]
    return {k: _plain(v) for k, v in data.items()}


def collect(contact: Contact) -> dict[str, list[dict[str, Any]]]:
    """Everything held on one contact, table by table (the export's content)."""
    interaction_model, task_model = Interaction, Task
    needles = needles_of(contact)
    if needles.shared_name:  # the export may still search for the name: it changes nothing
        needles.pairs.extend((n, ERASED) for n in (contact.full_name, contact.local_name) if n)
    data: dict[str, list[dict[str, Any]]] = {"contact": [_row(contact)]}
    data["contact"][0]["organization_name"] = contact.organization.legal_name
    interactions = []
    for item in interaction_model._default_manager.filter(contacts=contact).prefetch_related("contacts").order_by("id"):
        row = _row(item)
        row["attendees"] = "; ".join(c.full_name for c in item.contacts.all())
        interactions.append(row)
    data["interactions"] = interactions
    data["service_requests"] = [_row(r) for r in contact.service_requests.order_by("id")]
    data["survey_responses"] = [_row(r) for r in contact.survey_responses.order_by("id")]
    data["survey_invitations"] = [_row(r, ["id", "organization", "project", "language", "sent_at", "expires_at",
                                           "used_at", "response", "created_at"])
                                  for r in contact.survey_invitations.order_by("id")]
    deliveries = []
    for label in ("surveys.SurveyMail", "progress.ReportDelivery", "monitoring.ManagementReportDelivery"):
        model = apps.get_model(label)
        where = Q(email__iexact=contact.email) if contact.email else Q(pk__in=[])
        if label == "surveys.SurveyMail":
            where |= Q(invitation__contact=contact)
        elif label == "progress.ReportDelivery":
            where |= Q(contact=contact)
        for d in model.objects.filter(where).order_by("pk"):
            deliveries.append({"kind": label, **_row(d)})
    data["deliveries"] = deliveries
    data["kept_messages"] = [{**_row(k, ["id", "status", "body_text", "attachments", "size", "kept_at"]),
                              "captured_item": k.item_id, "message_id": k.item.key, "sender": k.item.sender}
                             for k in _kept_messages(contact).select_related("item").order_by("id")]
    task_ids = [m.pk for m in mentions(needles) if m.model is task_model]
    data["tasks"] = [_row(t) for t in task_model._default_manager.filter(pk__in=task_ids).order_by("id")]
    data["audit_entries"] = [{"id": e.pk, "at": e.at.isoformat(), "actor": e.actor_label, "action": e.action,
                              "object_type": e.content_type.model, "object_id": e.object_id,
                              "object": e.object_repr, "changes": _own_changes(e.changes, needles)}
                             for e in _audit_entries(contact, needles)]
    listed: set[type[models.Model]] = {interaction_model, task_model, Contact, *(apps.get_model(label) for label in (
        "engagement.ServiceRequest", "engagement.SurveyResponse", "surveys.SurveyMail", "progress.ReportDelivery",
        "monitoring.ManagementReportDelivery", "intel.KeptMessage"))}
    data["other_mentions"] = [{"table": m.model._meta.label, "id": m.pk, "field": name, "value": _plain(value)}
                              for m in mentions(needles, skip=listed) for name, value in m.fields.items()]
    return data


def _kept_messages(contact: Contact) -> models.QuerySet:
    """The kept bodies of captured mail the person is on: matched to the contact, or from or to their address."""
    model = apps.get_model("intel", "KeptMessage")
    where = Q(item__contacts=contact)
    if contact.email:
        where |= Q(item__sender__iexact=contact.email)
    return model.objects.filter(pk__in=model.objects.filter(where).values("pk"))


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    writer = csv.DictWriter(out, fieldnames=names or ["id"])
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
                         for k, v in row.items()})
    return out.getvalue()


def export_package(*, actor, contact_id: int) -> tuple[str, bytes]:
    """The ZIP of everything held on a contact (``person.json`` plus one CSV per part) and its file name;
    audited (which parts, how many rows; not the data)."""
    require_privacy(actor)
    contact = _contact(contact_id)
    data = collect(contact)
    generated = timezone.now()
    document = {"generated_at": generated.isoformat(), "contact_id": contact.pk, "format": "bcrm-privacy-export/1",
                **data}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("person.json", json.dumps(document, ensure_ascii=False, indent=2, default=str))
        for part, rows in data.items():
            archive.writestr(f"{part}.csv", _csv(rows))
        archive.writestr("README.txt", _("Personal data held by bcrm on contact #%(id)s, generated %(at)s. "
                                         "person.json holds every part; each CSV file one part.")
                         % {"id": contact.pk, "at": generated.isoformat()})
    with transaction.atomic():
        audit_record(actor=actor, action=AuditAction.PRIVACY_EXPORT, instance=contact,
                     changes={"parts": {part: len(rows) for part, rows in data.items()}})
    return f"bcrm-contact-{contact.pk}-{generated:%Y%m%d}.zip", buffer.getvalue()


# Holds and restriction -------------------------------------------------------------------------------------


def active_hold(contact_id: int, today: dt.date | None = None) -> RetentionHold | None:
    today = today or timezone.localdate()
    return RetentionHold.objects.filter(contact_id=contact_id, until__gte=today).order_by("-until").first()


def is_restricted(contact_id: int) -> bool:
    return active_hold(contact_id) is not None


def hold_place(*, actor, contact_id: int, until: dt.date, reason: str) -> RetentionHold:
    require_privacy(actor)
    contact = _contact(contact_id)
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if until is None or until < timezone.localdate():
        errors["until"] = [_("A hold runs until today or a later date.")]
    if not reason:
        errors["reason"] = [_("Say why the records must be kept.")]
    elif len(reason) > 500:
        errors["reason"] = [_("At most 500 characters.")]
    if errors:
        raise InvalidInput(fields=errors)
    with transaction.atomic():
        hold = RetentionHold.objects.create(contact=contact, until=until, reason=reason, created_by=actor)
        audit_record(actor=actor, action=AuditAction.CREATE, instance=hold,
                     changes={"contact": [None, contact.pk], "until": [None, until.isoformat()],
                              "reason": [None, reason]})
    return hold


# Erasure ----------------------------------------------------------------------------------------------------


@dataclass
class ErasureResult:
    erasure: Erasure
    rows: dict[str, int]
    audit_entries: int
    files_rewritten: list[str]
    files_deleted: list[str]
    files_left: list[str]


def _erase_contact_row(contact: Contact) -> None:
    Contact.objects.filter(pk=contact.pk).update(
        full_name=f"Erased contact {contact.pk}", local_name="", title="", email="", phone="",
        report_consent=False, consent_given_at=None)


def _own_changes(changes: Any, needles: Needles) -> Any:
    """What an entry holds about the person: an import batch's entry (many records' values) with only the
    records that name them — the others are other people's data."""
    if is_batch(changes):
        return batch_only(changes, needles.found_in)
    return changes


def _redacted_changes(changes: Any, needles: Needles) -> Any:
    if is_batch(changes):
        # An import batch's entry: in each record that names the person, their personal columns are erased
        # too (what the key-by-key rule below does to a one-record entry); the other records keep theirs.
        personal = [i for i, name in enumerate(changes["columns"]) if name in PERSONAL_FIELDS]
        if personal:
            rows = []
            for row in changes["rows"]:
                if needles.found_in(row):
                    row = [ERASED if i in personal and value else value for i, value in enumerate(row)]
                rows.append(row)
            changes = {**changes, "rows": rows}
        return needles.replace(changes)
    changes = needles.replace(changes)
    if isinstance(changes, dict):
        for name in PERSONAL_FIELDS:
            if name in changes:
                value = changes[name]
                changes[name] = [ERASED if v else v for v in value] if isinstance(value, list) else (
                    ERASED if value else value)
    return changes


def _data_files() -> Iterator[Path]:
    root = Path(settings.DATA_DIR)
    database = settings.DATABASES["default"].get("NAME")
    skip = {Path(str(database)).name} if database else set()
    backups = Path(settings.BCRM_BACKUP_DIR).resolve()
    for path in root.rglob("*"):
        if not path.is_file() or path.name.startswith(tuple(skip)) or backups in path.resolve().parents:
            continue
        if path.name.endswith((".sqlite3", ".sqlite3-wal", ".sqlite3-shm", ".sqlite3-journal")):
            continue
        yield path


def _message_text(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    parts = [str(v) for _k, v in message.items()]
    for part in message.walk():
        if part.is_multipart():
            continue
        try:
            content = part.get_content()
        except (LookupError, ValueError):
            content = part.get_payload(decode=True) or b""
        parts.append(content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content))
    return "\n".join(parts)


def erase_files(needles: Needles) -> tuple[list[str], list[str], list[str]]:
    """Outbox messages naming the person are deleted; other text files rewritten; files that name them but
    cannot be rewritten (binary) are listed. Paths relative to the data folder."""
    rewritten, deleted, left = [], [], []
    root = Path(settings.DATA_DIR)
    for path in _data_files():
        raw = path.read_bytes()
        name = str(path.relative_to(root))
        if path.suffix == ".eml":
            if needles.found_in(_message_text(raw)) or needles.found_in(raw.decode("utf-8", "replace")):
                path.unlink()
                deleted.append(name)
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            if any(t.encode() in raw for t in needles.texts):
                left.append(name)
            continue
        new = needles.replace(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            rewritten.append(name)
    return rewritten, deleted, left


def erase(*, actor, contact_id: int, reason: str) -> ErasureResult:
    """Anonymise a contact everywhere their personal data sits; refused under a retention hold."""
    require_privacy(actor)
    contact = _contact(contact_id)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(fields={"reason": [_("Say why (the request, its date).")]})
    if len(reason) > 500:
        raise InvalidInput(fields={"reason": [_("At most 500 characters.")]})
    hold = active_hold(contact.pk)
    if hold is not None:
        raise InvalidInput(
            _("A retention hold keeps this contact's records until %(until)s (%(reason)s): they cannot be erased "
              "before then. Processing is restricted meanwhile.") % {"until": hold.until.isoformat(),
                                                                     "reason": hold.reason},
            code="retention_hold")
    if Erasure.objects.filter(contact=contact).exists():
        raise InvalidInput(_("This contact was erased already."), code="already_erased")
    needles = needles_of(contact)
    reference = uuid.uuid4().hex
    rows: dict[str, int] = {}
    survey_response = apps.get_model("engagement", "SurveyResponse")
    linked = {  # rows tied to the person by a key: their free text is scrubbed even when the name is shared
        apps.get_model("engagement", "Interaction"): Q(contacts=contact),
        apps.get_model("engagement", "ServiceRequest"): Q(contact=contact),
        survey_response: Q(contact=contact),
        apps.get_model("progress", "ReportDelivery"): Q(contact=contact),
    }
    with transaction.atomic():
        # A kept message the person is on goes whole (its body may say anything about them); its headers stay,
        # scrubbed with every other mention below.
        kept, _by_model = _kept_messages(contact).delete()
        if kept:
            rows["intel.KeptMessage (deleted)"] = kept
        _erase_contact_row(contact)
        if needles.shared_name:
            full = Needles(contact.pk, [*needles.pairs, *((n, ERASED) for n in (contact.full_name,
                                                                                contact.local_name) if n)])
            for model, where in linked.items():
                for obj in model._default_manager.filter(where).distinct():
                    _rewrite(model, obj.pk, {f.name: getattr(obj, f.attname) for f in _text_fields(model)}, full,
                             rows)
        updated = survey_response.objects.filter(contact=contact).exclude(comment="").update(comment="")
        if updated:
            rows[survey_response._meta.label] = rows.get(survey_response._meta.label, 0) + updated
        for mention in list(mentions(needles, skip=[Contact])):
            _rewrite(mention.model, mention.pk, mention.fields, needles, rows)
        entries = _audit_entries(contact, needles)
        redacted = trail.redact({e.pk: {"object_repr": needles.replace(e.object_repr),
                                        "actor_label": needles.replace(e.actor_label),
                                        "changes": _redacted_changes(e.changes, needles)} for e in entries},
                                reference=reference)
        contact.refresh_from_db()
        erasure = Erasure.objects.create(contact=contact, reference=reference, reason=needles.replace(reason),
                                         at=timezone.now(), actor=actor if getattr(actor, "pk", None) else None,
                                         summary={"rows": rows, "audit_entries": redacted,
                                                  "name_shared": needles.shared_name})
        audit_record(actor=actor, action=AuditAction.PRIVACY_ERASE, instance=contact,
                     changes={"reference": reference, "reason": erasure.reason, "rows": rows,
                              "audit_entries_redacted": redacted})
    rewritten, deleted, left = erase_files(needles)
    erasure.summary = {**erasure.summary, "files_rewritten": len(rewritten), "files_deleted": len(deleted),
                       "files_left": left}
    Erasure.objects.filter(pk=erasure.pk).update(summary=erasure.summary)
    return ErasureResult(erasure, rows, redacted, rewritten, deleted, left)


def _rewrite(model: type[models.Model], pk: Any, fields: dict[str, Any], needles: Needles,
             rows: dict[str, int]) -> None:
    values = {name: needles.replace(value) for name, value in fields.items() if needles.found_in(value)}
    if values:
        model._base_manager.filter(pk=pk).update(**values)
        rows[model._meta.label] = rows.get(model._meta.label, 0) + 1


# Purposes and the mail gate --------------------------------------------------------------------------------


def _builtin(code: str) -> ProcessingPurpose:
    name, kind, basis = BUILTIN_PURPOSES[code]
    with translation.override("en"):  # a stored row keeps the English name; display_name translates it
        return ProcessingPurpose(code=code, name=str(name), mail_kind=kind, legal_basis=basis, active=True)


def purposes() -> list[ProcessingPurpose]:
    """The register: its rows, and the built-in purposes no row replaces."""
    rows = list(ProcessingPurpose.objects.order_by("code"))
    taken = {p.code for p in rows}
    rows.extend(_builtin(code) for code in BUILTIN_PURPOSES if code not in taken)
    return sorted(rows, key=lambda p: p.code)


def purpose_create(*, actor, code: str, name: str, mail_kind: str, legal_basis: str,
                   description: str = "") -> ProcessingPurpose:
    require_privacy(actor)
    purpose = ProcessingPurpose(code=(code or "").strip(), name=(name or "").strip(),
                                mail_kind=(mail_kind or "").strip(), legal_basis=legal_basis,
                                description=description or "")
    from django.core.exceptions import ValidationError

    try:
        purpose.full_clean()
    except ValidationError as exc:
        raise InvalidInput.from_django(exc) from None
    if purpose.code in BUILTIN_PURPOSES:
        raise InvalidInput(fields={"code": [_("This code is a built-in purpose; switch it on or off instead.")]})
    with transaction.atomic():
        purpose.save()
        audit_record(actor=actor, action=AuditAction.CREATE, instance=purpose,
                     changes={"code": [None, purpose.code], "mail_kind": [None, purpose.mail_kind],
                              "legal_basis": [None, purpose.legal_basis]})
    return purpose


def purpose_set_active(*, actor, code: str, active: bool) -> ProcessingPurpose:
    """Switch a purpose on or off (a built-in one gets its row in the register)."""
    require_privacy(actor)
    purpose = ProcessingPurpose.objects.filter(code=code).first()
    if purpose is None:
        if code not in BUILTIN_PURPOSES:
            raise NotFound()
        purpose = _builtin(code)
    if purpose.pk is None or purpose.active != active:
        with transaction.atomic():
            before = purpose.active
            purpose.active = active
            purpose.save()
            audit_record(actor=actor, action=AuditAction.UPDATE, instance=purpose,
                         changes={"active": [before, active]})
    return purpose


class GateCode:
    RESTRICTED = "privacy.restricted"
    NO_PURPOSE = "privacy.no_purpose"
    NO_CONSENT = "privacy.no_consent"
    ERASED = "privacy.erased"


def mail_gate(kind: str, contact_id: int) -> str | None:
    """Why this contact must not get this kind of mail (a code recorded on the delivery row), or None."""
    if is_restricted(contact_id):
        return GateCode.RESTRICTED
    if Erasure.objects.filter(contact_id=contact_id).exists():
        return GateCode.ERASED
    bases = {p.legal_basis for p in purposes() if p.mail_kind == kind and p.active}
    if not bases:
        return GateCode.NO_PURPOSE
    if bases == {LegalBasis.CONSENT} and not Contact.objects.filter(pk=contact_id, report_consent=True).exists():
        return GateCode.NO_CONSENT
    return None
