"""``/audit/``: the audit trail's entries (filtered by object, actor and time, newest first), its last check, its
checkpoints and the backups, with "check now" and (for administrators) "back up now"; the services decide who may."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import FieldDoesNotExist
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bcrm.audit.models import AuditAction
from bcrm.audit.services import batch_record, is_batch
from bcrm.backup import services
from bcrm.core.errors import InvalidInput
from bcrm.core.pagination import paginate
from bcrm.dataio.choices import Entity
from bcrm.ui.shortcuts import page

#: the filters of the entries list: query parameter → the service's argument
FILTERS = {"object": "obj", "actor": "user", "from": "start", "to": "end"}


def entry_changes(entry, obj: str = "") -> dict[str, Any]:
    """What an entry changed: the fields by their names in the reader's language (a key that is no field of the
    model — a backup's file, an export's filter — stays as the code it is), or the id range of an entry about
    many rows — with, when the object filter names one of them, the fields that record was created with."""
    changes = entry.changes or {}
    model = entry.content_type.model_class() if entry.content_type_id else None
    if "first_id" in changes:
        text = _("ids %(first)s–%(last)s") % {"first": changes["first_id"], "last": changes["last_id"]}
        record = batch_record(changes, obj.partition(":")[2]) if is_batch(changes) else None
        fields, codes = _field_names(model, record or {})
        return {"range": text, "fields": fields, "codes": codes}
    fields, codes = _field_names(model, changes)
    return {"range": "", "fields": fields, "codes": codes}


def _field_names(model, changes: dict[str, Any]) -> tuple[list[str], list[str]]:
    fields: list[str] = []
    codes: list[str] = []
    for key in sorted(str(k) for k in changes)[:12]:
        try:
            fields.append(str(model._meta.get_field(key).verbose_name) if model else "")
        except FieldDoesNotExist:
            fields.append("")
        if not fields[-1]:
            fields.pop()
            codes.append(key)
    return fields, codes


def entry_title(entry) -> str:
    """What an entry names, in the reader's language: the record's name as it was when written (data, kept as
    it was), or for an export — which names no record — what was exported (its stored text is a code)."""
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    if entry.action == AuditAction.EXPORT and not entry.object_id and changes.get("entity"):
        code = str(changes["entity"])
        what = str(Entity(code).label) if code in Entity.values else (
            _("data-quality report") if code == "data-quality" else code)
        return _("Export of %(what)s") % {"what": what}
    return entry.object_repr


@page(access=services.can_view_audit)
def audit_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    status = services.audit_status(actor=user)
    filters = {name: request.GET.get(name, "").strip()[:60] for name in FILTERS}
    context = {**status, "backups": services.backups_list(actor=user), "can_backup": services.can_take_backup(user),
               "filters": filters}
    try:
        entries = services.audit_entries(actor=user, **{FILTERS[k]: v for k, v in filters.items()})
        number = int(request.GET["page"]) if request.GET.get("page", "").isdigit() else 1
        listed = paginate(entries, number=number, size=50)
        context.update(page=listed, rows=[(e, entry_changes(e, filters["object"]), entry_title(e))
                                          for e in listed.items])
    except InvalidInput as exc:
        context["filter_errors"] = exc.fields or {"object": [exc.message]}
    return render(request, "backup/audit.html", context, status=422 if "filter_errors" in context else 200)


@page(access=services.can_view_audit)
@require_POST
def audit_check(request: HttpRequest) -> HttpResponse:
    check = services.audit_check_now(actor=request.user)
    if check.ok:
        messages.success(request, _("The audit trail is intact: %(n)s entries checked.") % {"n": check.checked})
    else:
        messages.error(request, _("The audit trail is broken: see the findings below."))
    return redirect("backup:audit")


@page(access=services.can_take_backup)
@require_POST
def backup_take(request: HttpRequest) -> HttpResponse:
    taken = services.backup_now(actor=request.user)
    if taken.ok:
        messages.success(request, _("Backup %(name)s written and checked.") % {"name": taken.name})
    else:
        messages.error(request, _("Backup %(name)s was written but does not check: %(problem)s")
                       % {"name": taken.name, "problem": taken.problem})
    return redirect("backup:audit")
