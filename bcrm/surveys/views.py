"""Survey pages: the public answer page behind a tokenised link, and the staff pages to send and follow.

The public pages need no login, show none of the signed-in app, speak the invitation's language (a
中文/EN switch keeps the token), work without JavaScript, and tell search engines and other sites
nothing: ``X-Robots-Tag: noindex``, ``Referrer-Policy: strict-origin`` (the token is in the path: no
request from the page, not even for its own stylesheet, carries more than the origin; ``no-referrer``
would be stricter still but makes browsers send ``Origin: null`` with the form, which CSRF refuses),
``Cache-Control: no-store``. Rate limiting is out of scope here (left to the reverse proxy).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from bcrm.accounts.permissions import can_write, require, require_organization_write
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.core.pagination import paginate
from bcrm.financing.models import Project
from bcrm.financing.selectors import project_get_for_user
from bcrm.financing.walls import restrict_projects
from bcrm.parties.models import Contact, Organization
from bcrm.parties.selectors import organization_base, organization_get_for_user
from bcrm.surveys import selectors, services
from bcrm.surveys.forms import AnswerForm, InvitationFilterForm, SendForm
from bcrm.surveys.models import SurveyInvitation
from bcrm.ui.forms import add_service_error
from bcrm.ui.shortcuts import page, page_number, redirect_back, render_page

LANGUAGES = {code for code, _name in settings.LANGUAGES}


# Public pages ------------------------------------------------------------------------------------------


def _chosen_language(request: HttpRequest, default: str) -> str:
    for value in (request.POST.get("lang"), request.GET.get("lang")):
        if value in LANGUAGES:
            return value
    return default if default in LANGUAGES else settings.LANGUAGE_CODE


def _public(request: HttpRequest, template: str, context: dict, *, language: str, status: int = 200) -> HttpResponse:
    with translation.override(language):
        response = render(request, template, {**context, "lang": language}, status=status)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "strict-origin"
    response["Content-Language"] = language
    add_never_cache_headers(response)
    return response


def _closed(request: HttpRequest, exc: services.SurveyClosed | None, language: str) -> HttpResponse:
    kind = "not_found" if exc is None else exc.code
    status = 404 if exc is None else exc.status
    return _public(request, "surveys/public_closed.html", {"kind": kind}, language=language, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    """The survey behind the link in the invitation: NPS, CSAT, comment."""
    try:
        invitation = services.invitation_by_token(token)
    except NotFound:
        return _closed(request, None, _chosen_language(request, translation.get_language_from_request(request)))
    language = _chosen_language(request, invitation.language)
    try:
        services.require_open(invitation)
    except services.SurveyClosed as exc:
        return _closed(request, exc, language)
    form = AnswerForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        with translation.override(language):
            try:
                services.survey_answer(
                    token=token, nps=form.cleaned_data["nps"], csat=form.cleaned_data["csat"],
                    comment=form.cleaned_data["comment"],
                )
            except services.SurveyClosed as exc:
                return _closed(request, exc, language)
            except NotFound:
                return _closed(request, None, language)
            except InvalidInput as exc:
                add_service_error(form, exc)
            else:
                return redirect(reverse("surveys:thanks") + "?" + urlencode({"lang": language}))
    contact = invitation.contact
    context = {
        "form": form, "invitation": invitation,
        "name": contact.local_name if language == "zh-hans" and contact.local_name else contact.full_name,
        "nps_scores": [str(n) for n in range(11)], "comment_max": services.COMMENT_MAX_LENGTH,
    }
    return _public(request, "surveys/public_answer.html", context, language=language,
                   status=422 if form.errors else 200)


@require_safe
def thanks(request: HttpRequest) -> HttpResponse:
    language = _chosen_language(request, translation.get_language_from_request(request))
    return _public(request, "surveys/public_thanks.html", {}, language=language)


# Staff pages -------------------------------------------------------------------------------------------


def _filter_choices(user) -> tuple[QuerySet, QuerySet]:
    """Clients and projects that have invitations the user may see: short lists, unlike all clients."""
    visible = selectors.invitation_list(actor=user)
    organizations = organization_base(actor=user).filter(
        pk__in=visible.order_by().values("organization_id")
    ).order_by("legal_name", "id")
    projects = Project.objects.filter(pk__in=visible.order_by().values("project_id")).order_by("name", "id")
    return organizations, projects


@page
@require_safe
def invitation_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    organizations, projects = _filter_choices(user)
    filter_form = InvitationFilterForm(request.GET or None, organizations=organizations, projects=projects)
    filters = filter_form.selector_filters() if filter_form.is_bound and filter_form.is_valid() else {}
    result = paginate(selectors.invitation_list(actor=user, filters=filters), number=page_number(request))
    summary = selectors.survey_summary(actor=user, organization=filters.get("organization"),
                                       project=filters.get("project"))
    send_url = ""
    if filters.get("organization"):
        send_url = reverse("surveys:send") + "?" + urlencode({"organization": filters["organization"]})
    elif filters.get("project"):
        send_url = reverse("surveys:send") + "?" + urlencode({"project": filters["project"]})
    context = {
        "filter_form": filter_form, "page": result, "summary": summary, "can_send": can_write(user),
        "send_url": send_url,
    }
    return render_page(request, "surveys/invitation_list.html", context,
                       partial="surveys/_invitation_results.html", target="invitation-results")


def _send_target(request: HttpRequest) -> tuple[Organization | None, Project | None]:
    """The client (``?organization=ID``) or the project (``?project=ID``) the page sends for.

    The form posts back to the same address, so the target is always read from the query string.
    """
    org_id, project_id = request.GET.get("organization"), request.GET.get("project")
    if org_id:
        return organization_get_for_user(user=request.user, pk=org_id), None  # type: ignore[arg-type]
    if project_id:
        if not project_id.isdigit():
            raise NotFound()
        return None, project_get_for_user(user=request.user, pk=int(project_id))
    raise InvalidInput(_("Open this page from a client or a project: it needs ?organization=ID or ?project=ID."))


@page
@require_http_methods(["GET", "HEAD", "POST"])
def send(request: HttpRequest) -> HttpResponse:
    """Choose recipients, preview who will be invited and who skipped (and why), then send."""
    user = request.user
    require(can_write(user))
    organization, project = _send_target(request)
    if organization is not None:
        require_organization_write(user, organization)
        candidates = selectors.survey_recipients(actor=user, organizations=[organization])
        projects = restrict_projects(user, Project.objects.filter(participations__organization=organization),
                                     "pk").distinct().order_by("name")
        back_url = reverse("client_detail", args=[organization.pk])
    else:
        candidates = selectors.survey_recipients(actor=user, project=project)
        projects = None
        back_url = reverse("financing:project_detail", args=[project.pk])  # type: ignore[union-attr]
    contact_qs = Contact.objects.select_related("organization").filter(pk__in=[c.pk for c in candidates]).order_by(
        "organization__legal_name", "organization_id", "-is_primary", "full_name", "id")
    bound = request.method == "POST"
    form = SendForm(request.POST if bound else None, contacts=contact_qs, projects=projects,
                    initial={"contacts": [c.pk for c in candidates]})
    preview = None
    if bound and form.is_valid():
        chosen = list(form.cleaned_data["contacts"])
        about = project if project is not None else form.cleaned_data.get("project")
        sending = request.POST.get("action") == "send"
        try:
            preview = services.survey_invite_and_send(actor=user, contacts=chosen, project=about,
                                                      expires_in_days=form.cleaned_data["expires_in_days"],
                                                      dry_run=not sending)
        except InvalidInput as exc:
            add_service_error(form, exc)
        else:
            if sending:
                sent = sum(1 for o in preview.outcomes if o.sent)
                failed = [o for o in preview.outcomes if not o.sent]
                if sent:
                    messages.success(request, ngettext(
                        "%(n)d survey invitation sent.", "%(n)d survey invitations sent.", sent) % {"n": sent})
                if preview.skipped:
                    messages.info(request, ngettext(
                        "%(n)d contact skipped.", "%(n)d contacts skipped.", len(preview.skipped))
                        % {"n": len(preview.skipped)})
                for outcome in failed:
                    messages.error(request, _("Not sent to %(contact)s: %(error)s")
                                   % {"contact": outcome.invitation.contact, "error": outcome.error})
                query = {"organization": organization.pk} if organization else {"project": project.pk}  # type: ignore[union-attr]
                return redirect(reverse("surveys:invitation_list") + "?" + urlencode(query))
    elif not bound and candidates:
        # The first view already previews the default choice: everyone, with who would be skipped and why.
        preview = services.survey_invite(actor=user, contacts=candidates, project=project, dry_run=True)
    context = {
        "form": form, "organization": organization, "project": project, "preview": preview,
        "has_candidates": bool(candidates), "back_url": back_url,
    }
    return render(request, "surveys/send.html", context, status=422 if bound and form.errors else 200)


@page
@require_POST
def resend(request: HttpRequest, pk: int) -> HttpResponse:
    """Send an unanswered invitation again, with a new link (the one sent before stops working)."""
    user = request.user
    invitation: SurveyInvitation = selectors.invitation_get_for_user(user=user, pk=pk)
    outcome = services.survey_send(actor=user, invitations=[invitation])[0]
    if outcome.sent:
        messages.success(request, _("Survey sent again to %(contact)s.") % {"contact": invitation.contact})
    else:
        messages.error(request, _("Not sent to %(contact)s: %(error)s")
                       % {"contact": invitation.contact, "error": outcome.error})
    return redirect_back(request, reverse("surveys:invitation_list"))
