"""Use cases of progress reports: milestones and team updates, queueing and sending report e-mails,
unsubscribing. The only code in this app that writes.

Decisions:

- Who receives a report: every contact of an organisation taking part in the project (a participation
  that is not declined or withdrawn) who consented to reports (``Contact.report_consent``) and has an
  e-mail address, in the contact's language. One delivery per (project, period, contact): its ``key``
  is unique, so queueing again — by automation, by "send now", or on two workers — adds nothing.
- Sending is the one delivery loop of :mod:`bcrm.core.delivery` (this app's kind: :class:`ReportMail`):
  each delivery is claimed before it is sent (pending and due → sending), so no e-mail goes out twice. A
  delivery left in ``sending`` (the process died mid-send) is never retried automatically: it may have
  gone out; the log shows it.
- An SMTP failure puts the delivery back to pending after 1, 2, 4, 8 minutes; the fifth failure marks
  it failed. A contact who withdrew consent meanwhile gets nothing (the delivery is cancelled).
- Unsubscribe links carry a signed token naming the contact (no expiry: a link in a year-old e-mail
  must still work). GET only shows the button; POST (or the RFC 8058 one-click POST) withdraws consent.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.models import Case, CharField, F, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Cast, Concat
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.permissions import EDIT_ALL, SystemOperator, can_write, has_any, require, require_delete
from bcrm.audit.services import audit_record
from bcrm.core import delivery as mailer
from bcrm.core.delivery import SendSummary
from bcrm.core.errors import NotFound
from bcrm.core.fields import only_fields
from bcrm.core.services import create_instance, delete_instance, update_instance
from bcrm.core.texts import gettext_noop, text
from bcrm.engagement.choices import InteractionKind
from bcrm.engagement.services import interaction_create
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


# Sending: the mail kind of bcrm.core.delivery ----------------------------------------------------------


def backoff(attempts: int) -> dt.timedelta:
    """1, 2, 4, 8… minutes after the first, second, third… failure."""
    return ReportMail.policy.backoff(attempts)


UNSUBSCRIBE = mailer.Unsubscribe(salt=UNSUBSCRIBE_SALT, url_name="progress:unsubscribe")


def unsubscribe_token(contact_id: int) -> str:
    return UNSUBSCRIBE.token(contact_id)


def unsubscribe_url(contact_id: int) -> str:
    return UNSUBSCRIBE.url(contact_id)


def _rendering(delivery: ReportDelivery, batch: mailer.Batch | None) -> tuple[Any, str, bytes]:
    """The report, its chart and its PDF, rendered once per (project, period, language) in a batch."""

    def make() -> tuple[Any, str, bytes]:
        report = selectors.progress_report(delivery.project, delivery.period, delivery.language)
        svg = chart_svg_uri(report, delivery.language)
        return report, svg, render_pdf(report, delivery.language, svg_uri=svg)

    if batch is None:
        return make()
    return batch.cached(("progress", delivery.project_id, delivery.period, delivery.language), make)


def delivery_email(delivery: ReportDelivery, batch: mailer.Batch | None = None, *,
                   url: str | None = None) -> EmailMultiAlternatives:
    """The report e-mail of one delivery (``url``: its unsubscribe link)."""
    report, svg, pdf = _rendering(delivery, batch)
    language = delivery.language
    html = render_html(report, language, for_email=True, unsubscribe_url=url, svg_uri=svg)
    headers = {"Auto-Submitted": "auto-generated", "X-Bcrm-Delivery": delivery.key}
    message = EmailMultiAlternatives(subject=render_subject(report, language),
                                     body=render_text(report, language, unsubscribe_url=url),
                                     to=[delivery.email], headers=headers)
    message.attach_alternative(html, "text/html")
    message.attach(pdf_filename(report), pdf, "application/pdf")
    return message


#: the interaction a sent report leaves on the timeline, stored as a code (bcrm.core.texts)
REPORT_SENT = gettext_noop("Progress report %(period)s for %(project)s e-mailed to %(email)s (automated).")


class ReportMail(mailer.DeliveryKind):
    """A project's monthly progress report to one consenting contact, with its PDF, in the contact's language;
    sent once it is an interaction ("report sent") on the client's timeline."""

    name = "progress_report"
    model = ReportDelivery
    policy = mailer.RetryPolicy(max_attempts=MAX_ATTEMPTS)
    related = ("project", "organization", "contact")

    def describe(self, row: ReportDelivery) -> str:
        return row.key

    def opted_out(self, row: ReportDelivery) -> str | None:
        if row.contact is None or not row.contact.report_consent:
            return _("The contact no longer receives reports.")
        return None

    def unsubscribe_url(self, row: ReportDelivery) -> str | None:
        return unsubscribe_url(row.contact_id) if row.contact_id else None

    def build(self, row: ReportDelivery, batch: mailer.Batch, *, unsubscribe_url: str | None) -> EmailMultiAlternatives:
        return delivery_email(row, batch, url=unsubscribe_url)

    def on_sent(self, row: ReportDelivery, batch: mailer.Batch) -> dict[str, Any]:
        contacts = [row.contact] if row.contact_id else []
        with translation.override(row.language):
            project_name = str(row.project)
        interaction = interaction_create(actor=SystemOperator(), organization=row.organization, data={
            "project": row.project, "kind": InteractionKind.REPORT_SENT, "occurred_at": batch.now, "owner": None,
            "minutes_spent": 0,
        }, contacts=contacts, summary=text(REPORT_SENT, period=row.period, project=project_name, email=row.email))
        return {"interaction": interaction}


REPORT_MAIL = ReportMail()


def send_pending_deliveries(*, now: dt.datetime | None = None, limit: int | None = None, connection=None,
                            project: Project | None = None, period: str | None = None,
                            organization_ids=None) -> SendSummary:
    """E-mail every due pending delivery (optionally of one project and period, to ``organization_ids``),
    each at most once: :func:`bcrm.core.delivery.send` with this app's kind."""
    where = Q()
    if organization_ids is not None:
        where &= Q(organization_id__in=organization_ids)
    if project is not None:
        where &= Q(project=project)
    if period is not None:
        where &= Q(period=period)
    return mailer.send(REPORT_MAIL, now=now, where=where, limit=limit, connection=connection)


# Unsubscribe -------------------------------------------------------------------------------------------


def contact_by_unsubscribe_token(token: str) -> Contact:
    contact = Contact.objects.select_related("organization").filter(pk=UNSUBSCRIBE.recipient_id(token)).first()
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
    mailer.cancel_pending(REPORT_MAIL, Q(contact=contact), _("Unsubscribed."))
    return contact

