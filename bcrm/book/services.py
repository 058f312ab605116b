"""Use cases on books: settings, allocation preview and commit (with its notices)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bcrm.accounts.choices import Role
from bcrm.accounts.permissions import can_write, has_any, require
from bcrm.book import allocation as alloc
from bcrm.book.models import Allocation, AllocationNotice, AllocationPolicy, Book
from bcrm.book.selectors import book_participations, book_summary, remaining_target
from bcrm.core import events
from bcrm.core.delivery import DeliveryStatus
from bcrm.core.errors import InvalidInput
from bcrm.core.fields import only_fields
from bcrm.core.formatting import money
from bcrm.core.services import create_instance, update_instance
from bcrm.financing.choices import ParticipationStatus
from bcrm.financing.services import participation_update
from bcrm.parties.models import Contact

BOOK_FIELDS = frozenset({"tranche", "target", "currency", "min_ticket", "lot_size", "closing_date", "priority_order"})
LEADS = {Role.ADMIN, Role.LEAD}


def can_allocate(actor) -> bool:
    return has_any(actor, LEADS)


def _amounts(data: dict[str, Any]) -> None:
    for name in ("target", "min_ticket", "lot_size"):
        value = data.get(name)
        if value is not None and Decimal(value) < 0:
            raise InvalidInput(fields={name: [_("The amount cannot be negative.")]}, code="negative_amount")


@transaction.atomic
def book_create(*, actor, project, data: dict[str, Any]) -> Book:
    """A book for a tranche of ``project`` (a project from financing.selectors.project_get_for_user)."""
    require(can_write(actor), _("You may not set up books."))
    data = only_fields(data, BOOK_FIELDS)
    _amounts(data)
    data.setdefault("currency", project.currency)
    return create_instance(actor=actor, instance=Book(project=project, **data))


@transaction.atomic
def book_update(*, actor, book: Book, data: dict[str, Any], expected_version: int | None) -> Book:
    require(can_write(actor), _("You may not change books."))
    data = only_fields(data, BOOK_FIELDS)
    _amounts(data)
    project = book.project
    updated = update_instance(actor=actor, instance=book, data=data, expected_version=expected_version)
    updated.project = project
    return updated


ERROR_MESSAGES = {
    "undersubscribed": gettext_lazy("The book is not oversubscribed: firm demand %(demand)s is below the %(target)s to "
                         "allocate, so every line simply gets its ask."),
    "unknown_policy": gettext_lazy("Unknown allocation policy %(policy)s."),
    "ask_negative": gettext_lazy("A line asks a negative amount."),
    "above_ask": gettext_lazy("%(client)s (line %(key)s): %(amount)s is more than its ask %(ask)s."),
    "not_whole_lots": gettext_lazy("%(client)s (line %(key)s): %(amount)s is not a whole number of lots of %(lot)s."),
    "below_minimum": gettext_lazy("%(client)s (line %(key)s): %(amount)s is below the minimum ticket %(min_ticket)s."),
    "above_target": gettext_lazy("The allocations add up to %(total)s, more than the %(target)s to allocate."),
    "unknown_line": gettext_lazy("Line %(key)s is not a firm commitment of this book."),
    "amount_negative": gettext_lazy("%(client)s (line %(key)s): the amount cannot be negative."),
}


def _error(exc: alloc.AllocationError, clients: dict[str, str] | None = None) -> InvalidInput:
    """The refusal in the reader's words: the line named by its client, amounts grouped."""
    template = ERROR_MESSAGES.get(exc.code)
    params = {k: money(v) if isinstance(v, Decimal) and v.is_finite() else v for k, v in exc.params.items()}
    if "key" in params:
        params["client"] = (clients or {}).get(str(exc.params["key"]), "")
        params["key"] = str(exc.params["key"]).lstrip("0") or "0"
    message = str(template) % params if template else str(exc)
    return InvalidInput(message, code=exc.code, fields={"policy": [message]})


def _key(participation_id: int) -> str:
    return f"{participation_id:012d}"


def allocation_preview(*, actor, book: Book, policy: str,
                       manual: dict[int, Decimal] | None = None) -> dict[str, Any]:
    """What an allocation by ``policy`` would give each firm commitment of the book; changes nothing.
    ``manual``: the amounts by participation id (policy "manual")."""
    if policy not in AllocationPolicy.values:
        raise InvalidInput(_("Unknown allocation policy %(policy)s.") % {"policy": policy},
                           code="unknown_policy", fields={"policy": [policy]})
    summary = book_summary(actor=actor, book=book)
    totals = {row["status"]: row["amount"] for row in summary["steps"]}
    target = remaining_target(book, totals)
    if target <= 0:
        raise InvalidInput(_("Nothing is left to allocate: allocated and funded lines already reach the target."),
                           code="fully_allocated", fields={"policy": [policy]})
    firm = [line for line in summary["lines"] if line["status"] == ParticipationStatus.FIRM_COMMITMENT]
    by_key = {_key(line["id"]): line for line in firm}
    try:
        result = alloc.allocate(
            [alloc.Line(key=_key(line["id"]), ask=line["amount_book"], rank=line["rank"]) for line in firm],
            target=target, lot=book.lot_size, min_ticket=book.min_ticket, policy=policy,
            manual={_key(int(pk)): Decimal(v) for pk, v in (manual or {}).items()} if policy == "manual" else None)
    except alloc.AllocationError as exc:
        raise _error(exc, {key: line["organization"] for key, line in by_key.items()}) from None
    lines = []
    for one in result.lines:
        line = by_key[one.key]
        lines.append({"participation_id": line["id"], "organization_id": line["organization_id"],
                      "organization": line["organization"], "labels": line["labels"], "rank": list(one.rank),
                      "ask": one.ask, "amount": one.amount})
    lines.sort(key=lambda row: (-row["amount"], -row["ask"], row["participation_id"]))
    return {"book": book, "policy": policy, "currency": book.currency, "target": target,
            "demand": result.demand, "to_allocate": result.to_allocate, "allocated": result.allocated,
            "lines": lines}


def _contact(organization_id: int) -> Contact | None:
    return (Contact.objects.filter(organization_id=organization_id).exclude(email="")
            .order_by("-is_primary", "id").first())


@transaction.atomic
def allocation_commit(*, actor, book: Book, policy: str, manual: dict[int, Decimal] | None = None) -> tuple[Allocation, dict[str, Any]]:
    """Allocate for real: each firm commitment given an amount moves to "allocated" with that amount (through
    financing's participation_update, so the ladder step is recorded and audited); the allocation is kept with
    every line; a notice to each participant is queued (sent by ``bcrm worker``). Needs a team lead. Returns the
    allocation and the preview it carried out."""
    require(can_allocate(actor), _("Only a team lead or an administrator may commit an allocation."))
    preview = allocation_preview(actor=actor, book=book, policy=policy, manual=manual)
    now = timezone.now()
    participations = {p.pk: p for p in book_participations(actor=actor, book=book).filter(
        pk__in=[line["participation_id"] for line in preview["lines"]])}
    for line in preview["lines"]:
        if line["amount"] > 0:
            participation_update(actor=actor, participation=participations[line["participation_id"]], data={
                "status": ParticipationStatus.ALLOCATED, "amount": line["amount"], "currency": book.currency,
            }, expected_version=None)
    record = create_instance(actor=actor, instance=Allocation(
        book=book, policy=policy, target=preview["target"], allocated=preview["allocated"],
        demand=preview["demand"], currency=book.currency, committed_at=now,
        committed_by=actor if getattr(actor, "pk", None) else None,
        lines=[{"participation": line["participation_id"], "organization": line["organization_id"],
                "ask": str(line["ask"]), "amount": str(line["amount"])} for line in preview["lines"]],
    ))
    notices = []
    for line in preview["lines"]:
        contact = _contact(line["organization_id"])
        if contact is None:
            continue
        notices.append(AllocationNotice(
            allocation=record, participation_id=line["participation_id"], contact=contact, email=contact.email,
            language=contact.language, ask=line["ask"], amount=line["amount"], status=DeliveryStatus.PENDING,
            queued_at=now, next_attempt_at=now))
    AllocationNotice.objects.bulk_create(notices)
    events.emit("book.allocated", {
        "project": book.project_id, "tranche": book.tranche, "policy": policy, "currency": book.currency,
        "total": str(preview["allocated"]), "allocation": record.pk,
        "lines": [{"participation": line["participation_id"], "organization": line["organization_id"],
                   "amount": str(line["amount"])} for line in preview["lines"]]})
    return record, preview
