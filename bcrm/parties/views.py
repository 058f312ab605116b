"""Client pages: the list (with bulk edits and saved views) and the organisation/contact forms. Parse, call,
render. The 360° page composes many apps and lives in :mod:`bcrm.web.client`."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from bcrm.accounts.permissions import (
    can_edit_organization,
    can_see_compliance,
    can_write,
    require,
    require_organization_write,
)
from bcrm.core.errors import InvalidInput, ServiceError
from bcrm.core.formatting import choice_name
from bcrm.core.pagination import paginate
from bcrm.parties import pickers, selectors, services
from bcrm.parties.choices import OrganizationKind
from bcrm.parties.classes import Dimension, Tier, label_display, upper_label
from bcrm.parties.filters import FILTER_NAMES, HEADER_SORTS, OrganizationFilterForm, TooManyMatches
from bcrm.parties.forms import ContactForm, OrganizationForm
from bcrm.parties.hooks import client_list_context
from bcrm.parties.models import SavedView
from bcrm.ui.shortcuts import page, page_number, render_page, safe_next, submit_form

LAST_FILTERS = "clients.last_filters"  # the session key of the user's last used list filters


def _list_url(query: str) -> str:
    return f"{reverse('parties:organization_list')}?{query}" if query else reverse("parties:organization_list")


@page
@require_safe
def organization_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    htmx = getattr(request, "htmx", None)
    if "clear" in request.GET:
        request.session.pop(LAST_FILTERS, None)
        return redirect("parties:organization_list")
    if not request.GET and not htmx:
        # Opening the list bare brings back the filters the user used last (the "clear filters" link forgets them).
        last = request.session.get(LAST_FILTERS)
        if last:
            return redirect(_list_url(last))
    filter_form = OrganizationFilterForm(request.GET, actor=user)
    query = services.saved_view_query(request.GET)
    search_note = ""
    try:
        # The current labels and tier come in the same query (joins on the one-to-ones).
        queryset = (selectors.organization_list(actor=user, filters=request.GET)
                    .select_related("labels", "service_tier"))
    except InvalidInput:
        result = None  # the filter form shows what is wrong with the filters
    else:
        try:
            result = paginate(queryset, number=page_number(request))
        except TooManyMatches as exc:
            result, search_note = None, exc.message  # a common term: the user narrows it (no rows out of order)
    writer = can_write(user)
    if result is not None:
        for org in result.items:
            org.row_html = client_row(org, bulk=writer)
        if request.session.get(LAST_FILTERS, "") != query:
            if query:
                request.session[LAST_FILTERS] = query
            else:
                request.session.pop(LAST_FILTERS, None)
    partial = bool(htmx and not htmx.history_restore_request and htmx.target == "org-results")
    export_url = reverse("dataio:export", args=["organizations"])
    context = {
        "filter_form": filter_form, "page": result, "search_note": search_note, "can_create": writer,
        "query": query, "has_filters": bool(query),
        "export_csv": f"{export_url}?{query}", "export_xlsx": f"{export_url}?{query}{'&' if query else ''}format=xlsx",
        "sort_links": sort_links(request.GET, filter_form),
        "saved_views": list(selectors.saved_view_list(actor=user, page=SavedView.Page.CLIENTS)),
        "bulk": bulk_choices(user) if writer else None,
        "oob": partial,
        # what the apps above add (playbooks: a very large classification run leaves the re-tiering to the next
        # automation run, and the list says when that is)
        **client_list_context(),
    }
    return render_page(
        request, "parties/organization_list.html", context,
        partial="parties/_organization_results.html", target="org-results",
    )


def sort_links(params, filter_form: OrganizationFilterForm) -> dict[str, dict[str, str]]:
    """Per sortable header: the query string that sorts by it (ascending, or descending when it already
    sorts ascending), keeping the other filters, and the current direction ("asc", "desc" or "")."""
    current = filter_form.cleaned_data.get("sort") if filter_form.is_valid() else params.get("sort")
    current = current or "name"
    links = {}
    for key in HEADER_SORTS:
        state = "asc" if current == key else ("desc" if current == f"-{key}" else "")
        wanted = f"-{key}" if state == "asc" else key
        others = {k: v for k, v in ((n, params.get(n)) for n in FILTER_NAMES if n != "sort") if v not in (None, "")}
        links[key] = {"query": urlencode({**others, "sort": wanted}), "state": state}
    return links


def bulk_choices(user) -> dict[str, Any]:
    """What the bulk bar offers: the teams the user may assign (their own, unless lead or admin) and the
    active relationship managers, each as a bounded picker with a lookup by name."""
    return {
        "team": pickers.team_widget(actor=user, purpose=pickers.ASSIGN, empty_label=_("Team…"),
                                    attrs={"id": "bulk-team", "aria-label": _("Team")}).render("team", None),
        "manager": pickers.manager_widget(
            actor=user, purpose=pickers.ASSIGN, empty_label=_("Relationship manager…"),
            attrs={"id": "bulk-relationship-manager", "aria-label": _("Relationship manager")},
        ).render("relationship_manager", None),
    }


PICKER_KINDS = (pickers.MANAGERS, pickers.PEOPLE, "teams")
PICKER_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,60}")
PICKER_NAME = re.compile(r"[a-z][a-z_]{0,40}")


@page
@require_safe
def picker(request: HttpRequest, kind: str) -> HttpResponse:
    """A picker's lookup (htmx): the select ``id`` (field ``name``) of managers, colleagues or teams matching
    the typed name (``<name>_lookup``), keeping the current choice (``bcrm.parties.pickers``). ``for``: filter
    (the client list's filters) or assign (bulk bars and forms: active people, the teams the user may give)."""
    name = request.GET.get("name", "")
    purpose = request.GET.get("for", pickers.FILTER)
    select_id = request.GET.get("id", "")
    if (kind not in PICKER_KINDS or purpose not in (pickers.FILTER, pickers.ASSIGN)
            or not PICKER_ID.fullmatch(select_id) or not PICKER_NAME.fullmatch(name)):
        return HttpResponseBadRequest(_("Unknown picker."))
    selected = request.GET.get(name, "")
    if purpose == pickers.FILTER:
        empty = _("All teams") if kind == "teams" else _("Anyone")
    elif select_id.startswith("bulk-"):  # the bulk bars name what their select is for
        empty = {"teams": _("Team…"), pickers.MANAGERS: _("Relationship manager…")}.get(
            kind, _("Choose a colleague"))
    else:
        empty = "—"
    attrs = {"id": select_id}
    if select_id.startswith("bulk-"):
        attrs["aria-label"] = {"teams": _("Team"), pickers.MANAGERS: _("Relationship manager")}.get(
            kind, _("Reassign to"))
    if kind == "teams":
        current = int(selected) if selected.isdigit() else None
        widget = pickers.team_widget(actor=request.user, purpose=purpose, empty_label=empty, attrs=attrs,
                                     current_team_id=current)
    else:
        widget = pickers.person_widget(actor=request.user, purpose=purpose, empty_label=empty, attrs=attrs,
                                       kind=kind)
    return HttpResponse(pickers.with_lookup(widget, request.GET, name).render_select(name, selected or None))


def client_row(org, *, bulk: bool) -> SafeString:
    """One row of the client list's table, as HTML.

    Built here rather than by the template: the template language resolves each of a row's forty-odd variables
    through its lookup machinery, 10–15 ms of a 50-row page (issue 19: every list and search page pays it),
    while these few format strings cost about a millisecond. Every value is escaped by ``format_html``."""
    name = org.display_name
    select = format_html(
        '<td class="select-cell"><input type="checkbox" name="ids" value="{}" form="bulk-form" aria-label="{}"></td>',
        org.pk, _("Select %(name)s") % {"name": name}) if bulk else ""
    other = format_html('<div class="sub">{}</div>', org.other_name) if org.other_name else ""
    country = org.country
    team = org.team
    manager = org.relationship_manager
    badges = label_badges(org)
    labels = format_html_join(
        "", '<span class="seg-badge seg-{}" data-dimension="{}" data-label="{}" title="{}: {}">{}</span>',
        ((b["tone"], b["dimension"], b["code"], b["dimension_label"], b["name"], b["name"]) for b in badges),
    ) if badges else NONE_CELL
    tier = tier_badge(org)
    updated = timezone.localtime(org.updated_at).date().isoformat() if org.updated_at else ""
    return format_html(
        '<tr data-org="{}">{}<td><a class="strong" href="{}">{}</a>{}</td>'
        '<td><span class="badge">{}</span></td>'
        '<td><span class="country-code">{}</span> {}</td>'
        "<td>{}</td><td>{}</td>"
        '<td class="label-cell">{}</td><td>{}</td><td class="nowrap">{}</td></tr>',
        org.pk, select, reverse("client_detail", args=[org.pk]), name, other,
        choice_name(OrganizationKind, org.kind),
        country.code or "", country.name or "",
        team.name if team else NONE_CELL,
        (manager.get_full_name() or manager.get_username()) if manager else NONE_CELL,
        labels,
        format_html('<span class="badge tier-{}" data-tier="{}">{}</span>', tier["code"], tier["code"], tier["name"])
        if tier else NONE_CELL,
        updated,
    )


NONE_CELL = mark_safe('<span class="muted">—</span>')  # a constant


def tier_badge(org) -> dict[str, str] | None:
    """The client's current service tier for the list (None before the first automation or run)."""
    try:
        tier = org.service_tier
    except ObjectDoesNotExist:
        return None
    return {"code": tier.tier, "name": choice_name(Tier, tier.tier)}


@page
@require_POST
def organization_bulk(request: HttpRequest) -> HttpResponse:
    """Bulk edit from the list: the selected rows, one action; back to the list with what happened."""
    user = request.user
    require(can_write(user))
    back = safe_next(request) or reverse("parties:organization_list")
    action = request.POST.get("action", "")
    value = {"assign_team": request.POST.get("team"), "assign_relationship_manager":
             request.POST.get("relationship_manager"), "add_tag": request.POST.get("tag")}.get(action)
    try:
        result = services.organization_bulk_update(actor=user, ids=request.POST.getlist("ids"), action=action,
                                                   value=value)
    except ServiceError as exc:
        messages.error(request, " ".join([exc.message, *(m for ms in exc.fields.values() for m in ms)]))
        return redirect(back)
    messages.success(request, _("%(changed)s clients changed, %(unchanged)s already had it, %(refused)s refused.") % {
        "changed": len(result.changed), "unchanged": len(result.unchanged), "refused": len(result.refused)})
    for refusal in result.refused:
        messages.warning(request, _("Refused: %(name)s (#%(id)s): %(reason)s") % {
            "name": refusal["name"] or "—", "id": refusal["id"], "reason": refusal["message"]})
    return redirect(back)


@page
@require_POST
def saved_view_create(request: HttpRequest) -> HttpResponse:
    query = request.POST.get("query", "")
    try:
        view = services.saved_view_create(actor=request.user, page=SavedView.Page.CLIENTS,
                                          name=request.POST.get("name", ""), query=query,
                                          shared=request.POST.get("shared") == "on")
    except InvalidInput as exc:
        messages.error(request, " ".join(m for ms in exc.fields.values() for m in ms) or exc.message)
        return redirect(_list_url(services.saved_view_query(QueryDict(query))))
    messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
    return redirect(_list_url(view.query) if view.query else f"{reverse('parties:organization_list')}?clear=1")


@page
@require_POST
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    view = selectors.saved_view_get_for_user(user=request.user, pk=pk)
    services.saved_view_delete(actor=request.user, view=view)
    messages.success(request, _("View “%(name)s” deleted.") % {"name": view.name})
    return redirect(safe_next(request) or reverse("parties:organization_list"))


def label_badges(org) -> list[dict[str, str]]:
    """The client's current label per dimension, for the list's badges ("" when not classified)."""
    try:
        labels = org.labels
    except ObjectDoesNotExist:
        labels = None
    badges = []
    for dimension in Dimension.values:
        code = getattr(labels, dimension, "") if labels is not None else ""
        if code:
            tone = "upper" if code == upper_label(dimension) else ("insufficient" if code == "insufficient" else "lower")
            badges.append({"dimension": dimension, "dimension_label": str(Dimension(dimension).label),
                           "code": code, "name": label_display(dimension, code), "tone": tone})
    return badges


def use_pickers(form: OrganizationForm, user, *, current_team_id: int | None = None) -> None:
    """The client form's team (those ``user`` may give, and the current one) and relationship manager (the
    active ones) as bounded pickers with a lookup by name; the fields still validate against the whole set."""
    if "team" in form.fields:
        team = form.limit_choices("team", selectors.assignable_teams(actor=user, current_team_id=current_team_id))
        team.widget = pickers.with_lookup(pickers.team_widget(
            actor=user, purpose=pickers.ASSIGN, empty_label="—", current_team_id=current_team_id), form.data, "team")
    pickers.use_person_picker(form, "relationship_manager", actor=user, kind=pickers.MANAGERS)


@page
def organization_create(request: HttpRequest) -> HttpResponse:
    user = request.user
    require(can_write(user))
    form = OrganizationForm(request.POST or None, show_compliance=can_see_compliance(user))
    use_pickers(form, user)
    organization = submit_form(request, form, lambda: services.organization_create(
        actor=user, data=form.service_data(), tags=form.tag_names(),
    ))
    if organization is not None:
        messages.success(request, _("Client %(name)s created.") % {"name": organization.display_name})
        return redirect("client_detail", pk=organization.pk)
    return render(request, "web/form_page.html", {
        "form": form, "title": _("New client"), "submit_label": _("Create client"),
        "cancel_url": reverse("parties:organization_list"),
    })


@page
def organization_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    organization = selectors.organization_get_for_user(user=user, pk=pk)
    can_edit = can_edit_organization(user, organization)
    show_compliance = can_see_compliance(user)
    require(can_edit or show_compliance)
    form = OrganizationForm(
        request.POST or None, instance=organization, show_compliance=show_compliance, compliance_only=not can_edit,
    )
    use_pickers(form, user, current_team_id=organization.team_id)
    updated = submit_form(request, form, lambda: services.organization_update(
        actor=user, organization=organization, data=form.service_data(),
        expected_version=form.expected_version, tags=form.tag_names(),
    ))
    if updated is not None:
        messages.success(request, _("Changes saved."))
        return redirect("client_detail", pk=organization.pk)
    return render(request, "web/form_page.html", {
        "form": form, "title": _("Edit %(name)s") % {"name": organization.display_name},
        "submit_label": _("Save changes"), "organization": organization,
        "cancel_url": reverse("client_detail", args=[organization.pk]),
    })


@page
def contact_create(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    organization = selectors.organization_get_for_user(user=user, pk=pk)
    require_organization_write(user, organization)
    form = ContactForm(request.POST or None)
    contact = submit_form(request, form, lambda: services.contact_create(
        actor=user, organization=organization, data=form.service_data(),
    ))
    if contact is not None:
        messages.success(request, _("Contact %(name)s added.") % {"name": contact.full_name})
        return redirect(reverse("client_detail", args=[organization.pk]) + "#contacts")
    return render(request, "web/form_page.html", {
        "form": form, "title": _("New contact"), "submit_label": _("Add contact"), "organization": organization,
        "cancel_url": reverse("client_detail", args=[organization.pk]),
    })


@page
def contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    contact = selectors.contact_get_for_user(user=user, pk=pk)
    organization = contact.organization
    require_organization_write(user, organization)
    form = ContactForm(request.POST or None, instance=contact)
    updated = submit_form(request, form, lambda: services.contact_update(
        actor=user, contact=contact, data=form.service_data(), expected_version=form.expected_version,
    ))
    if updated is not None:
        messages.success(request, _("Changes saved."))
        return redirect(reverse("client_detail", args=[organization.pk]) + "#contacts")
    return render(request, "web/form_page.html", {
        "form": form, "title": _("Edit contact %(name)s") % {"name": contact.full_name},
        "submit_label": _("Save changes"), "organization": organization,
        "cancel_url": reverse("client_detail", args=[organization.pk]),
    })
