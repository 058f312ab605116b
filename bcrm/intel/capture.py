"""Capture: message headers and calendar events become captured items, matched to contacts, rolled up into
interactions (one e-mail interaction per user, organisation and day; one meeting interaction per event).

Idempotent: an item's key (message-id, or event UID) is unique per user, so a sync or an import run twice,
or resumed after an interruption, captures nothing twice. Deduplicated against interactions already logged:
an e-mail or meeting logged by the same person for the same organisation on the same day is reused.
Only headers are read; bodies and attachments never are (unless the user keeps one message:
:mod:`bcrm.intel.keep`). Each batch leaves one audit entry (``capture``) on the interaction model naming the
ids of the interactions and captured items it created, as ranges: :func:`interaction_origin` reads it back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from bcrm.audit.models import AuditAction, AuditEntry
from bcrm.audit.services import audit_event, id_ranges, in_ranges
from bcrm.engagement.choices import InteractionKind
from bcrm.engagement.models import Interaction
from bcrm.intel.matching import Matcher, parse_addresses
from bcrm.intel.models import CapturedItem, Direction, ItemKind, ItemStatus, ReviewCandidate, ReviewStatus

HEADER_FIELDS = ("From", "To", "Cc", "Date", "Message-ID", "In-Reply-To", "Subject")
MEETING_KINDS = [InteractionKind.MEETING, InteractionKind.SENIOR_MEETING, InteractionKind.VISIT]
BATCH = 500
EMAIL_MINUTES = 5


class Malformed(ValueError):
    """An item that cannot be captured (no usable date, no sender): counted and skipped."""


@dataclass
class Item:
    key: str
    kind: str
    occurred_at: dt.datetime
    sender: str
    people: list[tuple[str, str]]  # every (name, address) on it, the sender first
    subject: str = ""
    in_reply_to: str = ""
    cancelled: bool = False
    minutes: int = EMAIL_MINUTES
    locator: str = ""  # where the whole message can be read again (see CapturedItem.locator)


@dataclass
class CaptureResult:
    new: int = 0
    duplicates: int = 0
    matched: int = 0
    internal: int = 0
    unmatched: int = 0
    excluded: int = 0
    cancelled: int = 0
    malformed: int = 0
    suggested: int = 0
    interactions: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: CaptureResult) -> None:
        for name in ("new", "duplicates", "matched", "internal", "unmatched", "excluded", "cancelled", "malformed",
                     "suggested", "interactions"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors[: max(0, 20 - len(self.errors))]

    def as_dict(self) -> dict:
        return dict(self.__dict__.items())


def _clean(value: object, limit: int = 500) -> str:
    return " ".join(str(value or "").split())[:limit]


def item_from_headers(raw: bytes) -> Item:
    """An e-mail item from a message's header block (bytes up to the first blank line, or the whole message:
    only the headers are parsed)."""
    msg = BytesHeaderParser().parsebytes(raw)
    people = parse_addresses(_clean(msg.get("From", ""), 2000))
    if not people:
        raise Malformed("no sender")
    sender = people[0][1]
    people += parse_addresses(_clean(msg.get("To", ""), 20000), _clean(msg.get("Cc", ""), 20000))
    try:
        when = parsedate_to_datetime(str(msg.get("Date", "")))
    except (TypeError, ValueError, IndexError):
        raise Malformed("no date") from None
    if when is None:
        raise Malformed("no date")
    if timezone.is_naive(when):
        when = timezone.make_aware(when, dt.UTC)
    key = _clean(msg.get("Message-ID", "")).strip("<>")
    if not key:  # no message-id: the same headers always give the same key
        digest = hashlib.sha256(f"{sender}|{when.isoformat()}|{msg.get('Subject', '')}".encode()).hexdigest()
        key = f"sha256:{digest}"
    return Item(key=key[:500], kind=ItemKind.EMAIL, occurred_at=when, sender=sender, people=people,
                subject=_clean(msg.get("Subject", "")), in_reply_to=_clean(msg.get("In-Reply-To", "")).strip("<>"))


def split_mbox(stream: Iterable[bytes]) -> Iterator[bytes]:
    """Each message's header block from an mbox (or the one message of an .eml) file, read line by line: a
    message's body, however large, is skipped, never held in memory."""
    for _offset, header in split_mbox_at(stream):
        yield header


def split_mbox_at(stream: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """As :func:`split_mbox`, with the byte offset where each message starts (its "From " line, or 0)."""
    header: list[bytes] = []
    in_header = True
    after_blank = True  # a "From " line separates messages only at the start or after a blank line
    position = start = 0
    for line in stream:
        if after_blank and line.startswith(b"From "):
            if header:
                yield start, b"".join(header)
            header, in_header, after_blank, start = [], True, False, position
            position += len(line)
            continue
        position += len(line)
        blank = line in (b"\n", b"\r\n")
        if in_header:
            if blank:
                in_header = False
            else:
                header.append(line)
        after_blank = blank
    if header:
        yield start, b"".join(header)


def capture(user, items: Iterable[Item | Exception], *, source: str, account=None,
            keep_subject: bool = True, matcher: Matcher | None = None) -> CaptureResult:
    """Capture ``items`` (an exception in the stream counts as a malformed item) for ``user``, in batches,
    each batch in its own transaction: an interruption keeps every batch already captured."""
    matcher = matcher or Matcher(user)
    total = CaptureResult()
    batch: list[Item] = []
    for item in items:
        if isinstance(item, Exception):
            total.malformed += 1
            if len(total.errors) < 20:
                total.errors.append(str(item))
            continue
        batch.append(item)
        if len(batch) >= BATCH:
            total.add(_capture_batch(user, batch, matcher, source, account, keep_subject))
            batch = []
    if batch:
        total.add(_capture_batch(user, batch, matcher, source, account, keep_subject))
    return total


def _group(kind: str) -> str:
    return ItemKind.EMAIL if kind in (ItemKind.EMAIL, InteractionKind.EMAIL) else ItemKind.MEETING


def _existing_interactions(user, keys: set[tuple[int, str, dt.date]]) -> dict[tuple, Interaction | None]:
    """The interaction already there for each (organisation, e-mail or meeting, local day): one query a batch,
    reading four columns (the rows only stand for their id: a capture links to them, it never changes them)."""
    found: dict[tuple, Interaction | None] = dict.fromkeys(keys)
    if not keys:
        return found
    days = [k[2] for k in keys]
    start = timezone.make_aware(dt.datetime.combine(min(days), dt.time()))
    end = timezone.make_aware(dt.datetime.combine(max(days) + dt.timedelta(days=1), dt.time()))
    rows = (Interaction.objects.filter(owner=user, organization_id__in={k[0] for k in keys},
                                       kind__in=[InteractionKind.EMAIL, *MEETING_KINDS],
                                       occurred_at__gte=start, occurred_at__lt=end)
            .order_by("id").values_list("pk", "organization_id", "kind", "occurred_at"))
    for pk, organization_id, kind, occurred_at in rows:
        key = (organization_id, _group(kind), timezone.localtime(occurred_at).date())
        if key in found and found[key] is None:
            found[key] = Interaction(pk=pk, organization_id=organization_id, kind=kind, occurred_at=occurred_at)
    return found


@transaction.atomic
def _capture_batch(user, batch: list[Item], matcher: Matcher, source: str, account,
                   keep_subject: bool) -> CaptureResult:
    result = CaptureResult()
    existing = dict(CapturedItem.objects.filter(user=user, key__in=[i.key for i in batch])
                    .values_list("key", "pk"))
    matches = {item.key: matcher.match(item.people) for item in batch
                if item.key not in existing and not item.cancelled}
    found = _existing_interactions(user, {
        (m.organization_id, _group(item.kind), timezone.localtime(item.occurred_at).date())
        for item in batch if (m := matches.get(item.key)) is not None and m.contacts and m.organization_id})
    new_interactions: list[Interaction] = []
    suggestions: dict[str, list] = {}
    seen: set[str] = set()
    created_items: list[tuple[CapturedItem, list[int]]] = []
    present: dict[int, tuple[Interaction, set[int]]] = {}  # interaction → contacts present, added once a batch
    for item in batch:
        if item.key in seen:
            result.duplicates += 1
            continue
        seen.add(item.key)
        if item.key in existing:
            if item.cancelled:
                result.cancelled += _cancel(existing[item.key], user)
            else:
                result.duplicates += 1
            continue
        match = matches.get(item.key) or matcher.match(item.people)
        sender_internal = matcher.is_internal(item.sender)
        direction = (Direction.BOTH if item.kind == ItemKind.MEETING
                     else Direction.OUT if sender_internal else Direction.IN)
        if item.cancelled:
            status = ItemStatus.CANCELLED
        elif not match.external:
            status = (ItemStatus.EXCLUDED if match.excluded
                      else ItemStatus.INTERNAL if match.internal else ItemStatus.UNMATCHED)
        elif match.contacts:
            status = ItemStatus.MATCHED
        else:
            status = ItemStatus.UNMATCHED
        for address, name, org in match.unknown_at_known_domain:
            if not item.cancelled:
                entry = suggestions.setdefault(address, [name, org, 0, item.occurred_at])
                entry[2] += 1
                entry[3] = max(entry[3], item.occurred_at)
        interaction, created = None, False
        if status == ItemStatus.MATCHED and match.organization_id:
            local_day = timezone.localtime(item.occurred_at).date()
            key = (match.organization_id, _group(item.kind), local_day)
            interaction = found.get(key)
            if interaction is None:
                subject = item.subject if keep_subject else ""
                interaction = Interaction(
                    organization_id=match.organization_id, owner=user, occurred_at=item.occurred_at,
                    kind=InteractionKind.EMAIL if item.kind == ItemKind.EMAIL else InteractionKind.MEETING,
                    minutes_spent=min(item.minutes, 24 * 60), summary=subject or "—")
                found[key] = interaction
                new_interactions.append(interaction)
                result.interactions += 1
                created = True
            present.setdefault(id(interaction), (interaction, set()))[1].update(match.contacts)
        created_items.append((CapturedItem(
            user=user, account=account, source=source, kind=item.kind, key=item.key,
            in_reply_to=item.in_reply_to[:500], occurred_at=item.occurred_at, sender=item.sender,
            recipients=[a for _, a in item.people[1:]][:200], subject=item.subject if keep_subject else "",
            direction=direction, status=status, organization_id=match.organization_id,
            interaction=interaction, created_interaction=created, locator=item.locator[:1100]),
            match.contacts if status == ItemStatus.MATCHED else []))
        result.new += 1
        setattr(result, str(status), getattr(result, str(status)) + 1)
    Interaction.objects.bulk_create(new_interactions)
    # The contacts present, new and already-there interactions alike, in one insert (a link already there is
    # skipped by the table's unique constraint).
    links = Interaction.contacts.through
    links.objects.bulk_create([links(interaction_id=i.pk, contact_id=c)
                               for i, contacts in present.values() for c in contacts], ignore_conflicts=True)
    result.suggested += _suggest_many(suggestions)
    CapturedItem.objects.bulk_create([captured for captured, _ in created_items])
    through = CapturedItem.contacts.through
    through.objects.bulk_create([through(captureditem_id=captured.pk, contact_id=c)
                                 for captured, contacts in created_items for c in contacts])
    _audit_batch(user, source, account, [c.pk for c, _ in created_items], [i.pk for i in new_interactions])
    return result


def _audit_batch(user, source: str, account, item_ids: list[int], interaction_ids: list[int]) -> None:
    """One audit entry for a batch (in its transaction): the ids of the items and interactions it created, as
    ranges; the actor is the user whose mail or calendar it is."""
    if not item_ids:
        return
    interactions = id_ranges(interaction_ids)
    changes: dict = {"source": str(source), "account": getattr(account, "pk", None), "items": len(item_ids),
                     "item_ranges": id_ranges(item_ids), "interactions": len(interaction_ids),
                     "ranges": interactions}  # the entry's object is the interaction model: "ranges" are its ids
    if interactions:
        changes.update(first_id=interactions[0][0], last_id=interactions[-1][1])
    audit_event(actor=user, action=AuditAction.CAPTURE, model=Interaction,
                object_repr=f"{source}: {len(interaction_ids)} interactions, {len(item_ids)} items", changes=changes)


def interaction_origin(interaction_id: int) -> AuditEntry | None:
    """The audit entry of the capture batch that created the interaction, or None (logged by hand, imported,
    or captured into an interaction that was already there)."""
    candidates = AuditEntry.objects.filter(action=AuditAction.CAPTURE, changes__first_id__lte=interaction_id,
                                           changes__last_id__gte=interaction_id).order_by("-id")
    for entry in candidates:
        if in_ranges(interaction_id, entry.changes.get("ranges", [])):
            return entry
    return None


def _cancel(item_pk: int, user) -> int:
    """A meeting cancelled after it was captured: its interaction goes if the capture created it (audited as a
    deletion by the mailbox's user, naming the captured item that cancelled it)."""
    item = CapturedItem.objects.select_for_update().get(pk=item_pk)
    if item.status == ItemStatus.CANCELLED:
        return 0
    if item.created_interaction and item.interaction_id:
        others = CapturedItem.objects.filter(interaction_id=item.interaction_id).exclude(pk=item.pk).exists()
        gone = None if others else Interaction.objects.filter(pk=item.interaction_id).first()
        if gone is not None:
            audit_event(actor=user, action=AuditAction.DELETE, model=Interaction, object_id=gone.pk,
                        object_repr=str(gone)[:255],
                        changes={"cancelled": True, "captured_item": item.pk, "source": item.key[:80]})
            gone.delete()
    CapturedItem.objects.filter(pk=item.pk).update(status=ItemStatus.CANCELLED, interaction=None,
                                                   created_interaction=False)
    return 1


def _suggest_many(suggestions: dict[str, list]) -> int:
    """Count the sightings of unknown addresses at known domains; offer the new ones for review."""
    if not suggestions:
        return 0
    known = set(ReviewCandidate.objects.filter(address__in=list(suggestions)).values_list("address", flat=True))
    for address in known:
        _name, _org, count, when = suggestions[address]
        ReviewCandidate.objects.filter(address=address).update(seen_count=F("seen_count") + count, last_seen_at=when)
    new = [ReviewCandidate(address=address, display_name=name[:200], organization_id=org, seen_count=count,
                           last_seen_at=when, status=ReviewStatus.PENDING)
           for address, (name, org, count, when) in suggestions.items() if address not in known]
    ReviewCandidate.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)
