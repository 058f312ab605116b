"""REST endpoints for imports, exports and column mappings: parse, call a service or selector, serialise."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import FileResponse, HttpResponse
from django.urls import reverse
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from bcrm.core.errors import NotFound
from bcrm.core.schemas import ERRORS, PageIn, PageOut, SearchText, page_response
from bcrm.dataio import selectors, services
from bcrm.dataio.choices import Entity, ImportMode, JobSource, Outcome
from bcrm.dataio.exporters import export_response

router = Router(tags=["data import and export"])

FIRST_ROWS = 50


class RowErrorOut(Schema):
    field: str
    label: str = Field("", description="the field's label in the request's language")
    message: str = Field(..., description="in the request's language where the reason was stored with its code")


class ImportRowOut(Schema):
    number: int = Field(..., description="the row's number in the file, as a spreadsheet shows it")
    outcome: Outcome
    object_id: int | None = Field(None, description="the record created or updated (null in a dry run's creations)")
    label: str
    errors: list[RowErrorOut]
    changes: dict[str, Any] = Field(..., description="field → [before, after] for updated rows")

    @staticmethod
    def resolve_errors(obj) -> list[dict[str, str]]:
        return obj.reasons


class ImportJobOut(Schema):
    id: int
    entity: Entity
    mode: ImportMode
    status: str = Field(..., description="pending, running, done, failed or rolled_back")
    message: str = Field(..., description="why it failed or rolled back; in the request's language where the "
                                          "system wrote it (a worker that stopped)")
    reason_code: str = Field("", description="why the system failed it, for programs: unknown_encoding (the "
                                            "file's encoding was not recognised), worker_stopped (its worker died)")
    source: str
    user: str = Field(..., description="who ran it (\"system\" for a command-line import without --as)")
    file_name: str
    file_format: str
    file_size: int
    file_sha256: str
    mapping: str | None
    based_on: int | None = Field(None, description="the import whose file this one re-ran")
    columns: dict[str, str] = Field(..., description="file header → field it was read into")
    ignored_columns: list[str]
    header_row: int
    rows: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    progress: int = Field(..., description="rows processed so far")
    progress_fraction: float
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    duration_seconds: float | None
    error_file_url: str | None

    @staticmethod
    def resolve_message(obj) -> str:
        return obj.shown_message

    @staticmethod
    def resolve_reason_code(obj) -> str:
        return str((obj.reason or {}).get("code", ""))

    @staticmethod
    def resolve_user(obj) -> str:
        return obj.user_label

    @staticmethod
    def resolve_mapping(obj) -> str | None:
        return obj.mapping.name if obj.mapping_id else None

    @staticmethod
    def resolve_based_on(obj) -> int | None:
        return obj.based_on_id

    @staticmethod
    def resolve_progress(obj) -> int:
        return int(services.live_progress(obj)["rows"])

    @staticmethod
    def resolve_progress_fraction(obj) -> float:
        return float(services.live_progress(obj)["fraction"])

    @staticmethod
    def resolve_duration_seconds(obj) -> float | None:
        return obj.duration.total_seconds() if obj.duration else None

    @staticmethod
    def resolve_error_file_url(obj) -> str | None:
        return reverse("api:import_errors", args=[obj.pk]) if obj.error_file else None


class ImportJobDetail(ImportJobOut):
    first_rows: list[ImportRowOut] = Field(..., description=f"the first {FIRST_ROWS} row reports, in file order")

    @staticmethod
    def resolve_first_rows(obj) -> list:
        return list(selectors.import_rows(job=obj)[:FIRST_ROWS])


class RerunIn(Schema):
    mode: ImportMode = Field(..., description="commit or skip_invalid, typically after a dry run")


class ExportQuery(Schema):
    format: str = Field("csv", pattern="^(csv|xlsx)$")
    headers: str = Field("name", pattern="^(name|en|zh)$", description="field names, English or Chinese labels")
    q: SearchText | None = None
    kind: str | None = None
    country: str | None = None
    team: int | None = None
    relationship_manager: int | None = None
    value: str | None = Field(None, description="current value class: high, general, insufficient")
    risk: str | None = Field(None, description="current risk class: low, high, insufficient")
    relationship: str | None = Field(None, description="current relationship class: strategic, ordinary, insufficient")
    tier: str | None = Field(None, description="current service tier: dedicated, standard")
    sort: str | None = Field(None, description="as GET /organizations")
    sector: str | None = Field(None, description="projects only")
    stage: str | None = Field(None, description="projects only")


class MappingOut(Schema):
    id: int
    name: str
    entity: Entity
    columns: dict[str, str]
    owner: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_owner(obj) -> str | None:
        return obj.owner.get_username() if obj.owner_id else None


class MappingIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    entity: Entity
    columns: dict[str, str] = Field(..., description="file header → field name (empty: ignore the column)")


class MappingPatch(Schema):
    columns: dict[str, str]


@router.post("/imports", response={202: ImportJobDetail, **ERRORS}, summary="Upload a file to import")
def create_import(request, entity: Form[Entity], file: File[UploadedFile], mode: Form[ImportMode] = ImportMode.COMMIT,
                  mapping: Form[str | None] = None):
    """Multipart upload. ``mode``: ``dry_run`` (check and report, save nothing), ``commit`` (all or nothing,
    the default) or ``skip_invalid`` (save valid rows; rejected rows go to the error file). The import
    runs in the background: the answer is the job, whose ``status`` and ``progress`` can be polled."""
    job = services.import_job_create(actor=request.auth, entity=entity, upload=file, mode=mode, mapping=mapping,
                                     source=JobSource.API)
    return Status(202, services.import_job_enqueue(job))


@router.get("/imports", response=PageOut[ImportJobOut], summary="List imports")
def list_imports(request, page: Query[PageIn]):
    return page_response(selectors.import_job_list(actor=request.auth), page)


@router.get("/imports/{int:pk}", response={200: ImportJobDetail, **ERRORS}, summary="Read an import: status, progress, counts")
def get_import(request, pk: int):
    return selectors.import_job_get_for_user(user=request.auth, pk=pk)


@router.get("/imports/{int:pk}/rows", response={200: PageOut[ImportRowOut], **ERRORS}, summary="An import's row reports")
def list_import_rows(request, pk: int, page: Query[PageIn], outcome: Outcome | None = None):
    job = selectors.import_job_get_for_user(user=request.auth, pk=pk)
    return page_response(selectors.import_rows(job=job, outcome=outcome), page)


@router.get("/imports/{int:pk}/errors", url_name="import_errors", response={200: None, **ERRORS},
            summary="Download the error file: the rejected rows as read, plus a reason column")
def get_import_errors(request, pk: int):
    job = selectors.import_job_get_for_user(user=request.auth, pk=pk)
    path = services.error_file_path(job)
    if path is None or not path.exists():
        raise NotFound("This import has no error file.")
    return FileResponse(open(path, "rb"), as_attachment=True, filename=f"import-{job.pk}-errors{path.suffix}")


@router.post("/imports/{int:pk}/rerun", response={202: ImportJobDetail, **ERRORS},
             summary="Run an import's file again in another mode (e.g. commit after a dry run)")
def rerun_import(request, pk: int, payload: RerunIn):
    job = selectors.import_job_get_for_user(user=request.auth, pk=pk)
    rerun = services.import_job_rerun(actor=request.auth, job=job, mode=payload.mode)
    return Status(202, services.import_job_enqueue(rerun))


@router.delete("/imports/{int:pk}", response={204: None, **ERRORS}, summary="Delete an import and its files")
def delete_import(request, pk: int):
    job = selectors.import_job_get_for_user(user=request.auth, pk=pk)
    services.import_job_delete(actor=request.auth, job=job)
    return Status(204, None)


@router.get("/exports/{entity}", response={200: None, **ERRORS}, summary="Export as CSV or XLSX")
def export(request, entity: Entity, query: Query[ExportQuery]) -> HttpResponse:
    """The rows you may see, with the list's filters (client-list filters pick the organisations whose
    contacts, participations or interactions are exported), streamed. CSV is UTF-8 with BOM."""
    filters = query.dict(exclude={"format", "headers"}, exclude_none=True)
    return export_response(actor=request.auth, entity=entity, file_format=query.format, filters=filters,
                           headers=query.headers)


@router.get("/mappings", response=list[MappingOut], summary="List saved column mappings")
def list_mappings(request, entity: Entity | None = None):
    return list(selectors.column_mapping_list(actor=request.auth, entity=entity))


@router.post("/mappings", response={201: MappingOut, **ERRORS}, summary="Save a column mapping")
def create_mapping(request, payload: MappingIn):
    return Status(201, services.column_mapping_create(actor=request.auth, name=payload.name, entity=payload.entity,
                                                      columns=payload.columns))


@router.patch("/mappings/{int:pk}", response={200: MappingOut, **ERRORS}, summary="Change a column mapping")
def update_mapping(request, pk: int, payload: MappingPatch):
    mapping = services.column_mapping_get(pk)
    return services.column_mapping_update(actor=request.auth, mapping=mapping, columns=payload.columns)


@router.delete("/mappings/{int:pk}", response={204: None, **ERRORS}, summary="Delete a column mapping")
def delete_mapping(request, pk: int):
    services.column_mapping_delete(actor=request.auth, mapping=services.column_mapping_get(pk))
    return Status(204, None)
