"""Charts of the monitoring dashboard and the effect page, built with the app's one chart layer
(:mod:`bcrm.ui.charts`): each chart is defined once per set of texts (memoised skeleton over named data
sets), drawn in the page by vega-embed and rendered statically by vl-convert, and carries its table."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.translation import gettext as _

from bcrm.ui.charts import (
    HEIGHT,
    INK_SOFT,
    LINE_COLOR,
    LOWER_COLOR,
    SERIES_COLORS,
    UPPER_COLOR,
    Chart,
    _alt,
    _finish,
    _num,
    _with_data,
)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


# --- a figure with its interval, one per category (NPS by segment) ----------------------------------------

@functools.lru_cache(maxsize=64)
def _interval_skeleton(x_title: str, y_title: str, low_title: str, high_title: str, n_title: str,
                       order: tuple[str, ...], domain: tuple[float, float] | None) -> dict[str, Any]:
    alt = _alt()
    scale = alt.Scale(domain=list(domain)) if domain else alt.Scale(zero=False)
    base = alt.Chart(alt.NamedData("points")).encode(
        y=alt.Y("category:N", title=y_title or None, sort=list(order)))
    tooltip = [alt.Tooltip("category:N", title=y_title or " "), alt.Tooltip("value:Q", title=x_title, format=",.1f"),
               alt.Tooltip("low:Q", title=low_title, format=",.1f"),
               alt.Tooltip("high:Q", title=high_title, format=",.1f"), alt.Tooltip("n:Q", title=n_title)]
    rule = base.mark_rule(color=LOWER_COLOR, strokeWidth=3).encode(
        x=alt.X("low:Q", title=x_title, scale=scale), x2="high:Q", tooltip=tooltip)
    dot = base.mark_point(color=UPPER_COLOR, filled=True, size=90).encode(x="value:Q", tooltip=tooltip)
    text = base.mark_text(align="center", dy=-12, color=INK_SOFT).encode(x="value:Q", text="text:N")
    zero = alt.Chart(alt.NamedData("zero")).mark_rule(color="#cfd7e2", strokeDash=[3, 3]).encode(x="value:Q")
    return _finish(alt.layer(zero, rule, dot, text), height=max(70, 34 * len(order)))


def interval_points(categories: Sequence[str], values: Sequence[float | None], lows: Sequence[float | None],
                    highs: Sequence[float | None], counts: Sequence[int], *, key: str, title: str, x_title: str,
                    y_title: str = "", domain: tuple[float, float] | None = None, digits: int = 1) -> Chart:
    """A point per category with its confidence interval as a bar, e.g. NPS by segment; categories
    without a value are left out of the drawing and shown as "—" in the table."""
    cats = [str(c) for c in categories]
    low_title, high_title, n_title = _("Interval from"), _("Interval to"), _("Responses")
    points, table = [], []
    for name, value, low, high, n in zip(cats, values, lows, highs, counts, strict=True):
        if value is not None:
            points.append({"category": name, "value": _num(value), "low": _num(low if low is not None else value),
                           "high": _num(high if high is not None else value), "n": int(n),
                           "text": f"{value:,.{digits}f} (n={int(n)})"})
        table.append([name, _fmt(value, digits) or "—", _fmt(low, digits) or "—", _fmt(high, digits) or "—", int(n)])
    skeleton = _interval_skeleton(x_title, y_title, low_title, high_title, n_title, tuple(cats), domain)
    spec = _with_data(skeleton, points=points, zero=[{"value": 0}] if domain and domain[0] < 0 < domain[1] else [])
    return Chart(key=key, title=title, spec=spec, columns=[y_title or " ", x_title, low_title, high_title, n_title],
                 rows=table, description=title)


# --- one figure over the last snapshots, a line per segment ------------------------------------------------

@functools.lru_cache(maxsize=64)
def _trend_skeleton(x_title: str, y_title: str, value_format: str, series: tuple[str, ...]) -> dict[str, Any]:
    alt = _alt()
    axis = alt.Axis(format=value_format) if value_format else alt.Axis()
    colors = (SERIES_COLORS * (len(series) // len(SERIES_COLORS) + 1))[:len(series)]
    line = alt.Chart(alt.NamedData("trend")).mark_line(point=True, strokeWidth=2).encode(
        x=alt.X("period:O", title=x_title, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("value:Q", title=y_title, axis=axis),
        color=alt.Color("series:N", sort=list(series), scale=alt.Scale(domain=list(series), range=colors)),
        tooltip=[alt.Tooltip("period:O", title=x_title), alt.Tooltip("series:N", title=" "),
                 alt.Tooltip("value:Q", title=y_title, format=value_format or ",.2f")],
    )
    return _finish(line)


def trend(periods: Sequence[str], series: Mapping[str, Sequence[Any]], *, key: str, title: str,
          y_title: str, value_format: str = "", digits: int = 1, percent: bool = False) -> Chart:
    """A figure per period (oldest first), one line per series (segment); gaps where a value is missing."""
    x_title = _("Period")
    names = [str(s) for s in series]
    rows, table = [], []
    for i, period in enumerate(periods):
        line: list[Any] = [period]
        for name, values in zip(names, series.values(), strict=True):
            value = values[i] if i < len(values) else None
            if value is not None:
                rows.append({"period": period, "series": name, "value": _num(value)})
            line.append("—" if value is None else (f"{100 * value:.1f}%" if percent else f"{value:,.{digits}f}"))
        table.append(line)
    spec = _with_data(_trend_skeleton(x_title, y_title, value_format, tuple(names)), trend=rows)
    return Chart(key=key, title=title, spec=spec, columns=[x_title, *names], rows=table, description=title)


# --- the regression-discontinuity plot --------------------------------------------------------------------

@functools.lru_cache(maxsize=32)
def _rd_skeleton(x_title: str, y_title: str, below: str, above: str, line_title: str,
                 count_title: str) -> dict[str, Any]:
    alt = _alt()
    color = alt.Color("side:N", title=None, scale=alt.Scale(domain=[below, above], range=[LOWER_COLOR, UPPER_COLOR]))
    points = alt.Chart(alt.NamedData("bins")).mark_circle(opacity=0.9).encode(
        x=alt.X("centre:Q", title=x_title, scale=alt.Scale(zero=False, nice=False)),
        y=alt.Y("mean:Q", title=y_title, scale=alt.Scale(zero=False)),
        size=alt.Size("count:Q", title=count_title, legend=None, scale=alt.Scale(range=[30, 220])),
        color=color,
        tooltip=[alt.Tooltip("side:N", title=" "), alt.Tooltip("centre:Q", title=x_title, format=".4f"),
                 alt.Tooltip("mean:Q", title=y_title, format=",.3f"), alt.Tooltip("count:Q", title=count_title)],
    )
    fits = alt.Chart(alt.NamedData("fits")).mark_line(strokeWidth=2.5).encode(
        x="x:Q", y="y:Q", detail="side:N", color=color)
    line = alt.Chart(alt.NamedData("line"))
    rule = line.mark_rule(color=LINE_COLOR, strokeWidth=2, strokeDash=[5, 3]).encode(
        x="threshold:Q", tooltip=[alt.Tooltip("threshold:Q", format=".4f", title=line_title)])
    text = line.mark_text(color=LINE_COLOR, align="left", baseline="top", dx=4, dy=2, fontWeight=600).encode(
        x="threshold:Q", y=alt.value(0), text="text:N")
    return _finish(alt.layer(points, fits, rule, text), height=HEIGHT + 40)


def rd_plot(bins: Sequence[dict[str, Any]], threshold: float | None, fit: dict[str, float | None] | None,
            bandwidth: float | None, *, outcome_title: str, key: str = "rd-plot", title: str = "") -> Chart:
    """Mean outcome per bin of scores, below and above the line, with the two fitted local lines
    (``intercept + slope × (score − line)`` within the bandwidth) and the line drawn."""
    x_title, count_title, line_title = _("Score"), _("Clients"), _("Dividing line")
    below, above = _("Clients below the line"), _("Clients at or above the line")
    points = [{"centre": _num(b["centre"]), "mean": _num(b["mean"]), "count": int(b["count"]),
               "side": above if b["above"] else below} for b in bins]
    fits: list[dict[str, Any]] = []
    if threshold is not None and fit and bandwidth and math.isfinite(bandwidth) and bandwidth > 0:
        scores = [b["centre"] for b in bins]
        low = max(threshold - bandwidth, min(scores, default=threshold - bandwidth))
        high = min(threshold + bandwidth, max(scores, default=threshold + bandwidth))
        for side, start, end, name in (("left", low, threshold, below), ("right", threshold, high, above)):
            a, b = fit.get(f"intercept_{side}"), fit.get(f"slope_{side}")
            if a is None or b is None:
                continue
            fits += [{"x": _num(x), "y": _num(a + b * (x - threshold)), "side": name} for x in (start, end)]
    line = [] if threshold is None else [{"threshold": _num(threshold), "text": f"{line_title} {threshold:.3f}"}]
    spec = _with_data(_rd_skeleton(x_title, outcome_title, below, above, line_title, count_title),
                      bins=points, fits=fits, line=line)
    table = [[f"{b['centre']:.4f}", b["side"], f"{b['mean']:,.3f}", b["count"]] for b in points]
    return Chart(key=key, title=title, spec=spec, columns=[x_title, " ", outcome_title, count_title], rows=table,
                 description=title)
