"""Where captured items come from: mail files (mbox/EML), IMAP mailboxes, calendar files (.ics)."""

from __future__ import annotations

import datetime as dt
import imaplib
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.core.errors import InvalidInput
from bcrm.intel.capture import (
    HEADER_FIELDS,
    CaptureResult,
    Item,
    Malformed,
    capture,
    item_from_headers,
    split_mbox_at,
)
from bcrm.intel.crypto import decrypt
from bcrm.intel.matching import parse_addresses
from bcrm.intel.models import ConnectedAccount, ItemKind, Source, SyncStatus

FETCH_BATCH = 200
TIMEOUT = 30


def _items(blocks) -> Iterator[Item | Exception]:
    """Items from (locator, header block) pairs."""
    for locator, block in blocks:
        try:
            item = item_from_headers(block)
        except Malformed as exc:
            yield exc
        else:
            item.locator = locator
            yield item


def import_mail_file(user, path: str | Path) -> CaptureResult:
    """Capture the headers of every message in an mbox or .eml file."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(_("No such file: %(path)s") % {"path": path}, code="no_file")
    where = str(path.resolve())
    with path.open("rb") as fh:
        return capture(user, _items((f"file:{offset}:{where}", block) for offset, block in split_mbox_at(fh)),
                       source=Source.MBOX)


# ---- calendars ------------------------------------------------------------------------------------------

def _address(value) -> str:
    text = str(value or "")
    return text[7:] if text.lower().startswith("mailto:") else text


def _when(value) -> dt.datetime | None:
    if value is None:
        return None
    value = getattr(value, "dt", value)
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    if isinstance(value, dt.date):
        return timezone.make_aware(dt.datetime.combine(value, dt.time(9)))
    return None


def items_from_ics(data: bytes) -> Iterator[Item | Exception]:
    """A meeting item per event with attendees (a cancelled event, or METHOD:CANCEL, is marked cancelled)."""
    import icalendar

    try:
        calendars = icalendar.Calendar.from_ical(data, multiple=True)
    except (ValueError, IndexError, KeyError) as exc:
        yield Malformed(f"not a calendar: {exc}")
        return
    for cal in calendars:
        method_cancel = str(cal.get("METHOD", "")).upper() == "CANCEL"
        for event in cal.walk("VEVENT"):
            try:
                uid = str(event.get("UID", "")).strip()
                start = _when(event.get("DTSTART"))
                if not uid or start is None:
                    raise Malformed("event without UID or start")
                end = _when(event.get("DTEND")) or start + dt.timedelta(hours=1)
                recurrence = event.get("RECURRENCE-ID")
                if recurrence is not None:
                    instance = _when(recurrence)
                    uid = f"{uid}#{instance.isoformat() if instance else recurrence}"
                organizer = _address(event.get("ORGANIZER"))
                attendees = event.get("ATTENDEE") or []
                if not isinstance(attendees, list):
                    attendees = [attendees]
                people = parse_addresses(organizer, *[_address(a) for a in attendees])
                if not people:
                    raise Malformed("event without organiser or attendees")
                minutes = int(max((end - start).total_seconds(), 0) // 60) or 60
                yield Item(key=f"ical:{uid}"[:500], kind=ItemKind.MEETING, occurred_at=start,
                           sender=people[0][1], people=people, subject=" ".join(str(event.get("SUMMARY", "")).split())[:500],
                           cancelled=method_cancel or str(event.get("STATUS", "")).upper() == "CANCELLED",
                           minutes=min(minutes, 24 * 60))
            except (Malformed, ValueError, TypeError) as exc:
                yield exc if isinstance(exc, Malformed) else Malformed(str(exc))


def import_calendar_file(user, path: str | Path) -> CaptureResult:
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(_("No such file: %(path)s") % {"path": path}, code="no_file")
    return capture(user, items_from_ics(path.read_bytes()), source=Source.ICS)


# ---- IMAP -----------------------------------------------------------------------------------------------

_UID = re.compile(rb"UID (\d+)")


def _connect(account: ConnectedAccount, password: str) -> imaplib.IMAP4:
    if account.use_tls:
        client: imaplib.IMAP4 = imaplib.IMAP4_SSL(account.host, account.port, timeout=TIMEOUT,
                                                  ssl_context=ssl.create_default_context())
    else:
        client = imaplib.IMAP4(account.host, account.port, timeout=TIMEOUT)
    client.login(account.username, password)
    return client


def _set_status(account: ConnectedAccount, status: str, detail: str = "") -> None:
    account.status, account.status_detail = status, detail[:500]
    account.last_sync_at = timezone.now()
    ConnectedAccount.objects.filter(pk=account.pk).update(status=status, status_detail=detail[:500],
                                                          last_sync_at=account.last_sync_at)


def sync_mailbox(account: ConnectedAccount) -> CaptureResult:
    """Read the headers of the messages new since the last sync (UIDVALIDITY/UIDNEXT), a batch at a time;
    after each batch the position is saved, so an interrupted sync resumes where it stopped. Any failure
    becomes the account's status; nothing already captured is lost."""
    total = CaptureResult()
    password = decrypt(account.password_encrypted)
    if password is None:
        _set_status(account, SyncStatus.AUTH_FAILED, "The stored password cannot be decrypted (key changed).")
        return total
    started = False
    try:
        client = _connect(account, password)
        try:
            typ, data = client.select(f'"{account.folder}"', readonly=True)
            if typ != "OK":
                raise imaplib.IMAP4.error(f"cannot open folder {account.folder}")
            validity = int(cast(bytes, (client.untagged_responses.get("UIDVALIDITY") or [b"0"])[0]))
            if account.uidvalidity != validity:  # a new mailbox generation: read it again (message-ids dedupe)
                account.uidvalidity, account.next_uid = validity, 1
                ConnectedAccount.objects.filter(pk=account.pk).update(uidvalidity=validity, next_uid=1)
            typ, data = client.uid("SEARCH", f"UID {account.next_uid}:*")
            uids = sorted(int(u) for u in (cast(bytes, data[0]) or b"").split() if int(u) >= account.next_uid)
            fields = " ".join(HEADER_FIELDS).upper()
            for start in range(0, len(uids), FETCH_BATCH):
                chunk = uids[start:start + FETCH_BATCH]
                started = True
                typ, data = client.uid("FETCH", ",".join(map(str, chunk)),
                                       f"(UID BODY.PEEK[HEADER.FIELDS ({fields})])")
                if typ != "OK":
                    raise imaplib.IMAP4.error("fetch refused")
                blocks = [(f"imap:{validity}:{int(found.group(1))}", part[1]) for part in cast(list, data)
                          if isinstance(part, tuple) and (found := _UID.search(part[0]))]
                result = capture(account.user, _items(blocks), source=Source.IMAP, account=account,
                                 keep_subject=account.keep_subject)
                total.add(result)
                account.next_uid = chunk[-1] + 1
                ConnectedAccount.objects.filter(pk=account.pk).update(
                    next_uid=account.next_uid, captured_count=F("captured_count") + result.new)
        finally:
            try:
                client.logout()
            except (OSError, imaplib.IMAP4.error):
                pass
    except (TimeoutError, OSError, imaplib.IMAP4.abort) as exc:  # abort (connection lost) before error
        _set_status(account, SyncStatus.INTERRUPTED if started else SyncStatus.UNREACHABLE, str(exc))
        return total
    except imaplib.IMAP4.error as exc:
        # Refused before anything was read: the sign-in (or the folder); later: the server's error.
        _set_status(account, SyncStatus.ERROR if started else SyncStatus.AUTH_FAILED, str(exc))
        return total
    detail = _("%(new)s new, %(malformed)s malformed") % {"new": total.new, "malformed": total.malformed}
    _set_status(account, SyncStatus.OK, detail)
    return total


# ---- CalDAV ---------------------------------------------------------------------------------------------

def sync_calendar(account: ConnectedAccount) -> CaptureResult:
    """Read the events changed since the last sync of each calendar (the WebDAV sync-token per calendar,
    kept on the account after each calendar), as meeting items. A cancelled event removes the meeting its
    capture created. Failures become the account's status; nothing already captured is lost."""
    import json

    import caldav
    from caldav.lib import error as dav_error

    total = CaptureResult()
    password = decrypt(account.password_encrypted)
    if password is None:
        _set_status(account, SyncStatus.AUTH_FAILED, "The stored password cannot be decrypted (key changed).")
        return total
    scheme = "https" if account.use_tls else "http"
    started = False
    try:
        tokens: dict[str, str] = json.loads(account.sync_token or "{}")
    except ValueError:
        tokens = {}
    try:
        client = caldav.DAVClient(  # type: ignore[operator]  # the package's stubs type it as a plain object
            url=f"{scheme}://{account.host}:{account.port}/", username=account.username, password=password,
            timeout=TIMEOUT)
        calendars = client.principal().calendars()
        wanted = (account.folder or "").strip("/")
        if wanted and wanted.upper() != "INBOX":
            calendars = [c for c in calendars if wanted in str(c.url) or wanted == (c.get_display_name() or "")]
        for calendar in calendars:
            url = str(calendar.url)
            started = True
            try:
                changed = calendar.objects_by_sync_token(sync_token=tokens.get(url), load_objects=True)
            except (dav_error.ReportError, dav_error.DAVError):  # the server forgot the token: read it all
                changed = calendar.objects_by_sync_token(sync_token=None, load_objects=True)
            def events(objects=changed):
                for obj in objects:
                    data = obj.data
                    if data:
                        yield from items_from_ics(data.encode() if isinstance(data, str) else data)
            result = capture(account.user, events(), source=Source.CALDAV, account=account)
            total.add(result)
            tokens[url] = str(changed.sync_token or "")
            account.sync_token = json.dumps(tokens)[:500]
            ConnectedAccount.objects.filter(pk=account.pk).update(
                sync_token=account.sync_token, captured_count=F("captured_count") + result.new)
    except dav_error.AuthorizationError as exc:
        _set_status(account, SyncStatus.AUTH_FAILED, str(exc))
        return total
    except (dav_error.DAVError, ValueError) as exc:
        _set_status(account, SyncStatus.ERROR, str(exc))
        return total
    except Exception as exc:  # noqa: BLE001 - the HTTP library's connection errors: no common base to name
        _set_status(account, SyncStatus.INTERRUPTED if started else SyncStatus.UNREACHABLE, str(exc))
        return total
    detail = _("%(new)s new, %(malformed)s malformed") % {"new": total.new, "malformed": total.malformed}
    _set_status(account, SyncStatus.OK, detail)
    return total


def sync_account(account: ConnectedAccount) -> CaptureResult:
    return sync_calendar(account) if account.kind == "caldav" else sync_mailbox(account)
