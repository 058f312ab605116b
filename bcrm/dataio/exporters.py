"""Export: the entity's spec columns, for the rows the actor may see, with the client list's filters, as
CSV (UTF-8 with BOM, so Excel opens Chinese text correctly) or XLSX (openpyxl write-only), streamed.

What a cell holds:
- text is neutralised: a cell starting with ``= + - @ TAB CR`` gets a leading ``'`` so no spreadsheet
  runs it as a formula; import strips that quote again, so the round trip is exact;
- numbers (amounts, probabilities, minutes, ids) are written as numbers, never neutralised: the models
  forbid negative amounts, so a number cell never starts with ``-``; in XLSX they are numeric cells
  (a number with more than 15 significant digits, beyond Excel's precision, is written as text);
- dates as ISO dates (date cells in XLSX), times in settings.TIME_ZONE with their offset in CSV
  (naive local datetime cells in XLSX, which import reads back in the same zone);
- choices as their stored value (``equity_investor``), countries as ISO codes, booleans true/false;
- references as the name, the external id and the bcrm ID of the row referred to.
Organisations also carry their classes and tier, export only (import never reads them): per dimension the
code (``value_label``: ``high``) and its name in the reader's language (``Value class`` / ``价值分类``:
高价值客户), then ``tier`` and its name (``Service tier`` / ``服务层级``).
KYC and sanctions columns are left out for users who may not see them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from django.utils import translation
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import can_see_compliance
from bcrm.core.errors import InvalidInput
from bcrm.dataio.choices import Entity, entity_from
from bcrm.dataio.parsers import neutralise, time_zone
from bcrm.dataio.specs import BCRM_ID, CLASS_COLUMNS, FIELD, PRESENT, REF, TAGS, Column, EntitySpec, spec_for
from bcrm.engagement.selectors import interaction_list
from bcrm.financing.selectors import participation_list, project_list
from bcrm.parties.classes import label_display
from bcrm.parties.filters import FILTER_NAMES
from bcrm.parties.selectors import contact_list, organization_list

# The client list's filters, sort included: the one definition in parties.filters (labels and tier too).
ORG_FILTERS = FILTER_NAMES
PROJECT_FILTERS = ("q", "sector", "stage")
HEADER_MODES = ("name", "en", "zh")
CHUNK_ROWS = 2000
# What openpyxl refuses in a cell (XML 1.0 control characters).
ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def export_columns(spec: EntitySpec, actor) -> list[Column]:
    show_compliance = can_see_compliance(actor)
    return [c for c in spec.columns if show_compliance or not c.compliance]


def header_row(columns: list[Column], mode: str) -> list[str]:
    from django.utils import translation

    if mode == "zh":
        return [c.zh for c in columns]
    if mode == "en":
        with translation.override("en"):
            return [str(c.label) for c in columns]
    return [c.name for c in columns]


def _has_org_filters(filters: dict[str, Any]) -> bool:
    return any(filters.get(k) for k in ORG_FILTERS if k != "sort")


def export_queryset(*, actor, entity: str, filters: dict[str, Any] | None = None) -> QuerySet:
    """The rows an export writes: the list's selector (already restricted to what ``actor`` may see)
    with the list's filters; for contacts, participations and interactions the client list's filters
    pick the organisations whose rows are exported."""
    found = entity_from(entity)
    if found is None:
        raise InvalidInput(fields={"entity": [_("Choose one of: %(entities)s.") % {"entities": ", ".join(Entity.values)}]})
    filters = {k: v for k, v in (filters or {}).items() if v not in (None, "")}
    if found == Entity.ORGANIZATIONS:
        clients = organization_list(actor=actor, filters={k: filters[k] for k in ORG_FILTERS if k in filters})
        return clients.select_related("labels", "service_tier").prefetch_related("tags")
    if found == Entity.PROJECTS:
        return project_list(actor=actor, filters={k: filters[k] for k in PROJECT_FILTERS if k in filters}).order_by("pk")
    queryset: QuerySet[Any]
    if found == Entity.CONTACTS:
        queryset = contact_list(actor=actor)
    elif found == Entity.PARTICIPATIONS:
        queryset = participation_list(actor=actor)
    else:
        queryset = interaction_list(actor=actor).select_related("project").prefetch_related("contacts")
    if _has_org_filters(filters):
        orgs = organization_list(actor=actor, filters={k: filters[k] for k in ORG_FILTERS if k in filters})
        queryset = queryset.filter(organization__in=orgs.order_by().values("pk"))
    return queryset.order_by("pk")


def _related_name(obj: Any) -> str:
    for attr in ("legal_name", "username", "name"):
        if hasattr(obj, attr):
            return getattr(obj, attr)
    return str(obj)


def cell_value(column: Column, obj: Any) -> Any:
    """The typed value of ``column`` for ``obj`` (before formatting for CSV or XLSX)."""
    if column.kind == BCRM_ID:
        return obj.pk
    if column.kind == FIELD:
        value = getattr(obj, column.target)
        code = getattr(value, "code", None)
        if code is not None and not isinstance(value, str | int):
            return code or None
        return value
    if column.kind == REF:
        if column.ref_part == "bcrm_id":
            return getattr(obj, f"{column.target}_id")
        related = getattr(obj, column.target)
        if related is None:
            return None
        if column.ref_part == "external_id":
            return related.external_id
        return _related_name(related)
    if column.kind == TAGS:
        return "; ".join(sorted(t.name for t in obj.tags.all()))
    if column.kind == PRESENT:
        return "; ".join(c.email or c.full_name for c in sorted(obj.contacts.all(), key=lambda c: c.pk))
    raise ValueError(column.kind)


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.astimezone(time_zone()).isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return neutralise(str(value))


def xlsx_cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Decimal):
        digits = len(value.as_tuple().digits)
        return format(value, "f") if digits > 15 else value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(time_zone())
        if value.microsecond:
            return value.isoformat(sep=" ")  # Excel keeps milliseconds at best; text is exact
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return value
    return ILLEGAL_XML.sub("", neutralise(str(value)))


def export_audit(*, actor, spec: EntitySpec, queryset: QuerySet, filters: dict[str, Any] | None,
                 file_format: str) -> None:
    """Who exported which rows: the filter, the row count and the id range (never the data), one entry."""
    from django.db.models import Count, Max, Min

    from bcrm.audit.models import AuditAction
    from bcrm.audit.services import audit_event

    stats = spec.model._default_manager.filter(pk__in=queryset.order_by().values("pk")).aggregate(
        rows=Count("pk"), first_id=Min("pk"), last_id=Max("pk"))
    used = {k: (v if isinstance(v, str | int | float | bool) else str(v))
            for k, v in (filters or {}).items() if v not in (None, "")}
    audit_event(actor=actor, action=AuditAction.EXPORT, model=spec.model, object_repr=f"export {spec.entity}",
                changes={"entity": str(spec.entity), "format": file_format, "filters": used, **stats})


def export_rows(*, actor, entity: str, filters: dict[str, Any] | None = None,
                headers: str = "name", file_format: str = "csv") -> tuple[list[str], Iterator[list[Any]]]:
    """The header row and an iterator of typed rows, read from the database in chunks; the export is
    audited (who, which filter, how many rows, the id range) before the first row is read."""
    spec = spec_for(entity_from(entity) or entity)
    if headers not in HEADER_MODES:
        raise InvalidInput(fields={"headers": [_("Choose one of: %(modes)s.") % {"modes": ", ".join(HEADER_MODES)}]})
    columns = export_columns(spec, actor)
    queryset = export_queryset(actor=actor, entity=spec.entity, filters=filters)
    export_audit(actor=actor, spec=spec, queryset=queryset, filters=filters, file_format=file_format)
    classes = spec.entity == Entity.ORGANIZATIONS
    head = header_row(columns, headers) + (class_header(headers) if classes else [])
    # Class names in the reader's language: the headers' language, else the page's (captured now: the rows
    # are read while the response streams).
    language = {"zh": "zh-hans", "en": "en"}.get(headers) or translation.get_language()

    def rows() -> Iterator[list[Any]]:
        for obj in queryset.iterator(chunk_size=CHUNK_ROWS):
            row = [cell_value(c, obj) for c in columns]
            if classes:
                with translation.override(language):
                    row += class_cells(obj)
            yield row

    return head, rows()


def class_header(mode: str) -> list[str]:
    """The class and tier columns' headers: the code column keeps its machine name, the name column is
    headed in the reader's language (``zh`` headers in Chinese, ``en`` in English, ``name`` in the page's)."""
    head: list[str] = []
    for code, english, chinese in CLASS_COLUMNS:
        if mode == "zh":
            name = chinese
        elif mode == "en":
            name = english
        else:
            name = chinese if (translation.get_language() or "").startswith("zh") else english
        head += [code, name]
    return head


def class_cells(org: Any) -> list[Any]:
    """Per dimension the label code and its name in the active language, then the tier code and name."""
    try:
        labels = org.labels
    except ObjectDoesNotExist:
        labels = None
    try:
        tier = org.service_tier
    except ObjectDoesNotExist:
        tier = None
    cells: list[Any] = []
    for dimension in ("value", "risk", "relationship"):
        code = getattr(labels, dimension, "") or ""
        cells += [code or None, label_display(dimension, code) or None]
    cells += [tier.tier if tier else None, str(tier.get_tier_display()) if tier else None]
    return cells


def csv_chunks(head: list[str], rows: Iterable[list[Any]]) -> Iterator[bytes]:
    """UTF-8 with BOM, comma-separated, CRLF rows, in chunks of ``CHUNK_ROWS`` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise(h) for h in head])
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    for n, row in enumerate(rows, 1):
        writer.writerow([csv_cell(v) for v in row])
        if n % CHUNK_ROWS == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def write_xlsx(target, head: list[str], rows: Iterable[list[Any]], *, title: str = "bcrm") -> None:
    """Write-only workbook: rows go to a temporary file as they come, not into memory."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    sheet.append(head)
    for row in rows:
        sheet.append([xlsx_cell(v) for v in row])
    book.save(target)


def export_to_file(*, actor, entity: str, path, file_format: str = "csv", filters: dict[str, Any] | None = None,
                   headers: str = "name") -> int:
    """Write an export to ``path``; returns the number of rows written."""
    head, rows = export_rows(actor=actor, entity=entity, filters=filters, headers=headers, file_format=file_format)
    counted = _Counter(rows)
    if file_format == "xlsx":
        write_xlsx(path, head, counted, title=str(entity))
    else:
        with open(path, "wb") as fh:
            for chunk in csv_chunks(head, counted):
                fh.write(chunk)
    return counted.n


class _Counter:
    def __init__(self, rows: Iterator[list[Any]]):
        self.rows = rows
        self.n = 0

    def __iter__(self) -> Iterator[list[Any]]:
        for row in self.rows:
            self.n += 1
            yield row


def export_response(*, actor, entity: str, file_format: str = "csv", filters: dict[str, Any] | None = None,
                    headers: str = "name"):
    """A streamed download: CSV chunk by chunk; XLSX through a temporary file (openpyxl writes a zip),
    deleted once sent."""
    import tempfile

    from django.http import FileResponse, StreamingHttpResponse
    from django.utils import timezone

    head, rows = export_rows(actor=actor, entity=entity, filters=filters, headers=headers, file_format=file_format)
    name = f"bcrm-{entity_from(entity)}-{timezone.localdate():%Y%m%d}"
    if file_format == "xlsx":
        tmp = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - the FileResponse closes it
        write_xlsx(tmp, head, rows, title=str(entity_from(entity)))
        tmp.seek(0)
        return FileResponse(tmp, as_attachment=True, filename=f"{name}.xlsx",
                            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response = StreamingHttpResponse(csv_chunks(head, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response
