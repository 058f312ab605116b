"""Duplicate groups kept in step after a dismissal ("not a duplicate", never proposed again) or a merge."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import can_edit_organization, require
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.dedupe import selectors
from bcrm.dedupe.matching import (
    codes_score,
    components,
)
from bcrm.dedupe.models import (
    DuplicateCandidate,
    DuplicateDismissal,
    DuplicateGroup,
    Entity,
)
from bcrm.parties.models import Contact, Organization


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _ids(value: Any) -> int:
    try:
        return int(getattr(value, "pk", value))
    except (TypeError, ValueError):
        raise InvalidInput(fields={"ids": [_("Record ids are whole numbers.")]}) from None


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
