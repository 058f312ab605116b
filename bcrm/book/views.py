"""The book page of a project: its tranches' books, ladder chart and table, history, allocation preview and
commit, settings. Parse, call a selector or service, render."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from bcrm.accounts.permissions import can_write
from bcrm.book import selectors, services
from bcrm.book.forms import BookForm
from bcrm.book.models import AllocationPolicy
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.core.formatting import money
from bcrm.dataio.parsers import ParseError, parse_decimal
from bcrm.financing.choices import ParticipationStatus
from bcrm.financing.selectors import project_get_for_user
from bcrm.ui import charts
from bcrm.ui.shortcuts import page, submit_form


def _url(pk: int, tranche: str, **extra: str) -> str:
    return reverse("book:book", args=[pk]) + "?" + urlencode({"tranche": tranche, **extra})


AMOUNT_PREFIX = "amount-"


def manual_amounts(data) -> dict[int, Decimal]:
    """The amounts a lead typed for a manual allocation, by participation id (``amount-<id>`` fields), read
    by the import's number parser (thousands separators, 万/亿); an empty field is 0. A field that is not an
    amount is a clear error naming what was typed."""
    amounts: dict[int, Decimal] = {}
    for name, raw in data.items():
        if not name.startswith(AMOUNT_PREFIX) or not name[len(AMOUNT_PREFIX):].isdigit():
            continue
        try:
            value = parse_decimal(raw) if str(raw).strip() else Decimal(0)
        except ParseError:
            raise InvalidInput(_("“%(value)s” is not an amount.") % {"value": raw}, code="invalid_amount",
                               fields={name: [_("Enter an amount.")]}) from None
        amounts[int(name[len(AMOUNT_PREFIX):])] = value
    return amounts


def ladder_chart(summary: dict[str, Any]) -> charts.Chart:
    steps = [row for row in summary["steps"] if row["count"] or row["status"] in {"soft_interest", "firm_commitment"}]
    return charts.bar([row["label"] for row in steps], [row["amount"] for row in steps], key="book-ladder",
                      title=_("Book by commitment step"), x_title=_("Amount (%(currency)s)") % {
                          "currency": summary["currency"]}, y_title=_("Step"),
                      highlight=str(ParticipationStatus.FIRM_COMMITMENT.label), value_format=",.0f")


def history_chart(history: list[dict[str, Any]]) -> charts.Chart:
    return charts.lines_over_time(
        [p["date"] for p in history],
        {_("Coverage (firm)"): [p["firm_coverage"] for p in history],
         _("Coverage (firm and soft)"): [p["coverage"] for p in history]},
        key="book-history", title=_("How the book built up"), x_title=_("Date"), y_title=_("Coverage"),
        rule=1.0, rule_title=_("Target"))


@page
@require_safe
def book_page(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    project = project_get_for_user(user=user, pk=pk)
    books = list(selectors.book_list(actor=user, project=project))
    tranche = request.GET.get("tranche")
    book = next((b for b in books if b.tranche == tranche), books[0] if books and tranche is None else None)
    if tranche is not None and book is None and books:
        raise NotFound()
    context: dict[str, Any] = {"project": project, "books": books, "book": book, "can_write": can_write(user),
                               "can_allocate": services.can_allocate(user), "policies": AllocationPolicy.choices}
    if book is not None:
        book.project = project
        context["form"] = BookForm(instance=book)
        try:
            summary = selectors.book_summary(actor=user, book=book)
            history = selectors.book_history(actor=user, book=book)
            context.update(summary=summary, chart=ladder_chart(summary), history=history,
                           history_chart=history_chart(history) if history else None)
        except InvalidInput as exc:
            context["error"] = exc.message
        policy = request.GET.get("policy")
        if policy in AllocationPolicy.values and "error" not in context:
            context["policy"] = policy
            try:
                context["preview"] = _preview(user, book, policy, request.GET)
                context["rows"] = context["preview"]["lines"]
            except InvalidInput as exc:
                context["preview_error"] = exc.message
                if policy == AllocationPolicy.MANUAL and exc.code != "fully_allocated":
                    context["rows"] = _typed_rows(user, book, request.GET)
    else:
        context["form"] = BookForm(initial={"currency": project.currency, "target": project.financing_target or None})
    return render(request, "book/book.html", context)


def _preview(user, book, policy: str, data) -> dict[str, Any]:
    """The allocation preview of ``policy``; a manual one starts from the pro-rata split until amounts are typed."""
    if policy != AllocationPolicy.MANUAL:
        return services.allocation_preview(actor=user, book=book, policy=policy)
    typed = manual_amounts(data)
    if not typed:
        start = services.allocation_preview(actor=user, book=book, policy=AllocationPolicy.PRO_RATA)
        typed = {line["participation_id"]: line["amount"] for line in start["lines"]}
    return services.allocation_preview(actor=user, book=book, policy=policy, manual=typed)


def _typed_rows(user, book, data) -> list[dict[str, Any]]:
    """The book's firm lines with what was typed for each, to correct a refused manual allocation."""
    lines = services.allocation_preview(actor=user, book=book, policy=AllocationPolicy.PRO_RATA)["lines"]
    return [{**line, "amount": data.get(f"{AMOUNT_PREFIX}{line['participation_id']}", "")} for line in lines]


@page
def book_settings(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    project = project_get_for_user(user=user, pk=pk)
    book = None
    if request.POST.get("book"):
        if not request.POST["book"].isdigit():
            raise NotFound()
        book = selectors.book_get_by_id(actor=user, pk=int(request.POST["book"]))
        if book.project_id != project.pk:
            raise NotFound()
    form = BookForm(request.POST or None, instance=book)
    if book is None:
        saved = submit_form(request, form, lambda: services.book_create(actor=user, project=project,
                                                                       data=form.service_data()))
    else:
        saved = submit_form(request, form, lambda: services.book_update(
            actor=user, book=book, data=form.service_data(exclude=("tranche",)), expected_version=form.expected_version))
    if saved is not None:
        messages.success(request, _("Book saved."))
        return redirect(_url(pk, saved.tranche))
    books = list(selectors.book_list(actor=user, project=project))
    return render(request, "book/book.html", {"project": project, "books": books, "book": book, "form": form,
                                              "can_write": can_write(user), "editing": True,
                                              "can_allocate": services.can_allocate(user)}, status=422
                  if request.method == "POST" else 200)


@page
@require_POST
def book_allocate(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    tranche = request.POST.get("tranche", "")
    policy = request.POST.get("policy", "")
    book = selectors.book_get(actor=user, project_id=pk, tranche=tranche)
    try:
        manual = manual_amounts(request.POST) if policy == AllocationPolicy.MANUAL else None
        _record, done = services.allocation_commit(actor=user, book=book, policy=policy, manual=manual)
    except InvalidInput as exc:
        messages.error(request, exc.message)
        return redirect(_url(pk, tranche))
    messages.success(request, _("Allocated %(amount)s %(currency)s; the notices are queued.") % {
        "amount": money(done["allocated"]), "currency": book.currency})
    return redirect(_url(pk, tranche))
