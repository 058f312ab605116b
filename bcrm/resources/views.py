"""Pages of the resource plan (资源分配计划) and the working calendars (工作日历, read-only: editing is in
the Django admin). Parse, call a selector, render: who sees what is decided in the selectors."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_safe

from bcrm.playbooks.calendars import can_edit_calendars
from bcrm.resources import charts as resource_charts
from bcrm.resources import selectors as resource_selectors
from bcrm.ui.shortcuts import page, render_page


@page(access=resource_selectors.may_see_resource_plan)
@require_safe
def resource_plan(request: HttpRequest) -> HttpResponse:
    plan = resource_selectors.resource_plan(request.user, team=request.GET.get("team") or None)
    teams = resource_selectors.resource_teams(request.user)
    focus = plan.get(plan.team.pk) if plan.team else next(
        (t for t in plan.teams if t.team_id is not None and t.clients), None) or next(
        (t for t in plan.teams if t.team_id is not None), None)
    context = {
        "plan": plan,
        "teams": teams,
        "focus": focus,
        "demand_chart": resource_charts.demand_capacity(plan) if plan.teams else None,
        "value_chart": (resource_charts.value_curve(focus.what_if, team_name=focus.name)
                        if focus is not None and focus.what_if is not None and focus.what_if.clients else None),
    }
    return render_page(request, "resources/resource_plan.html", context)


@page
@require_safe
def calendar_list(request: HttpRequest) -> HttpResponse:
    try:
        year = int(request.GET.get("year") or timezone.localdate().year)
    except ValueError:
        year = timezone.localdate().year
    calendars = resource_selectors.calendar_overview(year=year)
    return render_page(request, "playbooks/calendar_list.html", {
        "calendars": calendars, "year": year, "years": [year - 1, year, year + 1],
        # the edit link leads to the Django admin, which only staff can open
        "can_edit": bool(request.user.is_staff) and can_edit_calendars(request.user),
    })
