"""The global search (the top bar's box, /search/, GET /api/v1/search): clients, contacts and projects in one
query, each group through the selector its own list uses, so a user finds only what they may see.

- Clients: the client list's own filter (``parties.filters.search_filter``, through the trigram index from
  three characters, a name prefix for one or two).
- Contacts: of the clients the same index finds (it holds contact names and e-mails), those whose name,
  local name or e-mail contains the text; restricted like ``parties.selectors.contact_list`` (a relationship
  manager sees their teams' clients' contacts). From three characters: no index serves a shorter substring.
- Projects: ``financing.selectors.project_list`` with its ``q`` filter (projects are shared across teams).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.translation import gettext as _

from bcrm.core.errors import InvalidInput
from bcrm.financing.selectors import project_list
from bcrm.parties.filters import TRIGRAM, TooManyMatches, search_filter
from bcrm.parties.selectors import contact_list, organization_base, organization_list

MIN_LENGTH = 2
MAX_LENGTH = 100
GROUP_LIMIT = 8


@dataclass
class Hit:
    id: int
    name: str
    detail: str
    url: str


@dataclass
class Group:
    kind: str
    label: str
    hits: list[Hit] = field(default_factory=list)
    more: bool = False
    more_url: str = ""
    note: str = ""
    too_many: bool = False  # more matches than can be listed in order: the note asks to narrow the search


@dataclass
class SearchResults:
    q: str
    groups: list[Group]

    @property
    def empty(self) -> bool:
        return not any(group.hits or group.too_many for group in self.groups)

    def as_dict(self) -> dict[str, Any]:
        return {"q": self.q, "groups": [
            {"kind": g.kind, "label": g.label, "more": g.more, "more_url": g.more_url, "note": g.note,
             "items": [{"id": h.id, "name": h.name, "detail": h.detail, "url": h.url} for h in g.hits]}
            for g in self.groups]}


def clean_query(text: Any) -> str:
    q = " ".join(str(text or "").split())
    if len(q) < MIN_LENGTH:
        raise InvalidInput(_("Type at least %(n)s characters to search.") % {"n": MIN_LENGTH}, fields={
            "q": [_("Type at least %(n)s characters to search.") % {"n": MIN_LENGTH}]})
    if len(q) > MAX_LENGTH:
        raise InvalidInput(fields={"q": [_("Search for at most %(n)s characters.") % {"n": MAX_LENGTH}]})
    return q


def _first(queryset, limit: int) -> tuple[list, bool]:
    rows = list(queryset[:limit + 1])
    return rows[:limit], len(rows) > limit


def global_search(*, actor, q: Any, limit: int = GROUP_LIMIT) -> SearchResults:
    """Clients, contacts and projects matching ``q`` that ``actor`` may see, ``limit`` of each (three or four
    queries). InvalidInput for a query shorter than two characters."""
    q = clean_query(q)
    needle = q.lower()

    note = ""
    try:
        orgs, more_orgs = _first(organization_list(actor=actor, filters={"q": q}), limit)
    except TooManyMatches as exc:
        orgs, more_orgs, note = [], False, exc.message  # a common term: the user narrows it
    clients = Group("clients", _("Clients"), more=more_orgs, note=note, too_many=bool(note),
                    more_url=f"{reverse('parties:organization_list')}?{_encode(q)}", hits=[
                        Hit(o.pk, o.display_name, " · ".join(p for p in (o.other_name, o.country.code) if p),
                            reverse("client_detail", args=[o.pk])) for o in orgs])

    contacts = Group("contacts", _("Contacts"))
    if len(needle) >= TRIGRAM:
        matching_orgs = organization_base(actor=actor).alias(
            legal_name_lower=Lower("legal_name"), local_name_lower=Lower("local_name"),
        ).filter(search_filter(q)).values("pk")
        people, contacts.more = _first(
            contact_list(actor=actor).filter(organization__in=matching_orgs).filter(
                Q(full_name__icontains=q) | Q(local_name__icontains=q) | Q(email__icontains=q),
            ).order_by("full_name", "id"), limit)
        contacts.hits = [
            Hit(c.pk, c.full_name + (f" ({c.local_name})" if c.local_name else ""),
                " · ".join(p for p in (c.organization.display_name, c.email) if p),
                reverse("client_detail", args=[c.organization_id]) + "#contacts")
            for c in people]
    else:
        contacts.note = _("Contacts are found from %(n)s characters.") % {"n": TRIGRAM}

    found, more_projects = _first(project_list(actor=actor, filters={"q": q}), limit)
    projects = Group("projects", _("Projects"), more=more_projects,
                     more_url=f"{reverse('financing:project_list')}?{_encode(q)}", hits=[
                         Hit(p.pk, p.name, " · ".join(x for x in (p.local_name, p.get_stage_display()) if x),
                             reverse("financing:project_detail", args=[p.pk])) for p in found])
    return SearchResults(q=q, groups=[clients, contacts, projects])


def _encode(q: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"q": q})
