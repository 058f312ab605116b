"""The automation's service-request SLAs (stage 5): due dates on the team's working calendar for open requests
that lack them, and one escalation task for the team lead per breached promise."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import numpy as np
from django.db import connection

from bcrm.accounts.choices import Role
from bcrm.core import texts
from bcrm.engagement.models import ServiceRequest
from bcrm.playbooks.bulksql import _bulk_set, _db_datetime, _rows, _table
from bcrm.playbooks.choices import Action, Tier
from bcrm.playbooks.duesteps import _NewTask
from bcrm.playbooks.models import ClientTier
from bcrm.playbooks.population import _Population
from bcrm.segmentation.features import column, to_epoch

ESCALATION_HOURS = Decimal("0.5")
# The titles the engine writes (codes of bcrm.core.texts: rendered in each reader's language).
SLA_RESPONSE = texts.gettext_noop("SLA breached: first response overdue on request #%(request)s")
SLA_RESOLUTION = texts.gettext_noop("SLA breached: resolution overdue on request #%(request)s")


class _Escalations(_Population):
    """Stage 5 of a run: SLA due dates and escalations."""

    # --- 5. service requests -----------------------------------------------------------------------------
    def _service_requests(self) -> list[_NewTask]:
        """SLA due dates for open requests that lack them; one escalation per breached promise."""
        orgs = _table(ClientTier._meta.get_field("organization").related_model)
        rows = _rows(
            f"SELECT r.id, r.organization_id, r.opened_at, r.first_response_at, r.response_due_at, "
            f"r.resolution_due_at, r.escalated_at, r.owner_id, o.team_id, o.relationship_manager_id, t.tier "
            f"FROM {_table(ServiceRequest)} r JOIN {orgs} o ON o.id = r.organization_id "
            f"LEFT JOIN {_table(ClientTier)} t ON t.organization_id = r.organization_id "
            f"WHERE r.resolved_at IS NULL ORDER BY r.id")
        if not rows:
            self.counts["sla_stamped"] = 0
            self.counts["escalated"] = 0
            return []
        opened = to_epoch(column(rows, 2))
        response_due = to_epoch(column(rows, 4))
        resolution_due = to_epoch(column(rows, 5))
        now_epoch = self.now.timestamp()
        stamps: list[tuple[int, dt.datetime | None, dt.datetime | None]] = []
        escalate: list[tuple[int, str, int | None, int | None, int | None, int]] = []
        for i, (pk, org, _o, first_response, _rd, _sd, _escalated, owner, team, rm, tier) in enumerate(rows):
            playbook = self.playbooks.get(tier or Tier.STANDARD)
            cal = self.calendar_of(team)
            resp, reso = response_due[i], resolution_due[i]
            if resp != resp or reso != reso:
                opened_at = dt.datetime.fromtimestamp(opened[i], dt.UTC)
                new_resp = cal.add_business_hours(opened_at, playbook.response_sla_hours) \
                    if playbook and playbook.response_sla_hours else None
                new_reso = cal.add_business_hours(opened_at, playbook.resolution_sla_hours) \
                    if playbook and playbook.resolution_sla_hours else None
                stamps.append((pk, new_resp, new_reso))
                resp = new_resp.timestamp() if new_resp else np.nan
                reso = new_reso.timestamp() if new_reso else np.nan
            if first_response is None and resp == resp and resp < now_epoch:
                escalate.append((pk, "response", team, rm, owner, org))
            if reso == reso and reso < now_epoch:
                escalate.append((pk, "resolution", team, rm, owner, org))
        if stamps:
            with connection.cursor() as cursor:
                _bulk_set(cursor, _table(ServiceRequest), ["response_due_at", "resolution_due_at"],
                          [(pk, _db_datetime(resp_at), _db_datetime(reso_at)) for pk, resp_at, reso_at in stamps])
        self.counts["sla_stamped"] = len(stamps)
        out: list[_NewTask] = []
        escalated_ids: list[int] = []
        self._staff_for_escalation()
        for pk, which, team, rm, owner, org in escalate:
            leads = (self.esc_team_leads.get(team) if team is not None else None) or self.esc_all_leads
            assignee = leads[0] if leads else (rm or owner)
            message = texts.text(SLA_RESPONSE if which == "response" else SLA_RESOLUTION, request=str(pk))
            out.append(_NewTask(step=None, action=Action.SLA_ESCALATION, org=org, team=team, rm=rm,
                                due_day=self.today_n, hours=ESCALATION_HOURS, key=f"sla:{pk}:{which}",
                                service_request=pk, assignee=assignee, title=message["message"],
                                title_code=message["template"], title_params=message["params"]))
            escalated_ids.append(pk)
        if escalated_ids:
            for start in range(0, len(escalated_ids), 5000):
                ServiceRequest.objects.filter(pk__in=escalated_ids[start:start + 5000],
                                              escalated_at__isnull=True).update(escalated_at=self.now)
        self.counts["breaches"] = len(out)
        return out

    def _staff_for_escalation(self) -> None:
        from django.contrib.auth import get_user_model

        from bcrm.accounts.models import TeamMembership

        User = get_user_model()
        leads = list(User.objects.filter(is_active=True, groups__name=Role.LEAD).order_by("pk")
                     .values_list("pk", flat=True))
        self.esc_all_leads = leads
        self.esc_team_leads: dict[int, list[int]] = defaultdict(list)
        for team, user in TeamMembership.objects.filter(user_id__in=leads).order_by("team_id", "user_id") \
                .values_list("team_id", "user_id"):
            self.esc_team_leads[team].append(user)
