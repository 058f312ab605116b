"""Which records look like the same client, and why: pure functions and NumPy, no Django.

Blocking without O(n²) comparisons: every record adds its normalised keys to a ``KeyIndex``; the
index sorts (key hash, record id) pairs once and only records that share a key are paired. A key
shared by more than ``max_block`` records (a domain used by a whole banking group, a common
name) says little about any two of them and is skipped, so the number of pairs stays bounded.

A pair's reasons are bits of a mask; its score is a noisy-or of the reasons' weights:
``1 − Π(1 − w)``, as a percentage.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from bcrm.dedupe.normalize import (
    email_domain,
    email_key,
    external_id_key,
    organization_name_key,
    organization_name_loose_key,
    person_name_key,
    phone_key,
    website_domain,
)

# Reason codes in order of strength, with weights. The order is the bit position in a mask.
ORGANIZATION_REASONS: dict[str, float] = {
    "external_id": 0.95,
    "legal_name": 0.90,
    "local_name": 0.90,
    "legal_local": 0.85,
    "contact_email": 0.80,
    "name_loose": 0.70,
    "website_domain": 0.60,
    "email_domain": 0.50,
}
CONTACT_REASONS: dict[str, float] = {
    "email": 0.90,
    "name": 0.80,
    "name_local": 0.75,
    "phone": 0.70,
}
REASONS = {"organizations": ORGANIZATION_REASONS, "contacts": CONTACT_REASONS}
# A weaker reason says nothing more once a stronger reason of the same family holds.
SUPPRESSED_BY: dict[str, tuple[str, ...]] = {
    "legal_local": ("legal_name", "local_name"),
    "name_loose": ("legal_name", "local_name", "legal_local"),
    "email_domain": ("website_domain",),
    "name_local": ("name",),
}
MIN_KEY_LENGTH = 2
DEFAULT_MAX_BLOCK = 20
# A shared domain is weak evidence, and weaker the more records share it: a banking group's domain on
# the records of its thirty branches says nothing about any two of them.
WEAK_MAX_BLOCK = 5


def bit(entity: str, code: str) -> int:
    return 1 << list(REASONS[entity]).index(code)


def mask_codes(entity: str, mask: int) -> list[str]:
    """The reason codes in ``mask``, strongest first, without those a stronger one makes redundant."""
    codes = [code for i, code in enumerate(REASONS[entity]) if mask >> i & 1]
    present = set(codes)
    return [c for c in codes if not present.intersection(SUPPRESSED_BY.get(c, ()))]


def codes_score(entity: str, codes: Iterable[str]) -> int:
    """0–99: a probability-like score, never 100 (a person decides)."""
    weights = REASONS[entity]
    miss = 1.0
    for code in codes:
        miss *= 1.0 - weights[code]
    return min(99, round(100 * (1.0 - miss)))


def mask_score(entity: str, mask: int) -> int:
    return codes_score(entity, mask_codes(entity, mask))


# ---------------------------------------------------------------------------------------------------
# Facts and reasons for one pair (used when showing a group and after a merge)


@dataclass(frozen=True)
class Reason:
    code: str
    value: str = ""  # the evidence a person can check: a domain, an e-mail address


@dataclass(frozen=True)
class OrganizationFacts:
    pk: int
    external_id: str
    legal: str
    local: str
    legal_loose: str
    local_loose: str
    website: str
    email_domains: frozenset[str]
    emails: frozenset[str]


def _name(key: str) -> str:
    return key if len(key) >= MIN_KEY_LENGTH else ""


def organization_facts(
    pk: int, *, legal_name: str, local_name: str = "", website: str = "", external_id: str | None = None,
    emails: Iterable[str] = (),
) -> OrganizationFacts:
    keys = [email_key(e) for e in emails]
    return OrganizationFacts(
        pk=pk,
        external_id=external_id_key(external_id),
        legal=_name(organization_name_key(legal_name)),
        local=_name(organization_name_key(local_name)),
        legal_loose=_name(organization_name_loose_key(legal_name)),
        local_loose=_name(organization_name_loose_key(local_name)),
        website=website_domain(website),
        email_domains=frozenset(d for d in (email_domain(k) for k in keys) if d),
        emails=frozenset(k for k in keys if k),
    )


def organization_reasons(a: OrganizationFacts, b: OrganizationFacts) -> list[Reason]:
    found: dict[str, str] = {}
    if a.external_id and a.external_id == b.external_id:
        found["external_id"] = a.external_id
    if a.legal and a.legal == b.legal:
        found["legal_name"] = ""
    if a.local and a.local == b.local:
        found["local_name"] = ""
    if (a.legal and a.legal == b.local) or (a.local and a.local == b.legal):
        found["legal_local"] = ""
    loose = ({a.legal_loose, a.local_loose} & {b.legal_loose, b.local_loose}) - {""}
    if loose:
        found["name_loose"] = ""
    emails = sorted(a.emails & b.emails)
    if emails:
        found["contact_email"] = emails[0]
    if a.website and a.website == b.website:
        found["website_domain"] = a.website
    domains = sorted(({a.website} | a.email_domains) & ({b.website} | b.email_domains) - {""})
    if domains:
        found["email_domain"] = domains[0]
    return _ordered("organizations", found)


@dataclass(frozen=True)
class ContactFacts:
    pk: int
    organization_id: int
    email: str
    phone: str
    name: str
    local: str


def contact_facts(pk: int, *, organization_id: int, full_name: str, local_name: str = "", email: str = "",
                  phone: str = "") -> ContactFacts:
    return ContactFacts(
        pk=pk, organization_id=organization_id, email=email_key(email), phone=phone_key(phone),
        name=_name(person_name_key(full_name)), local=_name(person_name_key(local_name)),
    )


def contact_reasons(a: ContactFacts, b: ContactFacts) -> list[Reason]:
    """Contacts pair only within one organisation: a contact belongs to one, and so do their meetings."""
    if a.organization_id != b.organization_id:
        return []
    found: dict[str, str] = {}
    if a.email and a.email == b.email:
        found["email"] = a.email
    if (a.name and a.name == b.name) or (a.local and a.local == b.local):
        found["name"] = ""
    if (a.name and a.name == b.local) or (a.local and a.local == b.name):
        found["name_local"] = ""
    if a.phone and a.phone == b.phone:
        found["phone"] = a.phone
    return _ordered("contacts", found)


def _ordered(entity: str, found: dict[str, str]) -> list[Reason]:
    return [Reason(code, found[code]) for code in mask_codes(entity, sum(bit(entity, c) for c in found))]


# ---------------------------------------------------------------------------------------------------
# Blocking


class KeyIndex:
    """(hash of key, record id, which field) triples, appended while streaming through the records.

    Keys are hashed to 64 bits (Python's ``hash``, stable within one process): a million records with
    a handful of keys each take a few tens of megabytes, where a dict of strings would take a gigabyte.
    """

    def __init__(self) -> None:
        self.hashes = array("q")
        self.ids = array("q")
        self.fields = array("b")

    def add(self, key: object, pk: int, field: int = 0) -> None:
        self.hashes.append(hash(key))
        self.ids.append(pk)
        self.fields.append(field)

    def __len__(self) -> int:
        return len(self.ids)

    def pairs(self, codes: np.ndarray, *, max_block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Every pair of distinct records sharing a key: (low ids, high ids, reason masks, blocks skipped).

        ``codes[field_a, field_b]`` is the reason mask for a pair matched through fields a and b.
        """
        empty = np.empty(0, dtype=np.int64)
        if len(self.ids) < 2:
            return empty, empty, empty, 0
        h = np.frombuffer(self.hashes, dtype=np.int64)
        ids = np.frombuffer(self.ids, dtype=np.int64)
        fields = np.frombuffer(self.fields, dtype=np.int8)
        order = np.lexsort((fields, ids, h))
        h, ids, fields = h[order], ids[order], fields[order]
        # Drop exact repeats (the same record adding the same key through the same field twice).
        keep = np.ones(len(h), dtype=bool)
        keep[1:] = (h[1:] != h[:-1]) | (ids[1:] != ids[:-1]) | (fields[1:] != fields[:-1])
        h, ids, fields = h[keep], ids[keep], fields[keep]
        starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
        lengths = np.diff(np.r_[starts, len(h)])

        lows: list[np.ndarray] = []
        highs: list[np.ndarray] = []
        masks: list[np.ndarray] = []
        # Blocks of two entries are nearly all of them: pair them in one vector operation.
        two = starts[lengths == 2]
        a, b = ids[two], ids[two + 1]
        distinct = a != b
        lows.append(a[distinct])
        highs.append(b[distinct])
        masks.append(codes[fields[two][distinct], fields[two + 1][distinct]])
        skipped = 0
        for start, length in zip(starts[lengths > 2].tolist(), lengths[lengths > 2].tolist(), strict=True):
            block_ids = ids[start:start + length]
            block_fields = fields[start:start + length]
            members = np.unique(block_ids)
            if len(members) < 2:
                continue
            if len(members) > max_block:
                skipped += 1
                continue
            by_id: dict[int, list[int]] = {}
            for pk, field in zip(block_ids.tolist(), block_fields.tolist(), strict=True):
                by_id.setdefault(pk, []).append(field)
            lo, hi, mk = [], [], []
            for x, y in itertools.combinations(sorted(by_id), 2):
                mask = 0
                for fx in by_id[x]:
                    for fy in by_id[y]:
                        mask |= int(codes[fx, fy])
                lo.append(x)
                hi.append(y)
                mk.append(mask)
            lows.append(np.array(lo, dtype=np.int64))
            highs.append(np.array(hi, dtype=np.int64))
            masks.append(np.array(mk, dtype=np.int64))
        return (np.concatenate(lows), np.concatenate(highs), np.concatenate(masks).astype(np.int64), skipped)


def code_table(entity: str, same: str, cross: str | None = None, fields: int = 2) -> np.ndarray:
    """The reason mask for fields (a, b): ``same`` when a == b, else ``cross`` (or ``same``)."""
    table = np.zeros((fields, fields), dtype=np.int64)
    for i in range(fields):
        for j in range(fields):
            table[i, j] = bit(entity, same if i == j or cross is None else cross)
    return table


def combine(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per pair, with the reasons of every key space it was found in OR-ed together."""
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    low = np.concatenate([p[0] for p in parts])
    high = np.concatenate([p[1] for p in parts])
    mask = np.concatenate([p[2] for p in parts])
    if not len(low):
        return low, high, mask
    order = np.lexsort((high, low))
    low, high, mask = low[order], high[order], mask[order]
    starts = np.flatnonzero(np.r_[True, (low[1:] != low[:-1]) | (high[1:] != high[:-1])])
    return low[starts], high[starts], np.bitwise_or.reduceat(mask, starts)


def drop_pairs(low: np.ndarray, high: np.ndarray, mask: np.ndarray,
               dismissed: Iterable[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dismissed = list(dismissed)
    if not dismissed or not len(low):
        return low, high, mask
    gone = np.array(dismissed, dtype=np.int64)
    keep = ~_pair_isin(low, high, gone[:, 0], gone[:, 1])
    return low[keep], high[keep], mask[keep]


def _pair_isin(low: np.ndarray, high: np.ndarray, other_low: np.ndarray, other_high: np.ndarray) -> np.ndarray:
    pairs = np.stack([low, high], axis=1)
    others = np.stack([other_low, other_high], axis=1)
    both = np.concatenate([others, pairs])
    _, inverse = np.unique(both, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return np.isin(inverse[len(others):], inverse[: len(others)])


def components(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """For each pair, the smallest record id of its connected group (union-find, path halving)."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(low.tolist(), high.tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            if ra < rb:
                parent[rb] = ra
            else:
                parent[ra] = rb
    return np.array([find(a) for a in low.tolist()], dtype=np.int64)
