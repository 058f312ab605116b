"""The figures of one period as the dashboard shows them and the management report prints them, composed in one
place so the two cannot drift: the stored rows of a breakdown (:mod:`bcrm.monitoring.selectors`, which decide who
may read what), formatted and judged by :mod:`bcrm.monitoring.presenters`, with the charts, the pipeline, the
Lorenz curve, the trend and the class migrations of the period.

Reads stored snapshot rows only: a fixed number of queries whatever the portfolio's size."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from bcrm.monitoring import presenters, selectors
from bcrm.monitoring.choices import ALL, TREND_FIGURES
from bcrm.monitoring.services import parse_kpi_period, readable_team_ids

TREND_LENGTH = 12


@dataclass
class PeriodFigures:
    """One breakdown of one period for one team (``team`` None: all teams), ready to show."""

    period: str
    breakdown: str
    team: int | None
    computed_at: Any
    #: the stored rows (segment, segment_name, figures), in display order
    data: dict[str, Any]
    #: the rows formatted for the table (:func:`presenters.display_row`)
    rows: list[dict[str, Any]]
    total: dict[str, Any] | None
    total_figures: dict[str, Any] | None
    currency: str
    pipeline: list[dict[str, Any]]
    sentences: list[str]
    charts: dict[str, Any] = field(default_factory=dict)
    #: figure key → its trend chart over the stored snapshots up to the period
    trends: dict[str, Any] = field(default_factory=dict)
    lorenz: dict[str, Any] | None = None
    lorenz_top: str = ""
    lorenz_gini: str = ""
    migrations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stored_rows(self) -> list[dict[str, Any]]:
        return self.data["rows"]


def period_figures(user, period: str, breakdown: str, team: Any = None, *, trends: Iterable[str] = (),
                   trend_periods: list[str] | None = None, with_charts: bool = True) -> PeriodFigures:
    """The figures of ``period`` by ``breakdown`` for ``team`` as ``user`` may read them.

    Portfolio-wide extras (the Lorenz curve and the class migrations) come only with the all-teams rows of a
    reader who sees every client. ``trends``: the figures (keys of :data:`TREND_FIGURES`) whose trend over the
    stored snapshots up to ``period`` (of ``trend_periods``, default the stored ones) is drawn.
    ``with_charts=False``: the table, the pipeline and the sentences only (no charts, curve or migrations)."""
    data = selectors.kpis(user, period, breakdown, team)
    period, team_id, rows = data["period"], data["team"], data["rows"]
    total = next((r for r in rows if r["segment"] == ALL), None)
    figures = total["figures"] if total else {}
    currency = figures.get("currency") or settings.BCRM_REPORTING_CURRENCY
    out = PeriodFigures(
        period=period, breakdown=data["breakdown"], team=team_id, computed_at=data["computed_at"], data=data,
        rows=[presenters.display_row(r) for r in rows], total=presenters.display_row(total) if total else None,
        total_figures=figures if total else None, currency=currency,
        pipeline=presenters.pipeline_rows(figures) if total else [],
        sentences=presenters.shortfalls(data["breakdown"], rows) if rows else [])
    if not rows or not with_charts:
        return out
    portfolio = team_id is None and readable_team_ids(user) is None
    if portfolio:
        out.lorenz = selectors.lorenz_curve(user, period)
        out.migrations = presenters.migration_rows(
            selectors.latest_migrations(user, as_of=parse_kpi_period(period)[1]))
    if out.lorenz:
        top = out.lorenz.get("top_20_share")
        out.lorenz_top = presenters.pct(top) if top is not None else ""
        out.lorenz_gini = presenters.num(out.lorenz.get("gini"), 3)
    out.charts = presenters.dashboard_charts(rows, out.lorenz)
    if total:
        pipeline = presenters.pipeline_chart(figures, currency)
        if pipeline is not None:
            out.charts["pipeline"] = pipeline
    trends = list(trends)
    if trends:
        if trend_periods is None:
            trend_periods = selectors.snapshot_periods()
        shown = sorted(p for p in trend_periods if p <= period)[-TREND_LENGTH:]
        for name in trends:
            if len(shown) < 2:
                continue
            label, _path, share = TREND_FIGURES[name]
            chart = presenters.trend_chart(shown, selectors.trend_series(user, out.breakdown, team_id, shown, name),
                                           label, share)
            if chart is not None:
                out.trends[name] = chart
    return out
