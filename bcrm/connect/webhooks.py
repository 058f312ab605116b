"""Outgoing webhooks: each event a subscription asked for is POSTed to it as JSON, signed, in order, retried.

* **Recorded with the change.** A service emits an event (:mod:`bcrm.core.events`) inside its transaction;
  :func:`record_events` writes the event and one delivery per interested subscription in that same
  transaction, so an event is sent if and only if its change committed.
* **Signed.** ``X-Bcrm-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the subscription's
  secret>``; a receiver recomputes it (:func:`signature_valid`) and refuses a stale ``t`` (replays).
  ``X-Bcrm-Delivery`` is the delivery's id (the same on every retry), ``X-Bcrm-Event`` the event's name.
* **In order, never twice on success.** Per subscription, only the oldest undelivered event is sent; a later
  one waits until it is delivered or has finally failed. A delivery is claimed (``pending`` → ``sending``,
  a conditional UPDATE only one worker wins) before it is sent, so two workers never send it both. A process
  killed mid-send leaves ``sending``; after ``LEASE`` it is sent again — a receiver that keeps the delivery
  ids it has seen drops that rare repeat.
* **Retried** with exponential backoff (1, 2, 4 … minutes, at most 6 hours) up to ``MAX_ATTEMPTS``, then
  ``failed``: the log shows the response status or the error, and the next event goes.
* **Outward only.** A URL must be http(s) to a public address: loopback, private, link-local and reserved
  addresses are refused (server-side request forgery) unless ``BCRM_WEBHOOK_ALLOW_PRIVATE`` is set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import has_any, require
from bcrm.audit.services import audit_record
from bcrm.connect.models import DeliveryState, WebhookDelivery, WebhookEvent, WebhookSubscription
from bcrm.core import events
from bcrm.core.errors import InvalidInput

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = dt.timedelta(minutes=10)
TIMEOUT_SECONDS = 10
SIGNATURE_HEADER = "X-Bcrm-Signature"


def can_manage(user) -> bool:
    return has_any(user, ["admin"])


# --- signing ---------------------------------------------------------------------------------------------

def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def signature_valid(secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver checks: the MAC over the timestamp and the body, and a timestamp within ``tolerance``."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), f"t={timestamp},v1={parts.get('v1', '')}")


# --- subscriptions ---------------------------------------------------------------------------------------

def _check_destination(url: str) -> None:
    """Refuse what is not http(s) to a public address (unless private ones are allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(_("A webhook URL must start with http:// or https:// and name a host."),
                           fields={"url": [_("Not an http(s) URL.")]}, code="webhook_url")
    if settings.BCRM_WEBHOOK_ALLOW_PRIVATE:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput(_("The webhook host %(host)s cannot be resolved.") % {"host": parts.hostname},
                           fields={"url": [_("Unknown host.")]}, code="webhook_host") from exc
    for address in addresses:
        ip = ipaddress.ip_address(str(address).split("%")[0])
        if not ip.is_global:
            raise InvalidInput(_("Webhooks go to public addresses only; %(host)s is %(address)s.")
                               % {"host": parts.hostname, "address": address},
                               fields={"url": [_("Private or local address.")]}, code="webhook_private")


def _clean_events(names: Sequence[str]) -> str:
    names = [str(n).strip() for n in names if str(n).strip()]
    unknown = sorted(set(names) - set(events.EVENTS))
    if not names or unknown:
        raise InvalidInput(_("Choose events among: %(choices)s.") % {"choices": ", ".join(events.EVENTS)},
                           fields={"events": [_("Unknown event: %(names)s.") % {"names": ", ".join(unknown)}
                                              if unknown else _("Choose at least one event.")]},
                           code="webhook_events")
    return "," + ",".join(sorted(set(names))) + ","


def subscription_create(*, actor, name: str, url: str, event_names: Sequence[str]) -> WebhookSubscription:
    require(can_manage(actor), _("Only administrators manage webhooks."))
    name = (name or "").strip()[:100]
    if not name:
        raise InvalidInput(_("A webhook needs a name."), fields={"name": [_("Required.")]})
    url = (url or "").strip()
    if len(url) > 500:
        raise InvalidInput(_("The URL is too long."), fields={"url": [_("At most 500 characters.")]})
    _check_destination(url)
    with transaction.atomic():
        subscription = WebhookSubscription.objects.create(
            name=name, url=url, events=_clean_events(event_names), secret=secrets.token_hex(32),
            created_by=actor if getattr(actor, "pk", None) else None)
        audit_record(actor=actor, action="create", instance=subscription,
                     changes={"url": [None, url], "events": [None, subscription.event_names]})
    return subscription


def subscription_set_active(*, actor, subscription: WebhookSubscription, active: bool) -> WebhookSubscription:
    require(can_manage(actor), _("Only administrators manage webhooks."))
    with transaction.atomic():
        before = subscription.active
        WebhookSubscription.objects.filter(pk=subscription.pk).update(active=active)
        subscription.active = active
        audit_record(actor=actor, action="update", instance=subscription, changes={"active": [before, active]})
    return subscription


def subscription_delete(*, actor, subscription: WebhookSubscription) -> None:
    require(can_manage(actor), _("Only administrators manage webhooks."))
    with transaction.atomic():
        audit_record(actor=actor, action="delete", instance=subscription,
                     changes={"url": [subscription.url, None]})
        subscription.delete()


# --- recording events ------------------------------------------------------------------------------------

def _interested(name: str):
    return WebhookSubscription.objects.filter(active=True, events__contains=f",{name},")


def anyone_subscribed(name: str) -> bool:
    return _interested(name).exists()


def record_events(name: str, payloads: Sequence[Mapping[str, Any]]) -> None:
    """The events listener: the events and their deliveries, in the emitter's transaction."""
    subscriptions = list(_interested(name).values_list("id", flat=True))
    if not subscriptions:
        return
    now = timezone.now()
    rows = WebhookEvent.objects.bulk_create(
        [WebhookEvent(name=name, payload=json.loads(json.dumps(p, cls=DjangoJSONEncoder)), at=now) for p in payloads])
    WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(subscription_id=s, event_id=row.pk, next_attempt_at=now) for row in rows for s in subscriptions],
        batch_size=2000)


# --- sending ---------------------------------------------------------------------------------------------

def body_of(event: WebhookEvent) -> bytes:
    return json.dumps({"id": event.pk, "event": event.name, "at": event.at.isoformat(), "data": event.payload},
                      ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _post(subscription: WebhookSubscription, delivery: WebhookDelivery, event: WebhookEvent) -> tuple[int | None, str]:
    """(HTTP status, error text): a 2xx status and "" when it was delivered."""
    try:
        _check_destination(subscription.url)
    except InvalidInput as exc:
        return None, exc.message
    body = body_of(event)
    request = urllib.request.Request(subscription.url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": "bcrm-webhooks/1",
        "X-Bcrm-Event": event.name, "X-Bcrm-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: signature(subscription.secret, int(time.time()), body)})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))[:500]
    return status, "" if 200 <= status < 300 else f"HTTP {status}"


def _backoff(attempts: int) -> dt.timedelta:
    return min(dt.timedelta(minutes=2 ** max(attempts - 1, 0)), dt.timedelta(hours=6))


def _send_subscription(subscription: WebhookSubscription, now: dt.datetime, budget: int) -> int:
    """Send this subscription's due events in order; the number sent (delivered or finally failed)."""
    done = 0
    while done < budget:
        head = (WebhookDelivery.objects.filter(subscription=subscription,
                                               status__in=[DeliveryState.PENDING, DeliveryState.SENDING])
                .order_by("event_id").select_related("event").first())
        if head is None:
            break
        if head.status == DeliveryState.SENDING:
            if head.claimed_at and head.claimed_at > now - LEASE:
                break                                   # in flight in another worker: the order waits
            WebhookDelivery.objects.filter(pk=head.pk, status=DeliveryState.SENDING).update(
                status=DeliveryState.PENDING, next_attempt_at=now)
            continue
        if head.next_attempt_at > now:
            break                                       # waiting for its retry: later events wait behind it
        won = WebhookDelivery.objects.filter(pk=head.pk, status=DeliveryState.PENDING).update(
            status=DeliveryState.SENDING, claimed_at=now, attempts=F("attempts") + 1)
        if not won:
            break
        attempts = head.attempts + 1
        status, error = _post(subscription, head, head.event)
        finished = timezone.now()
        if not error:
            WebhookDelivery.objects.filter(pk=head.pk).update(
                status=DeliveryState.DELIVERED, delivered_at=finished, response_status=status, last_error="")
            done += 1
            continue
        if attempts >= MAX_ATTEMPTS:
            WebhookDelivery.objects.filter(pk=head.pk).update(
                status=DeliveryState.FAILED, response_status=status, last_error=error)
            log.warning("webhook %s: event #%s failed for good after %s attempts: %s",
                        subscription.pk, head.event_id, attempts, error)
            done += 1
            continue
        WebhookDelivery.objects.filter(pk=head.pk).update(
            status=DeliveryState.PENDING, response_status=status, last_error=error,
            next_attempt_at=finished + _backoff(attempts))
        break
    return done


def send_due(*, now: dt.datetime | None = None, budget: int = 500) -> int:
    """Send what is due for every active subscription (the worker calls it every tick)."""
    now = now or timezone.now()
    sent = 0
    due = (WebhookSubscription.objects.filter(active=True, deliveries__status__in=[
        DeliveryState.PENDING, DeliveryState.SENDING]).distinct().order_by("id"))
    for subscription in due:
        sent += _send_subscription(subscription, now, budget)
    return sent


def scheduled_send() -> list[str]:
    send_due()
    return []
