"""The pages of two-factor sign-in: the second step after the password, and enrolment (bcrm.accounts.twofactor)."""

from __future__ import annotations

from urllib.parse import quote

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from bcrm.accounts import twofactor
from bcrm.core.errors import InvalidInput
from bcrm.core.redirects import safe_next

#: The session key of the authenticator being enrolled (its id; the secret stays in the database).
ENROLLING = "bcrm_2fa_enrolling"


@never_cache
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Step two: a code from the authenticator app, or a recovery code."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    nxt = safe_next(request) or resolve_url("home")
    user = request.user
    if twofactor.is_verified(request):
        return redirect(nxt)
    if not twofactor.is_enrolled(user):  # nothing to verify: enrolment if the role requires it, else on
        return redirect(f"{resolve_url('two_factor')}?next={quote(nxt)}" if twofactor.is_required(user) else nxt)
    error = ""
    if request.method == "POST":
        if twofactor.verify(request, request.POST.get("code", "")) is not None:
            return redirect(nxt)
        error = "wrong"
    return render(request, "accounts/verify.html", {"next": nxt, "error": error},
                  status=200 if not error else 422)


@never_cache
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    """Enrolment (QR code, secret, confirmation by a code, recovery codes shown once) and, once enrolled,
    the state of the user's second factor with new recovery codes on request."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    user = request.user
    enrolled = twofactor.is_enrolled(user)
    if enrolled and not twofactor.is_verified(request):  # this session has not shown the second factor: that step first
        return redirect(f"{resolve_url('two_factor_verify')}?next={quote(request.get_full_path())}")
    nxt = safe_next(request)
    context: dict = {"required": twofactor.is_required(user), "next": nxt}
    if enrolled:
        codes = None
        if request.method == "POST" and request.POST.get("action") == "renew":
            codes = twofactor.recovery_codes_renew(user=user)
        context.update({"enrolled": True, "codes": codes, "codes_left": twofactor.recovery_codes_left(user)})
        return render(request, "accounts/two_factor.html", context)
    device = twofactor.enrolment_start(user)
    error = ""
    if request.method == "POST" and request.POST.get("action") == "confirm":
        try:
            codes = twofactor.enrolment_confirm(user=user, device=device, code=request.POST.get("code", ""))
        except InvalidInput as exc:
            error = exc.message
        else:
            from django_otp import login as otp_login

            otp_login(request, device)  # this session has just shown the second factor
            context.update({"enrolled": True, "codes": codes, "codes_left": len(codes), "just_enrolled": True})
            return render(request, "accounts/two_factor.html", context)
    context.update({"enrolled": False, "qr": twofactor.qr_svg(device), "secret": twofactor.secret_text(device),
                    "error": error})
    return render(request, "accounts/two_factor.html", context, status=422 if error else 200)
