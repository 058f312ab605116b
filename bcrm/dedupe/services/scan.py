"""Duplicate scan: candidate pairs for every record of an entity (one streaming pass building key indexes, see
matching.py; no O(n²) comparison), stored in bulk in place of the previous ones."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import can_delete, require
from bcrm.dedupe import selectors
from bcrm.dedupe.matching import (
    DEFAULT_MAX_BLOCK,
    MIN_KEY_LENGTH,
    WEAK_MAX_BLOCK,
    KeyIndex,
    bit,
    code_table,
    codes_score,
    combine,
    components,
    drop_pairs,
    mask_codes,
)
from bcrm.dedupe.models import (
    DuplicateCandidate,
    DuplicateDismissal,
    DuplicateGroup,
    DuplicateScan,
    Entity,
    ScanStatus,
)
from bcrm.dedupe.normalize import (
    company_domain,
    email_key,
    external_id_key,
    organization_name_keys,
    person_name_key,
    phone_key,
    website_domain,
)
from bcrm.parties.models import Contact, Organization

WRITE_BATCH = 5000
READ_CHUNK = 10_000
SCAN_ABANDONED = dt.timedelta(hours=2)


def _organization_pairs(max_block: int, progress: Callable[[str], None] | None):
    e = Entity.ORGANIZATIONS
    names, loose, external, domains, emails = KeyIndex(), KeyIndex(), KeyIndex(), KeyIndex(), KeyIndex()
    websites: dict[str, str] = {}  # a million clients have far fewer distinct websites and mail hosts
    hosts: dict[str, str] = {}
    records = 0
    rows = Organization.objects.order_by().values_list("pk", "legal_name", "local_name", "website", "external_id")
    for pk, legal, local, website, ext in rows.iterator(chunk_size=READ_CHUNK):
        records += 1
        for field_no, name in ((0, legal), (1, local)):
            if name:
                strict, relaxed = organization_name_keys(name)
                if len(strict) >= MIN_KEY_LENGTH:
                    names.add(strict, pk, field_no)
                if len(relaxed) >= MIN_KEY_LENGTH:
                    loose.add(relaxed, pk)
        if ext:
            key = external_id_key(ext)
            if key:
                external.add(key, pk)
        if website:
            domain = websites.get(website)
            if domain is None:
                domain = websites[website] = website_domain(website)
            if domain:
                domains.add(domain, pk, 0)
    if progress:
        progress(f"{records:,} organisations read")
    contacts = Contact.objects.order_by().exclude(email="").values_list("organization_id", "email")
    for org_id, email in contacts.iterator(chunk_size=READ_CHUNK):
        key = email_key(email)
        if key:
            emails.add(key, org_id)
            host = key.rpartition("@")[2]
            domain = hosts.get(host)
            if domain is None:
                domain = hosts[host] = company_domain(host)
            if domain:
                domains.add(domain, org_id, 1)
    if progress:
        progress("contact e-mail addresses read")
    name_codes = np.array([[bit(e, "legal_name"), bit(e, "legal_local")],
                           [bit(e, "legal_local"), bit(e, "local_name")]], dtype=np.int64)
    domain_codes = np.array([[bit(e, "website_domain"), bit(e, "email_domain")],
                             [bit(e, "email_domain"), bit(e, "email_domain")]], dtype=np.int64)
    spaces = [
        (names, name_codes, max_block), (loose, code_table(e, "name_loose", fields=1), max_block),
        (external, code_table(e, "external_id", fields=1), max_block),
        (domains, domain_codes, min(max_block, WEAK_MAX_BLOCK)),
        (emails, code_table(e, "contact_email", fields=1), max_block),
    ]
    return records, spaces


def _contact_pairs(max_block: int, progress: Callable[[str], None] | None):
    e = Entity.CONTACTS
    names, emails, phones = KeyIndex(), KeyIndex(), KeyIndex()
    records = 0
    rows = Contact.objects.order_by().values_list("pk", "organization_id", "full_name", "local_name", "email", "phone")
    for pk, org_id, full, local, email, phone in rows.iterator(chunk_size=READ_CHUNK):
        records += 1
        for field_no, name in ((0, full), (1, local)):
            if name:
                key = person_name_key(name)
                if len(key) >= MIN_KEY_LENGTH:
                    names.add((org_id, key), pk, field_no)
        if email:
            key = email_key(email)
            if key:
                emails.add((org_id, key), pk)
        if phone:
            key = phone_key(phone)
            if key:
                phones.add((org_id, key), pk)
    if progress:
        progress(f"{records:,} contacts read")
    spaces = [
        (names, code_table(e, "name", "name_local"), max_block),
        (emails, code_table(e, "email", fields=1), max_block),
        (phones, code_table(e, "phone", fields=1), max_block),
    ]
    return records, spaces


def find_pairs(entity: str, *, max_block: int = DEFAULT_MAX_BLOCK, progress: Callable[[str], None] | None = None):
    """All candidate pairs of ``entity`` now: (records read, low ids, high ids, scores, reason masks, skipped)."""
    reader = _organization_pairs if entity == Entity.ORGANIZATIONS else _contact_pairs
    records, spaces = reader(max_block, progress)
    parts, skipped = [], 0
    for index, codes, limit in spaces:
        low, high, mask, n_skipped = index.pairs(codes, max_block=limit)
        parts.append((low, high, mask))
        skipped += n_skipped
    low, high, mask = combine(parts)
    if progress:
        progress(f"{len(low):,} candidate pairs")
    dismissed = DuplicateDismissal.objects.filter(entity=entity).values_list("low_id", "high_id")
    low, high, mask = drop_pairs(low, high, mask, dismissed)
    masks, inverse = np.unique(mask, return_inverse=True)
    scores = np.array([codes_score(entity, mask_codes(entity, int(m))) for m in masks], dtype=np.int64)
    return records, low, high, scores[inverse.reshape(-1)], mask, skipped


def duplicate_scan(*, entity: str, max_block: int = DEFAULT_MAX_BLOCK, scan: DuplicateScan | None = None,
                   progress: Callable[[str], None] | None = None) -> DuplicateScan:
    """Find the candidates of ``entity`` afresh and replace the stored ones (a system job: no actor)."""
    entity = selectors.entity_or_error(entity)
    if scan is None:
        scan = DuplicateScan.objects.create(entity=entity, max_block=max_block)
    DuplicateScan.objects.filter(pk=scan.pk).update(status=ScanStatus.RUNNING, started_at=timezone.now(),
                                                    max_block=max_block)
    try:
        records, low, high, scores, masks, skipped = find_pairs(entity, max_block=max_block, progress=progress)
        roots = components(low, high)
        if progress:
            progress("grouped")
        with transaction.atomic():
            n_groups = _store_candidates(entity, low, high, scores, masks, roots)
        _analyze(DuplicateGroup, DuplicateCandidate)
        if progress:
            progress("stored")
    except Exception as exc:
        DuplicateScan.objects.filter(pk=scan.pk).update(status=ScanStatus.FAILED, finished_at=timezone.now(),
                                                        error=str(exc)[:2000])
        raise
    DuplicateScan.objects.filter(pk=scan.pk).update(
        status=ScanStatus.DONE, finished_at=timezone.now(), records=records, pairs=len(low), groups=n_groups,
        skipped_blocks=skipped,
    )
    scan.refresh_from_db()
    return scan


def _store_candidates(entity: str, low, high, scores, masks, roots) -> int:
    DuplicateCandidate.objects.filter(entity=entity).delete()
    DuplicateGroup.objects.filter(entity=entity).delete()
    if not len(low):
        return 0
    now = timezone.now()
    order = np.lexsort((-scores, roots))
    low, high, scores, masks, roots = low[order], high[order], scores[order], masks[order], roots[order]
    starts = np.flatnonzero(np.r_[True, roots[1:] != roots[:-1]])
    ends = np.r_[starts[1:], len(roots)]
    best = np.maximum.reduceat(scores, starts)
    sizes = [len(set(low[a:b].tolist()) | set(high[a:b].tolist())) for a, b in zip(starts.tolist(), ends.tolist(),
                                                                                     strict=True)]
    _insert(DuplicateGroup, ("entity", "key", "score", "size", "found_at"),
            zip(itertools.repeat(entity), roots[starts].tolist(), best.tolist(), sizes, itertools.repeat(now)))
    reasons_of = {int(m): json.dumps(mask_codes(entity, int(m))) for m in np.unique(masks).tolist()}
    _insert(DuplicateCandidate, ("entity", "group_key", "low_id", "high_id", "score", "reasons"),
            zip(itertools.repeat(entity), roots.tolist(), low.tolist(), high.tolist(), scores.tolist(),
                (reasons_of[m] for m in masks.tolist())))
    return len(starts)


def _analyze(*tables: type[models.Model]) -> None:
    """Fresh planner statistics after a bulk replace: with the old ones (an empty table, say) PostgreSQL
    plans the restricted list as a scan of every candidate."""
    with connection.cursor() as cursor:
        for model in tables:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _insert(model: type[models.Model], names: tuple[str, ...], rows: Iterable[tuple]) -> None:
    """Rows straight into the table, COPY on PostgreSQL and executemany on SQLite: bulk_create compiles
    SQL per value, which at a million candidates costs more than finding them."""
    meta: Any = model._meta
    fields = [meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    table, columns = quote(meta.db_table), ", ".join(quote(f.column) for f in fields)
    rows = iter(rows)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        if connection.vendor == "sqlite":  # aware datetimes as Django stores them there
            rows = (tuple(v.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ") if isinstance(v, dt.datetime)
                          else v for v in row) for row in rows)
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
        while batch := list(itertools.islice(rows, WRITE_BATCH)):
            cursor.executemany(sql, batch)


def duplicate_scan_request(*, actor, entity: str) -> DuplicateScan:
    """Queue a scan as a background task (a lead's "Scan now"); the worker runs ``duplicate_scan``."""
    entity = selectors.entity_or_error(entity)
    if actor is not None:
        require(can_delete(actor), _("Only a team lead or an administrator may start a scan."))
    # One scan at a time; one queued or running for longer than SCAN_ABANDONED was lost with its worker.
    running = DuplicateScan.objects.filter(entity=entity, status__in=[ScanStatus.QUEUED, ScanStatus.RUNNING],
                                           created_at__gte=timezone.now() - SCAN_ABANDONED).first()
    if running is not None:
        return running
    scan = DuplicateScan.objects.create(entity=entity, requested_by=actor if getattr(actor, "pk", None) else None)

    def enqueue() -> None:
        from bcrm.dedupe.tasks import scan_duplicates

        scan_duplicates.enqueue(scan_id=scan.pk)

    transaction.on_commit(enqueue)
    return scan
