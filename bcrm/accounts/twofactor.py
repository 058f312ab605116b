"""Two-factor sign-in (issue 15, finding 5): a TOTP authenticator (RFC 6238) and ten one-time recovery codes per
user, kept by django-otp (its TOTP and static devices).

- Sign-in is two steps: the password (the existing sign-in page, with its django-axes lockout), then, for a
  user with a confirmed device, a code from the authenticator or a recovery code (``/login/verify/``). Until
  then :class:`TwoFactorMiddleware` lets the session reach only that step, enrolment and sign-out; the API
  answers such a session 401 ``second_factor_required``. Bearer tokens are not sessions and pass.
- Users of the roles in ``BCRM_2FA_REQUIRED_ROLES`` (default admin and compliance) without a device are sent
  to enrolment (``/account/two-factor/``) until they have one; anyone may enrol.
- Enrolment: an unconfirmed TOTP device, its QR code (inline SVG) and secret; a correct code confirms it and
  makes ten recovery codes, shown once; each works once, and renewing them replaces them all.
- An administrator resets a user's second factor (:func:`two_factor_reset`): the devices go, audited.

Audit entries are ``update`` entries on the user with ``{"two_factor": [before, after]}``.
"""

from __future__ import annotations

import functools
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.html import escape
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.permissions import has_any, require
from bcrm.audit.services import audit_record
from bcrm.core.errors import InvalidInput

RECOVERY_CODES = 10
TOTP_NAME = "authenticator"
RECOVERY_NAME = "recovery codes"


def required_roles() -> list[str]:
    return [str(r) for r in settings.BCRM_2FA_REQUIRED_ROLES]


def is_required(user) -> bool:
    """Whether ``user``'s roles oblige them to sign in with a second factor."""
    return has_any(user, required_roles())


def totp_device(user, *, confirmed: bool | None = True):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    qs = TOTPDevice.objects.filter(user=user)
    if confirmed is not None:
        qs = qs.filter(confirmed=confirmed)
    return qs.order_by("-id").first()


def is_enrolled(user) -> bool:
    """A confirmed authenticator: the user signs in with two steps."""
    if not getattr(user, "pk", None):
        return False
    return totp_device(user) is not None


def recovery_codes_left(user) -> int:
    from django_otp.plugins.otp_static.models import StaticToken

    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@transaction.atomic
def enrolment_start(user):
    """The user's unconfirmed authenticator, made now if there is none (a new secret each time enrolment
    starts over after a reset). A user already enrolled gets None."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if is_enrolled(user):
        return None
    device = totp_device(user, confirmed=False)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
    return device


def secret_text(device) -> str:
    """The device's secret in base32 (what an authenticator app asks for when it cannot scan), in groups of 4."""
    from base64 import b32encode

    raw = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def qr_svg(device) -> str:
    """The device's ``otpauth://`` URL as a QR code in inline SVG (drawn by qrcode, no imaging library)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    svg = image.to_string(encoding="unicode")
    label = escape(_("QR code for your authenticator app"))
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)


@transaction.atomic
def enrolment_confirm(*, user, device, code: str) -> list[str]:
    """Confirm the authenticator with a code it shows; returns the ten recovery codes (shown once)."""
    code = (code or "").strip().replace(" ", "")
    if device is None or device.user_id != user.pk or device.confirmed:
        raise InvalidInput(_("Start enrolment again."))
    if not code.isdigit() or not device.verify_token(code):
        raise InvalidInput(_("That code is not right. Enter the 6 digits your authenticator app shows now."),
                           fields={"code": [_("Wrong code.")]})
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _new_recovery_codes(user)
    audit_record(actor=user, action="update", instance=_row(user), changes={"two_factor": [False, True]})
    return codes


def _row(user):
    """The user's model instance (a request's user is a lazy wrapper the audit cannot file)."""
    from django.contrib.auth import get_user_model

    model = get_user_model()
    return user if type(user) is model else model.objects.get(pk=user.pk)


def _new_recovery_codes(user) -> list[str]:
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _i in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


@transaction.atomic
def recovery_codes_renew(*, user) -> list[str]:
    """Ten new recovery codes for an enrolled user (the old ones stop working); audited."""
    if not is_enrolled(user):
        raise InvalidInput(_("Set up an authenticator first."))
    codes = _new_recovery_codes(user)
    audit_record(actor=user, action="update", instance=_row(user), changes={"recovery_codes": ["renewed", RECOVERY_CODES]})
    return codes


def verify(request: HttpRequest, code: str):
    """The second step: the device a code (authenticator or recovery) matches, marked on the session; or None.
    A recovery code is used up by matching; django-otp slows repeated wrong authenticator codes down."""
    from django_otp import login as otp_login
    from django_otp import match_token

    code = (code or "").strip().replace(" ", "").replace("-", "")
    if not code:
        return None
    device = match_token(request.user, code)
    if device is None:
        return None
    otp_login(request, device)
    return device


@transaction.atomic
def two_factor_reset(*, actor, user) -> int:
    """Remove ``user``'s authenticator and recovery codes (a lost phone): an administrator only; audited.
    The user signs in with the password next time and, if their role requires it, enrols again."""
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if actor is not None:
        require(has_any(actor, {Role.ADMIN}), _("Only an administrator may reset another user's two-factor sign-in."))
    was = is_enrolled(user)
    removed = TOTPDevice.objects.filter(user=user).delete()[0] + StaticDevice.objects.filter(user=user).delete()[0]
    audit_record(actor=actor, action="update", instance=_row(user), changes={"two_factor": [was, False], "reset": True})
    return removed


# --- the gate -----------------------------------------------------------------------------------------

#: URL names a session between the two steps may reach.
OPEN_NAMES = ("login", "logout", "two_factor_verify", "two_factor", "set_language")


#: Session key set at sign-in when the user had no device and no role requiring one: such a session needs no
#: second step, and the gate then costs no query per request. (A device enrolled later, elsewhere, applies
#: from the next sign-in on; the enrolling session itself has shown the second factor.)
NO_SECOND_STEP = "bcrm_2fa_none"


def on_logged_in(sender, request=None, user=None, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is not None and user is not None:
        if not is_enrolled(user) and not is_required(user):
            session[NO_SECOND_STEP] = True
        else:
            session.pop(NO_SECOND_STEP, None)


def is_verified(request: HttpRequest) -> bool:
    """Whether this session has shown the second factor (django-otp's OTPMiddleware sets ``user.is_verified``)."""
    check = getattr(request.user, "is_verified", None)
    return bool(check and check())


def state(request: HttpRequest) -> str:
    """"ok", "verify" (enrolled, second step not done) or "enrol" (role requires it, no device yet)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return "ok"
    session = getattr(request, "session", None)
    if session is not None and session.get(NO_SECOND_STEP):
        return "ok"
    if is_verified(request):
        return "ok"
    if is_enrolled(user):
        return "verify"
    if is_required(user):
        return "enrol"
    return "ok"


@functools.lru_cache(maxsize=16)
def _open_paths_for(prefix: str, urlconf: str) -> frozenset[str]:
    """Reversed once per script prefix and URLconf: six reverse() calls on every request cost 0.6 ms of it."""
    names = [name for name in OPEN_NAMES if name != "set_language"] + ["admin:logout"]
    return frozenset(reverse(name, urlconf=urlconf) for name in names)


class TwoFactorMiddleware:
    """Between the password and the second step, a session reaches only the pages of the sign-in itself."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if not path.startswith(("/static/", "/i18n/")) and path not in self._open_paths():
            where = state(request)
            if where != "ok":
                if path.startswith("/api/") and request.headers.get("Authorization", "").startswith("Bearer "):
                    # The token alone decides: the unfinished session must not stand in if the token fails.
                    from django.contrib.auth.models import AnonymousUser

                    request.user = AnonymousUser()
                else:
                    return self._refuse(request, where)
        return self.get_response(request)

    @staticmethod
    def _open_paths() -> frozenset[str]:
        """The sign-in's own pages."""
        return _open_paths_for(get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)

    @staticmethod
    def _refuse(request: HttpRequest, where: str) -> HttpResponse:
        if request.path_info.startswith("/api/"):
            return JsonResponse({"error": {
                "code": "second_factor_required",
                "message": "Finish signing in with your second factor (or enrol one) before using the API.",
                "fields": []}}, status=401)
        target = reverse("two_factor_verify" if where == "verify" else "two_factor")
        nxt = request.get_full_path()
        if request.headers.get("HX-Request"):  # a redirect inside an htmx swap would paste the page into it
            from django_htmx.http import HttpResponseClientRedirect

            return HttpResponseClientRedirect(f"{target}?next={quote(nxt)}")
        return redirect(f"{target}?next={quote(nxt)}")

