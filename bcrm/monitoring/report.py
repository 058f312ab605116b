"""The monthly management report (管理报告): the dashboard's content for one period, as one HTML document and
as a PDF (WeasyPrint), in English or Simplified Chinese, and its e-mail to the team leads and administrators.

It reads the stored snapshot only: the figures the dashboard shows, composed once in :mod:`bcrm.monitoring.figures`
(the same chart definitions rendered to static SVG), so the PDF says exactly what the page says. The renderer
fetches nothing from outside: charts are embedded as data: URIs (see :func:`bcrm.ui.pdf.report_url_fetcher`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.permissions import SystemOperator, has_any, require
from bcrm.audit.services import audit_record
from bcrm.core import delivery as mailer
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.monitoring import figures, selectors
from bcrm.monitoring.choices import Breakdown, SnapshotTrigger
from bcrm.monitoring.models import ManagementReportDelivery
from bcrm.monitoring.services import parse_kpi_period
from bcrm.progress.selectors import clean_language
from bcrm.segmentation.choices import Dimension
from bcrm.ui.pdf import html_to_pdf

log = logging.getLogger(__name__)

LANGUAGES = ("en", "zh-hans")
#: The figures whose trend the report draws (by tier), from :data:`TREND_FIGURES`.
REPORT_TRENDS = ("cadence", "nps")
RECIPIENT_ROLES = (Role.LEAD, Role.ADMIN)


@dataclass
class BreakdownSection:
    breakdown: str
    label: str
    rows: list[dict[str, Any]]
    sentences: list[str]


@dataclass
class ManagementReport:
    period: str
    language: str
    computed_at: dt.datetime
    currency: str
    total: dict[str, Any]
    sections: list[BreakdownSection]
    pipeline: list[dict[str, Any]]
    migrations: list[dict[str, Any]]
    lorenz: dict[str, Any] | None
    charts: dict[str, Any] = field(default_factory=dict)
    manipulation: list[dict[str, Any]] = field(default_factory=list)   # density tests that reject

    @property
    def tier(self) -> BreakdownSection:
        return self.sections[0]


def build(actor, period: str, language: str) -> ManagementReport:
    """The report of ``period`` for ``actor`` (portfolio-wide figures: roles that see every client), with its
    texts in ``language``. NotFound when the period has no stored snapshot.

    Every figure comes from :func:`bcrm.monitoring.figures.period_figures`, as on the dashboard."""
    selectors.require_portfolio(actor)
    first, last = parse_kpi_period(period)
    period = f"{first:%Y-%m}"
    language = clean_language(language)
    with translation.override(language):
        sections: list[BreakdownSection] = []
        tier: figures.PeriodFigures | None = None
        for breakdown in (Breakdown.TIER, Breakdown.VALUE, Breakdown.RISK, Breakdown.RELATIONSHIP):
            is_tier = breakdown == Breakdown.TIER
            shown = figures.period_figures(actor, period, breakdown, trends=REPORT_TRENDS if is_tier else (),
                                           with_charts=is_tier)
            if shown.computed_at is None:
                raise NotFound(_("There is no KPI snapshot for %(period)s yet: compute it first.") % {
                    "period": period})
            if is_tier:
                tier = shown
            sections.append(BreakdownSection(
                breakdown=str(breakdown), label=str(Breakdown(breakdown).label), rows=shown.rows,
                sentences=shown.sentences))
        assert tier is not None and tier.computed_at is not None  # every breakdown above has a snapshot
        chart_set = dict(tier.charts)
        for name, chart in tier.trends.items():
            chart_set[f"trend_{name}"] = chart
        manipulation = [dict(check, dimension_label=str(Dimension(check["dimension"]).label))
                        for check in selectors.manipulation_checks(actor, as_of=last) if check.get("rejects")]
        return ManagementReport(
            period=period, language=language, computed_at=tier.computed_at, currency=tier.currency,
            total=tier.total or {}, sections=sections, pipeline=tier.pipeline, migrations=tier.migrations,
            lorenz=None if tier.lorenz is None else {"top": tier.lorenz_top, "gini": tier.lorenz_gini},
            charts=chart_set, manipulation=manipulation)


def render_html(report: ManagementReport, *, for_pdf: bool = False) -> str:
    """The whole report as one HTML document; each chart a static SVG image followed by its table."""
    with translation.override(report.language):
        charts = {key: {"chart": chart, "uri": chart.svg_data_uri()} for key, chart in report.charts.items()}
        return render_to_string("monitoring/management_report.html", {
            "report": report, "charts": charts, "for_pdf": for_pdf, "generated_at": timezone.localtime(),
            "html_lang": "zh-Hans" if report.language == "zh-hans" else "en"})


def render_pdf(report: ManagementReport) -> bytes:
    return html_to_pdf(render_html(report, for_pdf=True))


def pdf_filename(period: str, language: str) -> str:
    return f"management-report-{period}-{language}.pdf"


def management_pdf(*, actor, period: str, language: str) -> tuple[ManagementReport, bytes]:
    report = build(actor, period, language)
    return report, render_pdf(report)


FORMATS = ("pdf", "html")


def document(actor, period: str, language: str, fmt: str) -> tuple[bytes, str, str | None]:
    """The report as the page and the API serve it: (content, content type, attachment file name or None for
    HTML shown in the browser). ``fmt`` is "pdf" or "html"; anything else is InvalidInput on "format"."""
    if fmt not in FORMATS:
        raise InvalidInput(fields={"format": [_("Choose pdf or html.")]})
    report = build(actor, period, language)
    if fmt == "html":
        return render_html(report).encode("utf-8"), "text/html; charset=utf-8", None
    return render_pdf(report), "application/pdf", pdf_filename(report.period, report.language)


# --- sending ------------------------------------------------------------------------------------------------

@dataclass
class SendResult:
    period: str
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.period, "sent": self.sent, "failed": self.failed, "skipped": self.skipped}


def default_recipients() -> list[tuple[str, Any]]:
    """(e-mail, user) of every active team lead and administrator with an address, by address."""
    User = get_user_model()
    users = (User.objects.filter(is_active=True).exclude(email="")
             .filter(Q(groups__name__in=[str(r) for r in RECIPIENT_ROLES]) | Q(is_superuser=True))
             .distinct().order_by("email"))
    seen: dict[str, Any] = {}
    for user in users:
        seen.setdefault(user.email.strip().lower(), user)
    return list(seen.items())


def _require_send(actor) -> None:
    if actor is None:
        return
    require(has_any(actor, {Role.LEAD, Role.ADMIN}),
            _("Only a team lead or an administrator may send the management report."))


def _clean_recipients(recipients: list[str] | None) -> list[tuple[str, Any]]:
    if recipients is None:
        return default_recipients()
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    out, bad = [], []
    for address in recipients:
        address = str(address).strip()
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address)
            continue
        out.append((address.lower(), None))
    if bad:
        raise InvalidInput(fields={"to": [_("Not an e-mail address: %(value)s.") % {"value": ", ".join(bad)}]})
    return list(dict(out).items())


def send(*, actor, period: str, recipients: list[str] | None = None, languages: list[str] | None = None,
         trigger: str = SnapshotTrigger.MANUAL, resend: bool = True, now: dt.datetime | None = None,
         connection=None) -> SendResult:
    """E-mail the report of ``period`` (one PDF per language attached) to ``recipients`` (default: the active
    leads and administrators with an address).

    Each (period, address) has one delivery row, queued here and sent by the one delivery loop
    (:mod:`bcrm.core.delivery`), which claims it before sending, so two workers never send it twice.
    ``resend=False`` (the monthly schedule) skips addresses already sent to or being sent to; ``resend=True``
    (a person asking) sends again. An SMTP failure is recorded on the row (failed: the next run sends again)."""
    _require_send(actor)
    now = now or timezone.now()
    langs = [clean_language(x) for x in (languages or LANGUAGES)]
    langs = list(dict.fromkeys(langs))
    targets = _clean_recipients(recipients)
    period = f"{parse_kpi_period(period)[0]:%Y-%m}"
    result = SendResult(period=period)
    if not targets:
        return result
    batch = mailer.Batch(actor=actor, now=now)
    _pdfs(batch, period, langs)  # rendered before anything is queued: no snapshot, no delivery row
    queued: dict[Any, str] = {}
    for email, user in targets:
        pk = _queue(period, email, user, langs, trigger, resend, now)
        if pk is None:
            result.skipped.append(email)
        else:
            queued[pk] = email
    summary = mailer.send(MANAGEMENT_REPORT_MAIL, ids=list(queued), batch=batch, connection=connection)
    for pk, email in queued.items():
        outcome = summary.outcomes.get(pk)
        if outcome is None:  # another caller claimed it first and sends it
            result.skipped.append(email)
        elif outcome.sent:
            result.sent.append(email)
        else:
            result.failed[email] = outcome.error
    return result


def _system():
    return SystemOperator()


def _pdfs(batch: mailer.Batch, period: str, languages: list[str]) -> list[tuple[ManagementReport, bytes]]:
    """The report's PDF in each language, rendered once per send (for every recipient)."""
    reader = batch.actor if batch.actor is not None else _system()

    def make() -> list[tuple[ManagementReport, bytes]]:
        return [management_pdf(actor=reader, period=period, language=language) for language in languages]

    return batch.cached(("management_report", period, tuple(languages)), make)


def _queue(period: str, email: str, user, languages: list[str], trigger: str, resend: bool,
           now: dt.datetime) -> Any:
    """The delivery row of (period, address) made pending and due now, or None when another caller holds it
    or (``resend=False``) it was sent already."""
    Status = ManagementReportDelivery.Status
    try:
        with transaction.atomic():
            ManagementReportDelivery.objects.get_or_create(
                period=period, email=email, defaults={"user": user, "languages": ",".join(languages),
                                                      "trigger": trigger, "queued_at": now,
                                                      "next_attempt_at": now})
    except IntegrityError:  # created at the same moment by another caller: the row exists now
        pass
    claimable = [Status.PENDING, Status.FAILED, Status.CANCELLED] + ([Status.SENT] if resend else [])
    rows = ManagementReportDelivery.objects.filter(period=period, email=email, status__in=claimable)
    if not rows.update(status=Status.PENDING, next_attempt_at=now, languages=",".join(languages), trigger=trigger,
                       queued_at=now):
        return None
    return ManagementReportDelivery.objects.filter(period=period, email=email).values_list("pk", flat=True).get()


class ManagementReportMail(mailer.DeliveryKind):
    """The month's management report to one lead or administrator: both languages in one message, a PDF each.
    A failure is final (no automatic retry): the next monthly run, or a person, sends it again."""

    name = "management_report"
    model = ManagementReportDelivery
    policy = mailer.RetryPolicy(max_attempts=1)

    def describe(self, row: ManagementReportDelivery) -> str:
        return f"management report {row.period} to {row.email}"

    def build(self, row: ManagementReportDelivery, batch: mailer.Batch, *,
              unsubscribe_url: str | None) -> EmailMultiAlternatives:
        languages = [x for x in row.languages.split(",") if x] or list(LANGUAGES)
        return _message(row.email, row.period, _pdfs(batch, row.period, languages))

    def on_sent(self, row: ManagementReportDelivery, batch: mailer.Batch) -> None:
        audit_record(actor=batch.actor, action="report_sent", instance=row,
                     changes={"period": row.period, "email": row.email, "languages": row.languages.split(",")})


MANAGEMENT_REPORT_MAIL = ManagementReportMail()


def _message(email: str, period: str, pdfs: list[tuple[ManagementReport, bytes]]) -> EmailMultiAlternatives:
    first = pdfs[0][0]
    subjects, bodies = [], []
    for report, _pdf in pdfs:
        with translation.override(report.language):
            subjects.append(_("Management report %(period)s") % {"period": period})
            bodies.append(render_to_string("monitoring/email/management_report.txt", {"report": report}))
    message = EmailMultiAlternatives(subject=" / ".join(dict.fromkeys(subjects)), body="\n\n---\n\n".join(bodies),
                                     to=[email])
    message.attach_alternative(render_html(first), "text/html")
    for report, pdf in pdfs:
        message.attach(pdf_filename(period, report.language), pdf, "application/pdf")
    return message
