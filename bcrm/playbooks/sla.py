"""Service-request SLAs: the client's tier playbook gives the business hours, the team's working calendar
measures them."""

from __future__ import annotations

import datetime as dt

from bcrm.playbooks.choices import Tier


def sla_due_dates(organization, opened_at: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(first response due, resolution due) for a request of ``organization`` opened at ``opened_at``."""
    from bcrm.playbooks.calendars import business_calendar, default_calendar
    from bcrm.playbooks.models import ClientTier, Playbook, TeamCalendar

    tier = ClientTier.objects.filter(organization_id=organization.pk).values_list("tier", flat=True).first()
    playbook = Playbook.objects.filter(code=tier or Tier.STANDARD, is_active=True).first()
    if playbook is None:
        return None, None
    link = TeamCalendar.objects.select_related("calendar").filter(team_id=organization.team_id).first() \
        if organization.team_id else None
    calendar = business_calendar(link.calendar) if link else default_calendar()
    response = calendar.add_business_hours(opened_at, playbook.response_sla_hours) \
        if playbook.response_sla_hours else None
    resolution = calendar.add_business_hours(opened_at, playbook.resolution_sla_hours) \
        if playbook.resolution_sla_hours else None
    return response, resolution
