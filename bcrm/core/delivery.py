"""One delivery service for every e-mail the system sends (survey invitations, progress reports, management
reports, and what comes next: financing-plan proposals, allocation notices).

A *delivery* is one message to one recipient, a row of a table built on :class:`Delivery` (the common
columns: status, attempts, next attempt, last error, queued and sent times). Each app keeps its own table (its
own keys and links: project and period, invitation, …) and describes its mail as a :class:`DeliveryKind`:
which table, how to build the message of one row (in the recipient's language, with attachments), whether the
recipient has opted out meanwhile, what to record besides the status when a message went out or failed, and its
retry policy. The kind is registered once (``register`` in the app's ``AppConfig.ready``, by dotted path, so
nothing is imported before it is needed); this module imports nothing above the core.

The loop, the same for every kind (:func:`send`):

1. **Queue**: the app inserts rows with status ``pending`` and ``next_attempt_at`` = when it is due (now).
2. **Claim** before sending, one row at a time: on PostgreSQL ``SELECT … FOR UPDATE SKIP LOCKED`` (a second
   worker skips the row instead of waiting for it) then the switch to ``sending``; on SQLite, which has one
   writer at a time, a conditional ``UPDATE … WHERE status = 'pending'`` that only one caller can win. Only the
   caller that switched the row sends it, so a message never goes out twice, with any number of workers.
3. **Opt-out**: before building the message, the kind says whether the recipient still wants it (consent
   withdrawn through the unsubscribe link, invitation answered meanwhile …); if not, the row is ``cancelled``.
4. **Send** through Django's mail API (``EMAIL_BACKEND``: SMTP, or the ``.eml`` outbox of
   :mod:`bcrm.core.mailbox` in development), with no database transaction held while talking to the server.
   ``List-Unsubscribe`` headers (RFC 2369/8058) are added when the kind gives an unsubscribe link.
5. **Record**: ``sent`` with the time (and what the kind records with it, in the same transaction), or, after a
   failure, ``pending`` again with ``next_attempt_at`` pushed back exponentially (1, 2, 4, 8 … minutes), or
   ``failed`` after the policy's last attempt. A row left in ``sending`` (the process died mid-send) is never
   retried automatically: the message may have gone out.

:func:`send_due` sends what is due for every registered kind: the worker calls it every tick.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.db import connections, models, router, transaction
from django.db.models import F, Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from bcrm.core.errors import NotFound

log = logging.getLogger(__name__)

ERROR_MAX_LENGTH = 500


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class Delivery(models.Model):
    """The columns every delivery table shares (an abstract model: each app's table adds its own keys)."""

    status = models.CharField(_("status"), max_length=12, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    queued_at = models.DateTimeField(_("queued"))
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        abstract = True


# Policy and kinds -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` sends in all; after the n-th failure the next attempt waits ``first_wait`` · 2ⁿ⁻¹
    (at most ``longest_wait``). ``max_attempts=1``: a failure is final (someone sends again on purpose)."""

    max_attempts: int = 5
    first_wait: dt.timedelta = dt.timedelta(minutes=1)
    longest_wait: dt.timedelta = dt.timedelta(hours=6)

    def backoff(self, attempts: int) -> dt.timedelta:
        return min(self.first_wait * 2 ** max(0, attempts - 1), self.longest_wait)


class Cancel(Exception):
    """Raised by :meth:`DeliveryKind.build` when the message must not go out after all (the row is cancelled
    with this reason)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Batch:
    """What one :func:`send` call shares between its messages: who asked (None for the worker), the clock, and
    a cache for renderings used by many messages (one PDF per project and language, not per recipient)."""

    actor: Any = None
    now: dt.datetime = field(default_factory=timezone.now)
    cache: dict[Any, Any] = field(default_factory=dict)

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]


class DeliveryKind:
    """How one kind of mail is built and recorded. Subclass, set ``name`` and ``model``, implement
    :meth:`build`; the other hooks have sensible defaults."""

    name: ClassVar[str]
    model: ClassVar[type[Delivery]]
    policy: ClassVar[RetryPolicy] = RetryPolicy()
    #: select_related of the row :meth:`build` receives
    related: ClassVar[Sequence[str]] = ()

    def load(self, pk: Any) -> Any:
        return self.model._default_manager.select_related(*self.related).get(pk=pk)

    def describe(self, delivery: Any) -> str:
        """How the row is named in logs and in a summary's errors."""
        return f"{self.name} {delivery.pk}"

    def opted_out(self, delivery: Any) -> str | None:
        """The reason the recipient no longer gets this message (the row is cancelled), or None."""
        return None

    def build(self, delivery: Any, batch: Batch, *, unsubscribe_url: str | None) -> EmailMessage:
        """The message of one row, in its recipient's language (``unsubscribe_url``: the link the body shows,
        the same the ``List-Unsubscribe`` header carries). Raise :class:`Cancel` to send nothing after all."""
        raise NotImplementedError

    def unsubscribe_url(self, delivery: Any) -> str | None:
        """The recipient's unsubscribe link, or None when this mail has no list to leave."""
        return None

    def on_sent(self, delivery: Any, batch: Batch) -> Mapping[str, Any] | None:
        """Called inside the transaction that marks the row sent; returns extra columns to set on it."""
        return None

    def on_failure(self, delivery: Any, error: str, final: bool, batch: Batch) -> None:
        """Called after a failed attempt is recorded (``final``: no retry follows)."""
        return None

    def on_cancel(self, delivery: Any, reason: str, batch: Batch) -> None:
        return None

    def contact_id(self, delivery: Any) -> int | None:
        """The id of the contact (a person bcrm holds data on) this row is addressed to, or None (a user); the
        gates (:func:`add_gate`) check it before anything is built."""
        return getattr(delivery, "contact_id", None)


#: Checks every message passes before it is built: ``gate(kind_name, contact_id)`` returns a reason *code*
#: (the row is cancelled with it) or None. Filled by higher apps (privacy: processing purposes, consent,
#: restricted contacts), so this module imports nothing above the core.
_GATES: list[Callable[[str, int], str | None]] = []


def add_gate(gate: Callable[[str, int], str | None]) -> None:
    if gate not in _GATES:
        _GATES.append(gate)


def contact_gate(kind_name: str, contact_id: int) -> str | None:
    """The code of the first gate that stops this kind of mail to this contact, or None (apps that queue mail ask
    this first, so a contact who may not be mailed is skipped up front rather than cancelled later)."""
    for gate in _GATES:
        code = gate(kind_name, contact_id)
        if code:
            return code
    return None


def gate_reason(kind: DeliveryKind, delivery: Any) -> str | None:
    """The code of the first gate that stops this row (only rows addressed to a contact are gated)."""
    contact_id = kind.contact_id(delivery)
    return None if contact_id is None else contact_gate(kind.name, contact_id)


_REGISTRY: dict[str, str | DeliveryKind] = {}


def register(name: str, kind: str | DeliveryKind) -> None:
    """Register a kind under ``name``: an instance, or the dotted path of one (imported when first used)."""
    _REGISTRY[name] = kind


def kind_of(name: str | DeliveryKind) -> DeliveryKind:
    if isinstance(name, DeliveryKind):
        return name
    kind = _REGISTRY[name]
    if isinstance(kind, str):
        kind = import_string(kind)
        assert isinstance(kind, DeliveryKind), name
        _REGISTRY[name] = kind
    return kind


def kinds() -> list[str]:
    return list(_REGISTRY)


# Results ------------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # DeliveryStatus value after this attempt: sent, pending (retrying), failed, cancelled
    error: str = ""

    @property
    def sent(self) -> bool:
        return self.status == DeliveryStatus.SENT


@dataclass
class SendSummary:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    errors: list[str] = field(default_factory=list)
    #: what happened to each row claimed, by primary key
    outcomes: dict[Any, Outcome] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"claimed": self.claimed, "sent": self.sent, "retrying": self.retrying, "failed": self.failed,
                "cancelled": self.cancelled, "errors": self.errors[:20]}


# The loop ---------------------------------------------------------------------------------------------------


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_MAX_LENGTH]


def _close(connection) -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - closing a dead connection may fail too
        pass


def _claims(kind: DeliveryKind, due: QuerySet, limit: int | None) -> Iterator[Any]:
    """The primary keys of due rows this caller switched to ``sending``, one at a time."""
    manager = kind.model._default_manager
    claim = {"status": DeliveryStatus.SENDING, "attempts": F("attempts") + 1}
    ordered = due.order_by("next_attempt_at", "pk")
    db = connections[router.db_for_write(kind.model)]
    count = 0
    if db.features.has_select_for_update_skip_locked:
        of = ("self",) if db.features.has_select_for_update_of else ()
        while limit is None or count < limit:
            with transaction.atomic(using=db.alias):
                pk = ordered.select_for_update(skip_locked=True, of=of).values_list("pk", flat=True).first()
                if pk is None:
                    return
                manager.filter(pk=pk).update(**claim)
            count += 1
            yield pk
        return
    candidates = list(ordered.values_list("pk", flat=True)[: limit or None])
    for pk in candidates:
        if due.filter(pk=pk).update(**claim):  # the row is still pending and due: this caller has it
            yield pk


def _finish(kind: DeliveryKind, pk: Any, **values: Any) -> None:
    kind.model._default_manager.filter(pk=pk, status=DeliveryStatus.SENDING).update(**values)


def _cancel(kind: DeliveryKind, delivery: Any, reason: str, batch: Batch, summary: SendSummary) -> None:
    with transaction.atomic():
        _finish(kind, delivery.pk, status=DeliveryStatus.CANCELLED, last_error=reason, next_attempt_at=None)
        kind.on_cancel(delivery, reason, batch)
    summary.cancelled += 1
    summary.outcomes[delivery.pk] = Outcome(DeliveryStatus.CANCELLED, reason)


def _fail(kind: DeliveryKind, delivery: Any, error: str, batch: Batch, summary: SendSummary) -> None:
    final = delivery.attempts >= kind.policy.max_attempts
    with transaction.atomic():
        if final:
            _finish(kind, delivery.pk, status=DeliveryStatus.FAILED, last_error=error, next_attempt_at=None)
        else:
            _finish(kind, delivery.pk, status=DeliveryStatus.PENDING, last_error=error,
                    next_attempt_at=batch.now + kind.policy.backoff(delivery.attempts))
        kind.on_failure(delivery, error, final, batch)
    if final:
        summary.failed += 1
    else:
        summary.retrying += 1
    summary.errors.append(f"{kind.describe(delivery)}: {error}")
    summary.outcomes[delivery.pk] = Outcome(DeliveryStatus.FAILED if final else DeliveryStatus.PENDING, error)


def _sent(kind: DeliveryKind, delivery: Any, batch: Batch, summary: SendSummary) -> None:
    with transaction.atomic():
        extra = dict(kind.on_sent(delivery, batch) or {})
        _finish(kind, delivery.pk, status=DeliveryStatus.SENT, sent_at=batch.now, last_error="",
                next_attempt_at=None, **extra)
    summary.sent += 1
    summary.outcomes[delivery.pk] = Outcome(DeliveryStatus.SENT)


def send(kind: str | DeliveryKind, *, now: dt.datetime | None = None, where: Q | None = None,
         ids: Iterable[Any] | None = None, limit: int | None = None, connection=None, actor: Any = None,
         batch: Batch | None = None) -> SendSummary:
    """Send the rows of ``kind`` that are pending and due at ``now`` (optionally only those matching ``where``
    or with primary keys ``ids``; at most ``limit``), each at most once. One recipient's failure is recorded
    on its row and does not stop the others."""
    kind = kind_of(kind)
    batch = batch or Batch(actor=actor)
    if now is not None:
        batch.now = now
    summary = SendSummary()
    due = kind.model._default_manager.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=batch.now)
    if where is not None:
        due = due.filter(where)
    if ids is not None:
        due = due.filter(pk__in=list(ids))
    mail = None
    try:
        for pk in _claims(kind, due, limit):
            summary.claimed += 1
            delivery = kind.load(pk)
            reason = gate_reason(kind, delivery) or kind.opted_out(delivery)
            if reason:
                _cancel(kind, delivery, reason, batch, summary)
                continue
            try:
                url = kind.unsubscribe_url(delivery)
                message = kind.build(delivery, batch, unsubscribe_url=url)
                if url:
                    message.extra_headers.setdefault("List-Unsubscribe", f"<{url}>")
                    message.extra_headers.setdefault("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
                mail = mail or connection or get_connection()
                message.connection = mail
                mail.send_messages([message])
            except Cancel as stop:
                _cancel(kind, delivery, stop.reason, batch, summary)
                continue
            except Exception as exc:  # noqa: BLE001 - recorded on the row, retried with backoff
                log.warning("%s not sent: %s", kind.describe(delivery), exc)
                _fail(kind, delivery, error_text(exc), batch, summary)
                if mail is not None:
                    _close(mail)  # a broken connection is reopened for the next message
                continue
            _sent(kind, delivery, batch, summary)
    finally:
        if mail is not None:
            _close(mail)
    return summary


def send_due(*, now: dt.datetime | None = None, limit: int | None = None) -> dict[str, dict[str, Any]]:
    """What the worker calls every tick: send what is due, retries included, for every registered kind."""
    out: dict[str, dict[str, Any]] = {}
    for name in kinds():
        try:
            out[name] = send(name, now=now, limit=limit).as_dict()
        except Exception:  # one kind's fault (say, its template) must not stop the others
            log.exception("sending %s failed", name)
            out[name] = {"error": "see the log"}
    return out


def cancel_pending(kind: str | DeliveryKind, where: Q, reason: str) -> int:
    """Cancel what is still queued and not claimed (an unsubscribe, a withdrawn invitation)."""
    model = kind_of(kind).model
    return model._default_manager.filter(where, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.CANCELLED, next_attempt_at=None, last_error=reason)


# Composing a message in the recipient's language ------------------------------------------------------------


def _render(source: str | Mapping[str, Any], context: Mapping[str, Any]) -> str:
    from bcrm.core.texts import render

    if isinstance(source, Mapping):  # a code with its params (bcrm.core.texts)
        return render(source["template"], source.get("params") or {})
    return render_to_string(source, dict(context))


def compose(*, to: Sequence[str], language: str, subject: str | Mapping[str, Any], body: str,
            html: str | None = None, context: Mapping[str, Any] | None = None,
            attachments: Iterable[tuple[str, bytes, str]] = (), headers: Mapping[str, str] | None = None,
            reply_to: Sequence[str] | None = None) -> EmailMultiAlternatives:
    """A message rendered in ``language``: the subject from a code + params (``{"template", "params"}``, see
    :mod:`bcrm.core.texts`) or a template, the plain body and the optional HTML body from templates, rendered
    with ``context``; attachments as (file name, content, MIME type)."""
    context = {**(context or {}), "language": language}
    with translation.override(language):
        subject_text = " ".join(_render(subject, context).split())
        text = _render(body, context)
        html_text = _render(html, context) if html else None
    message = EmailMultiAlternatives(subject=subject_text, body=text, to=list(to),
                                     reply_to=list(reply_to) if reply_to else None,
                                     headers={"Auto-Submitted": "auto-generated", **(headers or {})})
    if html_text is not None:
        message.attach_alternative(html_text, "text/html")
    for name, content, mimetype in attachments:
        message.attach(name, content, mimetype)
    return message


# Unsubscribe ------------------------------------------------------------------------------------------------


class Unsubscribe:
    """An unsubscribe link: a signed token naming the recipient (an id) for one list (the salt). No expiry: a
    link in a year-old e-mail must still work. The page behind ``url_name`` shows a button on GET (mail
    scanners follow links) and withdraws on POST, including the RFC 8058 one-click POST."""

    MAX_TOKEN_LENGTH = 200

    def __init__(self, salt: str, url_name: str):
        self.salt = salt
        self.url_name = url_name

    def token(self, recipient_id: int) -> str:
        return signing.dumps(recipient_id, salt=self.salt)

    def url(self, recipient_id: int) -> str:
        from django.urls import reverse

        return settings.BCRM_BASE_URL + reverse(self.url_name, args=[self.token(recipient_id)])

    def recipient_id(self, token: str) -> int:
        """The id the token names; NotFound for anything else (bad signature, another list's token)."""
        if not token or len(token) > self.MAX_TOKEN_LENGTH:
            raise NotFound()
        try:
            value = signing.loads(token, salt=self.salt)
        except signing.BadSignature:
            raise NotFound() from None
        if not isinstance(value, int) or isinstance(value, bool):
            raise NotFound()
        return value
