"""Allocation notices: one e-mail per participant with the notice as PDF, in the contact's language, sent
through the one delivery service (bcrm.core.delivery, kind "allocation_notice")."""

from __future__ import annotations

from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from bcrm.book.models import AllocationNotice
from bcrm.core import delivery as mailer
from bcrm.ui.pdf import html_to_pdf


def notice_context(row: AllocationNotice) -> dict[str, Any]:
    allocation = row.allocation
    book = allocation.book
    return {"row": row, "allocation": allocation, "book": book, "project": book.project,
            "organization": row.participation.organization, "contact": row.contact}


def notice_pdf(row: AllocationNotice) -> bytes:
    """The notice as PDF, in the row's language."""
    with translation.override(row.language):
        html = render_to_string("book/notice_pdf.html", {**notice_context(row), "language": row.language})
    return html_to_pdf(html)


class NoticeMail(mailer.DeliveryKind):
    """A participant's allocation notice (what they asked, what they got), with the PDF attached."""

    name = "allocation_notice"
    model = AllocationNotice
    related = ("allocation__book__project", "participation__organization", "contact")

    def describe(self, row: AllocationNotice) -> str:
        return f"allocation notice {row.pk} ({row.email})"

    def build(self, row: AllocationNotice, batch: mailer.Batch, *, unsubscribe_url: str | None) -> EmailMultiAlternatives:
        context = notice_context(row)
        return mailer.compose(
            to=[row.email], language=row.language, subject="book/email/notice_subject.txt",
            body="book/email/notice_body.txt", context=context,
            attachments=[(f"allocation-{row.allocation_id}-{row.participation_id}.pdf", notice_pdf(row),
                          "application/pdf")])


NOTICE_MAIL = NoticeMail()
