"""The stored KPI snapshot as an XLSX workbook: one sheet per breakdown, one row per segment."""

from __future__ import annotations

import io
from typing import Any

from django.utils.translation import gettext as _

from bcrm.monitoring.choices import Breakdown
from bcrm.monitoring.selectors import kpis


def _columns() -> list[tuple[str, Any]]:
    """(header, how to read the figure from a row's figures)."""

    def path(*keys: str):
        def read(figures: dict[str, Any]) -> Any:
            value: Any = figures
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            return value
        return read

    def money(key: str):
        def read(figures: dict[str, Any]) -> Any:
            from decimal import Decimal

            value = figures.get(key)
            return None if value is None else Decimal(value)
        return read

    return [
        (_("Clients"), path("clients")),
        (_("Committed"), money("committed")),
        (_("Share of commitments"), path("committed_share")),
        (_("Committed in the period"), money("committed_in_period")),
        (_("Fee income"), money("fee_income")),
        (_("Share of fee income"), path("fee_income_share")),
        (_("Cadence adherence"), path("cadence", "share")),
        (_("Contacts judged"), path("cadence", "judged")),
        (_("Contacts pending"), path("cadence", "pending")),
        (_("Requests opened"), path("requests")),
        (_("First response within SLA"), path("sla_response", "share")),
        (_("Resolution within SLA"), path("sla_resolution", "share")),
        (_("Hours logged"), path("hours")),
        (_("Hours per million committed"), path("hours_per_million")),
        (_("NPS"), path("nps", "nps")),
        (_("NPS low"), path("nps", "ci_low")),
        (_("NPS high"), path("nps", "ci_high")),
        (_("NPS responses"), path("nps", "n")),
        (_("CSAT"), path("csat", "mean")),
        (_("CSAT responses"), path("csat", "n")),
        (_("Repeat participation"), path("repeat", "share")),
        (_("Insufficient data"), path("insufficient")),
    ]


def kpis_workbook(user, period: str, team: Any = None) -> bytes:
    """Every breakdown of the stored snapshot; the same permission rules as :func:`kpis`."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    columns = _columns()
    for breakdown in Breakdown:
        data = kpis(user, period, breakdown.value, team)
        sheet = book.create_sheet(title=breakdown.value)
        sheet.append([_("Segment"), _("Code"), *[header for header, _read in columns]])
        for row in data["rows"]:
            sheet.append([row["segment_name"], row["segment"], *[read(row["figures"]) for _h, read in columns]])
        currency = data["rows"][0]["figures"].get("currency") if data["rows"] else ""
        sheet.append([])
        sheet.append([_("Period"), data["period"], _("Currency"), currency])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
