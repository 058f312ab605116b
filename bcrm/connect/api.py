"""REST endpoints of the standards out: the caller's calendar feed, contacts as vCards, webhooks (admins)."""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import File, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from bcrm.accounts.permissions import require
from bcrm.connect import feeds, vcards, webhooks
from bcrm.connect.models import WebhookDelivery, WebhookSubscription
from bcrm.core.errors import NotFound
from bcrm.core.events import EVENTS
from bcrm.core.schemas import ERRORS
from bcrm.parties.selectors import organization_get_for_user

router = Router(tags=["standards out"])


class FeedOut(Schema):
    active: bool
    created_at: dt.datetime | None = None
    last_read_at: dt.datetime | None = None
    language: str | None = None


class FeedCreated(FeedOut):
    url: str = Field(..., description="the secret feed URL, shown once; subscribe to it in a calendar")


class FeedIn(Schema):
    language: str = Field("en", pattern="^(en|zh-hans)$")


@router.get("/calendar-feed", response=FeedOut, summary="My calendar feed (iCalendar)")
def feed_status(request):
    feed = feeds.active_feed(request.auth)
    if feed is None:
        return {"active": False}
    return {"active": True, "created_at": feed.created_at, "last_read_at": feed.last_read_at, "language": feed.language}


@router.post("/calendar-feed", response={201: FeedCreated, **ERRORS},
             summary="Make a new calendar feed URL (the old one stops working)")
def feed_make(request, payload: FeedIn):
    feed, token = feeds.feed_create(actor=request.auth, language=payload.language)
    url = request.build_absolute_uri(reverse("connect:feed", args=[token]))
    return Status(201, {"active": True, "created_at": feed.created_at, "last_read_at": None,
                        "language": feed.language, "url": url})


@router.delete("/calendar-feed", response={204: None, **ERRORS}, summary="Revoke my calendar feed")
def feed_remove(request):
    feed = feeds.active_feed(request.auth)
    if feed is None:
        raise NotFound()
    feeds.feed_revoke(actor=request.auth, feed=feed)
    return Status(204, None)


class VcardQuery(Schema):
    organization: int | None = Field(None, ge=1)


@router.get("/contacts/vcard", response={200: None, **ERRORS}, summary="Contacts as vCard 4.0")
def vcard_export(request, query: Query[VcardQuery]) -> HttpResponse:
    """Every contact you may see (of one organisation with ``organization``), one vCard each."""
    organization = organization_get_for_user(user=request.auth, pk=query.organization) if query.organization else None
    response = HttpResponse(vcards.export(actor=request.auth, organization=organization),
                            content_type="text/vcard; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="contacts.vcf"'
    return response


class VcardImported(Schema):
    created: int
    updated: int
    unchanged: int


@router.post("/contacts/vcard", response={200: VcardImported, **ERRORS}, summary="Import contacts from vCards")
def vcard_import(request, file: File[UploadedFile]):
    """All cards or none: a 422 names every card that cannot be imported and why."""
    return vcards.import_text(actor=request.auth, text=vcards.read_upload(file)).as_dict()


class WebhookIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    url: str = Field(..., min_length=1, max_length=500)
    events: list[str] = Field(..., min_length=1, description=", ".join(EVENTS))


class WebhookPatch(Schema):
    active: bool


class WebhookOut(Schema):
    id: int
    name: str
    url: str
    events: list[str]
    active: bool
    created_at: dt.datetime

    @staticmethod
    def resolve_events(obj: WebhookSubscription) -> list[str]:
        return obj.event_names


class WebhookCreated(WebhookOut):
    secret: str = Field(..., description="the HMAC-SHA256 key of X-Bcrm-Signature")


class DeliveryOut(Schema):
    id: int
    event_id: int
    event: str
    status: str
    attempts: int
    response_status: int | None
    last_error: str
    next_attempt_at: dt.datetime
    delivered_at: dt.datetime | None

    @staticmethod
    def resolve_event(obj: WebhookDelivery) -> str:
        return obj.event.name


def _subscription(request, pk: int) -> WebhookSubscription:
    require(webhooks.can_manage(request.auth), _("Only administrators manage webhooks."))
    found = WebhookSubscription.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


@router.get("/webhooks", response={200: list[WebhookOut], **ERRORS}, summary="Webhook subscriptions (admins)")
def webhook_list(request):
    require(webhooks.can_manage(request.auth), _("Only administrators manage webhooks."))
    return list(WebhookSubscription.objects.all())


@router.post("/webhooks", response={201: WebhookCreated, **ERRORS}, summary="Subscribe a URL to events (admins)")
def webhook_create(request, payload: WebhookIn):
    subscription = webhooks.subscription_create(actor=request.auth, name=payload.name, url=payload.url,
                                                event_names=payload.events)
    return Status(201, subscription)


@router.patch("/webhooks/{int:pk}", response={200: WebhookOut, **ERRORS}, summary="Pause or resume a webhook")
def webhook_patch(request, pk: int, payload: WebhookPatch):
    return webhooks.subscription_set_active(actor=request.auth, subscription=_subscription(request, pk),
                                            active=payload.active)


@router.delete("/webhooks/{int:pk}", response={204: None, **ERRORS}, summary="Delete a webhook")
def webhook_delete(request, pk: int):
    webhooks.subscription_delete(actor=request.auth, subscription=_subscription(request, pk))
    return Status(204, None)


@router.get("/webhooks/{int:pk}/deliveries", response={200: list[DeliveryOut], **ERRORS},
            summary="A webhook's delivery log, newest first (at most 200)")
def webhook_deliveries(request, pk: int):
    subscription = _subscription(request, pk)
    return list(subscription.deliveries.select_related("event")[:200])

