"""What every page view shares: login, service errors as HTTP answers, full page or htmx partial."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import quote

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect

from bcrm.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, ServiceError
from bcrm.core.pagination import clamp_page
from bcrm.core.redirects import safe_next as safe_next  # the pages' import path
from bcrm.ui.forms import add_service_error

View = Callable[..., HttpResponse]


def page(view: View | None = None, *, access: Callable[[Any], bool] | None = None,
         denied: str | None = None) -> Any:
    """Require a signed-in user and turn NotFound/PermissionDenied from services into 404/403 pages.

    Views call services and selectors without their own try/except for these two, so a page can never
    show what the service layer refused.

    ``access`` is who may open the page at all (a predicate on the user, the same one the page's
    selector or service enforces); it answers 403 otherwise, and the main navigation reads it off the
    view to show the page's link only to those users (``bcrm.web.navigation``). Use as ``@page`` or
    ``@page(access=sees_all_organizations)``.
    """
    if view is None:
        return lambda inner: page(inner, access=access, denied=denied)

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            if getattr(request, "htmx", False):
                # A redirect inside an htmx swap would paste the login page into a table cell.
                return HttpResponseClientRedirect(f"{resolve_url('login')}?next={quote(request.get_full_path())}")
            return redirect_to_login(request.get_full_path())
        try:
            if access is not None and not access(request.user):
                raise PermissionDenied(denied)
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.message) from exc
        except ServiceError as exc:
            return render(request, "web/error.html", {"error": exc}, status=exc.status)

    wrapped.access = access  # type: ignore[attr-defined]
    return wrapped


def render_page(
    request: HttpRequest, template: str, context: dict[str, Any], *, partial: str | None = None,
    target: str | None = None,
) -> HttpResponse:
    """Render the whole page, or only ``partial`` when htmx asked to swap ``target``.

    One view and one context serve both, so the partial can never drift from the page. History
    restores (back button with a cold cache) get the whole page.
    """
    htmx = getattr(request, "htmx", None)
    wants_partial = bool(
        partial and htmx and not htmx.history_restore_request and (target is None or htmx.target == target)
    )
    response = render(request, partial if wants_partial else template, context)  # type: ignore[arg-type]
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def page_number(request: HttpRequest) -> int:
    """The ``page`` query parameter, brought into bounds: garbage is page 1, a huge number the last page."""
    try:
        return clamp_page(int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def redirect_back(request: HttpRequest, fallback: str) -> HttpResponse:
    """Go back where the user came from (``next``), else to ``fallback``."""
    return redirect(safe_next(request) or fallback)


def submit_form(request: HttpRequest, form: Any, call: Callable[[], Any]) -> Any:
    """On a POST whose form parses, run the service ``call``; what the service refuses lands on the form.

    Returns the service's result, or None when there is nothing to save yet (a GET, a form error, an
    InvalidInput or a Conflict). NotFound and PermissionDenied pass through to ``page``.
    """
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        return call()
    except (InvalidInput, Conflict) as exc:
        add_service_error(form, exc)
        return None
