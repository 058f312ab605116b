"""The financing-progress chart of the report: the target, the committed total and each ladder status,
in the project's currency. One definition: interactive on the page, static SVG in the PDF and e-mail."""

from __future__ import annotations

import functools
from typing import Any

from django.utils.translation import gettext as _

from bcrm.ui.charts import INK, LOWER_COLOR, UPPER_COLOR, Chart, _alt, _finish, _num, _with_data

TARGET_COLOR = INK
COMMITTED_COLOR = UPPER_COLOR
PIPELINE_COLOR = "#8fb3f0"
CLOSED_COLOR = LOWER_COLOR


@functools.lru_cache(maxsize=64)
def _financing_skeleton(x_title: str, y_title: str, order: tuple[str, ...]) -> dict[str, Any]:
    alt = _alt()
    base = alt.Chart(alt.NamedData("bars"))
    bars = base.mark_bar(cornerRadiusEnd=3).encode(
        y=alt.Y("category:N", title=y_title or None, sort=list(order)),
        x=alt.X("value:Q", title=x_title, axis=alt.Axis(format="~s")),
        color=alt.Color("color:N", scale=None, legend=None),
        tooltip=[alt.Tooltip("category:N", title=y_title or " "), alt.Tooltip("value:Q", title=x_title, format=",.0f")],
    )
    # Long bars carry their label inside (white), short ones beside: no label runs off the chart.
    labels = base.mark_text(
        align=alt.ExprRef("datum.inside ? 'right' : 'left'"), dx=alt.ExprRef("datum.inside ? -4 : 4"),
    ).encode(y=alt.Y("category:N", sort=list(order)), x="value:Q", text="text:N",
             color=alt.condition("datum.inside", alt.value("#ffffff"), alt.value(INK)))
    return _finish(alt.layer(bars, labels), height=max(80, 26 * len(order)))


def financing_chart(financing, *, key: str = "financing-progress") -> Chart:
    """``financing`` is a selectors.Financing; call inside translation.override for the labels."""
    target_label, committed_label = _("Financing target"), _("Committed")
    entries: list[tuple[str, Any, str]] = [
        (target_label, financing.target, TARGET_COLOR),
        (committed_label, financing.committed, COMMITTED_COLOR),
    ]
    for row in financing.ladder:
        if row.count == 0:
            continue
        color = COMMITTED_COLOR if row.committed else (CLOSED_COLOR if row.status in ("declined", "withdrawn")
                                                      else PIPELINE_COLOR)
        entries.append((row.label, row.amount, color))
    rows, table = [], []
    peak = max((float(a) for _n, a, _c in entries if a is not None), default=0.0)
    for name, amount, color in entries:
        number = _num(amount, 2)
        text = "" if number is None else f"{number:,.0f}"
        inside = bool(number and peak and number >= 0.7 * peak)
        rows.append({"category": name, "value": number, "color": color, "text": text, "inside": inside})
        table.append([name, text])
    x_title = _("Amount (%(currency)s)") % {"currency": financing.currency}
    title = _("Financing progress")
    skeleton = _financing_skeleton(x_title, _("Status"), tuple(e[0] for e in entries))
    return Chart(key=key, title=title, spec=_with_data(skeleton, bars=rows), columns=[_("Status"), x_title],
                 rows=table, description=_("Committed against the financing target, by commitment status"))
