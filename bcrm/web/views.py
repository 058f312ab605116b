"""Pages that belong to no domain app: the start page, the global search and the sign-in screens."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_safe

from bcrm.core.errors import InvalidInput
from bcrm.ui.shortcuts import page, render_page
from bcrm.web.navigation import landing_url
from bcrm.web.search import MIN_LENGTH, global_search


@page
def home(request: HttpRequest) -> HttpResponse:
    """Where the day starts, by role (also where sign-in lands): ``navigation.LANDING``."""
    return redirect(landing_url(request))


@page
@require_safe
def search(request: HttpRequest) -> HttpResponse:
    """/search/?q=: clients, contacts and projects the user may see, grouped; the top bar's dropdown is the
    same view's partial (htmx target ``search-dropdown``)."""
    q = request.GET.get("q", "")
    results, error = None, ""
    try:
        results = global_search(actor=request.user, q=q)
    except InvalidInput as exc:
        error = str(next(iter(exc.fields.values()))[0]) if exc.fields else exc.message
    context = {"q": q.strip(), "results": results, "error": error, "min_length": MIN_LENGTH}
    return render_page(request, "web/search.html", context, partial="web/_search_results.html",
                       target="search-dropdown")
