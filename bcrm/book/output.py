"""The book and an allocation as plain data (amounts as strings: never floats), shared by the API and the CLI."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def book_data(summary: dict[str, Any], history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    book = summary["book"]
    out = {
        "id": book.pk, "project_id": book.project_id, "tranche": book.tranche, "currency": summary["currency"],
        "target": _s(summary["target"]), "min_ticket": _s(summary["min_ticket"]), "lot_size": _s(summary["lot_size"]),
        "closing_date": book.closing_date.isoformat() if book.closing_date else None,
        "priority_order": book.priority_dimensions, "version": book.version,
        "steps": [{"status": r["status"], "label": r["label"], "count": r["count"], "amount": _s(r["amount"])}
                  for r in summary["steps"]],
        "firm": _s(summary["firm"]), "soft": _s(summary["soft"]),
        "firm_coverage": _s(summary["firm_coverage"]), "coverage": _s(summary["coverage"]),
        "oversubscribed": summary["oversubscribed"],
        "reporting_currency": summary["reporting_currency"],
        "reporting": {k: _s(v) for k, v in summary["reporting"].items()},
        "lines": [{"participation_id": r["id"], "organization_id": r["organization_id"],
                   "organization": r["organization"], "status": r["status"], "amount": _s(r["amount"]),
                   "currency": r["currency"], "amount_in_book_currency": _s(r["amount_book"]),
                   "labels": r["labels"]} for r in summary["lines"]],
    }
    if history is not None:
        out["history"] = [{"date": p["date"].isoformat(), "firm": _s(p["firm"]), "soft": _s(p["soft"]),
                           "firm_coverage": _s(p["firm_coverage"]), "coverage": _s(p["coverage"])}
                          for p in history]
    return out


def allocation_data(preview: dict[str, Any], *, committed: bool, allocation_id: int | None = None) -> dict[str, Any]:
    book = preview["book"]
    return {
        "book_id": book.pk, "project_id": book.project_id, "tranche": book.tranche, "policy": preview["policy"],
        "currency": preview["currency"], "target": _s(preview["target"]), "demand": _s(preview["demand"]),
        "to_allocate": _s(preview["to_allocate"]), "allocated": _s(preview["allocated"]),
        "committed": committed, "allocation_id": allocation_id,
        "lines": [{"participation_id": r["participation_id"], "organization_id": r["organization_id"],
                   "organization": r["organization"], "priority_class": r["rank"], "ask": _s(r["ask"]),
                   "amount": _s(r["amount"])} for r in preview["lines"]],
    }
