"""The one definition of the organisation list's filters: the page, the API list and exports use it."""

from __future__ import annotations

import functools

from django import forms
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower
from django.utils import translation
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from bcrm.accounts.models import Team
from bcrm.parties.choices import OrganizationKind
from bcrm.segmentation.choices import Dimension, label_choices
from bcrm.web.widgets import PlainSelect

SORTS = {
    "name": ("legal_name", "id"),
    "-name": ("-legal_name", "-id"),
    "country": ("country", "legal_name", "id"),
    "kind": ("kind", "legal_name", "id"),
    "-updated": ("-updated_at", "-id"),
}
SORT_CHOICES = [
    ("name", _("Name A→Z")),
    ("-name", _("Name Z→A")),
    ("country", _("Country")),
    ("kind", _("Kind")),
    ("-updated", _("Recently updated")),
]


TRIGRAM = 3
LABEL_FILTERS = ("value", "risk", "relationship")


def search_filter(text: str) -> Q:
    """Substring match on names, contact names and e-mails for 3+ characters, through the trigram
    index (FTS5 on SQLite, pg_trgm on PostgreSQL).

    One or two characters (a two-character Chinese name, say) match the start of the legal or local
    name instead: no index serves a substring that short, and a scan of a million clients takes
    seconds, while a prefix is an index range.
    """
    needle = text.lower()
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
    sort = forms.ChoiceField(label=_("Sort"), required=False, choices=SORT_CHOICES)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = country_choices(get_language())
        # The current label per dimension (segmentation's ClientLabels, the `labels` one-to-one).
        for dimension in LABEL_FILTERS:
            self.fields[dimension].choices = [("", _("Any label"))] + label_choices(dimension)
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
        return queryset.order_by(*SORTS[data.get("sort") or "name"])
