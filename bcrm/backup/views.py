"""``/audit/``: the audit trail's last check, its checkpoints and the backups, with "check now" and (for
administrators) "back up now"; the services decide who may."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bcrm.backup import services
from bcrm.ui.shortcuts import page


@page(access=services.can_view_audit)
def audit_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    status = services.audit_status(actor=user)
    return render(request, "backup/audit.html", {
        **status, "backups": services.backups_list(actor=user), "can_backup": services.can_take_backup(user),
    })


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
