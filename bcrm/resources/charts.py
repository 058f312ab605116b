"""Charts of the resource plan, built with the app's one chart layer (:mod:`bcrm.ui.charts`): the same
definition is drawn in the page and rendered statically, and every chart carries its table."""

from __future__ import annotations

import functools
from typing import Any

from django.utils.translation import gettext as _

from bcrm.resources.planning import WhatIf
from bcrm.resources.selectors import ResourcePlan
from bcrm.ui import charts
from bcrm.ui.charts import (
    LINE_COLOR,
    SERIES_COLORS,
    UPPER_COLOR,
    Chart,
    _alt,
    _finish,
    _num,
    _pct,
    _with_data,
)

CURVE_HEIGHT = charts.HEIGHT + 40
TODAY_COLOR = SERIES_COLORS[1]


def demand_capacity(plan: ResourcePlan) -> Chart:
    """Hours a month per team: what the playbooks ask (demand) beside what the members have (capacity)."""
    demand, capacity = _("Demand"), _("Capacity")
    teams = [t for t in plan.teams if t.team_id is not None or t.demand]
    return charts.grouped_bars(
        [t.name for t in teams],
        {demand: [round(t.demand, 1) for t in teams], capacity: [round(t.capacity, 1) for t in teams]},
        key="demand-capacity", title=_("Demand and capacity per team"), x_title=_("Team"),
        y_title=_("Hours per month"), value_format=",.0f", digits=1)


@functools.lru_cache(maxsize=32)
def _value_curve_skeleton(x_title: str, y_title: str, capacity_title: str, plan_title: str) -> dict[str, Any]:
    alt = _alt()
    curve = alt.Chart(alt.NamedData("curve")).mark_line(color=UPPER_COLOR, strokeWidth=2.5).encode(
        x=alt.X("hours:Q", title=x_title, scale=alt.Scale(zero=False)),
        y=alt.Y("share:Q", title=y_title, axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip("hours:Q", format=",.1f", title=x_title),
                 alt.Tooltip("share:Q", format=".1%", title=y_title)],
    )
    capacity = alt.Chart(alt.NamedData("capacity"))
    rule = capacity.mark_rule(color=LINE_COLOR, strokeWidth=2, strokeDash=[5, 3]).encode(
        x="hours:Q", tooltip=[alt.Tooltip("hours:Q", format=",.1f", title=capacity_title)])
    # The rule's label sits at the foot of the line, away from the curve's top where the points are.
    rule_text = capacity.mark_text(color=LINE_COLOR, align="right", baseline="bottom", dx=-4, dy=-4,
                                   fontWeight=600).encode(x="hours:Q", y=alt.value(CURVE_HEIGHT), text="text:N")
    points = alt.Chart(alt.NamedData("points")).mark_point(filled=True, size=70).encode(
        x="hours:Q", y="share:Q",
        color=alt.Color("what:N", title=None, scale=alt.Scale(range=[LINE_COLOR, TODAY_COLOR])),
        tooltip=[alt.Tooltip("what:N", title=plan_title), alt.Tooltip("hours:Q", format=",.1f", title=x_title),
                 alt.Tooltip("share:Q", format=".1%", title=y_title)],
    )
    return _finish(alt.layer(curve, rule, rule_text, points), height=CURVE_HEIGHT)


def value_curve(what_if: WhatIf, *, team_name: str, key: str = "value-hours") -> Chart:
    """Value covered against hours: clients by value score, best first, moved to the dedicated tier one by
    one (team hours a month, share of the team's value), with the team's capacity as a rule and the plan's
    choice and today's dedicated clients as points."""
    x_title = _("Team hours per month")
    y_title = _("Share of the team's value served as dedicated")
    capacity_title = _("Capacity")
    plan_title = _("Plan")
    curve = [{"hours": _num(h, 2), "share": _num(s, 4)} for h, s in what_if.curve]
    points = [{"what": _("Best use of capacity"), "hours": _num(what_if.total_hours, 2),
               "share": _num(what_if.value_covered or 0.0, 4)}]
    if what_if.current_k:
        points.append({"what": _("Dedicated today"), "hours": _num(what_if.base_hours + what_if.current_hours, 2),
                       "share": _num(what_if.current_value_covered or 0.0, 4)})
    rule = [{"hours": _num(what_if.capacity, 2),
             "text": _("Capacity %(hours)s h") % {"hours": f"{what_if.capacity:,.0f}"}}]
    spec = _with_data(_value_curve_skeleton(x_title, y_title, capacity_title, plan_title),
                      curve=curve, capacity=rule, points=points)
    description = _("%(team)s: %(k)s clients as dedicated cover %(share)s of the value in %(hours)s hours a month") % {
        "team": team_name, "k": what_if.k, "share": _pct(what_if.value_covered), "hours": f"{what_if.total_hours:,.0f}"}
    return Chart(key=key, title=_("Value covered against hours"), spec=spec, columns=[x_title, y_title],
                 rows=[[f"{p['hours']:,.1f}", _pct(p["share"])] for p in curve], description=description)
