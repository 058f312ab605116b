"""Duplicate detection and merge: the only code here that writes.

- ``duplicate_scan`` finds candidate pairs for every record of an entity and replaces the stored
  ones (one streaming pass building key indexes, see matching.py; no O(n²) comparison).
- ``duplicate_dismiss`` remembers "not a duplicate", so no later scan proposes the pair again.
- ``organization_merge`` / ``contact_merge`` move every related row to the survivor and delete the
  others, in one transaction, or with ``preview=True`` only say what they would do.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection, models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import can_delete, can_edit_organization, require
from bcrm.audit.services import audit_record
from bcrm.core.errors import Conflict, InvalidInput, NotFound
from bcrm.core.services import snapshot, validate_and_save
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
from bcrm.dedupe.merging import (
    DEMOTE,
    KEEP_SURVIVOR,
    Clash,
    FieldChange,
    FieldRules,
    RelationMove,
    count_moves,
    display_value,
    find_clashes,
    merge_relations,
    merged_values,
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
from bcrm.parties.choices import KycStatus
from bcrm.parties.models import Contact, Organization
from bcrm.parties.services import organization_search_refresh

log = logging.getLogger(__name__)
WRITE_BATCH = 5000
READ_CHUNK = 10_000
SCAN_ABANDONED = dt.timedelta(hours=2)


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


# ---------------------------------------------------------------------------------------------------
# Scan


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


# ---------------------------------------------------------------------------------------------------
# Groups kept in step after a dismissal or a merge


def _regroup(entity: str, group_keys: Iterable[int]) -> None:
    """Recompute the connected groups among the pairs of ``group_keys`` (split, joined or emptied)."""
    group_keys = sorted(set(group_keys))
    if not group_keys:
        return
    old = DuplicateGroup.objects.filter(entity=entity, key__in=group_keys)
    found_at = min(old.values_list("found_at", flat=True), default=None) or timezone.now()
    old.delete()
    pairs = list(DuplicateCandidate.objects.filter(entity=entity, group_key__in=group_keys)
                 .values_list("pk", "low_id", "high_id", "score"))
    if not pairs:
        return
    roots = components(np.array([p[1] for p in pairs], dtype=np.int64), np.array([p[2] for p in pairs], dtype=np.int64))
    members: dict[int, list[tuple]] = {}
    for pair, root in zip(pairs, roots.tolist(), strict=True):
        members.setdefault(root, []).append(pair)
    for root, root_pairs in members.items():
        ids = {p[1] for p in root_pairs} | {p[2] for p in root_pairs}
        DuplicateGroup.objects.create(entity=entity, key=root, score=max(p[3] for p in root_pairs), size=len(ids),
                                      found_at=found_at)
        DuplicateCandidate.objects.filter(pk__in=[p[0] for p in root_pairs]).update(group_key=root)


@transaction.atomic
def duplicate_dismiss(*, actor, entity: str, ids: Sequence[int]) -> list[DuplicateDismissal]:
    """"These are not duplicates": every pair among ``ids`` is remembered and leaves the candidates."""
    entity = selectors.entity_or_error(entity)
    ids = sorted({_ids(i) for i in ids})
    if len(ids) < 2:
        raise InvalidInput(fields={"ids": [_("Name at least two different records.")]})
    records = selectors.visible_records(actor=actor, entity=entity, ids=ids)
    if len(records) != len(ids):
        raise NotFound()
    if actor is not None:
        for org in _organizations_of(entity, records.values()):
            require(can_edit_organization(actor, org))
    by = actor if getattr(actor, "pk", None) else None
    dismissals = []
    for a, b in itertools.combinations(ids, 2):
        dismissal, _created = DuplicateDismissal.objects.get_or_create(
            entity=entity, low_id=a, high_id=b, defaults={"dismissed_by": by})
        dismissals.append(dismissal)
    pairs = DuplicateCandidate.objects.filter(entity=entity, low_id__in=ids, high_id__in=ids)
    groups = set(pairs.values_list("group_key", flat=True))
    pairs.delete()
    _regroup(entity, groups)
    return dismissals


def _organizations_of(entity: str, records: Iterable[Any]) -> list[Organization]:
    if entity == Entity.ORGANIZATIONS:
        return list(records)
    seen: dict[int, Organization] = {}
    for contact in records:
        seen.setdefault(contact.organization_id, contact.organization)
    return list(seen.values())


def _after_merge(entity: str, survivor: int, others: Sequence[int]) -> None:
    """Candidates and dismissals that named a merged-away record now name the survivor, re-checked."""
    merged = {survivor, *others}
    # Dismissals carry over: "B is not C" and B is A means A is not C.
    for dismissal in DuplicateDismissal.objects.filter(entity=entity).filter(
            Q(low_id__in=others) | Q(high_id__in=others)):
        a = survivor if dismissal.low_id in merged else dismissal.low_id
        b = survivor if dismissal.high_id in merged else dismissal.high_id
        dismissal.delete()
        if a != b:
            low, high = _pair(a, b)
            DuplicateDismissal.objects.get_or_create(entity=entity, low_id=low, high_id=high,
                                                     defaults={"dismissed_by": dismissal.dismissed_by})
    touched = DuplicateCandidate.objects.filter(entity=entity).filter(Q(low_id__in=merged) | Q(high_id__in=merged))
    rows = list(touched.values_list("low_id", "high_id", "group_key"))
    if not rows:
        return
    groups = {g for _lo, _hi, g in rows}
    partners = {lo if hi in merged else hi for lo, hi, _g in rows} - merged
    touched.delete()
    dismissed = set(DuplicateDismissal.objects.filter(entity=entity).filter(
        Q(low_id=survivor) | Q(high_id=survivor)).values_list("low_id", "high_id"))
    facts = selectors.facts_for(entity, [survivor, *partners])
    group_key = min(groups)
    for partner in sorted(partners):
        pair = _pair(survivor, partner)
        if pair in dismissed or partner not in facts or survivor not in facts:
            continue
        reasons = selectors.reasons_between(entity, facts[pair[0]], facts[pair[1]])
        if reasons:
            DuplicateCandidate.objects.create(
                entity=entity, group_key=group_key, low_id=pair[0], high_id=pair[1],
                score=codes_score(entity, [r.code for r in reasons]), reasons=[r.code for r in reasons])
    _regroup(entity, groups)


RECHECK_LIMIT = 500


def _recheck_contacts(organization_id: int) -> None:
    """Two merged organisations often both had the same person: propose those contacts now, not at the
    next scan. (An organisation with more contacts than RECHECK_LIMIT waits for the scan.)"""
    entity = Entity.CONTACTS
    ids = list(Contact.objects.filter(organization_id=organization_id).values_list("pk", flat=True)[:RECHECK_LIMIT + 1])
    if len(ids) < 2 or len(ids) > RECHECK_LIMIT:
        return
    facts = selectors.contact_facts_for(ids)
    known = set(DuplicateCandidate.objects.filter(entity=entity, low_id__in=ids, high_id__in=ids)
                .values_list("low_id", "high_id"))
    known |= set(DuplicateDismissal.objects.filter(entity=entity, low_id__in=ids, high_id__in=ids)
                 .values_list("low_id", "high_id"))
    keys = set(DuplicateCandidate.objects.filter(entity=entity).filter(Q(low_id__in=ids) | Q(high_id__in=ids))
               .values_list("group_key", flat=True))
    for a, b in itertools.combinations(sorted(facts), 2):
        if (a, b) in known:
            continue
        reasons = selectors.reasons_between(entity, facts[a], facts[b])
        if reasons:
            DuplicateCandidate.objects.create(entity=entity, group_key=a, low_id=a, high_id=b,
                                              score=codes_score(entity, [r.code for r in reasons]),
                                              reasons=[r.code for r in reasons])
            keys.add(a)
    _regroup(entity, keys)


# ---------------------------------------------------------------------------------------------------
# Merge


@dataclass
class MergePlan:
    """What a merge does (the preview), and after ``merged`` is True, what it did."""

    entity: str
    survivor: Any
    others: list[Any]
    fields: list[FieldChange]
    moves: list[RelationMove]
    clashes: list[Clash]
    notes: str = ""
    can_merge: bool = False
    merged: bool = False
    values: dict[str, tuple[Any, int]] = field(default_factory=dict, repr=False)

    @property
    def conflicts(self) -> list[Clash]:
        return [c for c in self.clashes if c.blocking]

    @property
    def resolutions(self) -> list[Clash]:
        return [c for c in self.clashes if not c.blocking]

    @property
    def versions(self) -> dict[int, int]:
        return {obj.pk: obj.version for obj in [self.survivor, *self.others]}

    @property
    def active_moves(self) -> list[RelationMove]:
        return [m for m in self.moves if m.moved or m.dropped or m.demoted]

    def as_dict(self) -> dict[str, Any]:
        def record(obj) -> dict[str, Any]:
            return {"id": obj.pk, "label": str(obj), "version": obj.version}

        return {
            "entity": self.entity,
            "survivor": record(self.survivor),
            "others": [record(o) for o in self.others],
            "versions": {str(k): v for k, v in self.versions.items()},
            "fields": [{"field": c.name, "label": c.label, "before": c.before, "after": c.after, "source": c.source}
                       for c in self.fields],
            "relations": [{"relation": m.relation.label, "label": m.relation.verbose, "moved": m.moved,
                           "dropped": m.dropped, "demoted": m.demoted} for m in self.active_moves],
            "resolutions": [c.describe() for c in self.resolutions],
            "conflicts": [c.describe() for c in self.conflicts],
            "notes": self.notes,
            "can_merge": self.can_merge,
            "merged": self.merged,
        }


ORGANIZATION_RULES = FieldRules(
    skip=frozenset({"notes", "external_id", "search_text", "rating_score"}),
    together=(("rating_agency", "rating_grade"), ("kyc_status", "kyc_expires_on")),
    empty={"kyc_status": KycStatus.NOT_STARTED},
    any_true=frozenset({"sanctions_flag"}),
    earliest=frozenset({"relationship_since"}),
)
CONTACT_RULES = FieldRules(
    # Consent is the survivor's own: merging never invents a consent the survivor record did not give.
    skip=frozenset({"organization", "report_consent", "consent_given_at", "is_primary"}),
)


def _ids(value: Any) -> int:
    try:
        return int(getattr(value, "pk", value))
    except (TypeError, ValueError):
        raise InvalidInput(fields={"ids": [_("Record ids are whole numbers.")]}) from None


def _check_ids(survivor: int, others: Sequence[int]) -> None:
    if not others:
        raise InvalidInput(fields={"others": [_("Name at least one record to merge into the survivor.")]})
    if survivor in others:
        raise InvalidInput(fields={"others": [_("The survivor cannot also be merged away.")]})
    if len(set(others)) != len(others):
        raise InvalidInput(fields={"others": [_("A record is named twice.")]})


def _may_merge(actor, entity: str, records: Iterable[Any]) -> bool:
    if actor is None:
        return True
    return can_delete(actor) and all(can_edit_organization(actor, o) for o in _organizations_of(entity, records))


def _plan(entity: str, actor, survivor: Any, others: list[Any]) -> MergePlan:
    model = type(survivor)
    relations = merge_relations(model)
    other_ids = [o.pk for o in others]
    clashes: list[Clash] = []
    moves: list[RelationMove] = []
    for relation in relations:
        found = find_clashes(relation, survivor.pk, other_ids)
        clashes += found
        moves.append(count_moves(relation, survivor.pk, other_ids, found))
    rules = ORGANIZATION_RULES if entity == Entity.ORGANIZATIONS else CONTACT_RULES
    values = merged_values(model, survivor, others, rules)
    if entity == Entity.CONTACTS and not survivor.is_primary:
        donor = next((o for o in others if o.is_primary), None)
        if donor is not None:
            values["is_primary"] = (True, donor.pk)
    notes = ""
    if entity == Entity.ORGANIZATIONS:
        notes = "\n".join(_merge_note(o, values) for o in others)
        if survivor.external_id is None:
            donor = next((o for o in others if o.external_id), None)
            if donor is not None:
                values["external_id"] = (donor.external_id, donor.pk)
    changes = [
        FieldChange(name=name, label=str(capfirst(_field(model, name).verbose_name)),
                    before=display_value(model, name, getattr(survivor, name)),
                    after=display_value(model, name, value), source=source)
        for name, (value, source) in values.items()
    ]
    return MergePlan(entity=entity, survivor=survivor, others=others, fields=changes, moves=moves, clashes=clashes,
                     notes=notes, can_merge=_may_merge(actor, entity, [survivor, *others]), values=values)


def _field(model: type[models.Model], attname: str) -> models.Field:
    return next(f for f in model._meta.concrete_fields if f.attname == attname)


def _merge_note(other: Organization, values: dict[str, tuple[Any, int]]) -> str:
    parts = [f"#{other.pk} {other}"]
    if other.external_id and values.get("external_id", (None, None))[1] != other.pk:
        parts.append(_("external id %(id)s") % {"id": other.external_id})
    return _("Merged from %(record)s on %(date)s.") % {
        "record": ", ".join(parts), "date": timezone.localdate().isoformat()}


def _load(entity: str, actor, survivor_id: int, other_ids: list[int], *, lock: bool) -> tuple[Any, list[Any]]:
    ids = [survivor_id, *other_ids]
    visible = selectors.visible_records(actor=actor, entity=entity, ids=ids)
    if len(visible) != len(ids):
        raise NotFound()
    if lock:
        model: Any = selectors.entity_model(entity)
        locked: dict[int, Any] = {obj.pk: obj for obj in model.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
        if len(locked) != len(ids):
            raise NotFound()
        for pk, obj in locked.items():  # keep what select_related fetched for labels and permissions
            if entity == Entity.CONTACTS:
                obj.organization = visible[pk].organization
        visible = locked
    return visible[survivor_id], [visible[pk] for pk in other_ids]


def _check_versions(records: list[Any], versions: dict[Any, Any] | None) -> None:
    if versions is None:
        return
    try:
        given = {int(k): int(v) for k, v in versions.items()}
    except (TypeError, ValueError):
        raise InvalidInput(fields={"versions": [_("Versions are whole numbers, by record id.")]}) from None
    missing = [r.pk for r in records if r.pk not in given]
    if missing:
        raise InvalidInput(fields={"versions": [_("The version of record %(ids)s is missing.") % {
            "ids": ", ".join(f"#{pk}" for pk in missing)}]})
    stale = [r for r in records if r.version != given[r.pk]]
    if stale:
        raise Conflict(_("%(records)s changed since you previewed the merge. Preview again.") % {
            "records": ", ".join(f"#{r.pk} {r}" for r in stale)})


def _merge(entity: str, *, actor, survivor: Any, others: Sequence[Any], preview: bool,
           versions: dict[Any, Any] | None) -> MergePlan:
    survivor_id, other_ids = _ids(survivor), [_ids(o) for o in others]
    _check_ids(survivor_id, other_ids)
    if preview:
        survivor_obj, other_objs = _load(entity, actor, survivor_id, other_ids, lock=False)
        _check_same_organization(entity, survivor_obj, other_objs)
        return _plan(entity, actor, survivor_obj, other_objs)
    survivor_obj, other_objs = _load(entity, actor, survivor_id, other_ids, lock=False)
    if not _may_merge(actor, entity, [survivor_obj, *other_objs]):
        require(False, _("Only a team lead or an administrator may merge records."))
    survivor_obj, other_objs = _load(entity, actor, survivor_id, other_ids, lock=True)
    _check_same_organization(entity, survivor_obj, other_objs)
    _check_versions([survivor_obj, *other_objs], versions)
    plan = _plan(entity, actor, survivor_obj, other_objs)
    if plan.conflicts:
        raise Conflict(
            _("The merge would break these rules. Fix them by hand, then preview again."),
            fields={"conflicts": [c.describe() for c in plan.conflicts]}, code="merge_conflict",
        )
    _execute(plan, actor)
    plan.merged = True
    return plan


def _check_same_organization(entity: str, survivor: Any, others: list[Any]) -> None:
    if entity != Entity.CONTACTS:
        return
    strangers = [o for o in others if o.organization_id != survivor.organization_id]
    if strangers:
        raise InvalidInput(fields={"others": [
            _("%(contact)s works at another organisation: only contacts of one organisation can be merged. "
              "Merge the organisations first if they are one client.") % {"contact": c} for c in strangers]})


def _bump(model: type[models.Model]) -> dict[str, Any]:
    names = {f.name for f in model._meta.concrete_fields}
    extra: dict[str, Any] = {}
    if "version" in names:
        extra["version"] = F("version") + 1
    if "updated_at" in names:
        extra["updated_at"] = timezone.now()
    return extra


def _execute(plan: MergePlan, actor) -> None:
    survivor, others = plan.survivor, plan.others
    model = type(survivor)
    other_ids = [o.pk for o in others]
    # 1. Clashes the policies resolve: the survivor's row keeps its place.
    for clash in plan.resolutions:
        loser_ids = [row.pk for row in clash.losers]
        rows = clash.relation.model._base_manager.filter(pk__in=loser_ids)
        if clash.policy == KEEP_SURVIVOR:
            rows.delete()
        elif clash.policy.startswith(DEMOTE):
            flag = clash.policy[len(DEMOTE):]
            if "version" in {f.name for f in clash.relation.model._meta.concrete_fields}:
                for row in rows:
                    audit_record(actor=actor, action="update", instance=row, changes={flag: [True, False]})
            rows.update(**{flag: False}, **_bump(clash.relation.model))
    # 2. Every relation moves to the survivor.
    moved: dict[str, int] = {}
    for move in plan.moves:
        relation = move.relation
        if relation.kind == "m2m":
            assert relation.target is not None
            count = 0
            for other in other_ids:
                have = relation.rows([survivor.pk]).values(relation.target.attname)
                relation.rows([other]).filter(**{f"{relation.target.attname}__in": have}).delete()
                count += relation.rows([other]).update(**{relation.field.attname: survivor.pk})
        else:
            count = relation.rows(other_ids).update(**{relation.field.attname: survivor.pk},
                                                    **_bump(relation.model))
        if count:
            moved[relation.label] = count
    # 3. The merged-away records end with a "deleted" entry that says where they went, then go.
    merged_records = []
    for other in others:
        values = snapshot(other)
        merged_records.append({"id": other.pk, "repr": str(other), "values": values})
        audit_record(actor=actor, action="delete", instance=other,
                     changes={**{k: [v, None] for k, v in values.items()}, "merged_into": [None, survivor.pk]})
    model._base_manager.filter(pk__in=other_ids).delete()
    # 4. The survivor takes the values it lacked, and its history records the merge.
    before = snapshot(survivor)
    for name, (value, _source) in plan.values.items():
        setattr(survivor, name, value)
    if plan.notes:
        survivor.notes = f"{survivor.notes.rstrip()}\n\n{plan.notes}".strip()
    survivor.version += 1
    validate_and_save(survivor)
    after = snapshot(survivor)
    audit_record(actor=actor, action="merge", instance=survivor, changes={
        "merged": {
            "ids": other_ids,
            "records": merged_records,
            "moved": moved,
            "dropped": {m.relation.label: m.dropped for m in plan.moves if m.dropped},
            "demoted": {m.relation.label: m.demoted for m in plan.moves if m.demoted},
            "resolutions": [c.describe() for c in plan.resolutions],
        },
        "fields": {k: [before.get(k), v] for k, v in after.items()
                   if before.get(k) != v and k not in {"updated_at", "version"}},
    })
    # 5. Search index and the duplicate lists.
    organization: Any = survivor if plan.entity == Entity.ORGANIZATIONS else survivor.organization
    organization_search_refresh(organization)
    _after_merge(plan.entity, survivor.pk, other_ids)
    if plan.entity == Entity.ORGANIZATIONS:
        _recheck_contacts(survivor.pk)
    log.info("merged %s %s into %s by %s", plan.entity, other_ids, survivor.pk, getattr(actor, "pk", "system"))


@transaction.atomic
def organization_merge(*, actor, survivor: Organization | int, others: Sequence[Organization | int],
                       preview: bool = False, versions: dict[Any, Any] | None = None) -> MergePlan:
    """Merge ``others`` into ``survivor``: every related row moves, the others are deleted.

    ``preview=True`` writes nothing and returns the plan: fields that change, rows that move per
    relation, clashes resolved by rule and conflicts that block. ``versions`` ({id: version}, as
    previewed) makes a record changed since then a Conflict. Only lead and admin merge (a merge
    deletes), and only records they may see.
    """
    return _merge(Entity.ORGANIZATIONS, actor=actor, survivor=survivor, others=others, preview=preview,
                  versions=versions)


@transaction.atomic
def contact_merge(*, actor, survivor: Contact | int, others: Sequence[Contact | int], preview: bool = False,
                  versions: dict[Any, Any] | None = None) -> MergePlan:
    """Merge contacts of one organisation into ``survivor``; same rules as ``organization_merge``."""
    return _merge(Entity.CONTACTS, actor=actor, survivor=survivor, others=others, preview=preview,
                  versions=versions)


def merge(*, entity: str, actor, survivor: Any, others: Sequence[Any], preview: bool = False,
          versions: dict[Any, Any] | None = None) -> MergePlan:
    entity = selectors.entity_or_error(entity)
    use = organization_merge if entity == Entity.ORGANIZATIONS else contact_merge
    return use(actor=actor, survivor=survivor, others=others, preview=preview, versions=versions)
