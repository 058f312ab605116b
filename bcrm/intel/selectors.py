"""Reads: relationship strength of a contact or an organisation, and warm paths, from the interactions
(logged, imported and captured alike; a captured e-mail gives its direction)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from bcrm.engagement.choices import InteractionKind
from bcrm.engagement.models import Interaction
from bcrm.intel.models import CapturedItem, ConnectedAccount, Direction, ReviewCandidate, ReviewStatus
from bcrm.intel.strength import Strength, Touch, strength
from bcrm.parties.models import Contact, Organization

WINDOW_DAYS = 730  # older interactions weigh less than 1/250 (eight half-lives): left out


def _touches(interactions: Q, now: dt.datetime) -> list[dict[str, Any]]:
    """One row per interaction in the window: owner, kind, age, contacts and their seniority, direction."""
    rows = list(Interaction.objects.filter(interactions, occurred_at__gte=now - dt.timedelta(days=WINDOW_DAYS),
                                           occurred_at__lte=now)
                .values_list("pk", "owner_id", "kind", "occurred_at", "organization_id"))
    ids = [r[0] for r in rows]
    people: dict[int, list[tuple[int, str]]] = defaultdict(list)
    names: dict[int, str] = {}
    for iid, cid, seniority, name in (Interaction.contacts.through.objects.filter(interaction_id__in=ids)
                                      .values_list("interaction_id", "contact_id", "contact__seniority",
                                                   "contact__full_name")):
        people[iid].append((cid, seniority))
        names[cid] = name
    directions: dict[int, set[str]] = defaultdict(set)
    for iid, direction in (CapturedItem.objects.filter(interaction_id__in=ids)
                           .values_list("interaction_id", "direction")):
        directions[iid].add(direction)
    order = ["board", "c_level", "senior", "middle", "junior"]
    result = []
    for pk, owner, kind, when, org in rows:
        present = people.get(pk, [])
        top = min((s for _, s in present), key=lambda s: order.index(s) if s in order else 9, default="middle")
        dirs = directions.get(pk, set())
        if kind == InteractionKind.EMAIL:
            # A captured day of mail in both directions counts as one of each.
            direction_list = sorted(dirs) if dirs else ["out"]
        else:
            direction_list = ["both"]
        result.append({"pk": pk, "owner": owner, "kind": kind, "when": when, "organization": org,
                       "contacts": [c for c, _ in present], "names": {c: names[c] for c, _ in present},
                       "seniority": top, "directions": direction_list})
    return result


def _score(rows: list[dict[str, Any]], now: dt.datetime, *, client_people: int | None = None) -> Strength:
    touches = []
    for row in rows:
        age = (now - row["when"]).total_seconds() / 86400
        kind = "email" if row["kind"] == InteractionKind.EMAIL else "meeting"
        for direction in row["directions"]:
            touches.append(Touch(age_days=age, kind=kind, direction=direction if kind == "email" else "both",
                                 seniority=row["seniority"]))
    clients = client_people if client_people is not None else len({c for r in rows for c in r["contacts"]})
    ours = len({r["owner"] for r in rows if r["owner"]})
    return strength(touches, client_people=clients, our_people=ours)


def _as_dict(result: Strength) -> dict[str, Any]:
    return {"score": result.score, "touches": result.touches,
            "components": {k: round(v, 3) for k, v in result.components().items()}}


def _users(ids) -> dict[int, str]:
    return {u.pk: (u.get_full_name() or u.get_username()) for u in get_user_model().objects.filter(pk__in=list(ids))}


def contact_strength(contact: Contact, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The contact's strength, and who on our side knows them best (ranked, with the evidence)."""
    now = now or timezone.now()
    rows = _touches(Q(contacts=contact), now)
    for row in rows:
        row["contacts"] = [contact.pk]
    by_owner: dict[int, list] = defaultdict(list)
    for row in rows:
        if row["owner"]:
            by_owner[row["owner"]].append(row)
    names = _users(by_owner) if by_owner else {}
    paths = []
    for owner, own_rows in by_owner.items():
        score = _score(own_rows, now, client_people=1)
        paths.append({"user_id": owner, "user": names.get(owner, ""), "score": score.score,
                      "emails": sum(1 for r in own_rows if r["kind"] == InteractionKind.EMAIL),
                      "meetings": sum(1 for r in own_rows if r["kind"] != InteractionKind.EMAIL),
                      "last": max(r["when"] for r in own_rows)})
    paths.sort(key=lambda p: (-p["score"], p["user"]))
    return {"contact_id": contact.pk, **_as_dict(_score(rows, now, client_people=1)), "paths": paths}


def organization_strength(organization: Organization, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The organisation's strength, each contact's, and whether its team has connected a mailbox (without
    one, a low score means "unknown", not "weak")."""
    now = now or timezone.now()
    rows = _touches(Q(organization=organization), now)
    per_contact: dict[int, list] = defaultdict(list)
    for row in rows:
        for c in row["contacts"]:
            per_contact[c].append(row)
    ranked = []
    for cid, crows in per_contact.items():
        ranked.append({"contact_id": cid, "contact": crows[0]["names"].get(cid, ""),
                       "score": _score(crows, now, client_people=1).score})
    ranked.sort(key=lambda r: (-r["score"], r["contact"]))
    return {"organization_id": organization.pk, **_as_dict(_score(rows, now)), "contacts": ranked,
            "mail_connected": mail_connected(organization)}


def client_panel(organization: Organization, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The 360° page's card in a fixed number of queries: strength with components, per contact, and who on
    our side knows the client best (the connectors through other clients are in the API's paths)."""
    now = now or timezone.now()
    rows = _touches(Q(organization=organization), now)
    per_contact: dict[int, list] = defaultdict(list)
    by_owner: dict[int, list] = defaultdict(list)
    for row in rows:
        for c in row["contacts"]:
            per_contact[c].append(row)
        if row["owner"]:
            by_owner[row["owner"]].append(row)
    names = _users(by_owner) if by_owner else {}
    contacts = sorted(({"contact_id": c, "contact": r[0]["names"].get(c, ""),
                        "score": _score(r, now, client_people=1).score} for c, r in per_contact.items()),
                      key=lambda x: (-x["score"], x["contact"]))
    colleagues = sorted(({"user_id": o, "user": names.get(o, ""), "score": _score(r, now).score,
                          "interactions": len(r), "last": max(x["when"] for x in r)}
                         for o, r in by_owner.items()), key=lambda p: (-p["score"], p["user"]))
    return {**_as_dict(_score(rows, now)), "contacts": contacts, "colleagues": colleagues,
            "mail_connected": mail_connected(organization)}


def mail_connected(organization: Organization) -> bool:
    return ConnectedAccount.objects.filter(
        Q(user__memberships__team_id=organization.team_id) | Q(user_id=organization.relationship_manager_id),
        active=True).exists()


def organization_paths(organization: Organization, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """For a target organisation: who on our side knows its people (ranked, with evidence), and which of our
    contacts at other organisations appeared in the same mail threads or meetings as its people."""
    now = now or timezone.now()
    rows = _touches(Q(organization=organization), now)
    by_owner: dict[int, list] = defaultdict(list)
    for row in rows:
        if row["owner"]:
            by_owner[row["owner"]].append(row)
    names = _users(by_owner) if by_owner else {}
    colleagues = sorted(({"user_id": o, "user": names.get(o, ""), "score": _score(r, now).score,
                          "interactions": len(r), "last": max(x["when"] for x in r)}
                         for o, r in by_owner.items()), key=lambda p: (-p["score"], p["user"]))
    domains = [d.lower() for d in organization.email_domains or []]
    addresses = set(organization.contacts.exclude(email="").values_list("email", flat=True))
    connectors: dict[int, int] = defaultdict(int)
    if domains or addresses:
        shared = CapturedItem.objects.filter(organization__isnull=False).exclude(organization=organization)
        for _recipients, _sender, item_contacts in _items_touching(shared, domains, {a.lower() for a in addresses}):
            for cid in item_contacts:
                connectors[cid] += 1
    known = {c.pk: c for c in Contact.objects.filter(pk__in=connectors).select_related("organization")}
    linked: list[dict[str, Any]] = sorted(({"contact_id": cid, "contact": known[cid].full_name,
                      "organization": str(known[cid].organization), "shared": n}
                     for cid, n in connectors.items() if cid in known), key=lambda c: (-int(c["shared"]), str(c["contact"])))
    return {"organization_id": organization.pk, "colleagues": colleagues, "connectors": linked[:20]}


def _items_touching(items, domains: list[str], addresses: set[str]):
    """Captured items of other organisations on which one of the target's addresses or domains appears."""
    query = Q()
    for domain in domains:
        query |= Q(sender__iendswith=f"@{domain}")
    for address in addresses:
        query |= Q(sender__iexact=address)
    candidates = items.filter(query) if query else items.none()
    # Recipients are a JSON list: checked in Python over the (bounded) recent items.
    recent = items.order_by("-occurred_at").values_list("pk", "recipients", "sender")[:20000]
    hits = set(candidates.values_list("pk", flat=True)[:20000])
    for pk, recipients, _sender in recent:
        if any(r in addresses or r.rpartition("@")[2] in domains for r in recipients or []):
            hits.add(pk)
    contacts: dict[int, list[int]] = defaultdict(list)
    for pk, cid in CapturedItem.contacts.through.objects.filter(captureditem_id__in=hits).values_list(
            "captureditem_id", "contact_id"):
        contacts[pk].append(cid)
    for pk in hits:
        yield None, None, contacts.get(pk, [])


def my_accounts(actor):
    return ConnectedAccount.objects.filter(user_id=actor.pk)


def my_exclusions(actor):
    from bcrm.intel.models import Exclusion

    return Exclusion.objects.filter(user_id=actor.pk)


def review_queue(actor):
    from bcrm.accounts.permissions import restrict_organizations

    visible = restrict_organizations(actor, Organization.objects.all())
    return (ReviewCandidate.objects.filter(status=ReviewStatus.PENDING, organization__in=visible)
            .select_related("organization"))


__all__ = ["Direction", "contact_strength", "organization_strength", "organization_paths", "review_queue"]


def visible_contact(actor, contact_id: int) -> Contact:
    from bcrm.accounts.permissions import can_view_organization
    from bcrm.core.errors import NotFound

    contact = Contact.objects.select_related("organization").filter(pk=contact_id).first()
    if contact is None or not can_view_organization(actor, contact.organization):
        raise NotFound()
    return contact


def visible_organization(actor, organization_id: int) -> Organization:
    from bcrm.accounts.permissions import can_view_organization
    from bcrm.core.errors import NotFound

    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None or not can_view_organization(actor, organization):
        raise NotFound()
    return organization


def organization_strengths(now: dt.datetime, organization_ids=None) -> dict[int, Strength]:
    """Every organisation's strength at ``now`` in three queries (the segmentation feature's bulk read)."""
    query = Q() if organization_ids is None else Q(organization_id__in=list(organization_ids))
    per_org: dict[int, list] = defaultdict(list)
    for row in _touches(query, now):
        per_org[row["organization"]].append(row)
    return {org: _score(rows, now) for org, rows in per_org.items()}


def mail_connected_organizations() -> set[int]:
    """Organisations whose team (or relationship manager) has at least one active connected mailbox."""
    users = set(ConnectedAccount.objects.filter(active=True).values_list("user_id", flat=True))
    if not users:
        return set()
    from bcrm.accounts.models import TeamMembership

    teams = set(TeamMembership.objects.filter(user_id__in=users).values_list("team_id", flat=True))
    return set(Organization.objects.filter(Q(team_id__in=teams) | Q(relationship_manager_id__in=users))
               .values_list("pk", flat=True))
