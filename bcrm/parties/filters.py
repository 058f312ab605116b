"""The one definition of the organisation list's filters: the page, the API list and exports use it."""

from __future__ import annotations

import functools
from typing import Any, cast

from django import forms
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower
from django.utils import translation
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from bcrm.accounts.models import Team
from bcrm.parties.choices import OrganizationKind
from bcrm.parties.classes import Dimension, Tier, label_choices, labels_for
from bcrm.ui.widgets import PlainSelect


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
# A search matching at most this many clients is served from its hits: the ids come from the trigram (or
# name-start) index, and the page orders and cuts those rows. A search matching more walks the list's own
# order and stops at the page: with this many hits or more, a page of 50 is found within about 50 × N / 10,000
# rows (5,000 at a million clients), while ordering every hit would cost more than that.
SEARCH_HITS_LIMIT = 10_000


def _search_predicate(needle: str) -> tuple[str, list[Any]]:
    """The raw SQL of "clients whose names start with / whose search text contains ``needle``", one
    ``SELECT id`` over the organisation table, served by an index on both databases."""
    if len(needle) < TRIGRAM:
        # lower(...) is the expression the org_local_name_idx / org_legal_name_lower_idx indexes hold.
        upper = needle + "\U0010ffff"
        return ("SELECT id FROM parties_organization WHERE (LOWER(legal_name) >= %s AND LOWER(legal_name) < %s) "
                "OR (LOWER(local_name) >= %s AND LOWER(local_name) < %s)", [needle, upper, needle, upper])
    if connection.vendor == "sqlite":
        phrase = '"' + needle.replace('"', '""') + '"'
        return "SELECT rowid FROM org_search WHERE org_search MATCH %s", [phrase]
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "SELECT id FROM parties_organization WHERE search_text LIKE %s", [f"%{escaped}%"]


def search_filter(text: str) -> Q:
    """Substring match on names, contact names and e-mails for 3+ characters, through the trigram
    index (FTS5 on SQLite, pg_trgm on PostgreSQL).

    One or two characters (a two-character Chinese name, say) match the start of the legal or local
    name instead: no index serves a substring that short, and a scan of a million clients takes
    seconds, while a prefix is an index range.

    The hits are counted first, up to ``SEARCH_HITS_LIMIT`` (one query through the index). Up to that many,
    the filter is "id among these hits", so the page's query starts from them and orders only them (left to
    itself, PostgreSQL's planner walked the name index in order and filtered every row it met until it had 50
    hits: a rare term walked nearly the whole table). More hits than that, the term is common and walking
    the list's order finds a page quickly, so the filter is the plain predicate. Either way the same rows,
    in the same order.
    """
    needle = text.lower()
    sql, params = _search_predicate(needle)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} LIMIT {SEARCH_HITS_LIMIT + 1}", params)
        hits = [row[0] for row in cursor.fetchall()]
    if len(hits) <= SEARCH_HITS_LIMIT:
        if not hits:
            return Q(pk__in=[])
        if connection.vendor == "postgresql":
            # One array (not thousands of placeholders), behind an ARRAY(subquery): the planner cannot see how
            # many ids it holds and counts on a few, so the plan is always these ids through the primary key,
            # then sort and cut. A literal array it can measure let it walk the name index again on small tables.
            return Q(pk__in=RawSQL("SELECT unnest(ARRAY(SELECT unnest(%s::bigint[])))", [hits]))
        return Q(pk__in=RawSQL(sql, params))  # SQLite starts from the FTS5 / index hits by itself
    return _plain_search(needle)


def _plain_search(needle: str) -> Q:
    """The same predicate written on the outer query, for the planner to combine with the list's order."""
    if len(needle) < TRIGRAM:
        upper = needle + "\U0010ffff"
        return (Q(legal_name_lower__gte=needle, legal_name_lower__lt=upper)
                | Q(local_name_lower__gte=needle, local_name_lower__lt=upper))
    if connection.vendor == "sqlite":
        phrase = '"' + needle.replace('"', '""') + '"'
        return Q(pk__in=RawSQL("SELECT rowid FROM org_search WHERE org_search MATCH %s", [phrase]))
    return Q(search_text__contains=needle)


@functools.cache
def country_choices(language: str | None) -> list[tuple[str, str]]:
    """Countries sorted by their name in ``language``: sorting 250 translated names costs ~10 ms a page."""
    with translation.override(language):
        return [("", str(_("All countries")))] + [(code, str(name)) for code, name in countries]


class OrganizationFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100, strip=True)
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("All kinds"))] + OrganizationKind.choices)
    country = forms.ChoiceField(label=_("Country"), required=False)
    team = forms.ModelChoiceField(label=_("Team"), required=False, queryset=Team.objects.all(), empty_label=_("All teams"))
    relationship_manager = forms.ModelChoiceField(
        label=_("Relationship manager"), required=False, empty_label=_("Anyone"),
        queryset=get_user_model().objects.filter(groups__name="relationship_manager").order_by("username"),
    )
    value = forms.ChoiceField(label=Dimension.VALUE.label, required=False)
    risk = forms.ChoiceField(label=Dimension.RISK.label, required=False)
    relationship = forms.ChoiceField(label=Dimension.RELATIONSHIP.label, required=False)
    tier = forms.ChoiceField(label=_("Service tier"), required=False,
                             choices=[("", _("Any tier")), *Tier.choices])
    sort = forms.ChoiceField(label=_("Sort"), required=False, choices=SORT_CHOICES)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["country"]).choices = country_choices(get_language())
        # The current label per dimension (segmentation's ClientLabels, the `labels` one-to-one).
        for dimension in LABEL_FILTERS:
            cast(forms.ChoiceField, self.fields[dimension]).choices = [("", _("Any label")), *label_choices(dimension)]
        for field in self.fields.values():
            if type(field.widget) is forms.Select:
                field.widget = PlainSelect(attrs=field.widget.attrs, choices=field.widget.choices)

    def filter(self, queryset: QuerySet) -> QuerySet:
        """Apply the validated filters; call only after is_valid()."""
        data = self.cleaned_data
        if data.get("q"):
            queryset = queryset.alias(
                legal_name_lower=Lower("legal_name"), local_name_lower=Lower("local_name")
            ).filter(search_filter(data["q"]))
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
        return queryset.order_by(*sort_order(data.get("sort") or "name"))


# Every filter the list takes, sort included: what an export, a saved view and "last used filters" keep.
FILTER_NAMES = tuple(OrganizationFilterForm.base_fields)
