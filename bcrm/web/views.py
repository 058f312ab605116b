"""Pages that belong to no domain app: the start page and the sign-in screens."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from bcrm.web.navigation import landing_url
from bcrm.web.shortcuts import page


@page
def home(request: HttpRequest) -> HttpResponse:
    """Where the day starts, by role (also where sign-in lands): ``navigation.LANDING``."""
    return redirect(landing_url(request))
