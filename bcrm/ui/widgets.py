"""Form widgets tuned for hot pages."""

from __future__ import annotations

from django import forms
from django.forms.utils import flatatt
from django.utils.choices import BaseChoiceIterator
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

SELECTED = mark_safe(" selected")


class PlainSelect(forms.Select):
    """A <select> rendered in Python, not one template per <option>.

    Django's template-based widget rendering costs ~20 ms for the 250 countries of a filter bar,
    more than the rest of the client list page together. Flat choices only (no option groups).
    """

    def render(self, name, value, attrs=None, renderer=None):
        final_attrs = self.build_attrs(self.attrs, attrs)
        chosen = {str(v) for v in self.format_value(value)}
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((str(key), SELECTED if str(key) in chosen else "", label) for key, label in self.choices),
        )
        return format_html('<select name="{}"{}>{}</select>', name, flatatt(final_attrs), options)


class LookupSelect(PlainSelect):
    """A <select> over a set too large to list whole (the people or desks of a big firm).

    ``options(value, text)`` gives the bounded options to show — ``[(key, label)]`` and whether more were left
    out — for the current ``value`` and lookup ``text``. When more were left out (or a lookup is under way), a
    search box ``<name>_lookup`` follows the select: typing in it asks ``lookup_url`` (with the select's value
    and the text) for a new select, which htmx swaps in; without JavaScript, submitting the form does the same.
    The form's field still validates against the whole set. The box sets what htmx would otherwise inherit
    from a form around it (the client list's filters push their URL into the address bar)."""

    def __init__(self, attrs=None, *, options, lookup_url: str = "", empty_label: str = "",
                 lookup_placeholder: str = "") -> None:
        super().__init__(attrs=attrs)
        self.bounded = options
        self.lookup_url = lookup_url
        self.empty_label = empty_label
        self.lookup_placeholder = lookup_placeholder
        self.lookup_text = ""

    def render_select(self, name, value, attrs=None) -> str:
        final_attrs = self.build_attrs(self.attrs, attrs)
        chosen = {str(v) for v in self.format_value(value)}
        shown, more = self.bounded(next(iter(chosen), None), self.lookup_text)
        choices = [("", self.empty_label), *shown]
        options = format_html_join(
            "", '<option value="{}"{}>{}</option>',
            ((str(key), SELECTED if str(key) in chosen else "", label) for key, label in choices),
        )
        self._more = more
        return format_html('<select name="{}"{}>{}</select>', name, flatatt(final_attrs), options)

    def render(self, name, value, attrs=None, renderer=None):
        select = self.render_select(name, value, attrs)
        if not (self._more or self.lookup_text) or not self.lookup_url:
            return select
        select_id = self.build_attrs(self.attrs, attrs).get("id", "")
        lookup = format_html(
            '<input type="search" name="{}_lookup" value="{}" class="lookup-q" maxlength="60" autocomplete="off"'
            ' placeholder="{}" aria-label="{}" hx-get="{}" hx-trigger="input changed delay:300ms, search"'
            ' hx-include="#{}" hx-target="#{}" hx-swap="outerHTML" hx-sync="this:replace" hx-push-url="false">',
            name, self.lookup_text, self.lookup_placeholder, self.lookup_placeholder,
            f"{self.lookup_url}{'&' if '?' in self.lookup_url else '?'}name={name}&id={select_id}",
            select_id, select_id,
        )
        return format_html('<span class="lookup">{}{}</span>', select, lookup)


class FixedChoices(BaseChoiceIterator):
    """Choices built once and shared by every form (a cached, per-language list such as the 250 countries):
    Django neither normalises them again on assignment nor deep-copies them with each form instance, which
    cost the client list ~6 ms a request. Immutable: build a new one to change it."""

    def __init__(self, items) -> None:
        self.items = tuple(items)

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]

    def __deepcopy__(self, memo) -> FixedChoices:
        return self
