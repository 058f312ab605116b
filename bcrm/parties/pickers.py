"""Who and which team a client can be given or filtered by, and the bounded option lists the pickers show.

A firm with a million clients has thousands of relationship managers and desks (one manager for about a
hundred clients): a ``<select>`` of all of them costs more than the rest of the client list together and is
no help to the reader. A picker therefore shows at most :data:`PICKER_SHOWN` options: the reader's own
(themselves, their teams, their teams' managers) first, then the rest in order, with the chosen one always
among them; a few letters of a name (``q``) find any other. Validation still accepts every member of the full
set, so a link or saved view with any manager keeps working."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from bcrm.accounts.choices import Role
from bcrm.accounts.models import Team, TeamMembership
from bcrm.accounts.permissions import EDIT_ALL, has_any, user_team_ids
from bcrm.ui.widgets import LookupSelect

#: How many people or teams a picker lists before it asks for a few letters of the name.
PICKER_SHOWN = 50
#: The longest lookup text a picker takes (a name, not a document).
LOOKUP_MAX = 60


def relationship_managers(*, active_only: bool = True) -> QuerySet:
    """The users a client can be given as relationship manager: active users with that role, by username.
    The bulk bar offers these and the bulk service accepts only these. ``active_only=False``: also those who
    left (the client list can still be filtered by them)."""
    users = get_user_model().objects.filter(groups__name=Role.RELATIONSHIP_MANAGER)
    return (users.filter(is_active=True) if active_only else users).order_by("username")


def assignable_teams(*, actor, current_team_id: int | None = None) -> QuerySet[Team]:
    """The teams ``actor`` may give a client: any for a lead or administrator, else their own (and the
    client's current team, which keeping is no change)."""
    teams = Team.objects.order_by("name")
    if has_any(actor, EDIT_ALL):
        return teams
    return teams.filter(Q(pk__in=user_team_ids(actor)) | Q(pk=current_team_id))


def _words(q: str) -> list[str]:
    return [w for w in (q or "")[:LOOKUP_MAX].split() if w]


def _bounded(base: QuerySet, queryset: QuerySet, own: Q | None, *, selected: Any, limit: int,
             split: bool = False) -> tuple[list[Any], bool]:
    """Up to ``limit`` rows of ``queryset``: the ``selected`` one (if it is in ``base``, matched or not, so a
    lookup never drops the current choice), then those matching ``own``, then the rest, each in the queryset's
    order. Returns (rows, whether rows were left out).

    One query (two with a selected row) at any size: "own first" is its first sort key. ``split``: the own rows
    and the rest are read by two queries instead, the rest in the queryset's order through its index until the
    picker is full — for the people pickers, where sorting by "own first" meant sorting every manager of the
    firm (6 ms a picker at 10,000 managers, twice on each client list page; 2 + 2 ms split)."""
    rows: list[Any] = []
    if selected not in (None, ""):
        try:
            rows = list(base.filter(pk=int(getattr(selected, "pk", selected))))
        except (TypeError, ValueError):
            rows = []
    if rows:
        queryset = queryset.exclude(pk__in=[r.pk for r in rows])
    room = max(0, limit - len(rows))
    if own is not None and split:
        mine = list(queryset.filter(own)[:room + 1])
        if len(mine) > room:
            return rows + mine[:room], True
        if mine:
            rows += mine
            room -= len(mine)
            queryset = queryset.exclude(pk__in=[r.pk for r in mine])
    elif own is not None:
        order = queryset.query.order_by
        queryset = queryset.annotate(
            picker_own=Case(When(own, then=Value(0)), default=Value(1), output_field=IntegerField()),
        ).order_by("picker_own", *order)
    rest = list(queryset[:room + 1])
    return rows + rest[:room], len(rest) > room


def active_people() -> QuerySet:
    """Everyone who can be given work: active users, by name."""
    return get_user_model().objects.filter(is_active=True).order_by("first_name", "last_name", "username")


def people_options(*, people: QuerySet, actor, q: str = "", selected: Any = None,
                   limit: int = PICKER_SHOWN) -> tuple[list[Any], bool]:
    """The users of ``people`` a picker offers ``actor``: with ``q``, those whose login, first or last name
    contains every word of it; without, the actor and the members of the actor's teams first, then the rest in
    ``people``'s order. At most ``limit``, the ``selected`` one always among them. Returns (users, more left
    out)."""
    base, words = people, _words(q)
    for word in words:
        people = people.filter(Q(username__icontains=word) | Q(first_name__icontains=word)
                               | Q(last_name__icontains=word))
    own = None
    if not words and actor is not None and getattr(actor, "pk", None):
        # The members of the actor's teams, the actor among them (a subquery alone, not OR'ed with "the actor":
        # that made PostgreSQL test every manager of the firm against it).
        teams = user_team_ids(actor)
        own = (Q(pk__in=TeamMembership.objects.filter(team_id__in=teams).values("user_id")) if teams
               else Q(pk=actor.pk))
    return _bounded(base, people, own, selected=selected, limit=limit, split=True)


def manager_options(*, actor, q: str = "", selected: Any = None, active_only: bool = True,
                    limit: int = PICKER_SHOWN) -> tuple[list[Any], bool]:
    """:func:`people_options` over the relationship managers (by username; ``active_only=False``: also those
    who left)."""
    return people_options(people=relationship_managers(active_only=active_only), actor=actor, q=q,
                          selected=selected, limit=limit)


def team_options(*, actor, q: str = "", selected: Any = None, base: QuerySet[Team] | None = None,
                 limit: int = PICKER_SHOWN) -> tuple[list[Team], bool]:
    """The teams of ``base`` (default: every team, by name) a picker offers ``actor``: with
    ``q``, those whose name or local name contains every word of it; without, the actor's own teams first, then
    the rest by name. At most ``limit``, the ``selected`` one always among them. Returns (teams, more)."""
    base = teams = base if base is not None else Team.objects.order_by("name")
    words = _words(q)
    for word in words:
        teams = teams.filter(Q(name__icontains=word) | Q(name_local__icontains=word))
    own = None
    if not words and actor is not None and getattr(actor, "pk", None):
        mine = user_team_ids(actor)
        own = Q(pk__in=mine) if mine else None
    return _bounded(base, teams, own, selected=selected, limit=limit)


def person_label(user: Any) -> str:
    """A person as pickers name them: full name where they have one, else the login."""
    return user.get_full_name() or user.get_username()


def team_label(team: Team) -> str:
    return str(team)


#: What a picker is for: filtering the client list (any manager, also those who left; any team) or giving a
#: client a manager or team (active managers; the teams the actor may give).
FILTER, ASSIGN = "filter", "assign"


#: What a person picker draws from: relationship managers, or everyone active (task assignees, owners).
MANAGERS, PEOPLE = "managers", "people"


def person_widget(*, actor, purpose: str, empty_label: Any, kind: str = MANAGERS,
                  attrs: dict[str, str] | None = None) -> LookupSelect:
    """A person picker for ``actor``: a bounded select with a lookup by name, over the relationship managers
    (``kind=MANAGERS``; for a filter, also those who left) or everyone active (``kind=PEOPLE``)."""

    def options(value: Any, text: str) -> tuple[list[tuple[Any, str]], bool]:
        people = active_people() if kind == PEOPLE else relationship_managers(active_only=purpose != FILTER)
        users, more = people_options(people=people, actor=actor, q=text, selected=value)
        return [(u.pk, person_label(u)) for u in users], more

    return LookupSelect(attrs=attrs, options=options, empty_label=empty_label,
                        lookup_url=f"{reverse('parties:picker', args=[kind])}?for={purpose}",
                        lookup_placeholder=str(_("Find a manager by name…") if kind == MANAGERS
                                               else _("Find a colleague by name…")))


def manager_widget(*, actor, purpose: str, empty_label: Any, attrs: dict[str, str] | None = None) -> LookupSelect:
    """The relationship-manager picker for ``actor``."""
    return person_widget(actor=actor, purpose=purpose, empty_label=empty_label, kind=MANAGERS, attrs=attrs)


def use_person_picker(form: Any, name: str, *, actor, kind: str = PEOPLE, purpose: str | None = None,
                      empty_label: Any = "—", select_id: str = "") -> None:
    """Show ``form``'s person field ``name`` as a bounded picker for ``actor`` (the field keeps validating
    against its whole queryset); the form's data may carry a lookup text (``<name>_lookup``, no JavaScript)."""
    if name not in form.fields:
        return
    field = form.fields[name]
    attrs = {**field.widget.attrs, **({"id": select_id} if select_id else {})}
    field.widget = with_lookup(
        person_widget(actor=actor, purpose=purpose or ASSIGN, kind=kind, attrs=attrs, empty_label=empty_label),
        form.data, name)


def with_lookup(widget: LookupSelect, data: Any, name: str) -> LookupSelect:
    """``widget`` narrowed by the lookup text typed for field ``name`` (``<name>_lookup`` in ``data``: a form's
    data or a request's query), at most :data:`LOOKUP_MAX` characters."""
    widget.lookup_text = str((data or {}).get(f"{name}_lookup", "") or "")[:LOOKUP_MAX]
    return widget


def team_widget(*, actor, purpose: str, empty_label: Any, current_team_id: int | None = None,
                attrs: dict[str, str] | None = None) -> LookupSelect:
    """The team picker for ``actor``: a bounded select with a lookup by name."""

    def options(value: Any, text: str) -> tuple[list[tuple[Any, str]], bool]:
        base = None
        if purpose != FILTER:
            base = assignable_teams(actor=actor, current_team_id=current_team_id)
        teams, more = team_options(actor=actor, q=text, selected=value, base=base)
        return [(t.pk, team_label(t)) for t in teams], more

    return LookupSelect(attrs=attrs, options=options, empty_label=empty_label,
                        lookup_url=f"{reverse('parties:picker', args=['teams'])}?for={purpose}",
                        lookup_placeholder=str(_("Find a team by name…")))


def person_pickers(*, actor, known: dict[int, Any], kind: str = PEOPLE, purpose: str = ASSIGN,
                   empty_label: Any = "—") -> Any:
    """Person pickers for a page of rows (a checklist's owner per item): they share one bounded list, read
    once, and show each row's current choice from ``known`` (users the page already read, by id). Returns a
    function of the select's id that makes one picker."""
    shared: dict[str, tuple[list[Any], bool]] = {}

    def options(value: Any, text: str) -> tuple[list[tuple[Any, str]], bool]:
        people = active_people() if kind == PEOPLE else relationship_managers(active_only=purpose != FILTER)
        if text:
            users, more = people_options(people=people, actor=actor, q=text, selected=value)
        else:
            if "list" not in shared:
                shared["list"] = people_options(people=people, actor=actor)
            users, more = shared["list"]
            chosen = known.get(int(value)) if str(value or "").isdigit() else None
            if chosen is not None and all(u.pk != chosen.pk for u in users):
                users = [chosen, *users[:PICKER_SHOWN - 1]]
        return [(u.pk, person_label(u)) for u in users], more

    def make(select_id: str) -> LookupSelect:
        return LookupSelect(attrs={"id": select_id}, options=options, empty_label=empty_label,
                            lookup_url=f"{reverse('parties:picker', args=[kind])}?for={purpose}",
                            lookup_placeholder=str(_("Find a colleague by name…")))

    return make
