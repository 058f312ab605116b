"""Each user's tasks and meetings as an iCalendar feed (RFC 5545) at a secret, revocable URL.

Outlook, Thunderbird, Apple and Google calendars subscribe to ``/feeds/<token>.ics`` (no sign-in: the token is
the credential; only its SHA-256 digest is kept, so it is shown once, when made). Revoking a feed, or making a
new one, ends the old URL at once. The feed holds the user's open tasks (an all-day event on the due date,
``TODO``-like summary in the feed's language) and the meetings and calls they own from 90 days back on, each
with a stable UID so calendars update rather than duplicate. Nothing is shown that the user could not see in
bcrm: tasks on clients they no longer see are left out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import icalendar
from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import restrict_organizations
from bcrm.audit.services import audit_record
from bcrm.connect.models import CalendarFeed
from bcrm.core.errors import NotFound
from bcrm.engagement.choices import InteractionKind, TaskStatus
from bcrm.engagement.models import Interaction, Task

PAST_DAYS = 90
MEETING_KINDS = (InteractionKind.MEETING, InteractionKind.CALL, InteractionKind.VISIT, InteractionKind.EVENT,
                 InteractionKind.SENIOR_MEETING, InteractionKind.PLAN_REVIEW)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_create(*, actor, language: str = "en") -> tuple[CalendarFeed, str]:
    """A new feed for the actor (their earlier feeds are revoked): (feed, the token, shown once)."""
    token = secrets.token_urlsafe(32)
    language = language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
    with transaction.atomic():
        now = timezone.now()
        CalendarFeed.objects.filter(user=actor, revoked_at__isnull=True).update(revoked_at=now)
        feed = CalendarFeed.objects.create(user=actor, digest=digest(token), language=language)
        audit_record(actor=actor, action="create", instance=feed, changes={"language": [None, language]})
    return feed, token


def feed_revoke(*, actor, feed: CalendarFeed) -> None:
    if feed.user_id != actor.pk:
        raise NotFound()
    with transaction.atomic():
        CalendarFeed.objects.filter(pk=feed.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        audit_record(actor=actor, action="update", instance=feed, changes={"revoked": [False, True]})


def active_feed(user) -> CalendarFeed | None:
    return CalendarFeed.objects.filter(user=user, revoked_at__isnull=True).first()


def feed_for_token(token: str) -> CalendarFeed:
    feed = (CalendarFeed.objects.select_related("user")
            .filter(digest=digest(token or ""), revoked_at__isnull=True, user__is_active=True).first())
    if feed is None:
        raise NotFound()
    now = timezone.now()
    if feed.last_read_at is None or now - feed.last_read_at > dt.timedelta(hours=1):
        CalendarFeed.objects.filter(pk=feed.pk).update(last_read_at=now)
    return feed


def calendar_for(user, *, language: str, now: dt.datetime | None = None) -> bytes:
    """The user's calendar as iCalendar bytes."""
    now = now or timezone.now()
    stamp = now.astimezone(dt.UTC)
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//bcrm//calendar feed//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    tz = timezone.get_default_timezone()
    with translation.override(language):
        calendar.add("x-wr-calname", _("bcrm: %(user)s") % {"user": user.get_username()})
        tasks = restrict_organizations(
            user, Task.objects.filter(assignee=user, status=TaskStatus.OPEN).select_related("organization"),
            prefix="organization__") if user else Task.objects.none()
        for task in tasks.order_by("due_at", "id")[:5000]:
            event = icalendar.Event()
            event.add("uid", f"task-{task.pk}@bcrm")
            event.add("dtstamp", stamp)
            event.add("dtstart", task.due_at.astimezone(tz).date())
            event.add("summary", task.display_title)
            if task.organization_id:
                event.add("description", str(task.organization))
            event.add("categories", [_("Task")])
            event.add("transp", "TRANSPARENT")
            calendar.add_component(event)
        meetings = restrict_organizations(
            user, Interaction.objects.filter(owner=user, kind__in=MEETING_KINDS,
                                             occurred_at__gte=now - dt.timedelta(days=PAST_DAYS))
            .select_related("organization"), prefix="organization__")
        for meeting in meetings.order_by("occurred_at", "id")[:5000]:
            event = icalendar.Event()
            start = meeting.occurred_at.astimezone(dt.UTC)
            event.add("uid", f"interaction-{meeting.pk}@bcrm")
            event.add("dtstamp", stamp)
            event.add("dtstart", start)
            event.add("dtend", start + dt.timedelta(minutes=max(meeting.minutes_spent, 15)))
            event.add("summary", f"{meeting.get_kind_display()}: {meeting.organization}")
            event.add("description", meeting.display_summary)
            calendar.add_component(event)
    return calendar.to_ical()
