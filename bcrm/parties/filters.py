"""The one definition of the organisation list's filters: the page, the API list and exports use it."""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Any, cast

from django import forms
from django.db import DatabaseError, connection, connections
from django.db.models import (
    BooleanField,
    Case,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
    Window,
)
from django.db.models.expressions import OrderBy, RawSQL
from django.db.models.functions import Lower, RowNumber
from django.db.models.query import ModelIterable
from django.db.models.sql.where import WhereNode
from django.utils import translation
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from bcrm.accounts.models import Team
from bcrm.core.errors import InvalidInput
from bcrm.parties.choices import OrganizationKind
from bcrm.parties.classes import Dimension, Tier, label_choices, labels_for
from bcrm.parties.pickers import FILTER, manager_widget, relationship_managers, team_widget, with_lookup
from bcrm.ui.widgets import FixedChoices, PlainSelect


def _rank(path: str, codes: list[str]) -> Case:
    """A class column ordered by meaning, not spelling: the upper class first, then the lower, then
    insufficient data; never classified is NULL (last either way)."""
    return Case(*(When(**{path: code}, then=Value(i)) for i, code in enumerate(codes)), default=None,
                output_field=IntegerField())


# The whitelist of sort keys: each orders by its column, then by id so equal values keep one stable order
# (a page boundary never shows a row twice or skips one). "-key" is the descending order of "key".
# Class columns sort by meaning (upper class, lower class, insufficient data; dedicated before standard) and
# put empty (never classified) last either way.
SORT_COLUMNS: dict[str, tuple[Any, ...]] = {
    "name": (F("legal_name"),),
    "country": (F("country"), F("legal_name")),
    "kind": (F("kind"), F("legal_name")),
    "value": (_rank("labels__value", labels_for("value")),),
    "risk": (_rank("labels__risk", labels_for("risk")),),
    "relationship": (_rank("labels__relationship", labels_for("relationship")),),
    "tier": (_rank("service_tier__tier", Tier.values),),
    "updated": (F("updated_at"),),
}


NULLABLE_SORTS = frozenset({"value", "risk", "relationship", "tier"})  # joined rows a client may not have yet


def sort_order(key: str) -> list:
    """The ORDER BY of a whitelisted sort key ("name", "-tier", ...), ending with id as the tie-break.

    Only the joined (nullable) columns say NULLS LAST: on the client's own NOT NULL columns a plain
    ASC/DESC is what the (column, legal_name, id) indexes serve, both ways."""
    descending = key.startswith("-")
    column = key.lstrip("-")
    nulls = {"nulls_last": True} if column in NULLABLE_SORTS else {}
    order = [c.desc(**nulls) if descending else c.asc(**nulls) for c in SORT_COLUMNS[column]]
    return [*order, F("id").desc() if descending else F("id").asc()]


SORT_CHOICES = [
    ("name", _("Name A→Z")),
    ("-name", _("Name Z→A")),
    ("country", _("Country")),
    ("-country", _("Country (descending)")),
    ("kind", _("Kind")),
    ("-kind", _("Kind (descending)")),
    ("value", _("Value class")),
    ("-value", _("Value class (descending)")),
    ("risk", _("Risk class")),
    ("-risk", _("Risk class (descending)")),
    ("relationship", _("Relationship class")),
    ("-relationship", _("Relationship class (descending)")),
    ("tier", _("Service tier")),
    ("-tier", _("Service tier (descending)")),
    ("updated", _("Least recently updated")),
    ("-updated", _("Recently updated")),
]
# The columns whose header sorts the list (the page's table headers).
HEADER_SORTS = ("name", "country", "value", "tier", "updated")


TRIGRAM = 3
LABEL_FILTERS = ("value", "risk", "relationship")
# A search matching at most this many clients (with the list's other filters) is served from its hits: the ids
# come from the trigram (or name-start) index, and the page orders and cuts those rows on the organisation table
# alone. A search matching more is common, and its page is looked for by walking the list's own order (below).
SEARCH_HITS_LIMIT = 10_000
# A common term's page is looked for among the first WALK_ROWS rows of the list's order (deeper pages: up to
# WALK_ROWS_PER_ROW rows examined per row shown, so paging costs what the offset costs anyway). A term with more
# than SEARCH_HITS_LIMIT hits spread over the list finds its 50 rows within a few thousand rows (at a million
# clients such a term is at least 1 % of them: 60 hits in 6,000 rows on average; the demo's common words have
# 160–980 there); one whose hits cluster away from the start of the order (a word most of its hits begin with,
# sorted by name: 'pacific', none in the first 10,000) does not, and the list says so (TooManyMatches) rather than
# walk a million rows — or show rows out of order. What a failed walk costs is the window: 6,000 rows, not the
# 10,000 it was (issue 19: 25–30 ms of the 'pacific' page's 67 ms of SQL at a million clients).
WALK_ROWS = 6_000
WALK_ROWS_PER_ROW = 20


class TooManyMatches(InvalidInput):
    """More clients match the search than can be put in order quickly: the user narrows it."""

    code = "too_many_matches"

    def __init__(self, q: str):
        message = _("More than %(limit)s clients match “%(q)s”, too many to list in order. Add a word, or filter "
                    "by kind, country or team, to narrow the search.") % {"limit": f"{SEARCH_HITS_LIMIT:,}", "q": q}
        super().__init__(message, fields={"q": [str(message)]})


_FTS_HITS = "SELECT rowid FROM org_search WHERE org_search MATCH %s"


def _prefix_end(needle: str) -> str:
    """The first string after every string that starts with ``needle`` (the end of a prefix's index range)."""
    return needle + "\U0010ffff"


def _fts_phrase(needle: str) -> str:
    """``needle`` as one FTS5 phrase (quotes doubled), so its words match in order and nothing in it is syntax."""
    return '"' + needle.replace('"', '""') + '"'


def _search_predicate(needle: str) -> tuple[str, list[Any]]:
    """The raw SQL of "clients whose names start with / whose search text contains ``needle``", one
    ``SELECT id`` over the organisation table, served by an index on both databases."""
    if len(needle) < TRIGRAM:
        # lower(...) is the expression the org_local_name_idx / org_legal_name_lower_idx indexes hold.
        upper = _prefix_end(needle)
        return ("SELECT id FROM parties_organization WHERE (LOWER(legal_name) >= %s AND LOWER(legal_name) < %s) "
                "OR (LOWER(local_name) >= %s AND LOWER(local_name) < %s)", [needle, upper, needle, upper])
    if connection.vendor == "sqlite":
        return _FTS_HITS, [_fts_phrase(needle)]
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "SELECT id FROM parties_organization WHERE search_text LIKE %s", [f"%{escaped}%"]


def search_filter(text: str) -> Q:
    """Substring match on names, contact names and e-mails for 3+ characters, through the trigram
    index (FTS5 on SQLite, pg_trgm on PostgreSQL).

    One or two characters (a two-character Chinese name, say) match the start of the legal or local
    name instead: no index serves a substring that short, and a scan of a million clients takes
    seconds, while a prefix is an index range.

    The hits are counted first, up to ``SEARCH_HITS_LIMIT`` (one query through the index). Up to that many,
    the filter is "id among these hits", so a query starts from them (left to itself, PostgreSQL's planner
    walked the name index in order and filtered every row it met until it had 50 hits: a rare term walked
    nearly the whole table). More hits than that, the filter is the plain predicate. Either way the same rows.
    The client list itself goes through ``OrganizationFilterForm.filter``, which also bounds a common term's walk.
    """
    needle = text.lower()
    sql, params = _search_predicate(needle)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} LIMIT {SEARCH_HITS_LIMIT + 1}", params)
        hits = [row[0] for row in cursor.fetchall()]
    if len(hits) <= SEARCH_HITS_LIMIT:
        return _hits_filter(hits, sql, params)
    return _plain_search(needle)


def _hits_filter(hits: list[int], sql: str, params: list[Any]) -> Q:
    """"id among ``hits``", written so that the database starts from them."""
    if not hits:
        return Q(pk__in=[])
    if connection.vendor == "postgresql":
        # One array (not thousands of placeholders), behind an ARRAY(subquery): the planner cannot see how
        # many ids it holds and counts on a few, so the plan is always these ids through the primary key,
        # then sort and cut. A literal array it can measure let it walk the name index again on small tables.
        return Q(pk__in=RawSQL("SELECT unnest(ARRAY(SELECT unnest(%s::bigint[])))", [hits]))
    return Q(pk__in=RawSQL(sql, params))  # SQLite starts from the FTS5 / index hits by itself


def _plain_search(needle: str) -> Q:
    """The same predicate written on the outer query, for the planner to combine with the list's order."""
    if len(needle) < TRIGRAM:
        upper = _prefix_end(needle)
        return (Q(legal_name_lower__gte=needle, legal_name_lower__lt=upper)
                | Q(local_name_lower__gte=needle, local_name_lower__lt=upper))
    if connection.vendor == "sqlite":
        return Q(pk__in=RawSQL(_FTS_HITS, [_fts_phrase(needle)]))
    return Q(search_text__contains=needle)


def _row_predicate(needle: str) -> Q:
    """The search as a test of one row's own columns (no index, no subquery): what a bounded walk applies to
    each row it meets. The search text is stored lower-cased, so a plain substring test is the trigram match."""
    if len(needle) < TRIGRAM:
        return _plain_search(needle)
    return Q(search_text__contains=needle)


class OrganizationListQuerySet(QuerySet):
    """The client list's rows (``OrganizationFilterForm.filter`` returns one).

    Slicing it — a page — is a *late row lookup*: the slice is ordered and cut on the organisation table alone
    (with only the joins its filters and sort key need: none for name, country, kind or updated), and the
    page's other tables (team, manager, labels, tier) are joined to the rows of the slice only. The same rows in
    the same order as the plain query, since the order always ends with the id. Without it PostgreSQL joined
    every hit of a search (6,142 for 'riverstone' at a million clients) before sorting and cutting 50.

    A search with more hits than ``SEARCH_HITS_LIMIT`` is walked: the page is looked for among the first rows
    of the list's order only (``WALK_ROWS``); when they hold too few hits, ``TooManyMatches``.
    """

    _walk: tuple[str, str, QuerySet, WhereNode] | None = None  # (text, needle, the list without the search, where)
    # A search's hits as the probe counted them: (where, number of rows, exact?) — "not exact" is more than
    # SEARCH_HITS_LIMIT. The pager's count of these rows needs no second pass over the hits.
    _hits: tuple[WhereNode, int, bool] | None = None
    # A search's hits in the list's order, as the probe read them: (where, order, ids). A page is a slice of the ids.
    _ordered: tuple[WhereNode, tuple, list[int]] | None = None

    def _clone(self):
        clone = super()._clone()  # type: ignore[misc]
        clone._walk, clone._hits, clone._ordered = self._walk, self._hits, self._ordered
        return clone

    def count(self) -> int:
        if self._hits is not None and self._result_cache is None and self.query.where == self._hits[0] \
                and not self.query.distinct and not self.query.combinator:
            where, hits, exact = self._hits
            low, high = self.query.low_mark, self.query.high_mark
            if exact:
                return max(0, min(hits, high if high is not None else hits) - low)
            if high is not None and high <= hits:
                return max(0, high - low)  # at least ``hits`` rows: any cut within them is full
        return super().count()

    def __getitem__(self, k):
        if (not isinstance(k, slice) or k.step is not None or k.stop is None or self._result_cache is not None
                or self.query.is_sliced or not self.query.order_by or self.query.distinct
                or getattr(self, "_fields", None) is not None or self._iterable_class is not ModelIterable
                or self.query.combinator):
            return super().__getitem__(k)
        start, stop = k.start or 0, k.stop
        if start < 0 or stop <= start:
            return super().__getitem__(k)
        if self._ordered is not None:
            where, order_by, ids = self._ordered
            if self.query.where == where and self.query.order_by == order_by:
                return self._late_rows(ids[start:stop])
        if self._walk is not None:
            text, needle, rest, where = self._walk
            if self.query.where == where and self.query.order_by == rest.query.order_by:
                return self._late_rows(_walk_ids(rest, text, needle, start, stop))
        narrow: QuerySet = QuerySet(self.model, query=self.query.chain(), using=self.db).values("pk")[start:stop]
        return self._late_rows(narrow)

    def _late_rows(self, ids) -> QuerySet:
        """This queryset's rows whose ids are ``ids`` (a list, or a sliced subquery already restricted by
        every filter), in this queryset's order, with its select_related and prefetches."""
        rows = self._chain()  # type: ignore[attr-defined]
        rows.__class__ = QuerySet
        rows._walk = rows._hits = rows._ordered = None
        rows.query.where = WhereNode()  # the ids already passed every filter: do not make the planner weigh them again
        return rows.filter(pk__in=ids)


def _walk_ids(rest: QuerySet, text: str, needle: str, start: int, stop: int) -> list[int]:
    """The ids of hits ``start:stop`` of a common term, looked for among the first rows of the list's order.

    The window is the first ``rows`` rows of the list without the search (its other filters and order, through
    the order's index), each with "is it a hit", its position and its sort key; the outer query keeps the hits in
    the same order, which the database knows the window already has, so it stops reading at the ``stop``-th hit
    — one query, at most ``rows + 1`` rows read whatever the size of the table."""
    rows = max(WALK_ROWS, WALK_ROWS_PER_ROW * stop)
    base: QuerySet = QuerySet(rest.model, query=rest.query.chain(), using=rest.db)
    if connections[rest.db].vendor == "sqlite":
        return _walk_ids_streamed(base, text, needle, start, stop, rows)
    order, keys, outer_order = _sort_keys(rest.query.order_by, "walk_k")
    window = (base.annotate(walk_hit=ExpressionWrapper(_row_predicate(needle), output_field=BooleanField()),
                            walk_rn=Window(RowNumber(), order_by=order), **keys)
              .values_list("walk_hit", "walk_rn", *keys)[:rows + 1])
    sql, params = window.query.sql_with_params()
    id_key = list(keys)[-1]  # the order ends with the id
    with connections[rest.db].cursor() as cursor:
        # The hits among the first ``rows`` rows, and the row after them if the list goes on (it tells the window
        # ended before the list did), in the window's own order: the database stops at the (stop + 1)-th such row.
        cursor.execute(f"SELECT w.{id_key}, w.walk_hit, w.walk_rn FROM ({sql}) w "
                       f"WHERE (w.walk_hit AND w.walk_rn <= %s) OR w.walk_rn = %s ORDER BY {outer_order} LIMIT %s",
                       [*params, rows, rows + 1, stop + 1])
        found = cursor.fetchall()
    hits = [pk for pk, hit, rn in found if hit and rn <= rows]
    if len(hits) < stop and any(rn > rows for _, _, rn in found):
        raise TooManyMatches(text)  # too few hits in a window the list goes beyond: the rest of the list is unknown
    return hits[start:stop]


def _walk_ids_streamed(base: QuerySet, text: str, needle: str, start: int, stop: int, rows: int) -> list[int]:
    """``_walk_ids`` on SQLite: the window's rows are read in the list's order, each with "is it a hit", and
    reading stops at the ``stop``-th hit. SQLite computes a statement's rows as they are fetched, so the rows after
    it are never read; the window query, whose outer ORDER BY SQLite did not know the window already had, read
    and sorted all of them (a common term at a million clients: 42 ms, beside about 3 ms to its 50th hit)."""
    window = (base.annotate(walk_hit=ExpressionWrapper(_row_predicate(needle), output_field=BooleanField()))
              .values_list("pk", "walk_hit")[:rows + 1])
    sql, params = window.query.sql_with_params()
    hits: list[int] = []
    position = 0
    with connections[base.db].cursor() as cursor:
        cursor.execute(sql, params)
        while len(hits) < stop and (chunk := cursor.fetchmany(256)):
            for pk, hit in chunk:
                position += 1
                if position > rows:
                    raise TooManyMatches(text)  # too few hits in a window the list goes beyond
                if hit:
                    hits.append(pk)
                    if len(hits) == stop:
                        break
    return hits[start:stop]


def _sort_keys(order_by, prefix: str) -> tuple[list[OrderBy], dict[str, Any], str]:
    """The list's order (``sort_order``) as columns a subquery can select — ``{prefix}0``, ``{prefix}1``… (the
    last is the id) — and the ORDER BY of an outer query over them (``w.…``), with each key's direction and
    NULLS LAST. A selected column keeps its collation, so the outer query sorts text exactly as the list does."""
    order = [o for o in order_by if isinstance(o, OrderBy)]
    if not order or len(order) != len(order_by):
        raise TypeError("the list's order must be expressions (sort_order)")
    keys = {f"{prefix}{i}": o.expression for i, o in enumerate(order)}
    outer = ", ".join(f"w.{name} {'DESC' if o.descending else 'ASC'}{' NULLS LAST' if o.nulls_last else ''}"
                      for name, o in zip(keys, order, strict=True))
    return order, keys, outer


def _ordered_hits(probe: QuerySet, order_by) -> tuple[int, list[int]]:
    """The number of a search's hits, up to ``SEARCH_HITS_LIMIT + 1``, and their ids in the list's order when
    there are at most ``SEARCH_HITS_LIMIT`` (else no ids).

    The probe reads each hit's sort key as it reads the hit (the index, then the hit's row once: its recheck and
    its key), and the hits are put in order only after they are all read — the inner query has a LIMIT and is a
    materialized CTE, so no database folds it into the outer ORDER BY and walks the name index instead. A page of the search is then a
    slice of these ids: no second visit to each hit (at a million clients, 'riverstone' looked its 6,325 hits up
    again by primary key to order them, 175 ms of its page)."""
    _, keys, outer_order = _sort_keys(order_by, "hit_k")
    inner = (QuerySet(probe.model, query=probe.query.chain(), using=probe.db)
             .order_by().annotate(**keys).values_list(*keys)[:SEARCH_HITS_LIMIT + 1])
    sql, params = inner.query.sql_with_params()
    with connections[probe.db].cursor() as cursor:
        # A materialized CTE, not a subquery in FROM: SQLite sorted the subquery's rows three times slower (a term
        # with 70,000 hits: 154 ms beside 43 ms for its first 10,001 at a million clients). The hits are sorted
        # only when there are at most SEARCH_HITS_LIMIT of them: a common term's page is found by the walk, which
        # needs only their number — then one row comes back, (NULL, the number), and nothing is sorted.
        cursor.execute(f"WITH w AS MATERIALIZED ({sql}), n AS MATERIALIZED (SELECT count(*) AS hits FROM w) "
                       f"SELECT w.{list(keys)[-1]}, n.hits FROM n LEFT JOIN w ON n.hits <= {SEARCH_HITS_LIMIT} "
                       f"ORDER BY {outer_order}", params)
        rows = cursor.fetchall()  # never empty: n has one row, (NULL, 0) when nothing matches
    number = rows[0][1]
    return number, ([row[0] for row in rows if row[0] is not None] if number <= SEARCH_HITS_LIMIT else [])


@functools.cache
def country_choices(language: str | None) -> FixedChoices:
    """Countries sorted by their name in ``language``: sorting 250 translated names costs ~10 ms a page."""
    with translation.override(language):
        return FixedChoices([("", str(_("All countries")))] + [(code, str(name)) for code, name in countries])


@functools.cache
def label_filter_choices(dimension: str, language: str | None) -> FixedChoices:
    """A dimension's label filter in ``language``: any label, then its two classes and "insufficient"."""
    with translation.override(language):
        return FixedChoices([("", str(_("Any label"))),
                             *[(code, str(label)) for code, label in label_choices(dimension)]])


class OrganizationFilterForm(forms.Form):
    # Every select renders through PlainSelect (no template per option); the long and per-language choice lists
    # (countries, labels) are FixedChoices built once per language and shared, not copied with each form.
    q = forms.CharField(label=_("Search"), required=False, max_length=100, strip=True)
    kind = forms.ChoiceField(label=_("Kind"), required=False, widget=PlainSelect,
                             choices=[("", _("All kinds"))] + OrganizationKind.choices)
    country = forms.ChoiceField(label=_("Country"), required=False, widget=PlainSelect)
    team = forms.ModelChoiceField(label=_("Team"), required=False, queryset=Team.objects.all(),
                                  empty_label=_("All teams"), widget=PlainSelect)
    relationship_manager = forms.ModelChoiceField(
        label=_("Relationship manager"), required=False, empty_label=_("Anyone"), widget=PlainSelect,
        queryset=relationship_managers(active_only=False),
    )
    value = forms.ChoiceField(label=Dimension.VALUE.label, required=False, widget=PlainSelect)
    risk = forms.ChoiceField(label=Dimension.RISK.label, required=False, widget=PlainSelect)
    relationship = forms.ChoiceField(label=Dimension.RELATIONSHIP.label, required=False, widget=PlainSelect)
    tier = forms.ChoiceField(label=_("Service tier"), required=False, widget=PlainSelect,
                             choices=[("", _("Any tier")), *Tier.choices])
    sort = forms.ChoiceField(label=_("Sort"), required=False, choices=SORT_CHOICES, widget=PlainSelect)

    def __init__(self, *args, actor=None, **kwargs):
        """``actor``: the reader the form is shown to; the team and manager filters then show a bounded list
        (theirs first) with a lookup by name (``bcrm.parties.pickers``). Without, the form only validates."""
        super().__init__(*args, **kwargs)
        language = get_language()
        cast(forms.ChoiceField, self.fields["country"]).choices = country_choices(language)
        # The current label per dimension (segmentation's ClientLabels, the `labels` one-to-one).
        for dimension in LABEL_FILTERS:
            cast(forms.ChoiceField, self.fields[dimension]).choices = label_filter_choices(dimension, language)
        if actor is not None:
            self.fields["team"].widget = with_lookup(
                team_widget(actor=actor, purpose=FILTER, empty_label=_("All teams")), self.data, "team")
            self.fields["relationship_manager"].widget = with_lookup(
                manager_widget(actor=actor, purpose=FILTER, empty_label=_("Anyone")), self.data,
                "relationship_manager")

    def filter(self, queryset: QuerySet) -> QuerySet:
        """Apply the validated filters; call only after is_valid(). The result slices with a late row lookup
        (``OrganizationListQuerySet``)."""
        data = self.cleaned_data
        queryset = queryset._chain()  # type: ignore[attr-defined]
        queryset.__class__ = OrganizationListQuerySet
        if data.get("kind"):
            queryset = queryset.filter(kind=data["kind"])
        if data.get("country"):
            queryset = queryset.filter(country=data["country"])
        if data.get("team"):
            queryset = queryset.filter(team=data["team"])
        if data.get("relationship_manager"):
            queryset = queryset.filter(relationship_manager=data["relationship_manager"])
        for dimension in LABEL_FILTERS:
            if data.get(dimension):
                queryset = queryset.filter(**{f"labels__{dimension}": data[dimension]})
        if data.get("tier"):
            queryset = queryset.filter(service_tier__tier=data["tier"])
        queryset = queryset.order_by(*sort_order(data.get("sort") or "name"))
        if data.get("q"):
            queryset = _search(queryset, data["q"])
        return queryset


def _search(queryset: QuerySet, text: str) -> QuerySet:
    """``queryset`` (the list with its other filters and order) restricted to the search ``text``.

    The hits with the other filters are read first, up to ``SEARCH_HITS_LIMIT``, through the trigram (or
    name-start) index; up to that many, the list is "id among these hits". More, the term is common: the list
    is the plain predicate, and a page of it is looked for by a bounded walk of the list's order."""
    needle = text.lower()
    queryset = queryset.alias(legal_name_lower=Lower("legal_name"), local_name_lower=Lower("local_name"))
    sql, params = _search_predicate(needle)
    if connection.vendor == "sqlite" and len(needle) >= TRIGRAM:
        # The FTS5 table joined, not "id IN (its hits)": SQLite then reads the hits from FTS5 one by one and stops
        # at the limit, where the IN list first copied every hit aside (a term with 70,000 hits at a million
        # clients: 17 ms beside 37 ms).
        probe = queryset.extra(tables=["org_search"], where=[
            'org_search.rowid = "parties_organization"."id"', "org_search MATCH %s"], params=params)
    elif connection.vendor == "sqlite":
        probe = queryset.filter(pk__in=RawSQL(sql, params))
    else:
        probe = queryset.filter(_plain_search(needle))
    with _through_the_index(probe.db):
        number, hits = _ordered_hits(probe, queryset.query.order_by)
    if number <= SEARCH_HITS_LIMIT:
        found = queryset.filter(_hits_filter(hits, sql, params))
        found._hits = (found.query.where, number, True)  # type: ignore[attr-defined]
        found._ordered = (found.query.where, found.query.order_by, hits)  # type: ignore[attr-defined]
        return found
    found = queryset.filter(_plain_search(needle))
    found._walk = (text, needle, queryset, found.query.where)  # type: ignore[attr-defined]
    found._hits = (found.query.where, number, False)  # type: ignore[attr-defined]
    return found


@contextmanager
def _through_the_index(alias: str):
    """The search probe reads its hits through the trigram (or name-start) index, never a scan of the table.

    With a LIMIT, PostgreSQL costs a sequential scan as stopping early once it has the limit's rows; a term
    with many hits but fewer than the limit (7 % of the clients: 'capital') never stops early, and the scan
    read the whole table (230 ms at 100,000 clients, beside 25 ms through the index)."""
    connection_ = connections[alias]
    if connection_.vendor != "postgresql":
        yield
        return
    with connection_.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
    try:
        yield
    finally:
        try:
            with connection_.cursor() as cursor:
                cursor.execute("RESET enable_seqscan")
        except DatabaseError:
            pass  # the transaction failed: its rollback undoes the SET as well


# Every filter the list takes, sort included: what an export, a saved view and "last used filters" keep.
FILTER_NAMES = tuple(OrganizationFilterForm.base_fields)
