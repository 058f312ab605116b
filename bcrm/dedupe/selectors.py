"""Reads: candidate groups restricted to what the actor may see, with fresh reasons and side-by-side fields."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import organization_scope, restrict_organizations
from bcrm.core.errors import InvalidInput
from bcrm.core.pagination import Page, paginate
from bcrm.dedupe.choices import reason_label
from bcrm.dedupe.matching import (
    ContactFacts,
    OrganizationFacts,
    Reason,
    codes_score,
    contact_facts,
    contact_reasons,
    organization_facts,
    organization_reasons,
)
from bcrm.dedupe.models import DuplicateCandidate, DuplicateGroup, DuplicateScan, Entity
from bcrm.engagement.models import Interaction, ServiceRequest
from bcrm.financing.models import Participation
from bcrm.financing.walls import restrict_projects
from bcrm.parties.models import Contact, Organization


def entity_or_error(entity: str | None) -> str:
    entity = entity or Entity.ORGANIZATIONS
    if entity not in Entity.values:
        raise InvalidInput(fields={"entity": [_("Choose organizations or contacts.")]})
    return entity


def entity_model(entity: str) -> type[Organization] | type[Contact]:
    return Organization if entity == Entity.ORGANIZATIONS else Contact


def visible_ids(*, actor, entity: str) -> QuerySet | None:
    """Ids of the records ``actor`` may see, as a subquery; None when they see every one."""
    if actor is None or organization_scope(actor) is None:
        return None
    if entity == Entity.ORGANIZATIONS:
        return restrict_organizations(actor, Organization.objects.all()).values("pk")
    return restrict_organizations(actor, Contact.objects.all(), prefix="organization__").values("pk")


def visible_records(*, actor, entity: str, ids: Iterable[int]) -> dict[int, Any]:
    """The records among ``ids`` that ``actor`` may see, by id (organisations with team and manager)."""
    ids = list(ids)
    if entity == Entity.ORGANIZATIONS:
        queryset: QuerySet = Organization.objects.select_related("team", "relationship_manager")
        if actor is not None:
            queryset = restrict_organizations(actor, queryset)
    else:
        queryset = Contact.objects.select_related("organization")
        if actor is not None:
            queryset = restrict_organizations(actor, queryset, prefix="organization__")
    return {obj.pk: obj for obj in queryset.filter(pk__in=ids)}


def _visible(actor, entity: str, column: str) -> Exists:
    """The record named by ``column`` of the outer row is one ``actor`` may see: a primary-key lookup per
    row, where ``IN (the visible ids)`` would list a million clients for every group looked at."""
    if entity == Entity.ORGANIZATIONS:
        return Exists(restrict_organizations(actor, Organization.objects.filter(pk=OuterRef(column))))
    return Exists(restrict_organizations(actor, Contact.objects.filter(pk=OuterRef(column)), prefix="organization__"))


def candidate_pairs(*, actor, entity: str) -> QuerySet[DuplicateCandidate]:
    pairs = DuplicateCandidate.objects.filter(entity=entity)
    if visible_ids(actor=actor, entity=entity) is not None:
        pairs = pairs.filter(_visible(actor, entity, "low_id"), _visible(actor, entity, "high_id"))
    return pairs


def duplicate_groups(*, actor, entity: str, member: int | None = None,
                     min_score: int | None = None) -> QuerySet[DuplicateGroup]:
    """Groups with at least one pair the actor may see entirely, best score first."""
    entity = entity_or_error(entity)
    groups = DuplicateGroup.objects.filter(entity=entity)
    if min_score:
        groups = groups.filter(score__gte=min_score)
    pairs = candidate_pairs(actor=actor, entity=entity).filter(group_key=OuterRef("key"))
    if member is not None:
        pairs = pairs.filter(Q(low_id=member) | Q(high_id=member))
    if visible_ids(actor=actor, entity=entity) is not None or member is not None:
        groups = groups.filter(Exists(pairs))
    return groups.order_by("-score", "key")


def latest_scan(*, entity: str) -> DuplicateScan | None:
    return DuplicateScan.objects.filter(entity=entity).order_by("-created_at", "-id").first()


def last_finished_scan(*, entity: str) -> DuplicateScan | None:
    return DuplicateScan.objects.filter(entity=entity, finished_at__isnull=False).order_by("-finished_at").first()


# ---------------------------------------------------------------------------------------------------
# Facts of stored records (for reasons shown now, and for re-checking pairs after a merge)


def organization_facts_for(ids: Iterable[int]) -> dict[int, OrganizationFacts]:
    ids = list(ids)
    emails: dict[int, list[str]] = defaultdict(list)
    for org_id, email in Contact.objects.filter(organization_id__in=ids).exclude(email="").values_list(
            "organization_id", "email"):
        emails[org_id].append(email)
    return {
        pk: organization_facts(pk, legal_name=legal, local_name=local, website=website, external_id=ext,
                               emails=emails.get(pk, ()))
        for pk, legal, local, website, ext in Organization.objects.filter(pk__in=ids).values_list(
            "pk", "legal_name", "local_name", "website", "external_id")
    }


def contact_facts_for(ids: Iterable[int]) -> dict[int, ContactFacts]:
    return {
        pk: contact_facts(pk, organization_id=org, full_name=full, local_name=local, email=email, phone=phone)
        for pk, org, full, local, email, phone in Contact.objects.filter(pk__in=list(ids)).values_list(
            "pk", "organization_id", "full_name", "local_name", "email", "phone")
    }


def facts_for(entity: str, ids: Iterable[int]) -> dict[int, Any]:
    return organization_facts_for(ids) if entity == Entity.ORGANIZATIONS else contact_facts_for(ids)


def reasons_between(entity: str, a: Any, b: Any) -> list[Reason]:
    return organization_reasons(a, b) if entity == Entity.ORGANIZATIONS else contact_reasons(a, b)


# ---------------------------------------------------------------------------------------------------
# Groups as pages show them


@dataclass
class PairView:
    low: int
    high: int
    score: int
    reasons: list[dict[str, str]]  # code, value, message

    @property
    def changed(self) -> bool:
        return not self.reasons


@dataclass
class MemberView:
    record: Any
    url: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class GroupView:
    group: DuplicateGroup
    entity: str
    members: list[MemberView]
    pairs: list[PairView]

    @property
    def ids(self) -> list[int]:
        return [m.record.pk for m in self.members]

    @property
    def score(self) -> int:
        return max((p.score for p in self.pairs), default=0)

    def rows(self) -> list[dict[str, Any]]:
        """Side by side: one row per field, one cell per member; rows where members differ are marked."""
        out = []
        for label, getter in side_by_side_fields(self.entity):
            cells = [getter(m) for m in self.members]
            out.append({"label": label, "cells": cells, "differs": len(set(cells)) > 1})
        return out


def side_by_side_fields(entity: str) -> list[tuple[str, Any]]:
    def person(user) -> str:
        return (user.get_full_name() or user.get_username()) if user else "—"

    if entity == Entity.ORGANIZATIONS:
        return [
            (_("Legal name"), lambda m: m.record.legal_name),
            (_("Local name"), lambda m: m.record.local_name or "—"),
            (_("Kind"), lambda m: str(m.record.get_kind_display())),
            (_("Country"), lambda m: str(m.record.country.name or "—")),
            (_("Website"), lambda m: m.record.website or "—"),
            (_("External id"), lambda m: m.record.external_id or "—"),
            (_("Owning team"), lambda m: m.record.team.name if m.record.team else "—"),
            (_("Relationship manager"), lambda m: person(m.record.relationship_manager)),
            (_("Relationship since"), lambda m: m.record.relationship_since.isoformat()
             if m.record.relationship_since else "—"),
            (_("Contacts"), lambda m: str(m.counts.get("contacts", 0))),
            (_("Participations"), lambda m: str(m.counts.get("participations", 0))),
            (_("Interactions"), lambda m: str(m.counts.get("interactions", 0))),
            (_("Last updated"), lambda m: m.record.updated_at.strftime("%Y-%m-%d")),
        ]
    return [
        (_("Name"), lambda m: m.record.full_name),
        (_("Local name"), lambda m: m.record.local_name or "—"),
        (_("Organisation"), lambda m: m.record.organization.legal_name),
        (_("Title"), lambda m: m.record.title or "—"),
        (_("E-mail"), lambda m: m.record.email or "—"),
        (_("Phone"), lambda m: m.record.phone or "—"),
        (_("Primary contact"), lambda m: _("yes") if m.record.is_primary else _("no")),
        (_("Interactions"), lambda m: str(m.counts.get("interactions", 0))),
        (_("Service requests"), lambda m: str(m.counts.get("service_requests", 0))),
        (_("Last updated"), lambda m: m.record.updated_at.strftime("%Y-%m-%d")),
    ]


def member_fields(entity: str, record: Any) -> dict[str, str]:
    """The fields an API client compares, by their stable names."""
    if entity == Entity.ORGANIZATIONS:
        return {"legal_name": record.legal_name, "local_name": record.local_name, "kind": record.kind,
                "country": record.country.code or "", "website": record.website,
                "external_id": record.external_id or ""}
    return {"full_name": record.full_name, "local_name": record.local_name, "email": record.email,
            "phone": record.phone, "title": record.title, "organization_id": str(record.organization_id)}


def record_counts(entity: str, ids: list[int], actor=None) -> dict[int, dict[str, int]]:
    """Rows hanging on each record; with ``actor``, not counting those behind a deal wall ``actor`` is outside of."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if entity == Entity.ORGANIZATIONS:
        walled = (lambda qs: restrict_projects(actor, qs)) if actor is not None else (lambda qs: qs)
        sources: list[tuple[str, QuerySet, str]] = [
            ("contacts", Contact.objects.all(), "organization_id"),
            ("participations", walled(Participation.objects.all()), "organization_id"),
            ("interactions", walled(Interaction.objects.all()), "organization_id"),
        ]
    else:
        sources = [
            ("interactions", Interaction.contacts.through.objects.all(), "contact_id"),
            ("service_requests", ServiceRequest.objects.all(), "contact_id"),
        ]
    for name, queryset, column in sources:
        rows = queryset.filter(**{f"{column}__in": ids}).values(column).annotate(n=Count("pk")).order_by()
        for row in rows:
            counts[row[column]][name] = row["n"]
    return counts


def record_url(entity: str, record: Any) -> str:
    if entity == Entity.ORGANIZATIONS:
        return reverse("client_detail", args=[record.pk])
    return reverse("client_detail", args=[record.organization_id]) + "#contacts"


def pair_view(entity: str, low: int, high: int, facts: dict[int, Any]) -> PairView:
    """Two records compared now: the reasons they match, in words, and the score those reasons give."""
    reasons = reasons_between(entity, facts[low], facts[high])
    return PairView(low=low, high=high, score=codes_score(entity, [r.code for r in reasons]),
                    reasons=[{"code": r.code, "value": r.value, "message": reason_label(entity, r.code, r.value)}
                             for r in reasons])


def chosen_group_view(*, entity: str, records: dict[int, Any], ids: list[int]) -> GroupView:
    """The records a person chose to merge (``records``: those of ``ids`` the actor may see, from
    :func:`visible_records`) as one group: each member with its counts, and every pair that matches now."""
    facts = facts_for(entity, ids)
    counts = record_counts(entity, ids)
    pairs = [view for a, b in itertools.combinations(sorted(facts), 2)
             if (view := pair_view(entity, a, b, facts)).reasons]
    return GroupView(
        group=DuplicateGroup(entity=entity, key=min(ids), score=0, size=len(ids)), entity=entity,
        members=[MemberView(record=records[pk], url=record_url(entity, records[pk]), counts=counts.get(pk, {}))
                 for pk in ids],
        pairs=pairs)


def group_views(*, actor, entity: str, groups: list[DuplicateGroup]) -> list[GroupView]:
    """The page's groups with their visible members, side-by-side fields and reasons checked now.

    Reasons are recomputed from the records as they are now, so an edit since the last scan shows
    (a pair that no longer matches says so); ids merged or deleted since are left out.
    """
    pairs = list(candidate_pairs(actor=actor, entity=entity).filter(group_key__in=[g.key for g in groups])
                 .order_by("-score", "low_id"))
    ids = sorted({p.low_id for p in pairs} | {p.high_id for p in pairs})
    records = visible_records(actor=actor, entity=entity, ids=ids)
    facts = facts_for(entity, records)
    counts = record_counts(entity, list(records), actor)
    by_group: dict[int, list[DuplicateCandidate]] = defaultdict(list)
    for pair in pairs:
        if pair.low_id in records and pair.high_id in records:
            by_group[pair.group_key].append(pair)
    views = []
    for group in groups:
        group_pairs = by_group.get(group.key, [])
        member_ids = sorted({p.low_id for p in group_pairs} | {p.high_id for p in group_pairs})
        if len(member_ids) < 2:
            continue
        pair_views = [pair_view(entity, pair.low_id, pair.high_id, facts) for pair in group_pairs]
        members = [MemberView(record=records[pk], url=record_url(entity, records[pk]), counts=counts.get(pk, {}))
                   for pk in member_ids]
        views.append(GroupView(group=group, entity=entity, members=members, pairs=pair_views))
    return views


def find_duplicates(*, actor, entity: str, page: int = 1, page_size: int | None = None,
                    member: int | None = None, min_score: int | None = None) -> tuple[Page, list[GroupView]]:
    """One page of candidate groups for ``actor``: the page (of groups) and each group's details."""
    entity = entity_or_error(entity)
    groups = duplicate_groups(actor=actor, entity=entity, member=member, min_score=min_score)
    result = paginate(groups, number=page, size=page_size)
    return result, group_views(actor=actor, entity=entity, groups=result.items)
