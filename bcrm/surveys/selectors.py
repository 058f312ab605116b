"""Reads on survey invitations and results, restricted to what the actor may see."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import restrict_organizations
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.engagement.models import SurveyResponse
from bcrm.financing.walls import restrict_projects
from bcrm.parties.models import Contact
from bcrm.parties.selectors import contact_list
from bcrm.surveys.models import InvitationStatus, SurveyInvitation, status_q

PROMOTER_MIN = 9  # 9–10 promote
DETRACTOR_MAX = 6  # 0–6 detract; 7–8 are passive


def _visible(actor, queryset: QuerySet) -> QuerySet:
    """``actor`` None is the trusted operator at the command line, who sees everything."""
    if actor is None:
        return queryset
    return restrict_organizations(actor, queryset, prefix="organization__")


def _contacts(actor) -> QuerySet[Contact]:
    if actor is None:
        return Contact.objects.select_related("organization")
    return contact_list(actor=actor)


def invitation_list(*, actor, filters: dict[str, Any] | None = None) -> QuerySet[SurveyInvitation]:
    filters = filters or {}
    queryset = _visible(
        actor, SurveyInvitation.objects.select_related("contact", "organization", "project", "response", "sent_by"),
    )
    if actor is not None:  # None: the operator, as in _visible
        queryset = restrict_projects(actor, queryset)
    status = filters.get("status")
    if status:
        if status not in InvitationStatus.values:
            raise InvalidInput(fields={"status": [
                _("Unknown status %(status)s. Choose from %(choices)s.")
                % {"status": repr(status), "choices": ", ".join(InvitationStatus.values)}
            ]})
        queryset = queryset.filter(status_q(status, timezone.now()))
    for key in ("organization", "project", "contact"):
        if filters.get(key):
            queryset = queryset.filter(**{f"{key}_id": filters[key]})
    return queryset.order_by("-created_at", "-id")


def invitation_get_for_user(*, user, pk: int) -> SurveyInvitation:
    invitation = invitation_list(actor=user).filter(pk=pk).first()
    if invitation is None:
        raise NotFound()
    return invitation


def nps_score(promoters: int, passives: int, detractors: int) -> float | None:
    """Net promoter score: % promoters − % detractors, −100 … 100, one decimal; None without answers."""
    total = promoters + passives + detractors
    if total <= 0:
        return None
    return round(100.0 * (promoters - detractors) / total, 1)


def survey_summary(*, actor, organization=None, project=None) -> dict[str, Any]:
    """Invitations sent and answered, and the answers' NPS and average CSAT, for what the actor sees.

    With ``project``, only answers given through invitations about that project count; otherwise
    every survey response of the visible organisations does (answers recorded by hand included).
    """
    now = timezone.now()
    invitations = invitation_list(actor=actor, filters={
        "organization": getattr(organization, "pk", organization), "project": getattr(project, "pk", project),
    })
    counts = invitations.order_by().aggregate(
        total=Count("id"),
        sent=Count("id", filter=Q(sent_at__isnull=False)),
        answered=Count("id", filter=status_q(InvitationStatus.ANSWERED, now)),
        open=Count("id", filter=status_q(InvitationStatus.SENT, now)),
        pending=Count("id", filter=status_q(InvitationStatus.PENDING, now)),
        expired=Count("id", filter=status_q(InvitationStatus.EXPIRED, now)),
    )
    responses = _visible(actor, SurveyResponse.objects.all())
    if organization is not None:
        responses = responses.filter(organization_id=getattr(organization, "pk", organization))
    if project is not None:
        responses = responses.filter(invitation__project_id=getattr(project, "pk", project))
    scores = responses.order_by().aggregate(
        responses=Count("id"),
        promoters=Count("id", filter=Q(nps__gte=PROMOTER_MIN)),
        passives=Count("id", filter=Q(nps__gt=DETRACTOR_MAX, nps__lt=PROMOTER_MIN)),
        detractors=Count("id", filter=Q(nps__lte=DETRACTOR_MAX)),
        csat_count=Count("csat"),
        csat_average=Avg("csat"),
    )
    csat = scores["csat_average"]
    sent = counts["sent"] or 0
    return {
        "invitations": counts["total"], "sent": sent, "answered": counts["answered"], "open": counts["open"],
        "pending": counts["pending"], "expired": counts["expired"],
        "response_rate": round(100.0 * counts["answered"] / sent, 1) if sent else None,
        "responses": scores["responses"], "promoters": scores["promoters"], "passives": scores["passives"],
        "detractors": scores["detractors"],
        "nps": nps_score(scores["promoters"], scores["passives"], scores["detractors"]),
        "csat_count": scores["csat_count"], "csat_average": round(float(csat), 2) if csat is not None else None,
    }


def survey_recipients(*, actor, organizations: Iterable = (), contacts: Iterable = (), project=None) -> list[Contact]:
    """Who a send would address: the named contacts and every contact of the named organisations;
    with none of them, every contact of the organisations taking part in ``project``. Only what the
    actor may see; the service then checks that the actor may also write to them."""
    organizations, contacts = list(organizations), list(contacts)
    if organizations or contacts:
        queryset = _contacts(actor).filter(
            Q(organization_id__in=[getattr(o, "pk", o) for o in organizations])
            | Q(pk__in=[getattr(c, "pk", c) for c in contacts])
        )
    elif project is not None:
        queryset = _contacts(actor).filter(
            organization__participations__project_id=getattr(project, "pk", project)
        ).distinct()
    else:
        return []
    return list(queryset.order_by("organization__legal_name", "organization_id", "-is_primary", "full_name", "id"))
