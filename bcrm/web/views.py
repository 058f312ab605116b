"""Pages that belong to no domain app: the start page and the sign-in screens."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from bcrm.web.shortcuts import page


@page
def home(request: HttpRequest) -> HttpResponse:
    """The client list is where a relationship manager's day starts."""
    return redirect("parties:organization_list")
