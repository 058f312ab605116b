"""The monthly management report (管理报告): the dashboard's content for one period, as one HTML document and
as a PDF (WeasyPrint), in English or Simplified Chinese, and its e-mail to the team leads and administrators.

It reads the stored snapshot only (the same selectors as the dashboard, formatted by the same presenters, the
same chart definitions rendered to static SVG), so the PDF says exactly what the page says. The renderer
fetches nothing from outside: charts are embedded as data: URIs (see :func:`bcrm.progress.render.report_url_fetcher`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.audit.services import audit_record
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.monitoring import presenters, selectors
from bcrm.monitoring.choices import ALL, TREND_FIGURES, Breakdown, SnapshotTrigger
from bcrm.monitoring.models import ManagementReportDelivery
from bcrm.monitoring.services import parse_kpi_period
from bcrm.progress.selectors import clean_language
from bcrm.segmentation.choices import Dimension

log = logging.getLogger(__name__)

LANGUAGES = ("en", "zh-hans")
TREND_LENGTH = 12
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
    texts in ``language``. NotFound when the period has no stored snapshot."""
    selectors.require_portfolio(actor)
    first, last = parse_kpi_period(period)
    period = f"{first:%Y-%m}"
    language = clean_language(language)
    with translation.override(language):
        sections: list[BreakdownSection] = []
        tier_rows: list[dict[str, Any]] = []
        computed_at = None
        for breakdown in (Breakdown.TIER, Breakdown.VALUE, Breakdown.RISK, Breakdown.RELATIONSHIP):
            data = selectors.kpis(actor, period, breakdown)
            if data["computed_at"] is None:
                raise NotFound(_("There is no KPI snapshot for %(period)s yet: compute it first.") % {
                    "period": period})
            computed_at = computed_at or data["computed_at"]
            rows = data["rows"]
            if breakdown == Breakdown.TIER:
                tier_rows = rows
            sections.append(BreakdownSection(
                breakdown=str(breakdown), label=str(Breakdown(breakdown).label),
                rows=[presenters.display_row(r) for r in rows], sentences=presenters.shortfalls(breakdown, rows)))
        assert computed_at is not None  # every breakdown above has a snapshot
        total = next((r for r in tier_rows if r["segment"] == ALL), None)
        figures = total["figures"] if total else {}
        currency = figures.get("currency") or settings.BCRM_REPORTING_CURRENCY
        lorenz = selectors.lorenz_curve(actor, period)
        chart_set = presenters.dashboard_charts(tier_rows, lorenz)
        pipeline_chart = presenters.pipeline_chart(figures, currency)
        if pipeline_chart is not None:
            chart_set["pipeline"] = pipeline_chart
        periods = sorted(p for p in selectors.snapshot_periods() if p <= period)[-TREND_LENGTH:]
        for name in REPORT_TRENDS:
            label, _path, share = TREND_FIGURES[name]
            chart = presenters.trend_chart(periods, selectors.trend_series(actor, Breakdown.TIER, None, periods, name),
                                           label, share)
            if chart is not None:
                chart_set[f"trend_{name}"] = chart
        # migrations: the latest runs as of the end of the period
        migrations = presenters.migration_rows(selectors.latest_migrations(actor, as_of=last))
        manipulation = [dict(check, dimension_label=str(Dimension(check["dimension"]).label))
                        for check in selectors.manipulation_checks(actor, as_of=last) if check.get("rejects")]
        return ManagementReport(
            period=period, language=language, computed_at=computed_at, currency=currency,
            total=presenters.display_row(total) if total else {}, sections=sections,
            pipeline=presenters.pipeline_rows(figures), migrations=migrations,
            lorenz=None if lorenz is None else {
                "top": presenters.pct(lorenz.get("top_20_share")) if lorenz.get("top_20_share") is not None else "",
                "gini": presenters.num(lorenz.get("gini"), 3)},
            charts=chart_set, manipulation=manipulation)


def render_html(report: ManagementReport, *, for_pdf: bool = False) -> str:
    """The whole report as one HTML document; each chart a static SVG image followed by its table."""
    with translation.override(report.language):
        charts = {key: {"chart": chart, "uri": chart.svg_data_uri()} for key, chart in report.charts.items()}
        return render_to_string("monitoring/management_report.html", {
            "report": report, "charts": charts, "for_pdf": for_pdf, "generated_at": timezone.localtime(),
            "html_lang": "zh-Hans" if report.language == "zh-hans" else "en"})


def render_pdf(report: ManagementReport) -> bytes:
    from weasyprint import HTML

    from bcrm.progress.render import report_url_fetcher

    html = render_html(report, for_pdf=True)
    return HTML(string=html, url_fetcher=report_url_fetcher()).write_pdf()


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
    from bcrm.accounts.permissions import has_any, require

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

    Each (period, address) has one delivery row, claimed with a conditional UPDATE before sending, so two
    workers never send it twice. ``resend=False`` (the monthly schedule) skips addresses already sent to or
    being sent to; ``resend=True`` (a person asking) sends again. An SMTP failure is recorded on the row."""
    _require_send(actor)
    now = now or timezone.now()
    langs = [clean_language(x) for x in (languages or LANGUAGES)]
    langs = list(dict.fromkeys(langs))
    targets = _clean_recipients(recipients)
    period = f"{parse_kpi_period(period)[0]:%Y-%m}"
    result = SendResult(period=period)
    if not targets:
        return result
    reader = actor if actor is not None else _system()
    pdfs = []
    for language in langs:
        report, pdf = management_pdf(actor=reader, period=period, language=language)
        pdfs.append((report, pdf))
    connection = connection or get_connection()
    try:
        for email, user in targets:
            delivery = _claim(period, email, user, langs, trigger, resend, now)
            if delivery is None:
                result.skipped.append(email)
                continue
            try:
                message = _message(email, period, pdfs)
                message.connection = connection
                connection.send_messages([message])
            except Exception as exc:  # noqa: BLE001 - recorded on the delivery row
                log.warning("management report %s to %s not sent: %s", period, email, exc)
                ManagementReportDelivery.objects.filter(pk=delivery.pk).update(
                    status=ManagementReportDelivery.Status.FAILED, last_error=f"{type(exc).__name__}: {exc}"[:500])
                result.failed[email] = f"{type(exc).__name__}: {exc}"
                try:
                    connection.close()
                except Exception:  # noqa: BLE001
                    pass
                continue
            ManagementReportDelivery.objects.filter(pk=delivery.pk).update(
                status=ManagementReportDelivery.Status.SENT, sent_at=timezone.now(), last_error="")
            audit_record(actor=actor, action="report_sent", instance=delivery,
                         changes={"period": period, "email": email, "languages": langs})
            result.sent.append(email)
    finally:
        try:
            connection.close()
        except Exception:  # noqa: BLE001
            pass
    return result


def _system():
    from bcrm.accounts.permissions import SystemOperator

    return SystemOperator()


def _claim(period: str, email: str, user, languages: list[str], trigger: str, resend: bool,
           now: dt.datetime) -> ManagementReportDelivery | None:
    """The delivery row of (period, address), switched to "sending" by this caller alone, or None when another
    caller holds it or (``resend=False``) it was sent already."""
    Status = ManagementReportDelivery.Status
    try:
        with transaction.atomic():
            ManagementReportDelivery.objects.get_or_create(
                period=period, email=email, defaults={"user": user, "languages": ",".join(languages),
                                                      "trigger": trigger, "queued_at": now})
    except IntegrityError:  # created at the same moment by another caller: the row exists now
        pass
    claimable = [Status.PENDING, Status.FAILED] + ([Status.SENT] if resend else [])
    claimed = ManagementReportDelivery.objects.filter(period=period, email=email, status__in=claimable).update(
        status=Status.SENDING, attempts=F("attempts") + 1, languages=",".join(languages), trigger=trigger,
        queued_at=now)
    if not claimed:
        return None
    return ManagementReportDelivery.objects.get(period=period, email=email)


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
