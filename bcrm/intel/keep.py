""""Keep this message": the one exception to headers only. The capturing user asks for one captured e-mail to
be kept; bcrm reads that message again at its source — the IMAP mailbox by UID (by Message-ID if the mailbox
was renumbered), or the imported mail file at the recorded byte offset — and stores its body text and the
names, types and sizes of its attachments. Attachments' content is never stored.

Memory stays bounded: at most ``BCRM_MAIL_KEEP_MAX_BYTES`` of a message are read (IMAP: a partial fetch
``BODY.PEEK[]<0.limit>`` once RFC822.SIZE says the message is larger; a file: read line by line, the rest only
counted); such a message is kept in part, with a status that says so. The body text is capped at
``BCRM_MAIL_KEEP_MAX_TEXT`` characters.

Who: only the capturing user keeps or deletes a kept message; it is read by them and by the roles that see
the interaction (its client, and its project's deal wall: even the capturing user does not read a message of
an interaction behind a wall they are outside of). Keeping and deleting are audited (``mail.keep``,
``mail.discard``: the status and sizes, never the text). Statuses are codes rendered per reader.
"""

from __future__ import annotations

import email
import imaplib
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.utils.html import strip_tags
from django.utils.translation import gettext as _

from bcrm.audit.models import AuditAction
from bcrm.audit.services import audit_record
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.engagement.selectors import interaction_list
from bcrm.financing.walls import can_see_project
from bcrm.intel.capture import item_from_headers
from bcrm.intel.crypto import decrypt
from bcrm.intel.models import CapturedItem, ItemKind, KeepStatus, KeptMessage

_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


def status_text(code: str, params: dict[str, Any] | None = None) -> str:
    """A kept message's status code in the reader's language."""
    params = params or {}
    texts = {
        "": "",
        "no_source": _("Where this message was captured from is not known (it was captured before messages could "
                       "be kept), so it cannot be read again."),
        "account_gone": _("The mailbox it was captured from is no longer connected."),
        "not_found": _("The message is no longer in the mailbox."),
        "file_gone": _("The mail file %(path)s is no longer there."),
        "file_changed": _("The mail file %(path)s no longer holds this message where it was."),
        "auth_failed": _("The mail server refused the sign-in: %(detail)s"),
        "unreachable": _("The mail server could not be reached: %(detail)s"),
        "too_large": _("The message is %(size)s bytes: only its first %(limit)s bytes were read, so the body may be "
                       "cut short and attachments after that point are not listed."),
        "text_cut": _("The body text was cut at %(limit)s characters."),
    }
    text = texts.get(code, code)
    try:
        return text % params if params else text
    except (KeyError, TypeError, ValueError):
        return text


@dataclass
class Read:
    raw: bytes
    size: int
    truncated: bool


class Unavailable(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code, self.params = code, params


# ---- reading the message again ----------------------------------------------------------------------------

def _limit() -> int:
    return max(int(settings.BCRM_MAIL_KEEP_MAX_BYTES), 1024)


def read_from_file(item: CapturedItem, locator: str) -> Read:
    """The message at ``file:<offset>:<path>``: its lines up to the next message, at most the limit kept (the
    rest only counted); it must still carry the captured item's Message-ID."""
    _kind, offset, path = locator.split(":", 2)
    where = Path(path)
    if not where.is_file():
        raise Unavailable("file_gone", path=path)
    limit, size, truncated = _limit(), 0, False
    kept: list[bytes] = []
    with where.open("rb") as fh:
        fh.seek(int(offset))
        first, after_blank = True, True
        for line in fh:
            if first and line.startswith(b"From "):  # the mbox separator is not part of the message
                first = False
                continue
            first = False
            if after_blank and line.startswith(b"From "):
                break
            after_blank = line in (b"\n", b"\r\n")
            size += len(line)
            if size <= limit:
                kept.append(line)
            else:
                truncated = True
    raw = b"".join(kept)
    try:
        same = item_from_headers(raw).key == item.key
    except ValueError:
        same = False
    if not same:
        raise Unavailable("file_changed", path=path)
    return Read(raw, size, truncated)


def read_from_imap(item: CapturedItem, locator: str) -> Read:
    """The message by UID on the item's account (or found by its Message-ID when the mailbox's UIDVALIDITY
    changed); a message larger than the limit is fetched in part (``BODY.PEEK[]<0.limit>``)."""
    from bcrm.intel.sources import _connect

    account = item.account
    if account is None:
        raise Unavailable("account_gone")
    password = decrypt(account.password_encrypted)
    if password is None:
        raise Unavailable("auth_failed", detail="the stored password cannot be decrypted")
    _kind, validity, uid = locator.split(":", 2)
    try:
        client = _connect(account, password)
    except imaplib.IMAP4.error as exc:
        raise Unavailable("auth_failed", detail=str(exc)[:200]) from None
    except (TimeoutError, OSError) as exc:
        raise Unavailable("unreachable", detail=str(exc)[:200]) from None
    try:
        typ, _data = client.select(f'"{account.folder}"', readonly=True)
        if typ != "OK":
            raise Unavailable("not_found")
        current = int(cast(bytes, (client.untagged_responses.get("UIDVALIDITY") or [b"0"])[0]))
        found = _check_uid(client, int(uid), item.key) if str(current) == validity else None
        if found is None:
            found = _search(client, item.key)
        if found is None:
            raise Unavailable("not_found")
        number, size = found
        limit = _limit()
        part = "BODY.PEEK[]" if size <= limit else f"BODY.PEEK[]<0.{limit}>"
        typ, data = client.uid("FETCH", str(number), f"({part})")
        raw = next((p[1] for p in cast(list, data) if isinstance(p, tuple)), None) if typ == "OK" else None
        if raw is None:
            raise Unavailable("not_found")
        return Read(raw, size, size > limit)
    except (imaplib.IMAP4.abort, TimeoutError, OSError) as exc:
        raise Unavailable("unreachable", detail=str(exc)[:200]) from None
    except imaplib.IMAP4.error:
        raise Unavailable("not_found") from None
    finally:
        try:
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


def _check_uid(client: imaplib.IMAP4, uid: int, key: str) -> tuple[int, int] | None:
    """(uid, size) if the message at ``uid`` is the captured one (same Message-ID, or same headers' key)."""
    typ, data = client.uid("FETCH", str(uid), "(UID RFC822.SIZE BODY.PEEK[HEADER])")
    if typ != "OK":
        return None
    for part in cast(list, data):
        if isinstance(part, tuple) and (size := _SIZE.search(part[0])):
            try:
                if item_from_headers(part[1]).key == key:
                    return uid, int(size.group(1))
            except ValueError:
                return None
    return None


def _search(client: imaplib.IMAP4, key: str) -> tuple[int, int] | None:
    if key.startswith("sha256:") or any(c in key for c in '"\\\r\n'):
        return None
    typ, data = client.uid("SEARCH", f'HEADER Message-ID "<{key}>"')
    uids = (cast(bytes, data[0]) or b"").split() if typ == "OK" and data else []
    for uid in uids:
        found = _check_uid(client, int(uid), key)
        if found is not None:
            return found
    return None


# ---- what is kept of it ---------------------------------------------------------------------------------

def parse_message(raw: bytes) -> tuple[str, list[dict[str, Any]]]:
    """The body text (plain text preferred; HTML reduced to its text) and each attachment's name, type and
    decoded size. A message cut short parses as far as it goes."""
    msg = cast(EmailMessage, email.message_from_bytes(raw, policy=policy.default))
    text = ""
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is not None:
        try:
            text = str(body.get_content())
        except (LookupError, ValueError, AssertionError):
            payload = body.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        if body.get_content_type() == "text/html":
            text = strip_tags(text)
    attachments = []
    for part in msg.walk():
        if part is body or part.is_multipart():
            continue
        name = part.get_filename()
        if not name and not part.is_attachment():
            continue
        payload = part.get_payload(decode=True)
        attachments.append({"name": str(name or "")[:255], "type": part.get_content_type(),
                            "size": len(payload) if isinstance(payload, bytes) else 0})
    return text, attachments[:200]


# ---- the doors' services ----------------------------------------------------------------------------------

def _visible_item(actor, item_id: int) -> CapturedItem:
    """The captured item if ``actor`` may read it: the capturing user, or whoever sees its interaction (client and
    deal wall); never through a wall the reader is outside of."""
    owner = getattr(actor, "pk", None)
    item = (CapturedItem.objects.select_related("interaction__project", "account").filter(pk=item_id).first()
            if owner else None)
    if item is None:
        raise NotFound()
    interaction = item.interaction
    if interaction is not None and interaction.project is not None and not can_see_project(actor, interaction.project):
        raise NotFound()
    if item.user_id == owner:
        return item
    if interaction is None or not interaction_list(actor=actor).filter(pk=interaction.pk).exists():
        raise NotFound()
    return item


def _own_item(actor, item_id: int) -> CapturedItem:
    item = _visible_item(actor, item_id)
    if item.user_id != actor.pk:  # someone else's mailbox: seen (their client), never fetched by another
        raise NotFound()
    return item


def message_keep(*, actor, item_id: int) -> KeptMessage:
    """Read the captured e-mail again at its source and keep its body and the list of its attachments (again:
    the stored copy is replaced). A message that cannot be read is recorded with its status."""
    item = _own_item(actor, item_id)
    if item.kind != ItemKind.EMAIL:
        raise InvalidInput(_("Only e-mail messages can be kept."), code="not_mail")
    values: dict[str, Any] = {"status_code": "", "status_params": {}, "body_text": "", "attachments": [],
                              "size": None}
    try:
        if item.locator.startswith("imap:"):
            read = read_from_imap(item, item.locator)
        elif item.locator.startswith("file:"):
            read = read_from_file(item, item.locator)
        else:
            raise Unavailable("no_source")
    except Unavailable as missing:
        values.update(status=KeepStatus.FAILED if missing.code in ("auth_failed", "unreachable")
                      else KeepStatus.UNAVAILABLE, status_code=missing.code, status_params=missing.params)
    else:
        text, attachments = parse_message(read.raw)
        cap = int(settings.BCRM_MAIL_KEEP_MAX_TEXT)
        values.update(status=KeepStatus.TRUNCATED if read.truncated else KeepStatus.KEPT, body_text=text[:cap],
                      attachments=attachments, size=read.size)
        if read.truncated:
            values.update(status_code="too_large", status_params={"size": read.size, "limit": _limit()})
        elif len(text) > cap:
            values.update(status_code="text_cut", status_params={"limit": cap})
    with transaction.atomic():
        kept, _created = KeptMessage.objects.update_or_create(item=item, defaults=values)
        audit_record(actor=actor, action=AuditAction.MAIL_KEEP, instance=item, changes={
            "status": kept.status, "code": kept.status_code, "size": kept.size,
            "attachments": len(kept.attachments), "text_chars": len(kept.body_text)})
    return kept


def kept_delete(*, actor, item_id: int) -> None:
    """Delete the kept copy (the captured headers stay)."""
    item = _own_item(actor, item_id)
    with transaction.atomic():
        deleted, _rows = KeptMessage.objects.filter(item=item).delete()
        if not deleted:
            raise NotFound()
        audit_record(actor=actor, action=AuditAction.MAIL_DISCARD, instance=item, changes={"deleted": True})


def kept_get(*, actor, item_id: int) -> KeptMessage:
    """The kept copy, for a reader allowed to see it."""
    item = _visible_item(actor, item_id)
    kept = KeptMessage.objects.filter(item=item).first()
    if kept is None:
        raise NotFound()
    return kept


def interaction_messages(*, actor, interaction_id: int) -> list[dict[str, Any]]:
    """The e-mails captured into an interaction the reader sees, each with its kept copy when there is one and
    whether the reader may keep it (their own mail)."""
    interaction = interaction_list(actor=actor).filter(pk=interaction_id).first()
    if interaction is None:
        raise NotFound()
    items = (CapturedItem.objects.filter(interaction=interaction).select_related("kept", "user")
             .order_by("occurred_at", "id"))
    rows = []
    for item in items:
        kept = getattr(item, "kept", None)
        rows.append({"item": item, "kept": kept, "own": item.user_id == actor.pk,
                     "can_keep": item.user_id == actor.pk and item.kind == ItemKind.EMAIL,
                     "status_text": status_text(kept.status_code, kept.status_params) if kept else ""})
    return rows
