"""The data page (/data/): upload → preview (a dry run) → commit, import history, column mappings and
export downloads. Parse, call a service or selector, render."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from bcrm.accounts.permissions import can_see_compliance, can_write
from bcrm.core.errors import InvalidInput
from bcrm.core.pagination import paginate
from bcrm.dataio import selectors, services
from bcrm.dataio.choices import Entity, ImportMode, JobSource, JobStatus, Outcome, entity_from
from bcrm.dataio.exporters import export_response
from bcrm.dataio.forms import MappingForm, SaveMappingForm, UploadForm
from bcrm.dataio.specs import SPECS
from bcrm.ui.forms import add_service_error
from bcrm.ui.shortcuts import page, page_number, render_page

ROWS_PER_PAGE = 50


def may_import(user) -> bool:
    return can_write(user) or can_see_compliance(user)


@page
def data_home(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        mapping = form.cleaned_data["mapping"]
        if mapping is not None and mapping.entity != form.cleaned_data["entity"]:
            form.add_error("mapping", _("This mapping is for %(entity)s.") % {"entity": mapping.get_entity_display()})
        else:
            try:
                job = services.import_job_create(
                    actor=user, entity=form.cleaned_data["entity"], upload=form.cleaned_data["file"],
                    mode=ImportMode.DRY_RUN, mapping=mapping.name if mapping else None, source=JobSource.WEB,
                )
            except InvalidInput as exc:
                add_service_error(form, exc)
            else:
                services.import_job_enqueue(job)
                return redirect("dataio:job_detail", pk=job.pk)
    jobs = paginate(selectors.import_job_list(actor=user), number=page_number(request), size=20)
    context = {
        "form": form, "jobs": jobs, "can_import": may_import(user),
        "entities": Entity.choices, "header_language": "zh" if get_language() == "zh-hans" else "en",
    }
    return render_page(request, "dataio/data_home.html", context, partial="dataio/_job_list.html", target="job-list")


@page
@require_safe
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = selectors.import_job_get_for_user(user=request.user, pk=pk)
    outcome = request.GET.get("outcome") or None
    if outcome not in Outcome.values:
        outcome = None
    rows = paginate(selectors.import_rows(job=job, outcome=outcome), number=page_number(request), size=ROWS_PER_PAGE)
    progress = services.live_progress(job)
    can_commit = (job.mode == ImportMode.DRY_RUN and job.status == JobStatus.DONE and services.may_manage_job(request.user, job)
                  and job.stored_path and may_import(request.user))
    context = {
        "job": job, "rows": rows, "outcome": outcome, "progress": progress,
        "percent": int(round(progress["fraction"] * 100)), "can_commit": can_commit,
        "valid_rows": job.created + job.updated + job.unchanged,
        "may_delete": services.may_manage_job(request.user, job) and job.status != JobStatus.RUNNING,
        "save_mapping_form": SaveMappingForm(), "outcomes": Outcome.choices,
        "spec": SPECS[job.entity],
    }
    return render_page(request, "dataio/job_detail.html", context, partial="dataio/_job_status.html", target="job-status")


@page
@require_POST
def job_rerun(request: HttpRequest, pk: int) -> HttpResponse:
    job = selectors.import_job_get_for_user(user=request.user, pk=pk)
    mode = request.POST.get("mode")
    if mode not in (ImportMode.COMMIT, ImportMode.SKIP_INVALID):
        raise InvalidInput(fields={"mode": [_("Choose commit or skip invalid rows.")]})
    rerun = services.import_job_rerun(actor=request.user, job=job, mode=mode)
    services.import_job_enqueue(rerun)
    return redirect("dataio:job_detail", pk=rerun.pk)


@page
@require_POST
def job_delete(request: HttpRequest, pk: int) -> HttpResponse:
    job = selectors.import_job_get_for_user(user=request.user, pk=pk)
    services.import_job_delete(actor=request.user, job=job)
    messages.success(request, _("Import #%(id)s and its files deleted.") % {"id": pk})
    return redirect("dataio:home")


@page
@require_safe
def job_errors(request: HttpRequest, pk: int) -> HttpResponse:
    job = selectors.import_job_get_for_user(user=request.user, pk=pk)
    path = services.error_file_path(job)
    if path is None or not path.exists():
        raise Http404(_("This import has no error file."))
    # a download: FileResponse streams, it is not an HttpResponse (web.shortcuts.View wants one)
    return FileResponse(open(path, "rb"), as_attachment=True,  # type: ignore[return-value]
                        filename=f"import-{job.pk}-errors{path.suffix}")


@page
@require_POST
def job_save_mapping(request: HttpRequest, pk: int) -> HttpResponse:
    job = selectors.import_job_get_for_user(user=request.user, pk=pk)
    form = SaveMappingForm(request.POST)
    if form.is_valid():
        try:
            mapping = services.column_mapping_create(actor=request.user, name=form.cleaned_data["name"],
                                                     entity=job.entity, columns=job.columns)
        except InvalidInput as exc:
            messages.error(request, "; ".join(m for msgs in exc.fields.values() for m in msgs) or exc.message)
        else:
            messages.success(request, _("Column mapping “%(name)s” saved.") % {"name": mapping.name})
    return redirect("dataio:job_detail", pk=job.pk)


@page
def mapping_list(request: HttpRequest) -> HttpResponse:
    form = MappingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            mapping = services.column_mapping_create(actor=request.user, name=form.cleaned_data["name"],
                                                     entity=form.cleaned_data["entity"], columns=form.cleaned_data["columns"])
        except InvalidInput as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Column mapping “%(name)s” saved.") % {"name": mapping.name})
            return redirect("dataio:mapping_list")
    context = {"form": form, "mappings": selectors.column_mapping_list(actor=request.user),
               "specs": SPECS.values(), "can_import": may_import(request.user)}
    return render(request, "dataio/mapping_list.html", context)


@page
@require_POST
def mapping_delete(request: HttpRequest, pk: int) -> HttpResponse:
    services.column_mapping_delete(actor=request.user, mapping=services.column_mapping_get(pk))
    messages.success(request, _("Column mapping deleted."))
    return redirect("dataio:mapping_list")


@page
@require_safe
def export(request: HttpRequest, entity: str) -> HttpResponse:
    """``/data/export/<entity>/?<the list's query string>``: the client list's filters apply (for contacts,
    participations and interactions they pick the clients), ``format=csv|xlsx``, ``headers=name|en|zh``
    (default: labels in the page's language)."""
    found = entity_from(entity)
    if found is None:
        raise Http404()
    file_format = request.GET.get("format", "csv")
    if file_format not in ("csv", "xlsx"):
        file_format = "csv"
    headers = request.GET.get("headers") or ("zh" if get_language() == "zh-hans" else "en")
    filters = {k: v for k, v in request.GET.items() if k not in {"format", "headers", "page"}}
    return export_response(actor=request.user, entity=found, file_format=file_format, filters=filters, headers=headers)

