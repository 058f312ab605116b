"""Use cases of progress reports: milestones and team updates, queueing and sending report e-mails,
unsubscribing. The only code in this app that writes.

Decisions:

- Who receives a report: every contact of an organisation taking part in the project (a participation
  that is not declined or withdrawn) who consented to reports (``Contact.report_consent``) and has an
  e-mail address, in the contact's language. One delivery per (project, period, contact): its ``key``
  is unique, so queueing again — by automation, by "send now", or on two workers — adds nothing.
- Sending claims each delivery with a conditional UPDATE (pending and due → sending); only the worker
  whose UPDATE changed the row sends it, so no e-mail goes out twice. A delivery left in ``sending``
  (the process died mid-send) is never retried automatically: it may have gone out; the log shows it.
- An SMTP failure puts the delivery back to pending after 1, 2, 4, 8 minutes; the fifth failure marks
  it failed. A contact who withdrew consent meanwhile gets nothing (the delivery is cancelled).
- Unsubscribe links carry a signed token naming the contact (no expiry: a link in a year-old e-mail
  must still work). GET only shows the button; POST (or the RFC 8058 one-click POST) withdraws consent.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.models import Case, CharField, F, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Cast, Concat
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.permissions import EDIT_ALL, SystemOperator, can_write, has_any, require, require_delete
from bcrm.audit.services import audit_record
from bcrm.core.errors import NotFound
from bcrm.core.fields import only_fields
from bcrm.core.services import create_instance, delete_instance, update_instance
from bcrm.engagement.choices import InteractionKind
from bcrm.financing.choices import CLOSED_STATUSES, ParticipationStatus
from bcrm.financing.models import Participation, Project
from bcrm.parties.models import Contact
from bcrm.progress import selectors
from bcrm.progress.models import DeliveryStatus, Milestone, ProjectUpdate, ReportDelivery
from bcrm.progress.render import (
    chart_svg_uri,
    pdf_filename,
    render_html,
    render_pdf,
    render_subject,
    render_text,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
UNSUBSCRIBE_SALT = "bcrm.progress.unsubscribe"
MILESTONE_FIELDS = frozenset({"name", "local_name", "due_on", "completed_on", "position"})
UPDATE_FIELDS = frozenset({"body", "language", "written_at"})


# Permissions --------------------------------------------------------------------------------------------


def can_edit_project_progress(user, project: Project) -> bool:
    """Admin and lead everywhere; a relationship manager on the projects they see."""
    if has_any(user, EDIT_ALL):
        return True
    return has_any(user, {Role.RELATIONSHIP_MANAGER}) and selectors.can_see_project(user, project)


def require_project_progress(user, project: Project) -> None:
    if not selectors.can_see_project(user, project):
        raise NotFound()
    require(can_write(user) and can_edit_project_progress(user, project))


# Milestones and updates ---------------------------------------------------------------------------------


@transaction.atomic
def milestone_create(*, actor, project: Project, data: dict[str, Any]) -> Milestone:
    require_project_progress(actor, project)
    data = only_fields(data, MILESTONE_FIELDS)
    if "position" not in data or data["position"] is None:
        data["position"] = Milestone.objects.filter(project=project).count()
    return create_instance(actor=actor, instance=Milestone(project=project, **data))


@transaction.atomic
def milestone_update(*, actor, milestone: Milestone, data: dict[str, Any],
                     expected_version: int | None = None) -> Milestone:
    require_project_progress(actor, milestone.project)
    data = only_fields(data, MILESTONE_FIELDS)
    return update_instance(actor=actor, instance=milestone, data=data, expected_version=expected_version)


@transaction.atomic
def milestone_delete(*, actor, milestone: Milestone) -> None:
    require_project_progress(actor, milestone.project)
    delete_instance(actor=actor, instance=milestone)


@transaction.atomic
def update_create(*, actor, project: Project, data: dict[str, Any]) -> ProjectUpdate:
    require_project_progress(actor, project)
    data = only_fields(data, UPDATE_FIELDS)
    if isinstance(data.get("body"), str):
        data["body"] = data["body"].strip()
    if not data.get("written_at"):
        data["written_at"] = timezone.now()
    author = actor if getattr(actor, "pk", None) else None
    return create_instance(actor=actor, instance=ProjectUpdate(project=project, author=author, **data))


@transaction.atomic
def update_edit(*, actor, update: ProjectUpdate, data: dict[str, Any],
                expected_version: int | None = None) -> ProjectUpdate:
    require_project_progress(actor, update.project)
    data = only_fields(data, UPDATE_FIELDS)
    if isinstance(data.get("body"), str):
        data["body"] = data["body"].strip()
    return update_instance(actor=actor, instance=update, data=data, expected_version=expected_version)


@transaction.atomic
def update_delete(*, actor, update: ProjectUpdate) -> None:
    require_project_progress(actor, update.project)
    if not (getattr(actor, "pk", None) and update.author_id == actor.pk):
        require_delete(actor)  # one's own note, or a lead's decision
    delete_instance(actor=actor, instance=update)


# Queueing ----------------------------------------------------------------------------------------------


@dataclass
class SendSummary:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"claimed": self.claimed, "sent": self.sent, "retrying": self.retrying, "failed": self.failed,
                "cancelled": self.cancelled, "errors": self.errors[:20]}


@dataclass
class QueueResult:
    period: str
    created: int = 0
    already_queued: int = 0
    skipped_no_consent: int = 0
    skipped_no_email: int = 0
    sent: SendSummary | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.period, "created": self.created, "already_queued": self.already_queued,
                "skipped_no_consent": self.skipped_no_consent, "skipped_no_email": self.skipped_no_email,
                "sent": self.sent.as_dict() if self.sent else None}


def _clean_period(period: Any) -> str:
    start, _end = selectors.clean_period(period)
    return f"{start:%Y-%m}"


OPEN_STATUSES = [s for s in ParticipationStatus.values if s not in CLOSED_STATUSES]


def _candidates(*, organization_ids=None, project: Project | None = None) -> QuerySet:
    """(project, contact) pairs: every contact of an organisation with an open participation (not
    declined or withdrawn) in the project, restricted to ``organization_ids`` and/or ``project``."""
    taking_part = Q(organization__participations__status__in=OPEN_STATUSES)
    if project is not None:
        taking_part &= Q(organization__participations__project=project)
    contacts = Contact.objects.all()
    if organization_ids is not None:
        contacts = contacts.filter(organization_id__in=organization_ids)
    return contacts.filter(taking_part).annotate(d_project=F("organization__participations__project_id")).order_by()


def _queue(*, period: str, now: dt.datetime, run_id: int | None, organization_ids=None,
           project: Project | None = None) -> QueueResult:
    """One delivery per (project, consenting contact with an e-mail), inserted by the database in one
    INSERT … SELECT … ON CONFLICT (key) DO NOTHING: no row travels through Python, so a million
    clients cost two statements, and a concurrent or repeated run inserts nothing twice."""
    result = QueueResult(period=period)
    candidates = _candidates(organization_ids=organization_ids, project=project)
    reachable = Q(report_consent=True) & ~Q(email="")
    tally = (
        candidates.annotate(
            ok=Case(When(reachable, then=Value(1)), default=Value(0)),
            no_consent=Case(When(report_consent=False, then=Value(1)), default=Value(0)),
            no_email=Case(When(Q(report_consent=True, email=""), then=Value(1)), default=Value(0)),
        ).values("d_project", "pk", "ok", "no_consent", "no_email").distinct()
        .aggregate(n_ok=Sum("ok"), n_no_consent=Sum("no_consent"), n_no_email=Sum("no_email"))
    )
    eligible = tally["n_ok"] or 0
    result.skipped_no_consent = tally["n_no_consent"] or 0
    result.skipped_no_email = tally["n_no_email"] or 0
    if not eligible:
        return result
    rows = (
        candidates.filter(reachable)
        .annotate(d_org=F("organization_id"), d_contact=F("pk"), d_email=F("email"), d_language=F("language"),
                  d_key=Concat(Cast("d_project", CharField()), Value(f":{period}:"), Cast("pk", CharField()),
                               output_field=CharField()))
        .values("d_project", "d_org", "d_contact", "d_email", "d_language", "d_key").distinct()
    )
    select_sql, select_params = rows.query.get_compiler(using=DEFAULT_DB_ALIAS).as_sql()
    meta = ReportDelivery._meta
    columns = ["project_id", "period", "organization_id", "contact_id", "email", "language", "key", "status",
               "attempts", "next_attempt_at", "last_error", "queued_at", "run_id"]
    quote = connection.ops.quote_name
    column_of = {f.attname: f.column for f in meta.concrete_fields}
    stamp = connection.ops.adapt_datetimefield_value(now)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(column_of[c]) for c in columns)}) "
        f"SELECT e.d_project, %s, e.d_org, e.d_contact, e.d_email, e.d_language, e.d_key, %s, 0, %s, '', %s, "
        f"CAST(%s AS BIGINT) "
        f"FROM ({select_sql}) e WHERE 1 = 1 ON CONFLICT ({quote(meta.get_field('key').column)}) DO NOTHING"
    )
    params = (period, DeliveryStatus.PENDING.value, stamp, stamp, run_id, *select_params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        inserted = max(cursor.rowcount, 0)
    result.created = inserted
    result.already_queued = max(eligible - inserted, 0)
    return result


def _enqueue_sending() -> None:
    from bcrm.progress.tasks import send_deliveries

    try:
        send_deliveries.enqueue()
    except Exception:  # noqa: BLE001 - the worker's tick sends them anyway
        log.exception("could not enqueue send_deliveries")


def _queue_lean(*, period: str, now: dt.datetime, run_id: int | None, organization_ids) -> QueueResult:
    """The automation's path: the same deliveries as :func:`_queue`, in one INSERT … SELECT straight over
    contacts and participations (no join through the organisations, no separate pass counting the
    contacts skipped), which is what a million clients can afford every month."""
    result = QueueResult(period=period)
    ids_sql, ids_params = organization_ids.query.sql_with_params()
    quote = connection.ops.quote_name
    meta = ReportDelivery._meta
    column_of = {f.attname: quote(f.column) for f in meta.concrete_fields}
    columns = ["project_id", "period", "organization_id", "contact_id", "email", "language", "key", "status",
               "attempts", "next_attempt_at", "last_error", "queued_at", "run_id"]
    statuses = ", ".join(["%s"] * len(OPEN_STATUSES))
    stamp = connection.ops.adapt_datetimefield_value(now)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(column_of[c] for c in columns)}) "
        f"SELECT DISTINCT p.project_id, %s, c.organization_id, c.id, c.email, c.language, "
        f"CAST(p.project_id AS TEXT) || ':' || %s || ':' || CAST(c.id AS TEXT), %s, 0, %s, '', %s, "
        f"CAST(%s AS BIGINT) "
        f"FROM {quote(Contact._meta.db_table)} c "
        f"JOIN {quote(Participation._meta.db_table)} p ON p.organization_id = c.organization_id "
        f"WHERE c.organization_id IN ({ids_sql}) AND c.report_consent = %s AND c.email <> '' "
        f"AND p.status IN ({statuses}) "
        f"ON CONFLICT ({quote(meta.get_field('key').column)}) DO NOTHING"
    )
    params = (period, period, DeliveryStatus.PENDING.value, stamp, stamp, run_id, *ids_params, True,
              *OPEN_STATUSES)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        result.created = max(cursor.rowcount, 0)
    return result


def queue_progress_reports(*, period: str, organization_ids, now: dt.datetime | None = None,
                           run_id: int | None = None, count_skipped: bool = True) -> QueueResult:
    """Queue the month's report for every project the organisations ``organization_ids`` (a lazy
    queryset of ids, run as a subquery) take part in; the automation engine calls this. Sending
    happens in a task enqueued after the commit."""
    period = _clean_period(period)
    now = now or timezone.now()
    with transaction.atomic():
        if count_skipped or not hasattr(organization_ids, "query"):
            result = _queue(organization_ids=organization_ids, period=period, now=now, run_id=run_id)
        else:
            result = _queue_lean(organization_ids=organization_ids, period=period, now=now, run_id=run_id)
        if result.created:
            transaction.on_commit(_enqueue_sending)
    return result


def report_send(*, actor, project: Project, period: str, now: dt.datetime | None = None,
                connection=None) -> QueueResult:
    """"Send now": queue the report for the consenting contacts of the project's participants that ``actor``
    may see (the client list's rule: a manager mails his teams' clients, not another team's), then send
    what is due for this project and period among them."""
    period = _clean_period(period)
    require_project_progress(actor, project)
    now = now or timezone.now()
    visible = selectors.visible_recipient_organizations(actor)
    with transaction.atomic():
        result = _queue(project=project, period=period, now=now, run_id=None, organization_ids=visible)
        audit_record(actor=actor, action="update", instance=project, changes={
            "progress_report_sent": [None, {"period": period, "queued": result.created,
                                            "already_queued": result.already_queued}],
        })
    result.sent = send_pending_deliveries(now=now, connection=connection, project=project, period=period,
                                          organization_ids=visible)
    return result


# Sending -----------------------------------------------------------------------------------------------


def backoff(attempts: int) -> dt.timedelta:
    """1, 2, 4, 8… minutes after the first, second, third… failure."""
    return dt.timedelta(minutes=2 ** max(0, attempts - 1))


def unsubscribe_token(contact_id: int) -> str:
    return signing.dumps(contact_id, salt=UNSUBSCRIBE_SALT)


def unsubscribe_url(contact_id: int) -> str:
    return settings.BCRM_BASE_URL + reverse("progress:unsubscribe", args=[unsubscribe_token(contact_id)])


class _Renderings:
    """The report, its chart and its PDF rendered once per (project, period, language) in a batch."""

    def __init__(self) -> None:
        self.reports: dict[tuple[int, str, str], Any] = {}
        self.pdfs: dict[tuple[int, str, str], bytes] = {}
        self.svgs: dict[tuple[int, str, str], str] = {}

    def get(self, delivery: ReportDelivery) -> tuple[Any, str, bytes]:
        key = (delivery.project_id, delivery.period, delivery.language)
        if key not in self.reports:
            report = selectors.progress_report(delivery.project, delivery.period, delivery.language)
            svg = chart_svg_uri(report, delivery.language)
            self.reports[key], self.svgs[key] = report, svg
            self.pdfs[key] = render_pdf(report, delivery.language, svg_uri=svg)
        return self.reports[key], self.svgs[key], self.pdfs[key]


def delivery_email(delivery: ReportDelivery, renderings: _Renderings | None = None) -> EmailMultiAlternatives:
    report, svg, pdf = (renderings or _Renderings()).get(delivery)
    language = delivery.language
    url = unsubscribe_url(delivery.contact_id) if delivery.contact_id else None
    html = render_html(report, language, for_email=True, unsubscribe_url=url, svg_uri=svg)
    headers = {"Auto-Submitted": "auto-generated", "X-Bcrm-Delivery": delivery.key}
    if url:
        headers["List-Unsubscribe"] = f"<{url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message = EmailMultiAlternatives(subject=render_subject(report, language),
                                     body=render_text(report, language, unsubscribe_url=url),
                                     to=[delivery.email], headers=headers)
    message.attach_alternative(html, "text/html")
    message.attach(pdf_filename(report), pdf, "application/pdf")
    return message


def _record_sent(delivery: ReportDelivery, now: dt.datetime) -> None:
    from bcrm.engagement.services import interaction_create

    with transaction.atomic():
        contacts = [delivery.contact] if delivery.contact_id else []
        with translation.override(delivery.language):
            project_name = str(delivery.project)
        interaction = interaction_create(actor=SystemOperator(), organization=delivery.organization, data={
            "project": delivery.project, "kind": InteractionKind.REPORT_SENT, "occurred_at": now, "owner": None,
            "minutes_spent": 0,
            "summary": _("Progress report %(period)s for %(project)s e-mailed to %(email)s (automated).")
            % {"period": delivery.period, "project": project_name, "email": delivery.email},
        }, contacts=contacts)
        ReportDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.SENT, sent_at=now, last_error="", next_attempt_at=None, interaction=interaction,
        )


def _record_failure(delivery: ReportDelivery, attempts: int, error: str, now: dt.datetime, summary: SendSummary) -> None:
    if attempts >= MAX_ATTEMPTS:
        ReportDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.FAILED, last_error=error, next_attempt_at=None)
        summary.failed += 1
    else:
        ReportDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.PENDING, last_error=error, next_attempt_at=now + backoff(attempts))
        summary.retrying += 1
    summary.errors.append(f"{delivery.key}: {error}")


def send_pending_deliveries(*, now: dt.datetime | None = None, limit: int | None = None, connection=None,
                            project: Project | None = None, period: str | None = None,
                            organization_ids=None) -> SendSummary:
    """E-mail every due pending delivery (optionally of one project and period, to ``organization_ids``),
    each at most once."""
    now = now or timezone.now()
    summary = SendSummary()
    due = ReportDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    if organization_ids is not None:
        due = due.filter(organization_id__in=organization_ids)
    if project is not None:
        due = due.filter(project=project)
    if period is not None:
        due = due.filter(period=period)
    ids = list(due.order_by("next_attempt_at", "id").values_list("pk", flat=True)[: limit or None])
    if not ids:
        return summary
    renderings = _Renderings()
    connection = connection or get_connection()
    try:
        for pk in ids:
            claimed = ReportDelivery.objects.filter(
                pk=pk, status=DeliveryStatus.PENDING, next_attempt_at__lte=now,
            ).update(status=DeliveryStatus.SENDING, attempts=F("attempts") + 1)
            if not claimed:
                continue  # another worker has it
            summary.claimed += 1
            delivery = ReportDelivery.objects.select_related("project", "organization", "contact").get(pk=pk)
            if delivery.contact is None or not delivery.contact.report_consent:
                ReportDelivery.objects.filter(pk=pk, status=DeliveryStatus.SENDING).update(
                    status=DeliveryStatus.CANCELLED, last_error=_("The contact no longer receives reports."),
                    next_attempt_at=None)
                summary.cancelled += 1
                continue
            try:
                message = delivery_email(delivery, renderings)
                message.connection = connection
                connection.send_messages([message])
            except Exception as exc:  # noqa: BLE001 - recorded on the delivery, retried with backoff
                log.warning("progress report delivery %s not sent: %s", delivery.key, exc)
                _record_failure(delivery, delivery.attempts, f"{type(exc).__name__}: {exc}"[:500], now, summary)
                try:
                    connection.close()  # reopened for the next message
                except Exception:  # noqa: BLE001
                    pass
                continue
            _record_sent(delivery, now)
            summary.sent += 1
    finally:
        try:
            connection.close()
        except Exception:  # noqa: BLE001
            pass
    return summary


# Unsubscribe -------------------------------------------------------------------------------------------


def contact_by_unsubscribe_token(token: str) -> Contact:
    if not token or len(token) > 200:
        raise NotFound()
    try:
        contact_id = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        raise NotFound() from None
    contact = Contact.objects.select_related("organization").filter(pk=contact_id).first() if isinstance(
        contact_id, int) else None
    if contact is None:
        raise NotFound()
    return contact


@transaction.atomic
def unsubscribe(*, token: str, now: dt.datetime | None = None) -> Contact:
    """Withdraw the contact's consent to reports and cancel what is still queued for them (idempotent)."""
    contact = contact_by_unsubscribe_token(token)
    now = now or timezone.now()
    changed = Contact.objects.filter(pk=contact.pk, report_consent=True).update(
        report_consent=False, version=F("version") + 1, updated_at=now)
    if changed:
        audit_record(actor=None, action="update", instance=contact, changes={
            "report_consent": [True, False], "via": [None, "unsubscribe link"],
        })
        contact.report_consent = False
    ReportDelivery.objects.filter(contact=contact, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.CANCELLED, next_attempt_at=None, last_error=_("Unsubscribed."))
    return contact

