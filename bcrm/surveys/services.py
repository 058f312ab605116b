"""Use cases on survey invitations: invite, send, answer. The only code in this app that writes.

Decisions (see also the app's README in the report):

- Consent. ``Contact.report_consent`` is consent to marketing reports. A short satisfaction survey
  about a service the client received is legitimate interest, so it is not required; a contact
  without an e-mail address is skipped with that reason.
- One open invitation per contact and project: a contact who already holds a sent, unanswered,
  unexpired invitation about the same project (or about no project) is skipped, so running the same
  send twice mails nobody twice. An open invitation that was never sent (its e-mail failed) is
  re-used and sent again.
- NPS is required, CSAT is optional, the comment is optional and at most ``COMMENT_MAX_LENGTH``
  characters.
- Tokens are issued at sending time and only their SHA-256 digest is stored; a resend issues a new
  token, which retires the link sent before.
- Sending is the one delivery loop of :mod:`bcrm.core.delivery` (this app's kind: :class:`InvitationMail`,
  one ``SurveyMail`` row per e-mail): claimed before it is sent, a failure retried by the worker with
  backoff. The doors (page, API, CLI) all call :func:`survey_invite_and_send`.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bcrm.accounts.models import token_digest
from bcrm.accounts.permissions import can_write, require, require_organization_write
from bcrm.audit.services import audit_record
from bcrm.core import delivery as mailer
from bcrm.core import events
from bcrm.core.errors import InvalidInput, NotFound, ServiceError
from bcrm.core.services import validate_and_save
from bcrm.engagement.models import SurveyResponse
from bcrm.engagement.services import survey_response_create
from bcrm.surveys.models import InvitationStatus, SurveyInvitation, SurveyMail

log = logging.getLogger(__name__)

DEFAULT_EXPIRY_DAYS = 30
MIN_EXPIRY_DAYS = 1
MAX_EXPIRY_DAYS = 365
COMMENT_MAX_LENGTH = 2000
TOKEN_BYTES = 32  # 43 URL-safe characters
TOKEN_MAX_LENGTH = 64  # anything longer in a URL is not one of ours


class SurveyClosed(ServiceError):
    """The link can no longer be answered; ``invitation`` says in which language to tell the contact."""

    def __init__(self, invitation: SurveyInvitation, message=None):
        self.invitation = invitation
        super().__init__(message)


class AlreadyAnswered(SurveyClosed):
    status = 409
    code = "already_answered"

    default_message = gettext_lazy("This survey has already been answered. Thank you!")


class SurveyExpired(SurveyClosed):
    status = 410
    code = "expired"

    default_message = gettext_lazy("This survey link has expired.")


# Skipped contacts ---------------------------------------------------------------------------------------

NO_EMAIL = "no_email"
OPEN_INVITATION = "open_invitation"
NOT_PERMITTED = "not_permitted"  # a gate of the delivery service (privacy: restricted, no purpose) says no


@dataclass
class Skipped:
    contact: Any
    code: str
    reason: str


@dataclass
class SendOutcome:
    invitation: SurveyInvitation
    sent: bool
    error: str = ""


@dataclass
class InviteResult:
    invitations: list[SurveyInvitation] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    dry_run: bool = False
    #: after sending (:func:`survey_invite_and_send`): one per invitation, in the same order
    outcomes: list[SendOutcome] = field(default_factory=list)

    def outcome_of(self, invitation: SurveyInvitation) -> SendOutcome | None:
        return next((o for o in self.outcomes if o.invitation.pk == invitation.pk), None)


# Pure checks ---------------------------------------------------------------------------------------------


def clean_expiry_days(value: Any) -> int:
    try:
        days = int(value)
        if isinstance(value, bool) or str(days) != str(value).strip():
            raise ValueError
    except (TypeError, ValueError):
        days = -1
    if not MIN_EXPIRY_DAYS <= days <= MAX_EXPIRY_DAYS:
        raise InvalidInput(fields={"expires_in_days": [
            _("Choose a whole number of days from %(min)d to %(max)d.") % {"min": MIN_EXPIRY_DAYS, "max": MAX_EXPIRY_DAYS}
        ]})
    return days


def _score(value: Any, low: int, high: int) -> int | None:
    """A whole number in [low, high]; None for an empty value; ValueError for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool | float):
        raise ValueError(value)
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not text.isascii() or not text.isdigit():
            raise ValueError(value)
        number = int(text)
    if not low <= number <= high:
        raise ValueError(value)
    return number


def clean_answer(nps: Any, csat: Any = None, comment: Any = "") -> tuple[int, int | None, str]:
    """The answer as stored: NPS 0–10 (required), CSAT 1–5 (optional), comment (optional, bounded)."""
    errors: dict[str, list[str]] = {}
    nps_value = csat_value = None
    try:
        nps_value = _score(nps, 0, 10)
        if nps_value is None:
            errors["nps"] = [_("Please choose a score from 0 to 10.")]
    except ValueError:
        errors["nps"] = [_("The recommendation score is a whole number from 0 to 10.")]
    try:
        csat_value = _score(csat, 1, 5)
    except ValueError:
        errors["csat"] = [_("The satisfaction score is a whole number from 1 to 5.")]
    text = "" if comment is None else str(comment)
    text = text.replace("\x00", "").strip()
    if len(text) > COMMENT_MAX_LENGTH:
        errors["comment"] = [_("The comment is too long: at most %(max)d characters, this one has %(n)d.")
                             % {"max": COMMENT_MAX_LENGTH, "n": len(text)}]
    if errors:
        raise InvalidInput(fields=errors)
    assert nps_value is not None
    return nps_value, csat_value, text


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def survey_url(raw_token: str) -> str:
    return settings.BCRM_BASE_URL + reverse("surveys:answer", args=[raw_token])


# Invite --------------------------------------------------------------------------------------------------


def _distinct(contacts: Iterable) -> list:
    seen: set[int] = set()
    result = []
    for contact in contacts:
        if contact.pk not in seen:
            seen.add(contact.pk)
            result.append(contact)
    return result


def _require_invite(actor, contacts: list) -> None:
    """``actor`` None is the trusted operator at the command line (like createuser)."""
    if actor is None:
        return
    require(can_write(actor))
    checked: set[int] = set()
    for contact in contacts:
        if contact.organization_id not in checked:
            require_organization_write(actor, contact.organization)
            checked.add(contact.organization_id)


def _open_invitations(contacts: list, project, now: dt.datetime) -> dict[int, SurveyInvitation]:
    rows = SurveyInvitation.objects.filter(
        contact__in=[c.pk for c in contacts], project=project, used_at__isnull=True, expires_at__gt=now,
    ).order_by("-sent_at", "-created_at")
    found: dict[int, SurveyInvitation] = {}
    for row in rows:
        found.setdefault(row.contact_id, row)
    return found


def _audit_invitation(actor, action: str, invitation: SurveyInvitation, changes: dict[str, list[Any]]) -> None:
    # Never the token digest: the audit log is read by more people than the invitation table.
    audit_record(actor=actor, action=action, instance=invitation, changes=changes)


def survey_invite(*, actor, contacts: Iterable, project=None, expires_in_days: Any = DEFAULT_EXPIRY_DAYS,
                  dry_run: bool = False) -> InviteResult:
    """Create one invitation per contact (not sent yet: see ``survey_send``), or say why not.

    Permission: the actor may edit every contact's organisation. ``dry_run`` computes the same
    result and writes nothing (the preview).
    """
    days = clean_expiry_days(expires_in_days)
    contacts = _distinct(contacts)
    if not contacts:
        raise InvalidInput(fields={"contacts": [_("Choose at least one contact.")]})
    _require_invite(actor, contacts)
    now = timezone.now()
    expires_at = now + dt.timedelta(days=days)
    existing = _open_invitations(contacts, project, now)
    result = InviteResult(dry_run=dry_run)
    to_create: list[SurveyInvitation] = []
    for contact in contacts:
        if not (contact.email or "").strip():
            result.skipped.append(Skipped(contact, NO_EMAIL, _("No e-mail address.")))
            continue
        gate = mailer.contact_gate(InvitationMail.name, contact.pk)
        if gate:
            result.skipped.append(Skipped(contact, NOT_PERMITTED, _(
                "This contact may not be surveyed (%(code)s).") % {"code": gate}))
            continue
        open_one = existing.get(contact.pk)
        if open_one is not None and open_one.sent_at is not None:
            result.skipped.append(Skipped(contact, OPEN_INVITATION, _(
                "Already invited on %(sent)s; that link is open until %(expires)s."
            ) % {"sent": f"{timezone.localtime(open_one.sent_at):%Y-%m-%d}",
                 "expires": f"{timezone.localtime(open_one.expires_at):%Y-%m-%d}"}))
            continue
        if open_one is not None:
            open_one.expires_at = expires_at  # never sent (its e-mail failed): send it again
            result.invitations.append(open_one)
            continue
        invitation = SurveyInvitation(
            contact=contact, organization=contact.organization, project=project, language=contact.language,
            expires_at=expires_at, sent_by=actor if getattr(actor, "pk", None) else None,
        )
        result.invitations.append(invitation)
        to_create.append(invitation)
    if dry_run:
        return result
    with transaction.atomic():
        for invitation in result.invitations:
            if invitation.pk is not None:
                SurveyInvitation.objects.filter(pk=invitation.pk).update(expires_at=expires_at)
                _audit_invitation(actor, "update", invitation, {"expires_at": [None, expires_at.isoformat()]})
                continue
            validate_and_save(invitation)
            _audit_invitation(actor, "create", invitation, {
                "contact": [None, invitation.contact_id], "organization": [None, invitation.organization_id],
                "project": [None, invitation.project_id], "language": [None, invitation.language],
                "expires_at": [None, expires_at.isoformat()],
            })
    return result


# Send ----------------------------------------------------------------------------------------------------


def _display_name(contact, language: str) -> str:
    if language == "zh-hans" and contact.local_name:
        return contact.local_name
    return contact.full_name


def invitation_email(invitation: SurveyInvitation, raw_token: str) -> EmailMultiAlternatives:
    """The invitation in the contact's language: plain text and HTML, with the personal link."""
    contact = invitation.contact
    organization = invitation.organization
    manager = organization.relationship_manager or invitation.sent_by
    context = {
        "name": _display_name(contact, invitation.language),
        "organization": organization,
        "project": invitation.project,
        "url": survey_url(raw_token),
        "expires_at": timezone.localtime(invitation.expires_at),
        "sender": (manager.get_full_name() or manager.get_username()) if manager else "",
    }
    return mailer.compose(
        to=[contact.email], language=invitation.language, subject="surveys/email/invitation_subject.txt",
        body="surveys/email/invitation.txt", html="surveys/email/invitation.html", context=context,
        reply_to=[manager.email] if manager is not None and manager.email else None,
    )


def _issue_token(invitation: SurveyInvitation) -> str | None:
    """A fresh token for an unanswered invitation; None when it was answered meanwhile."""
    raw = new_token()
    updated = SurveyInvitation.objects.filter(pk=invitation.pk, used_at__isnull=True).update(
        token_digest=token_digest(raw)
    )
    if not updated:
        return None
    invitation.token_digest = token_digest(raw)
    return raw


class InvitationMail(mailer.DeliveryKind):
    """A survey invitation e-mailed to its contact, in the invitation's language. The token is issued when the
    message is built (a resend issues a new one, retiring the link sent before); an invitation answered or
    expired meanwhile is not sent. No unsubscribe link: a satisfaction survey about a service the client
    received is legitimate interest, not a list (see the module's decisions)."""

    name = "survey_invitation"
    model = SurveyMail
    related = ("invitation__contact", "invitation__organization__relationship_manager", "invitation__project",
               "invitation__sent_by")

    def describe(self, row: SurveyMail) -> str:
        return f"survey invitation {row.invitation_id} to {row.email}"

    def contact_id(self, row: SurveyMail) -> int | None:
        return row.invitation.contact_id

    def opted_out(self, row: SurveyMail) -> str | None:
        status = row.invitation.status
        if status == InvitationStatus.ANSWERED:
            return _("Already answered.")
        if status == InvitationStatus.EXPIRED:
            return _("The invitation has expired.")
        if not (row.email or "").strip():
            return _("No e-mail address.")
        return None

    def build(self, row: SurveyMail, batch: mailer.Batch, *, unsubscribe_url: str | None) -> EmailMultiAlternatives:
        raw = _issue_token(row.invitation)
        if raw is None:
            raise mailer.Cancel(_("Already answered."))
        message = invitation_email(row.invitation, raw)
        message.to = [row.email]
        return message

    def on_sent(self, row: SurveyMail, batch: mailer.Batch) -> None:
        invitation = row.invitation
        sent_by = batch.actor if getattr(batch.actor, "pk", None) else invitation.sent_by
        SurveyInvitation.objects.filter(pk=invitation.pk).update(sent_at=batch.now, send_error="", sent_by=sent_by)
        previous = invitation.sent_at
        invitation.sent_at, invitation.send_error, invitation.sent_by = batch.now, "", sent_by
        _audit_invitation(batch.actor, "update", invitation, {
            "sent_at": [previous.isoformat() if previous else None, batch.now.isoformat()],
        })

    def on_failure(self, row: SurveyMail, error: str, final: bool, batch: mailer.Batch) -> None:
        invitation = row.invitation
        SurveyInvitation.objects.filter(pk=invitation.pk).update(send_error=error)
        invitation.send_error = error
        _audit_invitation(batch.actor, "update", invitation, {"send_error": [None, error]})


SURVEY_MAIL = InvitationMail()


def _queue_mail(invitation: SurveyInvitation, now: dt.datetime) -> int:
    """A new e-mail of the invitation, due now; one still waiting for a retry is replaced by it."""
    mailer.cancel_pending(SURVEY_MAIL, Q(invitation=invitation), _("Replaced by a new sending."))
    mail = SurveyMail.objects.create(invitation=invitation, email=invitation.contact.email.strip(),
                                     queued_at=now, next_attempt_at=now)
    return mail.pk


def survey_send(*, actor, invitations: Iterable[SurveyInvitation], connection=None) -> list[SendOutcome]:
    """E-mail each invitation (one message each) through the delivery loop and record when it went out.

    A failure for one recipient is recorded on its invitation (``send_error``) and does not stop the
    others; the worker retries it with backoff (:mod:`bcrm.core.delivery`). No database transaction is
    held while talking to the mail server.
    """
    invitations = list({i.pk: i for i in invitations if i.pk is not None}.values())
    _require_invite(actor, [i.contact for i in invitations])
    now = timezone.now()
    early: dict[int, SendOutcome] = {}
    mail_of: dict[int, int] = {}
    for invitation in invitations:
        invitation.refresh_from_db()
        if not invitation.is_open:
            reason = (_("Already answered.") if invitation.status == InvitationStatus.ANSWERED
                      else _("The invitation has expired."))
            early[invitation.pk] = SendOutcome(invitation, False, reason)
        elif not (invitation.contact.email or "").strip():
            early[invitation.pk] = SendOutcome(invitation, False, _("No e-mail address."))
        else:
            mail_of[invitation.pk] = _queue_mail(invitation, now)
    summary = mailer.send(SURVEY_MAIL, ids=mail_of.values(), now=now, connection=connection, actor=actor)
    fresh = SurveyInvitation.objects.in_bulk(list(mail_of))
    outcomes: list[SendOutcome] = []
    for invitation in invitations:
        if invitation.pk in early:
            outcomes.append(early[invitation.pk])
            continue
        row = fresh.get(invitation.pk)
        if row is not None:  # what the loop wrote, on the caller's objects
            invitation.sent_at, invitation.send_error = row.sent_at, row.send_error
            invitation.sent_by_id, invitation.token_digest = row.sent_by_id, row.token_digest
        outcome = summary.outcomes.get(mail_of[invitation.pk])
        if outcome is None:
            outcomes.append(SendOutcome(invitation, False, _("Another process is sending it.")))
        else:
            outcomes.append(SendOutcome(invitation, outcome.sent, outcome.error))
    return outcomes


def survey_invite_and_send(*, actor, contacts: Iterable, project=None,
                           expires_in_days: Any = DEFAULT_EXPIRY_DAYS, dry_run: bool = False,
                           connection=None) -> InviteResult:
    """What every door does (the send page, ``POST /api/v1/surveys/invitations``, ``bcrm survey send``): invite
    the contacts (:func:`survey_invite`) and, unless ``dry_run``, e-mail the invitations at once
    (:func:`survey_send`); ``result.outcomes`` says, per invitation, whether it went out."""
    result = survey_invite(actor=actor, contacts=contacts, project=project, expires_in_days=expires_in_days,
                           dry_run=dry_run)
    if not dry_run:
        result.outcomes = survey_send(actor=actor, invitations=result.invitations, connection=connection)
    return result


# Answer --------------------------------------------------------------------------------------------------


def invitation_by_token(raw_token: str) -> SurveyInvitation:
    """The invitation a link's token belongs to (looked up by digest); NotFound otherwise."""
    if not raw_token or len(raw_token) > TOKEN_MAX_LENGTH:
        raise NotFound()
    invitation = (
        SurveyInvitation.objects.select_related("contact", "organization", "project")
        .filter(token_digest=token_digest(raw_token)).first()
    )
    if invitation is None:
        raise NotFound()
    return invitation


def require_open(invitation: SurveyInvitation) -> None:
    if invitation.used_at is not None:
        raise AlreadyAnswered(invitation)
    if invitation.expires_at <= timezone.now():
        raise SurveyExpired(invitation)


def survey_answer(*, token: str, nps: Any, csat: Any = None, comment: Any = "") -> SurveyResponse:
    """Record the contact's answer through their link: once, before it expires.

    The invitation is claimed with a conditional UPDATE (``used_at IS NULL``) inside the transaction
    that creates the response, so of two simultaneous submissions exactly one lands; the other gets
    AlreadyAnswered and nothing is written for it.
    """
    invitation = invitation_by_token(token)
    require_open(invitation)
    nps_value, csat_value, text = clean_answer(nps, csat, comment)
    with transaction.atomic():
        now = timezone.now()
        claimed = SurveyInvitation.objects.filter(
            pk=invitation.pk, token_digest=invitation.token_digest, used_at__isnull=True, expires_at__gt=now,
        ).update(used_at=now)
        if not claimed:
            current = SurveyInvitation.objects.filter(pk=invitation.pk).first()
            if current is None or current.token_digest != invitation.token_digest:
                raise NotFound()
            require_open(current)
            raise AlreadyAnswered(current)  # unreachable: one of the checks above explains a failed claim
        response = survey_response_create(actor=None, contact=invitation.contact, data={
            "nps": nps_value, "csat": csat_value, "comment": text, "responded_at": now,
        })
        SurveyInvitation.objects.filter(pk=invitation.pk).update(response=response)
        invitation.used_at, invitation.response = now, response
        _audit_invitation(None, "update", invitation, {
            "used_at": [None, now.isoformat()], "response": [None, response.pk],
        })
        events.emit("survey.answered", {"invitation": invitation.pk, "response": response.pk,
                                        "organization": invitation.contact.organization_id,
                                        "contact": invitation.contact_id, "nps": nps_value, "csat": csat_value})
    return response
