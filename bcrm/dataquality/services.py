"""What the data-quality doors write: the audit entry of an export (who took which clients' figures)."""

from __future__ import annotations

from collections.abc import Iterator

from bcrm.audit.models import AuditAction
from bcrm.audit.services import audit_event
from bcrm.dataquality.selectors import QualityReport, data_quality, export_csv
from bcrm.parties.models import Organization


def quality_export(*, actor) -> Iterator[str]:
    """The per-client data-quality CSV of what ``actor`` may see, recorded as an export in the audit trail."""
    report = data_quality(actor=actor)
    record_export(actor=actor, report=report)
    return export_csv(report)


def record_export(*, actor, report: QualityReport) -> None:
    """One audit entry for an export of ``report``: the row count and the first and last client id, never the
    data, as every other export is recorded."""
    ids = report.population.ids
    audit_event(actor=actor, action=AuditAction.EXPORT, model=Organization, object_repr="export data-quality",
                changes={"entity": "data-quality", "format": "csv", "filters": {},
                         "rows": int(ids.size) * len(report.dimensions), "clients": int(ids.size),
                         "first_id": int(ids[0]) if ids.size else None,
                         "last_id": int(ids[-1]) if ids.size else None})
