"""Sign-in protection: lockout after repeated failures (django-axes), its audit trail and unlock, and the
idle/absolute session timeout.

- ``LockoutBackend`` is axes' backend for requests; without a request (management commands, test clients'
  ``login()``) there is no address to lock and nothing to guess over the network, so it stands aside.
- A lockout is audited once per cool-off (axes signals it on every refused attempt).
- ``user_unlock`` is the one unlock path: the admin action and ``bcrm unlock USER`` call it.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, logout
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.audit.models import AuditAction, AuditEntry
from bcrm.audit.services import audit_record
from bcrm.core.errors import NotFound


class LockoutBackend(AxesStandaloneBackend):
    def authenticate(self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
                     **kwargs: Any):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def cool_off_minutes() -> int:
    cool_off = settings.AXES_COOLOFF_TIME
    return int(cool_off.total_seconds() // 60) if cool_off else 0


def lockout_message() -> str:
    return _("Too many failed sign-ins. This account or this address is locked for %(minutes)s minutes; try again "
             "later or ask an administrator to unlock it.") % {"minutes": cool_off_minutes()}


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict | None = None) -> HttpResponse:
    """The sign-in page again, with the lockout message (HTTP 429), for /login/ and /admin/login/ alike."""
    return render(request, "web/login.html", {"form": AuthenticationForm(request), "lockout": lockout_message()},
                  status=settings.AXES_HTTP_RESPONSE_CODE)


def on_locked_out(sender, request=None, username: str | None = None, ip_address: str | None = None,
                  **kwargs: Any) -> None:
    """Audit a lockout: on the user when the name is an account, else on the attempt record; once per cool-off."""
    from axes.models import AccessAttempt

    user = get_user_model().objects.filter(username=username).first() if username else None
    instance = user or AccessAttempt.objects.filter(ip_address=ip_address).order_by("-attempt_time").first()
    if instance is None:
        return
    from django.contrib.contenttypes.models import ContentType

    since = timezone.now() - (settings.AXES_COOLOFF_TIME or timedelta(minutes=15))
    if AuditEntry.objects.filter(action=AuditAction.LOCKOUT, at__gte=since, object_id=str(instance.pk),
                                 content_type=ContentType.objects.get_for_model(type(instance))).exists():
        return
    audit_record(actor=None, action=AuditAction.LOCKOUT, instance=instance,
                 changes={"username": username or "", "ip_address": ip_address or "",
                          "failures": settings.AXES_FAILURE_LIMIT})


def user_unlock(*, actor, username: str) -> int:
    """Clear the failed sign-ins of ``username`` (so its lock ends now); audited. Returns attempts cleared."""
    from axes.utils import reset

    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(_("No user named %(name)s.") % {"name": username})
    cleared = reset(username=username)
    audit_record(actor=actor, action=AuditAction.UNLOCK, instance=user, changes={"attempts_cleared": cleared})
    return cleared


SIGNED_IN_AT = "bcrm_signed_in_at"
LAST_ACTIVITY = "bcrm_last_activity"
# Touch the session at most this often: one write per minute, not one per request.
TOUCH_SECONDS = 60


def on_logged_in(sender, request=None, user=None, **kwargs: Any) -> None:
    """Stamp a new session with its sign-in time (so requests need not write the session to start the clock)."""
    session = getattr(request, "session", None)
    if session is not None:
        now = time.time()
        session[SIGNED_IN_AT] = now
        session[LAST_ACTIVITY] = now


class SessionTimeoutMiddleware:
    """Sign out a browser session idle for ``BCRM_SESSION_IDLE_MINUTES`` or older than
    ``BCRM_SESSION_MAX_HOURS`` (its absolute lifetime, however active). Token requests carry no session and
    pass untouched."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = time.time()
            session = request.session
            idle = int(settings.BCRM_SESSION_IDLE_MINUTES) * 60
            lifetime = int(settings.BCRM_SESSION_MAX_HOURS) * 3600
            last = session.get(LAST_ACTIVITY)
            started = session.get(SIGNED_IN_AT)
            if (idle and last is not None and now - last > idle) or (
                    lifetime and started is not None and now - started > lifetime):
                reason = (_("You were signed out after %(minutes)s minutes of inactivity.")
                          % {"minutes": idle // 60}) if (idle and last is not None and now - last > idle) \
                    else _("Your session ended; please sign in again.")
                logout(request)
                messages.info(request, reason)
            else:
                if started is None:
                    session[SIGNED_IN_AT] = now
                if last is None or now - last > TOUCH_SECONDS:
                    session[LAST_ACTIVITY] = now
        return self.get_response(request)


def _address(request) -> str:
    if request is None:
        return ""
    return getattr(request, "axes_ip_address", None) or request.META.get("REMOTE_ADDR", "") or ""


def on_login_audit(sender, request=None, user=None, **kwargs: Any) -> None:
    """Audit a sign-in; the entry's object is the user."""
    if user is not None and getattr(user, "pk", None):
        audit_record(actor=user, action=AuditAction.LOGIN, instance=user,
                     changes={"ip_address": _address(request)})


def on_logout_audit(sender, request=None, user=None, **kwargs: Any) -> None:
    if user is not None and getattr(user, "pk", None):
        audit_record(actor=user, action=AuditAction.LOGOUT, instance=user,
                     changes={"ip_address": _address(request)})


def on_login_failed_audit(sender, credentials: dict | None = None, request=None, **kwargs: Any) -> None:
    """Audit a failed sign-in: on the user when the name is an account, else on no row (the name tried is
    kept, the password never: Django's signal already masks it)."""
    from bcrm.audit.services import audit_event

    username = str((credentials or {}).get("username") or "")[:150]
    User = get_user_model()
    user = User.objects.filter(username=username).first() if username else None
    audit_event(actor=None, action=AuditAction.LOGIN_FAILED, model=User, object_id=user.pk if user else "",
                object_repr=str(user) if user else username,
                changes={"username": username, "ip_address": _address(request)})
