"""Reads of imports and column mappings, restricted to what the actor may see.

An import is seen by the user who started it; team leads and administrators see every import.
"""

from __future__ import annotations

from django.db.models import QuerySet

from bcrm.accounts.permissions import EDIT_ALL, has_any
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.dataio.choices import Outcome
from bcrm.dataio.models import ColumnMapping, ImportJob, ImportRow


def import_job_list(*, actor) -> QuerySet[ImportJob]:
    queryset = ImportJob.objects.select_related("user", "mapping")
    if not has_any(actor, EDIT_ALL):
        queryset = queryset.filter(user_id=getattr(actor, "pk", None) or -1)
    return queryset.order_by("-created_at", "-id")


def import_job_get_for_user(*, user, pk) -> ImportJob:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound() from None
    job = import_job_list(actor=user).filter(pk=pk).first()
    if job is None:
        raise NotFound()
    return job


def import_rows(*, job: ImportJob, outcome: str | None = None) -> QuerySet[ImportRow]:
    queryset = job.row_reports.all()
    if outcome:
        if outcome not in Outcome.values:
            raise InvalidInput(fields={"outcome": [f"Choose one of: {', '.join(Outcome.values)}."]})
        queryset = queryset.filter(outcome=outcome)
    return queryset.order_by("number", "id")


def column_mapping_list(*, actor, entity: str | None = None) -> QuerySet[ColumnMapping]:
    """Mappings are shared: everyone who may import may use any of them."""
    queryset = ColumnMapping.objects.select_related("owner")
    if entity:
        queryset = queryset.filter(entity=entity)
    return queryset.order_by("entity", "name")
