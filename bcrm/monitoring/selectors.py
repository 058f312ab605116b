"""Reads of the stored KPI snapshot, shared by the API, the CLI and (later) the dashboard.

These read stored rows only, never the history: a fixed number of queries whatever the portfolio's size.

Who sees what: roles that see every client (admin, lead, analyst, compliance, viewer) read every team's
rows and the all-teams rows. A relationship manager reads only the rows of the teams they belong to: the
all-teams rows and other teams' rows add up clients they may not see, so asking for them is refused.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from bcrm.accounts.models import Team
from bcrm.accounts.permissions import sees_all_organizations
from bcrm.core.errors import InvalidInput, PermissionDenied
from bcrm.monitoring.choices import ALL, UNCLASSIFIED, Breakdown
from bcrm.monitoring.models import KpiCurve, KpiSnapshot, SnapshotRun
from bcrm.monitoring.services import (
    LORENZ,
    parse_kpi_period,
    readable_team_ids,
    require_dashboard,
    require_team_figures,
)
from bcrm.playbooks.choices import Tier
from bcrm.segmentation.choices import INSUFFICIENT, Dimension, RunStatus, label_display, labels_for
from bcrm.segmentation.models import Run
from bcrm.segmentation.selectors import effective_assignments


def require_portfolio(actor) -> None:
    """Portfolio-wide figures (all teams, the effect estimate) are for roles that see every client."""
    if not sees_all_organizations(actor):
        raise PermissionDenied(_("Portfolio-wide figures are for roles that see every client."))


def _breakdown(value: Any) -> str:
    if value not in Breakdown.values:
        raise InvalidInput(fields={"breakdown": [_("Unknown breakdown %(value)r: choose one of %(choices)s.")
                                                 % {"value": value, "choices": ", ".join(Breakdown.values)}]})
    return str(value)


def _team_id(user, team: Any) -> int | None:
    """The team asked for (an id or a Team), checked against what ``user`` may read
    (:func:`bcrm.monitoring.services.require_team_figures`)."""
    team_id: int | None
    if team is None or team == "":
        team_id = None
    elif isinstance(team, Team):
        team_id = team.pk
    else:
        try:
            team_id = int(team)
        except (TypeError, ValueError):
            raise InvalidInput(fields={"team": [_("A team is given by its id, a whole number.")]}) from None
    require_team_figures(user, team_id)
    if team_id is not None and readable_team_ids(user) is None and not Team.objects.filter(pk=team_id).exists():
        raise InvalidInput(fields={"team": [_("There is no team with id %(id)s.") % {"id": team_id}]})
    return team_id


def dashboard_teams(user) -> tuple[list[Team], bool]:
    """The teams ``user`` may choose on the dashboard, and whether "all teams" is a choice."""
    require_dashboard(user)
    scope = readable_team_ids(user)
    if scope is None:
        return list(Team.objects.order_by("name")), True
    return list(Team.objects.filter(pk__in=scope).order_by("name")), False


def segment_name(breakdown: str, segment: str) -> str:
    if segment == ALL:
        return _("All clients")
    if segment == UNCLASSIFIED:
        return _("Unclassified")
    if breakdown == Breakdown.TIER:
        return str(dict(Tier.choices).get(segment, segment))
    return label_display(breakdown, segment)


def segment_order(breakdown: str) -> list[str]:
    codes = labels_for(breakdown) if breakdown != Breakdown.TIER else list(Tier.values)
    return [c for c in codes if c != INSUFFICIENT] + [INSUFFICIENT, UNCLASSIFIED, ALL]


def kpis(user, period: str, breakdown: str, team: Any = None) -> dict[str, Any]:
    """The stored figures of one period and breakdown for one team (``None``: all teams), one row per
    segment in display order. ``computed_at`` is ``None`` when the period has no snapshot yet."""
    first, _last = parse_kpi_period(period)
    period = f"{first:%Y-%m}"
    breakdown = _breakdown(breakdown)
    team_id = _team_id(user, team)
    scope: dict[str, Any] = {"team__isnull": True} if team_id is None else {"team_id": team_id}
    rows = list(KpiSnapshot.objects.filter(period=period, breakdown=breakdown, **scope)
                .values("segment", "computed_at", "figures"))
    order = {code: i for i, code in enumerate(segment_order(breakdown))}
    rows.sort(key=lambda r: (order.get(r["segment"], len(order)), r["segment"]))
    return {
        "period": period,
        "breakdown": breakdown,
        "team": team_id,
        "computed_at": rows[0]["computed_at"] if rows else None,
        "rows": [{"segment": r["segment"], "segment_name": segment_name(breakdown, r["segment"]),
                  "figures": r["figures"]} for r in rows],
    }


def lorenz_curve(user, period: str) -> dict[str, Any] | None:
    """The stored Lorenz curve of commitments of ``period`` (all clients), or ``None`` if not computed."""
    require_portfolio(user)
    first, _last = parse_kpi_period(period)
    row = KpiCurve.objects.filter(period=f"{first:%Y-%m}", name=LORENZ).values("points", "computed_at").first()
    return None if row is None else {**row["points"], "computed_at": row["computed_at"]}


def snapshot_runs(user, period: str | None = None, limit: int = 20) -> list[SnapshotRun]:
    require_portfolio(user)
    qs = SnapshotRun.objects.select_related("created_by")
    if period:
        qs = qs.filter(period=period)
    return list(qs[:limit])


def has_snapshot(period: str) -> bool:
    return KpiSnapshot.objects.filter(period=period).exists()


def snapshot_periods(limit: int = 36) -> list[str]:
    """The periods that have a stored snapshot, newest first (one indexed query on stored rows)."""
    return list(KpiSnapshot.objects.filter(breakdown=Breakdown.TIER, segment=ALL, team__isnull=True)
                .order_by("-period").values_list("period", flat=True)[:limit])


def trend_series(user, breakdown: str, team: Any, periods: list[str], figure: str) -> dict[str, list[Any]]:
    """One stored figure of each segment over ``periods`` (oldest first): segment name → value per period,
    ``None`` where a period has no value. One query on stored rows; the same permission as :func:`kpis`."""
    from bcrm.monitoring.choices import TREND_FIGURES
    from bcrm.monitoring.presenters import path as figure_at

    breakdown = _breakdown(breakdown)
    if figure not in TREND_FIGURES:
        raise InvalidInput(fields={"figure": [_("Unknown figure %(value)r.") % {"value": figure}]})
    team_id = _team_id(user, team)
    path = TREND_FIGURES[figure][1]
    scope: dict[str, Any] = {"team__isnull": True} if team_id is None else {"team_id": team_id}
    stored = (KpiSnapshot.objects.filter(period__in=periods, breakdown=breakdown, **scope)
              .values_list("period", "segment", "figures"))
    by_segment: dict[str, dict[str, Any]] = {}
    for period, segment, figures in stored:
        if segment in (UNCLASSIFIED, INSUFFICIENT) and not figures.get("clients"):
            continue
        by_segment.setdefault(segment, {})[period] = figure_at(figures, path)
    order = segment_order(breakdown)
    segments = sorted(by_segment, key=lambda s: order.index(s) if s in order else len(order))
    return {segment_name(breakdown, s): [by_segment[s].get(p) for p in periods] for s in segments}


def latest_migrations(user, as_of=None) -> list[dict[str, Any]]:
    """Per dimension, the latest finished classification run (as of ``as_of`` or earlier when given) with the
    migrations it stored against the labels before it: portfolio-wide, so for roles that see every client.
    One query per dimension on the run table."""
    require_portfolio(user)
    out = []
    for dimension in Dimension.values:
        runs = Run.objects.filter(dimension=dimension, status=RunStatus.DONE)
        if as_of is not None:
            runs = runs.filter(as_of__lte=as_of)
        run = runs.order_by("-as_of", "-started_at", "-id").values("id", "as_of", "migrations",
                                                                    "previous_run_id").first()
        if run is not None:
            out.append({"dimension": dimension, "id": run["id"], "as_of": run["as_of"],
                        "migrations": run["migrations"], "previous_run": run["previous_run_id"]})
    return out


def manipulation_checks(user, as_of=None) -> list[dict[str, Any]]:
    """Per dimension, the density test at the line of the latest finished run with a line (as of ``as_of`` or
    earlier): portfolio-wide, for roles that see every client. One query for the run and one for its
    scores per dimension."""
    import numpy as np

    from bcrm.monitoring.effect import manipulation_check

    require_portfolio(user)
    out = []
    for dimension in Dimension.values:
        runs = Run.objects.filter(dimension=dimension, status=RunStatus.DONE, threshold__isnull=False)
        if as_of is not None:
            runs = runs.filter(as_of__lte=as_of)
        found = runs.order_by("-as_of", "-started_at", "-id").only("id", "as_of", "threshold", "chain").first()
        if found is None:
            continue
        scores = np.array(list(effective_assignments(found).filter(score__isnull=False)
                               .values_list("score", flat=True)), dtype=np.float64)
        threshold = found.threshold
        assert threshold is not None                       # filtered above
        out.append({"dimension": dimension, "run": found.pk, "as_of": found.as_of,
                    **manipulation_check(scores, float(threshold))})
    return out

