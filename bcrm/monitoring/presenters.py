"""How the stored KPI figures are shown: formatted table rows, the sentences that say where service falls short,
and the charts. Shared by the dashboard, the management report (HTML and PDF) and the CLI, so a figure is
formatted and judged in one place. Pure functions of the stored figures: no database access here."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bcrm.core import formatting
from bcrm.financing.choices import ParticipationStatus
from bcrm.monitoring import charts as monitoring_charts
from bcrm.monitoring.choices import ALL, UNCLASSIFIED
from bcrm.segmentation.choices import INSUFFICIENT, Dimension, label_display, lower_label, upper_label
from bcrm.ui import charts

# --- small readers of the stored figures ------------------------------------------------------------------

def path(figures: dict[str, Any], keys: tuple[str, ...]) -> Any:
    value: Any = figures
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def pct(value: Any, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * float(value):.{digits}f}%"


def num(value: Any, digits: int = 1) -> str:
    return "—" if value is None else f"{float(value):,.{digits}f}"


def money(value: Any) -> str:
    try:
        Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return "—"
    return formatting.money(value)


def interval(low: Any, high: Any, digits: int = 1) -> str:
    if low is None or high is None:
        return ""
    return f"[{float(low):,.{digits}f}, {float(high):,.{digits}f}]"


def share_interval(low: Any, high: Any) -> str:
    if low is None or high is None:
        return ""
    return f"[{100 * float(low):.0f}%, {100 * float(high):.0f}%]"


def display_row(row: dict[str, Any]) -> dict[str, Any]:
    """One segment's stored figures, formatted for the table (the numbers are the stored ones)."""
    f = row["figures"]
    nps, csat, repeat = f.get("nps") or {}, f.get("csat") or {}, f.get("repeat") or {}
    cadence, response, resolution = f.get("cadence") or {}, f.get("sla_response") or {}, f.get("sla_resolution") or {}
    return {
        "segment": row["segment"], "name": row["segment_name"], "is_total": row["segment"] == ALL,
        "clients": f.get("clients", 0),
        "committed": money(f.get("committed")), "committed_share": pct(f.get("committed_share")),
        "fee_income": money(f.get("fee_income")), "fee_income_share": pct(f.get("fee_income_share")),
        "cadence": pct(cadence.get("share")), "cadence_judged": cadence.get("judged", 0),
        "response": pct(response.get("share")), "response_judged": response.get("judged", 0),
        "resolution": pct(resolution.get("share")), "resolution_judged": resolution.get("judged", 0),
        "hours": num(f.get("hours")), "hours_per_million": num(f.get("hours_per_million"), 2),
        "nps": num(nps.get("nps")), "nps_interval": interval(nps.get("ci_low"), nps.get("ci_high")),
        "nps_n": nps.get("n", 0),
        "csat": num(csat.get("mean"), 2), "csat_interval": interval(csat.get("ci_low"), csat.get("ci_high"), 2),
        "csat_n": csat.get("n", 0),
        "repeat": pct(repeat.get("share")),
        "repeat_interval": share_interval(repeat.get("ci_low"), repeat.get("ci_high")),
        "repeat_of": repeat.get("committed_clients", 0),
        "insufficient": "—" if f.get("insufficient") is None else f["insufficient"],
    }


def compared_segments(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The segments a chart compares: every class or tier, and the insufficient / unclassified clients when
    there are any; never the all-clients row."""
    return [r for r in rows if r["segment"] != ALL
            and (r["figures"].get("clients") or r["segment"] not in (UNCLASSIFIED, INSUFFICIENT))]


# --- where service falls short, in words -------------------------------------------------------------------

#: The fewest observations a segment needs before the sentences rank it: survey responses for NPS, contacts or
#: requests judged for cadence and SLA compliance. Below it a figure is shown in the table but no conclusion is
#: drawn from it (an NPS of -100 from one answer says nothing about a class of clients).
MIN_COMPARED = 10


def _names(rows: list[dict[str, Any]]) -> str:
    return ", ".join(str(r["segment_name"]) for r in rows)


def _unranked(rows: list[dict[str, Any]]) -> str:
    """The sentence naming the segments left out of a ranking for too few observations ("" when none)."""
    if not rows:
        return ""
    return " " + _("Not ranked, with fewer than %(min)d observations each: %(segments)s.") % {
        "min": MIN_COMPARED, "segments": _names(rows)}


def shortfalls(breakdown: str, rows: list[dict[str, Any]]) -> list[str]:
    """Sentences about the weakest segment on each service figure, from the stored figures only.

    A segment is ranked only with at least :data:`MIN_COMPARED` observations behind its figure, and a ranking
    needs two such segments; otherwise the sentence says there are too few to compare."""
    total = next((r["figures"] for r in rows if r["segment"] == ALL), None)
    segments = compared_segments(rows)
    out: list[str] = []
    measures = (
        ("cadence",
         lambda n: ngettext("%(segment)s has the lowest cadence adherence: %(share)s of %(n)s playbook contact "
                            "done on time (all clients: %(all)s).",
                            "%(segment)s has the lowest cadence adherence: %(share)s of %(n)s playbook contacts "
                            "done on time (all clients: %(all)s).", n),
         lambda: _("Cadence adherence: too few playbook contacts judged to compare segments (fewer than %(min)d "
                   "in all but one segment).")),
        ("sla_response",
         lambda n: ngettext("%(segment)s has the lowest first-response SLA compliance: %(share)s of %(n)s request "
                            "answered within the SLA (all clients: %(all)s).",
                            "%(segment)s has the lowest first-response SLA compliance: %(share)s of %(n)s requests "
                            "answered within the SLA (all clients: %(all)s).", n),
         lambda: _("First-response SLA: too few requests judged to compare segments (fewer than %(min)d in all "
                   "but one segment).")),
        ("sla_resolution",
         lambda n: ngettext("%(segment)s has the lowest resolution SLA compliance: %(share)s of %(n)s request "
                            "resolved within the SLA (all clients: %(all)s).",
                            "%(segment)s has the lowest resolution SLA compliance: %(share)s of %(n)s requests "
                            "resolved within the SLA (all clients: %(all)s).", n),
         lambda: _("Resolution SLA: too few requests judged to compare segments (fewer than %(min)d in all but "
                   "one segment).")),
    )
    for key, template, too_few in measures:
        judged = [r for r in segments if (r["figures"].get(key) or {}).get("share") is not None]
        if not judged:
            continue
        ranked = [r for r in judged if (r["figures"][key].get("judged") or 0) >= MIN_COMPARED]
        if len(ranked) < 2:
            if len(judged) >= 2:
                out.append(too_few() % {"min": MIN_COMPARED})
            continue
        worst = min(ranked, key=lambda r: r["figures"][key]["share"])
        figure = worst["figures"][key]
        if figure["share"] >= 1:  # everything on time: nothing falls short
            continue
        overall = (total or {}).get(key) or {}
        out.append(template(figure["judged"]) % {"segment": worst["segment_name"], "share": pct(figure["share"]),
                                                 "n": figure["judged"], "all": pct(overall.get("share"))}
                   + _unranked([r for r in judged if r not in ranked]))
    with_nps = [r for r in segments if (r["figures"].get("nps") or {}).get("nps") is not None]
    ranked = [r for r in with_nps if (r["figures"]["nps"].get("n") or 0) >= MIN_COMPARED]
    if len(ranked) >= 2:
        worst = min(ranked, key=lambda r: r["figures"]["nps"]["nps"])
        best = max(ranked, key=lambda r: r["figures"]["nps"]["nps"])
        nps = worst["figures"]["nps"]
        sentence = ngettext("%(segment)s has the lowest NPS, %(nps)s (%(n)s response).",
                            "%(segment)s has the lowest NPS, %(nps)s (%(n)s responses).", nps["n"]) % {
            "segment": worst["segment_name"], "nps": num(nps["nps"]), "n": nps["n"]}
        best_low, worst_high = best["figures"]["nps"].get("ci_low"), nps.get("ci_high")
        if worst is not best and (best_low is None or worst_high is None or worst_high >= best_low):
            sentence += " " + _("Its interval overlaps that of %(best)s, so the gap may be chance.") % {
                "best": best["segment_name"]}
        out.append(sentence + _unranked([r for r in with_nps if r not in ranked]))
    elif len(with_nps) >= 2:
        out.append(_("NPS: too few responses to compare segments (fewer than %(min)d in all but one segment).")
                   % {"min": MIN_COMPARED})
    costly = [r for r in segments if r["figures"].get("hours_per_million") is not None]
    if len(costly) >= 2:
        top = max(costly, key=lambda r: r["figures"]["hours_per_million"])
        out.append(_("Serving %(segment)s costs the most per unit of value: %(hours)s hours logged per million "
                     "committed.") % {"segment": top["segment_name"], "hours": num(top["figures"]["hours_per_million"],
                                                                                     2)})
    if total:
        if total.get("insufficient"):
            n = total["insufficient"]
            out.append(ngettext("%(n)s client lacks the data to be classified on this dimension: it waits in the "
                                "data-collection queue.",
                                "%(n)s clients lack the data to be classified on this dimension: they wait in the "
                                "data-collection queue.", n) % {"n": n})
        if total.get("unconverted"):
            n = total["unconverted"]
            out.append(ngettext("%(n)s participation in %(currencies)s has no exchange rate and is left out of the "
                                "amounts.",
                                "%(n)s participations in %(currencies)s have no exchange rate and are left out of "
                                "the amounts.", n) % {"n": n,
                                                      "currencies": ", ".join(total.get("unconverted_currencies") or [])})
    return out


# --- charts --------------------------------------------------------------------------------------------------

def dashboard_charts(rows: list[dict[str, Any]], lorenz: dict[str, Any] | None) -> dict[str, charts.Chart]:
    segments = compared_segments(rows)
    names = [r["segment_name"] for r in segments]
    figures = [r["figures"] for r in segments]
    out: dict[str, charts.Chart] = {}
    if segments:
        out["commitments"] = charts.bar(
            names, [f.get("committed_share") for f in figures], key="commitments-share",
            title=_("Share of commitments by segment"), x_title=_("Share of commitments"), value_format=".0%")
        out["nps"] = monitoring_charts.interval_points(
            names, [(f.get("nps") or {}).get("nps") for f in figures],
            [(f.get("nps") or {}).get("ci_low") for f in figures], [(f.get("nps") or {}).get("ci_high") for f in figures],
            [(f.get("nps") or {}).get("n", 0) for f in figures], key="nps-interval",
            title=_("NPS by segment, with its interval (95%)"), x_title=_("NPS"), domain=(-100.0, 100.0))
        out["service"] = charts.grouped_bars(
            names, {_("Cadence adherence"): [(f.get("cadence") or {}).get("share") for f in figures],
                    _("First response within SLA"): [(f.get("sla_response") or {}).get("share") for f in figures],
                    _("Resolution within SLA"): [(f.get("sla_resolution") or {}).get("share") for f in figures]},
            key="service-levels", title=_("Cadence and SLA compliance by segment"), x_title=_("Segment"),
            y_title=_("Share on time"), value_format=".0%", digits=3)
    if lorenz and lorenz.get("x"):
        top = lorenz.get("top_20_share")
        # stored smallest first; drawn largest first (as the segmentation pages do), so the marker reads
        # "the largest fifth of clients hold this share"
        points = [(round(1 - x, 6), round(1 - y, 6)) for x, y in reversed(list(zip(lorenz["x"], lorenz["y"],
                                                                                  strict=True)))]
        out["lorenz"] = charts.lorenz(points,
                                      marker=(0.2, top) if top is not None else None, key="lorenz-commitments",
                                      title=_("Lorenz curve of commitments"), x_title=_("Share of clients, largest first"),
                                      y_title=_("Share of commitments"))
    return out


def trend_chart(periods: list[str], series: dict[str, list[Any]], label: Any, share: bool) -> charts.Chart | None:
    """The chosen figure over the stored snapshots (``series``: segment name → value per period)."""
    if len(periods) < 2:
        return None
    return monitoring_charts.trend(periods, series, key="trend", title=_("%(figure)s over the last snapshots") % {
        "figure": label}, y_title=str(label), value_format=".0%" if share else "", percent=share)


# --- pipeline by status --------------------------------------------------------------------------------------

def pipeline_rows(figures: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The stored pipeline of one segment, one row per participation status in ladder order (statuses without
    a participation left out): status, label, count, amount (reporting currency) and the share of the amount."""
    pipeline = (figures or {}).get("pipeline") or {}
    total = Decimal(0)
    amounts: dict[str, Decimal] = {}
    for status, cell in pipeline.items():
        try:
            amounts[status] = Decimal(str(cell.get("amount") or 0))
        except (InvalidOperation, TypeError, ValueError):
            amounts[status] = Decimal(0)
        total += amounts[status]
    out = []
    for status, label in ParticipationStatus.choices:
        cell = pipeline.get(status)
        if not cell or not cell.get("count"):
            continue
        out.append({"status": status, "label": str(label), "count": int(cell["count"]),
                    "amount": money(amounts[status]), "amount_value": amounts[status],
                    "share": pct(amounts[status] / total if total else None)})
    return out


def pipeline_chart(figures: dict[str, Any] | None, currency: str) -> charts.Chart | None:
    rows = pipeline_rows(figures)
    if not rows:
        return None
    return charts.bar([r["label"] for r in rows], [r["amount_value"] for r in rows], key="pipeline-status",
                      title=_("Pipeline by status"),
                      x_title=_("Amount (%(currency)s)") % {"currency": currency}, value_format=",.0f")


# --- class migrations at the latest runs ---------------------------------------------------------------------

def migration_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per dimension, the latest run's stored migrations against the labels before it, as moved up / down /
    into and out of the insufficient-data queue (``runs`` from :func:`selectors.latest_migrations`)."""
    out = []
    for run in runs:
        dimension = run["dimension"]
        up, low = upper_label(dimension), lower_label(dimension)
        moves = run["migrations"] or {}

        def count(source: str, target: str, moves: dict[str, Any] = moves) -> int:
            return int((moves.get(source) or {}).get(target, 0))

        new = sum(int(n) for n in (moves.get("") or {}).values())
        out.append({
            "dimension": dimension, "dimension_label": str(Dimension(dimension).label), "run": run["id"],
            "previous_run": run["previous_run"], "as_of": run["as_of"],
            "up": count(low, up), "down": count(up, low),
            "to_insufficient": count(up, INSUFFICIENT) + count(low, INSUFFICIENT),
            "from_insufficient": count(INSUFFICIENT, up) + count(INSUFFICIENT, low),
            "new": new, "upper_name": label_display(dimension, up), "lower_name": label_display(dimension, low),
            "upper": up, "lower": low,
        })
    return out
