"""The "Connections" page (calendar feed, contacts as vCards, webhooks for admins) and the public feed."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bcrm.connect import feeds, vcards, webhooks
from bcrm.connect.models import WebhookSubscription
from bcrm.core.errors import InvalidInput, NotFound, ServiceError
from bcrm.core.events import EVENTS
from bcrm.ui.shortcuts import page

#: The secret feed URL, shown once on the next page view (kept in the session until then).
NEW_FEED_URL = "bcrm_new_feed_url"
NEW_WEBHOOK_SECRET = "bcrm_new_webhook_secret"


@page
@never_cache
@require_GET
def connections(request: HttpRequest) -> HttpResponse:
    user = request.user
    manage = webhooks.can_manage(user)
    subscriptions = list(WebhookSubscription.objects.all()) if manage else []
    chosen = None
    if manage and request.GET.get("webhook", "").isdigit():
        chosen = next((s for s in subscriptions if s.pk == int(request.GET["webhook"])), None)
    return render(request, "connect/connections.html", {
        "feed": feeds.active_feed(user), "new_feed_url": request.session.pop(NEW_FEED_URL, None),
        "new_secret": request.session.pop(NEW_WEBHOOK_SECRET, None),
        "can_manage_webhooks": manage, "subscriptions": subscriptions, "event_names": list(EVENTS),
        "chosen": chosen, "deliveries": list(chosen.deliveries.select_related("event")[:100]) if chosen else [],
        "vcard_max_mb": vcards.MAX_UPLOAD_BYTES // (1024 * 1024),
    })


@page
@require_POST
def feed_new(request: HttpRequest) -> HttpResponse:
    language = "zh-hans" if (get_language() or "").startswith("zh") else "en"
    _feed, token = feeds.feed_create(actor=request.user, language=language)
    request.session[NEW_FEED_URL] = request.build_absolute_uri(reverse("connect:feed", args=[token]))
    return redirect("connect:connections")


@page
@require_POST
def feed_revoke(request: HttpRequest) -> HttpResponse:
    feed = feeds.active_feed(request.user)
    if feed is not None:
        feeds.feed_revoke(actor=request.user, feed=feed)
        messages.success(request, _("The calendar feed was revoked: its URL no longer works."))
    return redirect("connect:connections")


@never_cache
@require_GET
def feed(request: HttpRequest, token: str) -> HttpResponse:
    """The public feed: the token is the credential (no session)."""
    try:
        found = feeds.feed_for_token(token)
    except NotFound as exc:
        raise Http404() from exc
    response = HttpResponse(feeds.calendar_for(found.user, language=found.language),
                            content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="bcrm.ics"'
    return response


@page
@require_GET
def vcard_export(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(vcards.export(actor=request.user), content_type="text/vcard; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="contacts.vcf"'
    return response


@page
@require_POST
def vcard_import(request: HttpRequest) -> HttpResponse:
    upload = request.FILES.get("file")
    try:
        if upload is None:
            raise InvalidInput(_("Choose a vCard file (.vcf)."))
        result = vcards.import_text(actor=request.user, text=vcards.read_upload(upload))
    except ServiceError as exc:
        messages.error(request, exc.message)
        for path, problems in exc.fields.items():
            messages.error(request, f"{path}: {' '.join(str(p) for p in problems)}")
        return redirect("connect:connections")
    messages.success(request, _("Contacts imported: %(created)s new, %(updated)s updated, %(unchanged)s unchanged.")
                     % result.as_dict())
    return redirect("connect:connections")


@page(access=webhooks.can_manage)
@require_http_methods(["POST"])
def webhook_new(request: HttpRequest) -> HttpResponse:
    try:
        subscription = webhooks.subscription_create(actor=request.user, name=request.POST.get("name", ""),
                                                    url=request.POST.get("url", ""),
                                                    event_names=request.POST.getlist("events"))
    except InvalidInput as exc:
        messages.error(request, " ".join([exc.message, *(str(m) for ms in exc.fields.values() for m in ms)]))
        return redirect("connect:connections")
    request.session[NEW_WEBHOOK_SECRET] = subscription.secret
    messages.success(request, _("Webhook “%(name)s” created.") % {"name": subscription.name})
    return redirect(f"{reverse('connect:connections')}?webhook={subscription.pk}")


def _subscription(pk: int) -> WebhookSubscription:
    found = WebhookSubscription.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


@page(access=webhooks.can_manage)
@require_POST
def webhook_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(pk)
    webhooks.subscription_set_active(actor=request.user, subscription=subscription, active=not subscription.active)
    return redirect(f"{reverse('connect:connections')}?webhook={pk}")


@page(access=webhooks.can_manage)
@require_POST
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    webhooks.subscription_delete(actor=request.user, subscription=_subscription(pk))
    messages.success(request, _("Webhook deleted."))
    return redirect("connect:connections")
