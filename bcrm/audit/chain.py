"""The audit trail's hash chain: pure functions, no database (the offline verifier in
``tools/verify_audit_export.py`` repeats them with the standard library only).

Each sealed entry gets a position in the chain and a digest::

    content(n) = SHA-256( canonical(entry n) ) as 64 hex characters
    digest(n)  = SHA-256( digest(n-1) as 64 hex characters  ||  content(n) )

with ``digest(0)`` = 64 zeros. ``canonical`` is the entry's fields as compact JSON with sorted keys, the time in
UTC with microseconds, so the same entry gives the same bytes on SQLite, PostgreSQL and in an export. Changing,
deleting, inserting or reordering any sealed entry changes every digest from there on. A checkpoint is an
HMAC-SHA-256, with a key kept apart from the database, over a position and its digest: it proves the chain up to
that position existed as it is, so a trail cut short at its end is caught too.

The chain links over the entry's content digest rather than its bytes so that an erasure (a person's right to
be forgotten) can rewrite the personal values of an entry and still keep the chain: a *redaction* record keeps
the entry's original content digest and the digest of its redacted content, signed with the audit key
(:func:`redaction_mac`); the check then links over the recorded original digest and checks the entry against the
redacted one. A redaction forged without the key, or an entry changed after its redaction, is caught.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any

GENESIS = "0" * 64
FIELDS = ("id", "at", "actor_id", "actor_label", "action", "content_type_id", "object_id", "object_repr",
          "changes")


def utc_text(at: dt.datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("audit times are timezone-aware")
    if at.utcoffset():
        at = at.astimezone(dt.UTC)
    return at.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":")), with the encoder made once
# (json.dumps builds a new one on every call when given options; checking a million entries notices).
ENCODE = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode


# For an entry about to be written: what is not JSON becomes its text, as the writer's encoder does
# (bcrm.core.batch.AUDIT_JSON). Read back, such an entry gives the same bytes through ``canonical`` as long as
# its changes hold only text, whole numbers, booleans, nulls and lists and objects of them with text keys: a
# float may come back from the database written differently (1e16 as 10000000000000000), so a caller checks
# for floats first (see ``written_digest``).
ENCODE_WRITTEN = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode


def written_digest(entry: Mapping[str, Any]) -> str:
    """The content digest an entry will have once written (``entry`` as ``canonical`` takes it, ``changes`` as
    the writer holds them: text, whole numbers, booleans, nulls, lists; no floats, objects only with text keys)."""
    values = {name: entry[name] for name in FIELDS}
    if isinstance(values["at"], dt.datetime):
        values["at"] = utc_text(values["at"])
    return hashlib.sha256(ENCODE_WRITTEN(values).encode()).hexdigest()


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The bytes that are hashed for one entry (a mapping with :data:`FIELDS`; ``at`` a datetime or its
    :func:`utc_text`)."""
    values = {name: entry[name] for name in FIELDS}
    if isinstance(values["at"], dt.datetime):
        values["at"] = utc_text(values["at"])
    return ENCODE(values).encode()


def content_digest(entry: Mapping[str, Any]) -> str:
    """SHA-256 of the entry's canonical bytes, as 64 hex characters."""
    return hashlib.sha256(canonical(entry)).hexdigest()


def link(previous: str, entry: Mapping[str, Any] | None = None, *, content: str | None = None) -> str:
    """The digest after ``previous`` for an entry (or for its content digest ``content``, which a redacted entry
    keeps in its redaction record)."""
    if content is None:
        assert entry is not None
        content = content_digest(entry)
    return hashlib.sha256(previous.encode("ascii") + content.encode("ascii")).hexdigest()


def first_break(entries: Iterable[Mapping[str, Any]], digests: Iterable[str], previous: str = GENESIS) -> int | None:
    """The index of the first entry whose stored digest does not follow from the one before, or None."""
    for index, (entry, stored) in enumerate(zip(entries, digests, strict=True)):
        if link(previous, entry) != stored:
            return index
        previous = stored
    return None


def checkpoint_mac(key: bytes, position: int, digest: str, at: str) -> str:
    message = f"bcrm-audit-checkpoint:{position}:{digest}:{at}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def mac_matches(key: bytes, position: int, digest: str, at: str, mac: str) -> bool:
    return hmac.compare_digest(checkpoint_mac(key, position, digest, at), mac)


def redaction_mac(key: bytes, entry_id: int, original: str, redacted: str, reference: str) -> str:
    """The signature of a redaction record: which entry, its content digest before and after, and why."""
    message = f"bcrm-audit-redaction:{entry_id}:{original}:{redacted}:{reference}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
