"""The main navigation, shown only where the signed-in user may go.

One rule, one place: a page declares who may open it (``@page(access=predicate)`` in its view), and a
navigation entry names only the URL of that page. Whether the link shows is the view's own predicate,
read off the view the URL resolves to, so a link can never lead to a 403 because a second, hand-written
list disagreed with the view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.urls import NoReverseMatch, resolve, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from bcrm.accounts.permissions import user_roles

Predicate = Callable[[Any], bool]


@dataclass(frozen=True)
class NavLink:
    url_name: str
    label: str | Promise
    #: the paths of the section this link stands for (aria-current)
    prefixes: tuple[str, ...] = ()
    #: only for pages that are not ours (the admin site): the check that page itself makes, on the request
    request_check: Callable[[Any], bool] | None = None

    def url(self) -> str:
        return reverse(self.url_name)


@dataclass(frozen=True)
class NavGroup:
    label: str | Promise
    links: tuple[NavLink, ...] = field(default_factory=tuple)


def _admin_site_allows(request) -> bool:
    from django.contrib import admin

    return admin.site.has_permission(request)


MAIN_NAV: tuple[NavLink | NavGroup, ...] = (
    NavLink("playbooks:my_day", _("My day"), ("/my-day/",)),
    NavLink("parties:organization_list", _("Clients"), ("/clients/",)),
    NavLink("financing:project_list", _("Projects"), ("/projects/",)),
    NavLink("engagement:task_list", _("Tasks"), ("/tasks/",)),
    NavLink("engagement:service_request_list", _("Service requests"), ("/requests/",)),
    NavLink("segmentation:index", _("Segmentation"), ("/segmentation/",)),
    NavLink("monitoring:dashboard", _("Monitoring dashboard"), ("/dashboard/",)),
    NavLink("surveys:invitation_list", _("Surveys"), ("/surveys/",)),
    NavGroup(_("Service"), (
        NavLink("playbooks:team_board", _("Team board"), ("/team-board/",)),
        NavLink("plans:plan_list", _("Financing plans"), ("/plans/",)),
        NavLink("playbooks:playbook_list", _("Service playbooks"), ("/playbooks/",)),
        NavLink("playbooks:tier_policy", _("Tier policy"), ("/tier-policy/",)),
        NavLink("resource:plan", _("Resource plan"), ("/resource-plan/",)),
        NavLink("playbooks:automation", _("Automation"), ("/automation/",)),
        NavLink("resource:calendars", _("Working calendars"), ("/calendars/",)),
        NavLink("progress:delivery_list", _("Report deliveries"), ("/reports/",)),
    )),
    NavGroup(_("Data"), (
        NavLink("quality:page", _("Data quality"), ("/data-quality/",)),
        NavLink("dataio:home", _("Import / export"), ("/data/",)),
        NavLink("dedupe:candidate_list", _("Duplicates"), ("/duplicates/",)),
        NavLink("financing:wall_register", _("Wall register"), ("/compliance/walls/",)),
        NavLink("privacy:page", _("Privacy requests"), ("/privacy/",)),
        NavLink("intel:suggestions", _("Suggested contacts"), ("/contacts/suggestions/",)),
        NavLink("intel:accounts", _("Connected accounts"), ("/me/accounts/",)),
        NavLink("analysis:analyse", _("Analyse a file"), ("/analyse/",)),
        NavLink("api:openapi-view", _("API docs"), ("/api/v1/docs",)),
        NavLink("backup:audit", _("Audit trail and backups"), ("/audit/",)),
    )),
    NavLink("admin:index", _("Admin"), ("/admin/",), request_check=_admin_site_allows),
)


def view_access(url_name: str) -> Predicate | None:
    """The predicate the view behind ``url_name`` enforces (``@page(access=…)``), or None: any signed-in user."""
    return getattr(resolve(reverse(url_name)).func, "access", None)


def may_open(request, link: NavLink) -> bool:
    user = request.user
    if not getattr(user, "is_authenticated", False):
        return False
    if link.request_check is not None:
        return link.request_check(request)
    try:
        access = view_access(link.url_name)
    except NoReverseMatch:
        return False
    return access is None or bool(access(user))


def _entry(request, link: NavLink) -> dict[str, Any]:
    return {"label": link.label, "url": link.url(), "current": request.path.startswith(link.prefixes)}


def main_nav(request) -> list[dict[str, Any]]:
    """The navigation for ``request.user``: links they may open; a group with none left is dropped."""
    items: list[dict[str, Any]] = []
    for item in MAIN_NAV:
        if isinstance(item, NavGroup):
            links = [_entry(request, link) for link in item.links if may_open(request, link)]
            if links:
                items.append({"label": item.label, "links": links, "current": any(x["current"] for x in links)})
        elif may_open(request, item):
            items.append(_entry(request, item))
    return items


def visible_urls(request) -> list[str]:
    """Every URL the navigation shows ``request.user`` (tests walk them all)."""
    urls: list[str] = []
    for item in main_nav(request):
        urls.extend(link["url"] for link in item.get("links", [item]))
    return urls


#: Where each role's day starts, in order of precedence for a user with several roles: a relationship
#: manager on My day, a lead on the team board, an analyst and an administrator on the monitoring dashboard,
#: compliance and viewers on the client list.
LANDING: tuple[tuple[str, str], ...] = (
    ("lead", "playbooks:team_board"),
    ("relationship_manager", "playbooks:my_day"),
    ("admin", "monitoring:dashboard"),
    ("analyst", "monitoring:dashboard"),
    ("compliance", "parties:organization_list"),
    ("viewer", "parties:organization_list"),
)
FALLBACK_LANDING = "playbooks:my_day"


def landing_url(request) -> str:
    """The start page for ``request.user``: the first of their roles' pages they may open (the same check
    the navigation makes), else My day, which every signed-in user may open."""
    roles = user_roles(request.user)
    for role, url_name in LANDING:
        if role in roles and may_open(request, NavLink(url_name, "")):
            return reverse(url_name)
    return reverse(FALLBACK_LANDING)
