"""Sealing, signing, checking and exporting the audit trail (the hash chain of :mod:`bcrm.audit.chain`).

- :func:`seal_pending` gives each entry not yet in the chain its position and digest, in id order, under one
  lock (a PostgreSQL advisory lock; SQLite serialises writers itself). It runs after every commit that wrote
  audit entries (bounded work; the worker's schedule seals the rest) and before every check.
- :func:`checkpoint` signs the chain's end with the audit key (``settings.BCRM_AUDIT_KEY``, kept apart from the
  database) and appends the checkpoint to a file outside the database too.
- :func:`verify` walks the chain and names the first entry that is changed, deleted, inserted or out of order,
  or a checkpoint the chain no longer matches (a trail cut short, a forged signature).
- :func:`redact` rewrites the personal values of entries for an erasure and records each redaction, signed
  (the chain keeps linking over the original content digest; see :mod:`bcrm.audit.chain`).
- :func:`export` writes the entries with their positions and digests (JSON lines or CSV) for a regulator, who
  can check them with ``tools/verify_audit_export.py`` and nothing but Python.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.audit import chain
from bcrm.audit.models import AuditCheck, AuditCheckpoint, AuditDigest, AuditEntry, AuditRedaction, AuditSeal

log = logging.getLogger(__name__)

ADVISORY_LOCK = 0x6263726D_61756474 & 0x7FFFFFFFFFFFFFFF  # "bcrmaudt"
CHUNK = 5_000
# A chunk also stops once its entries' stored ``changes`` reach this many bytes (compressed size on PostgreSQL):
# an import's batch entry holds a few hundred kB, so 5,000 of them at once would be gigabytes in memory.
CHUNK_BYTES = 2_000_000
AFTER_COMMIT_LIMIT = 5_000  # a commit seals at most this many; the worker seals what is left


ENTRY = AuditEntry._meta.db_table
REDACTION_SETTING = "bcrm.audit_redaction"  # on PostgreSQL the append-only trigger lets an erasure through
SEAL = AuditSeal._meta.db_table
DIGEST = AuditDigest._meta.db_table
COLUMNS = ", ".join(f"e.{name}" for name in chain.FIELDS)
RESCAN = 100_000  # a commit's sealer looks this many ids back from the chain's end for entries committed late


def _entry(row: tuple) -> dict[str, Any]:
    """An entry read raw (no ORM: checking a million entries is mostly this) in the chain's canonical form."""
    entry = dict(zip(chain.FIELDS, row, strict=True))
    at = entry["at"]
    if isinstance(at, dt.datetime):  # SQLite gives UTC without its zone, PostgreSQL an aware time
        entry["at"] = (at.isoformat(timespec="microseconds") + "Z") if at.tzinfo is None else chain.utc_text(at)
    else:  # UTC as text: "YYYY-MM-DD HH:MM:SS[.ffffff]"
        at = at.replace(" ", "T")
        entry["at"] = (at if "." in at else at + ".000000") + "Z"
    changes = entry["changes"]
    entry["changes"] = json.loads(changes) if isinstance(changes, str | bytes) else changes
    return entry


def _entry_row(entry_id: int) -> dict[str, Any]:
    """One entry read raw, in the chain's canonical form."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {COLUMNS} FROM {ENTRY} e WHERE e.id = %s", [entry_id])
        return _entry(cursor.fetchone())


def _budgeted(sql: str, order: str) -> str:
    """``sql`` (a chunk query whose one ``e.changes`` is the entry's, ordered by ``order``) with ``changes`` left
    NULL once the running size of the chunk's ``changes`` passes :data:`CHUNK_BYTES` (the first row always has
    it): the rows are still read, their big values are not (PostgreSQL sizes a TOASTed value without reading
    it). :func:`_within_budget` then cuts the chunk there."""
    size = "pg_column_size(e.changes)" if connection.vendor == "postgresql" else "length(e.changes)"
    budgeted = f"CASE WHEN SUM({size}) OVER (ORDER BY {order}) - {size} < {CHUNK_BYTES} THEN e.changes END"
    assert sql.count("e.changes") == 1
    return sql.replace("e.changes", budgeted)


def _within_budget(rows: list[tuple], id_at: int) -> tuple[list[tuple], bool]:
    """The rows of a :func:`_budgeted` chunk up to the first whose entry's ``changes`` were left out (the last
    column), and whether the chunk was cut there."""
    for index, row in enumerate(rows):
        if row[-1] is None and row[id_at] is not None:
            return rows[:index], True
    return rows, False


def _unsealed(after_id: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` entries not yet sealed, in id order (fewer when their size says so), and whether more
    may be pending beyond them. An entry whose content digest was made as it was written (AuditDigest) comes
    as ``{"id": …, "content": digest}``: its values are not read back."""
    size = "pg_column_size(e.changes)" if connection.vendor == "postgresql" else "length(e.changes)"
    head = ", ".join(f"e.{name}" for name in chain.FIELDS if name != "changes")
    # ``changes`` only for the entries without a digest, and only while the chunk's running size of them stays
    # under CHUNK_BYTES (the first always has it): see ``_budgeted``.
    changes = (f"CASE WHEN d.content IS NULL AND SUM(CASE WHEN d.content IS NULL THEN {size} ELSE 0 END) "
               f"OVER (ORDER BY e.id) - CASE WHEN d.content IS NULL THEN {size} ELSE 0 END < {CHUNK_BYTES} "
               f"THEN e.changes END")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {head}, d.content, {changes} FROM {ENTRY} e LEFT JOIN {DIGEST} d ON d.entry_id = e.id "
            f"WHERE e.id > %s AND NOT EXISTS (SELECT 1 FROM {SEAL} s WHERE s.entry_id = e.id) ORDER BY e.id LIMIT %s",
            [after_id, limit])
        rows = cursor.fetchall()
    kept: list[dict[str, Any]] = []
    for row in rows:
        *fields, content, values = row
        if content is not None:
            kept.append({"id": row[0], "content": content})
        elif values is None:  # over the chunk's budget: the next chunk starts here
            return kept, True
        else:
            kept.append(_entry((*fields, values)))
    return kept, len(rows) == limit


def _digest_before(position: int) -> str:
    """The stored digest of the entry before ``position`` (the chain's start for the first)."""
    if position <= 1:
        return chain.GENESIS
    return AuditSeal.objects.values_list("digest", flat=True).get(position=position - 1)


def _tail() -> tuple[int, str]:
    last = AuditSeal.objects.order_by("-position").values_list("position", "digest").first()
    return last if last else (0, chain.GENESIS)


def seal_pending(*, limit: int | None = None) -> int:
    """Seal entries not yet in the chain (at most ``limit``, looking back only :data:`RESCAN` ids from the
    chain's end when limited; all of them otherwise); the number sealed."""
    sealed = 0
    after_id = 0
    if limit is not None:
        newest = AuditSeal.objects.order_by("-position").values_list("entry_id", flat=True).first()
        after_id = max(0, (newest or 0) - RESCAN)
    while limit is None or sealed < limit:
        batch = CHUNK if limit is None else min(CHUNK, limit - sealed)
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK])
                position, digest = _tail()
                pending, more = _unsealed(after_id, batch)
                rows = []
                for entry in pending:
                    position += 1
                    if "content" in entry:  # its content digest made as it was written
                        digest = chain.link(digest, content=entry["content"])
                    else:
                        digest = chain.link(digest, entry)
                    rows.append((position, entry["id"], digest))
                with connection.cursor() as cursor:
                    cursor.executemany(f"INSERT INTO {SEAL} (position, entry_id, digest) VALUES (%s, %s, %s)", rows)
        except IntegrityError:  # another sealer got there first (SQLite has no advisory lock): it did the work
            log.info("audit sealing raced with another sealer; leaving it the work")
            return sealed
        sealed += len(rows)
        if not more or not rows:
            break
        after_id = pending[-1]["id"]
    return sealed


def _seal_after_commit() -> None:
    seal_pending(limit=AFTER_COMMIT_LIMIT)


def seal_after_commit() -> None:
    """Ask for the entries just written to be sealed once the transaction commits (once per transaction)."""
    conn = transaction.get_connection()
    if conn.in_atomic_block and any(item[1] is _seal_after_commit for item in conn.run_on_commit):
        return
    transaction.on_commit(_seal_after_commit, robust=True)


def _key() -> bytes:
    return settings.BCRM_AUDIT_KEY.encode()


def checkpoint() -> AuditCheckpoint | None:
    """Seal what is pending, then sign the chain's end (None while the trail is empty)."""
    seal_pending()
    position, digest = _tail()
    if position == 0:
        return None
    at = timezone.now()
    mac = chain.checkpoint_mac(_key(), position, digest, chain.utc_text(at))
    point = AuditCheckpoint.objects.create(position=position, digest=digest, at=at, mac=mac)
    path = Path(settings.BCRM_AUDIT_CHECKPOINTS)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"position": position, "digest": digest, "at": chain.utc_text(at), "mac": mac}) + "\n")
    return point


@dataclass
class Finding:
    kind: str  # deleted | mismatch | checkpoint | signature | unsealed
    position: int | None = None
    entry_id: int | None = None

    @property
    def message(self) -> str:
        texts = {
            "deleted": _("Entry #%(entry)s at position %(position)s is missing: it was deleted."),
            "mismatch": _("Entry #%(entry)s at position %(position)s does not match the chain: it was changed, "
                          "inserted or moved."),
            "gap": _("Position %(position)s is missing from the chain: an entry and its seal were deleted."),
            "checkpoint": _("The signed checkpoint at position %(position)s no longer matches the chain: entries "
                            "were deleted or changed up to there."),
            "signature": _("The checkpoint at position %(position)s has a signature that does not verify with "
                           "the audit key."),
            "redaction": _("Entry #%(entry)s at position %(position)s was rewritten, and its redaction record does "
                           "not hold (no valid signature, or the entry changed after it)."),
        }
        return texts[self.kind] % {"entry": self.entry_id, "position": self.position}


@dataclass
class Verification:
    checked: int = 0
    first_position: int = 1
    last_position: int = 0
    checkpoints: int = 0
    sealed_now: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["findings"] = [{**asdict(f), "message": f.message} for f in self.findings]
        return data


def _chain_from(position: int) -> Iterator[list[tuple[int, int, str, dict[str, Any] | None]]]:
    """The seals from ``position`` on in chain order, in chunks, each with its entry (None if deleted)."""
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_budgeted(
                f"SELECT s.position, s.entry_id, s.digest, {COLUMNS} FROM {SEAL} s LEFT JOIN {ENTRY} e "
                f"ON e.id = s.entry_id WHERE s.position >= %s ORDER BY s.position LIMIT %s", "s.position"),
                [position, CHUNK])
            rows, _cut = _within_budget(cursor.fetchall(), 3)
            chunk = [(row[0], row[1], row[2], _entry(row[3:]) if row[3] is not None else None) for row in rows]
        if not chunk:
            return
        yield chunk
        position = chunk[-1][0] + 1


def _redactions(entry_ids: list[int] | None = None) -> dict[int, list[tuple[str, str, str, str]]]:
    """The redaction records by entry id, oldest first: (original digest, redacted digest, reference, mac)."""
    rows = AuditRedaction.objects.order_by("id")
    if entry_ids is not None:
        rows = rows.filter(entry_id__in=entry_ids)
    out: dict[int, list[tuple[str, str, str, str]]] = {}
    for entry_id, original, redacted, reference, mac in rows.values_list(
            "entry_id", "original_digest", "redacted_digest", "reference", "mac"):
        out.setdefault(entry_id, []).append((original, redacted, reference, mac))
    return out


def sealed_content(entry: dict[str, Any], records: list[tuple[str, str, str, str]] | None,
                   key: bytes) -> str | None:
    """The content digest the chain links over for ``entry``: its own, or for a redacted entry the original one
    its redaction records vouch for (None when they do not hold)."""
    current = chain.content_digest(entry)
    if not records:
        return current
    expected = records[0][0]
    for original, redacted, reference, mac in records:
        if original != expected or not hmac_ok(key, entry["id"], original, redacted, reference, mac):
            return None
        expected = redacted
    return records[0][0] if expected == current else None


def hmac_ok(key: bytes, entry_id: int, original: str, redacted: str, reference: str, mac: str) -> bool:
    return hmac.compare_digest(chain.redaction_mac(key, entry_id, original, redacted, reference), mac)


def redact(replacements: dict[int, dict[str, Any]], *, reference: str) -> int:
    """Rewrite the given fields (``object_repr``, ``actor_label``, ``changes``) of sealed entries for an erasure
    and record, signed, each entry's content digest before and after; the chain still verifies. Runs inside
    the caller's transaction (the erasure's); the number of entries rewritten."""
    allowed = {"object_repr", "actor_label", "changes"}
    seal_pending()
    key = _key()
    ids = sorted(replacements)
    if not ids:
        return 0
    now = timezone.now()
    count = 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, 'on', true)", [REDACTION_SETTING])
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {COLUMNS} FROM {ENTRY} e WHERE e.id IN ({', '.join(['%s'] * len(ids))})", ids)
            rows = {row[0]: _entry(row) for row in cursor.fetchall()}
        for entry_id in ids:
            entry = rows.get(entry_id)
            values = {k: v for k, v in replacements[entry_id].items() if k in allowed}
            if entry is None or not values:
                continue
            before = chain.content_digest(entry)
            after_entry = {**entry, **values}
            after = chain.content_digest(after_entry)
            if after == before:
                continue
            sealed = AuditSeal.objects.filter(entry_id=entry_id).exists()
            AuditEntry.objects.filter(pk=entry_id).update(**values)
            if sealed:  # an entry not yet sealed is simply sealed with its redacted content
                mac = chain.redaction_mac(key, entry_id, before, after, reference)
                AuditRedaction.objects.create(entry_id=entry_id, original_digest=before, redacted_digest=after,
                                              reference=reference, at=now, mac=mac)
            count += 1
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, 'off', true)", [REDACTION_SETTING])
    return count


def _at_text_sql() -> str:
    """The entry's time as text, so the driver does not build a datetime per row: on PostgreSQL already in
    the chain's form (:func:`chain.utc_text`), on SQLite as stored (naive UTC, finished in :func:`_raw_entry`)."""
    if connection.vendor == "postgresql":
        return "to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    return "(e.at || '')"


def _raw_chain_from(position: int) -> Iterator[list[tuple]]:
    """The seals from ``position`` on in chain order, in chunks of raw rows: position, entry id (the seal's),
    digest, then the entry's :data:`chain.FIELDS` with ``at`` as text (all None when the entry is gone)."""
    columns = ", ".join(_at_text_sql() if name == "at" else f"e.{name}" for name in chain.FIELDS)
    sql = (f"SELECT s.position, s.entry_id, s.digest, {columns} FROM {SEAL} s LEFT JOIN {ENTRY} e "
           f"ON e.id = s.entry_id WHERE s.position >= %s ORDER BY s.position LIMIT %s")
    sql = _budgeted(sql, "s.position")
    with connection.cursor() as cursor:
        while True:
            cursor.execute(sql, [position, CHUNK])
            chunk, _cut = _within_budget(cursor.fetchall(), 3)
            if not chunk:
                return
            yield chunk
            position = chunk[-1][0] + 1


def _raw_entry(row: tuple, sqlite: bool) -> dict[str, Any]:
    """A raw row of :func:`_raw_chain_from` as the entry mapping :func:`chain.canonical` takes."""
    (_p, _s, _d, entry_id, at, actor_id, actor_label, action, content_type_id, object_id, object_repr,
     changes) = row
    if sqlite:
        at = (at.replace(" ", "T", 1) if "." in at else at.replace(" ", "T", 1) + ".000000") + "Z"
    if isinstance(changes, str | bytes):
        changes = json.loads(changes)
    return {"action": action, "actor_id": actor_id, "actor_label": actor_label, "at": at, "changes": changes,
            "content_type_id": content_type_id, "id": entry_id, "object_id": object_id, "object_repr": object_repr}


def _raw_content_digest(row: tuple, sqlite: bool) -> str:
    """:func:`chain.content_digest` of a raw row (the same bytes, fewer objects)."""
    (_p, _s, _d, entry_id, at, actor_id, actor_label, action, content_type_id, object_id, object_repr,
     changes) = row
    if (action.__class__ is str and actor_label.__class__ is str and object_id.__class__ is str
            and object_repr.__class__ is str and entry_id.__class__ is int and content_type_id.__class__ is int
            and (actor_id is None or actor_id.__class__ is int)):
        # The usual row: the keys in sorted order by hand, only ``changes`` through the sorting encoder
        # (the same text as encoding the whole mapping; ``at`` is plain ASCII).
        if sqlite:
            at = (at.replace(" ", "T", 1) if "." in at else at.replace(" ", "T", 1) + ".000000") + "Z"
        if isinstance(changes, str | bytes):
            changes = json.loads(changes)
        data = _ROW % (_TEXT(action), "null" if actor_id is None else actor_id, _TEXT(actor_label), at,
                       chain.ENCODE(changes), content_type_id, entry_id, _TEXT(object_id), _TEXT(object_repr))
        return hashlib.sha256(data.encode()).hexdigest()
    return chain.content_digest(_raw_entry(row, sqlite))


_TEXT = json.encoder.encode_basestring  # a JSON string, non-ASCII kept (ensure_ascii=False)
_ROW = ('{"action":%s,"actor_id":%s,"actor_label":%s,"at":"%s","changes":%s,"content_type_id":%d,"id":%d,'
        '"object_id":%s,"object_repr":%s}')


def verify(*, since: dt.datetime | None = None, seal: bool = True) -> Verification:
    """Walk the chain (from the first entry at or after ``since``) and report the first break, and every
    checkpoint that does not hold."""
    result = Verification()
    if seal:
        result.sealed_now = seal_pending()
    start = 1
    previous = chain.GENESIS
    if since is not None:
        first = (AuditSeal.objects.filter(entry__at__gte=since).order_by("position")
                 .values_list("position", flat=True).first())
        if first is None:
            return result
        start = first
        previous = _digest_before(start)
    result.first_position = start
    expected = start
    digests: dict[int, str] = {}
    checkpoints = list(AuditCheckpoint.objects.filter(position__gte=start).values_list(
        "position", "digest", "at", "mac"))
    wanted = {cp[0] for cp in checkpoints}
    key = _key()
    redactions = _redactions()
    sqlite = connection.vendor == "sqlite"
    broken = False
    for chunk in _raw_chain_from(start):
        for row in chunk:
            position, entry_id, stored = row[0], row[1], row[2]
            if not broken:
                if position != expected:
                    result.findings.append(Finding("gap", position=expected))
                elif row[3] is None:
                    result.findings.append(Finding("deleted", position=position, entry_id=entry_id))
                elif entry_id in redactions:
                    content = sealed_content(_raw_entry(row, sqlite), redactions[entry_id], key)
                    if content is None:
                        result.findings.append(Finding("redaction", position=position, entry_id=entry_id))
                    elif chain.link(previous, content=content) != stored:
                        result.findings.append(Finding("mismatch", position=position, entry_id=entry_id))
                elif chain.link(previous, content=_raw_content_digest(row, sqlite)) != stored:
                    result.findings.append(Finding("mismatch", position=position, entry_id=entry_id))
                broken = bool(result.findings)
            previous = stored
            expected = position + 1
            if position in wanted:
                digests[position] = stored
        result.checked += len(chunk)
        result.last_position = chunk[-1][0]
    for position, digest, at, mac in checkpoints:
        result.checkpoints += 1
        if not chain.mac_matches(key, position, digest, chain.utc_text(at), mac):
            result.findings.append(Finding("signature", position=position))
        elif digests.get(position) != digest:
            result.findings.append(Finding("checkpoint", position=position))
    return result


EXPORT_COLUMNS = ("position", "digest", "content_digest", "redacted", *chain.FIELDS)


def export_rows(*, start: dt.datetime | None = None, end: dt.datetime | None = None) -> Iterator[dict[str, Any]]:
    """The sealed entries between two times, in chain order, each with its position and digest, plus
    ``previous``: the digest before the first exported entry (so an export that starts mid-chain verifies)."""
    seal_pending()
    seals = AuditSeal.objects.order_by("position")
    if start is not None:
        seals = seals.filter(entry__at__gte=start)
    if end is not None:
        seals = seals.filter(entry__at__lt=end)
    first = seals.values_list("position", flat=True).first()
    if first is None:
        return
    previous = _digest_before(first)
    key = _key()
    redactions = _redactions()
    low, high = (chain.utc_text(start) if start else None), (chain.utc_text(end) if end else None)
    for chunk in _chain_from(first):
        for position, _entry_id, digest, entry in chunk:
            inside = entry is not None and (low is None or entry["at"] >= low) and (
                high is None or entry["at"] < high)
            if inside and entry is not None:  # a deleted entry leaves a gap in the positions: verify names it
                # A redacted entry carries the original content digest its signed redaction vouches for (a
                # redaction that does not hold exports the entry's own digest: the offline check then fails).
                content = (sealed_content(entry, redactions[_entry_id], key) if _entry_id in redactions
                           else None) or chain.content_digest(entry)
                yield {"position": position, "digest": digest, "previous": previous, "content_digest": content,
                       "redacted": _entry_id in redactions, **entry}
            previous = digest


def export(path: Path, *, start: dt.datetime | None = None, end: dt.datetime | None = None,
           fmt: str = "jsonl") -> int:
    """Write the export file (``jsonl`` or ``csv``); the number of entries written."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        if fmt == "csv":
            writer = csv.DictWriter(fh, fieldnames=["previous", *EXPORT_COLUMNS])
            writer.writeheader()
            for row in export_rows(start=start, end=end):
                writer.writerow({**row, "changes": json.dumps(row["changes"], sort_keys=True, ensure_ascii=False)})
                count += 1
        else:
            for row in export_rows(start=start, end=end):
                fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
                count += 1
    return count


def scheduled_check() -> AuditCheck:
    """The worker's daily job: seal, check the whole chain, sign its end when it holds, and record the result
    (administrators see the last one; a broken chain is logged as an error)."""
    result = verify()
    if result.ok:
        checkpoint()
    else:
        for finding in result.findings:
            log.error("audit trail check failed: %s", finding.message)
    return AuditCheck.objects.create(at=timezone.now(), ok=result.ok, checked=result.checked,
                                     findings=result.as_dict()["findings"])
