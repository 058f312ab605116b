"""Pages: my connected accounts (with my exclusion list) and the review queue of suggested contacts.
Parse, call, render."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from bcrm.core.errors import InvalidInput
from bcrm.engagement.selectors import interaction_get_for_user
from bcrm.intel import keep, selectors, services
from bcrm.intel.capture import interaction_origin
from bcrm.ui.shortcuts import page


def _errors(exc: InvalidInput) -> str:
    parts = [f"{msg}" for msgs in exc.fields.values() for msg in msgs]
    return " ".join(parts) or exc.message


@page
@require_safe
def accounts(request: HttpRequest) -> HttpResponse:
    context = {
        "accounts": selectors.my_accounts(request.user),
        "exclusions": selectors.my_exclusions(request.user),
    }
    return render(request, "intel/accounts.html", context)


@page
@require_POST
def account_action(request: HttpRequest) -> HttpResponse:
    user, action = request.user, request.POST.get("action", "")
    try:
        if action == "connect":
            services.account_connect(
                actor=user, kind=request.POST.get("kind") or "imap", host=request.POST.get("host", ""), port=int(request.POST.get("port") or 993),
                username=request.POST.get("username", ""), password=request.POST.get("password", ""),
                folder=request.POST.get("folder") or "INBOX", keep_subject=bool(request.POST.get("keep_subject")))
            messages.success(request, _("Mailbox connected. It is synced by the worker on its schedule."))
        elif action == "disconnect":
            services.account_disconnect(actor=user, account_id=int(request.POST.get("account", 0)))
            messages.success(request, _("Disconnected. What was captured stays."))
        elif action == "subjects":
            services.account_update(actor=user, account_id=int(request.POST.get("account", 0)),
                                    keep_subject=request.POST.get("keep_subject") == "1")
        elif action == "exclude":
            services.exclusion_add(actor=user, value=request.POST.get("value", ""))
        elif action == "unexclude":
            services.exclusion_remove(actor=user, value=request.POST.get("value", ""))
    except InvalidInput as exc:
        messages.error(request, _errors(exc))
    except ValueError:
        messages.error(request, _("Enter a port between 1 and 65535."))
    return redirect("intel:accounts")


@page
@require_safe
def suggestions(request: HttpRequest) -> HttpResponse:
    return render(request, "intel/suggestions.html",
                  {"suggestions": list(selectors.review_queue(request.user)[:200])})


@page
@require_POST
def suggestion_decide(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        if request.POST.get("decision") == "accept":
            services.candidate_accept(actor=request.user, candidate_id=pk,
                                      full_name=request.POST.get("full_name", ""))
            messages.success(request, _("Contact created."))
        else:
            services.candidate_reject(actor=request.user, candidate_id=pk)
    except InvalidInput as exc:
        messages.error(request, _errors(exc))
    return redirect("intel:suggestions")


@page
def interaction_mail(request: HttpRequest, pk: int) -> HttpResponse:
    """The e-mails captured into an interaction, where it came from (its capture's audit entry), and "keep this
    message" / "delete the kept copy" for the reader's own mail."""
    user = request.user
    if request.method == "POST":
        item_id = int(request.POST.get("item") or 0)
        try:
            if request.POST.get("action") == "discard":
                keep.kept_delete(actor=user, item_id=item_id)
                messages.success(request, _("The kept copy was deleted; the headers stay."))
            else:
                kept = keep.message_keep(actor=user, item_id=item_id)
                if kept.status in ("kept", "truncated"):
                    messages.success(request, _("Message kept."))
                else:
                    messages.error(request, keep.status_text(kept.status_code, kept.status_params))
        except InvalidInput as exc:
            messages.error(request, _errors(exc))
        return redirect("intel:interaction_mail", pk=pk)
    rows = keep.interaction_messages(actor=user, interaction_id=pk)
    interaction = interaction_get_for_user(user=user, pk=pk)
    return render(request, "intel/interaction_mail.html", {
        "interaction": interaction, "rows": rows, "origin": interaction_origin(interaction.pk)})
