"""The shipped tier policy, playbooks and working calendar (the source practice of binary client
management): created on first use, never overwriting what a team has configured."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from bcrm.core.texts import gettext_noop, register_shipped
from bcrm.playbooks.choices import (
    MAKEUP_WORKDAY,
    Action,
    AddOn,
    CadenceUnit,
    Channel,
    OwnerRule,
    Tier,
    Trigger,
)
from bcrm.playbooks.models import Playbook, PlaybookStep, TierPolicy, WorkCalendar
from bcrm.playbooks.policy import DEFAULT_RULES

H = Decimal
# code: (description, response SLA, resolution SLA (business hours), steps)
# step: (action, trigger, every, unit, channel, owner, hours, lead days, only (dimension, label) or None)
DEFAULT_PLAYBOOKS: dict[str, tuple[str, Decimal | None, Decimal | None, list[tuple]]] = {
    Tier.DEDICATED: (
        gettext_noop("A dedicated relationship manager, personalised financing plans, fast response, senior-level meetings."),
        H("4"), H("24"), [
            (Action.CONTACT, Trigger.CADENCE, 2, CadenceUnit.WEEK, Channel.ANY, OwnerRule.RELATIONSHIP_MANAGER,
             H("1.5"), 3, None),
            (Action.PLAN_REVIEW, Trigger.CADENCE, 3, CadenceUnit.MONTH, Channel.MEETING,
             OwnerRule.RELATIONSHIP_MANAGER, H("4"), 14, None),
            (Action.SENIOR_MEETING, Trigger.CADENCE, 3, CadenceUnit.MONTH, Channel.MEETING,
             OwnerRule.RELATIONSHIP_MANAGER, H("3"), 14, ("relationship", "strategic")),
        ]),
    Tier.STANDARD: (
        gettext_noop("Standardised, automated service: a monthly project progress report and a personal contact each quarter."),
        H("16"), H("40"), [
            (Action.PROGRESS_REPORT, Trigger.CADENCE, 1, CadenceUnit.MONTH, Channel.AUTOMATED_EMAIL,
             OwnerRule.AUTOMATION, H("0"), 0, None),
            (Action.CONTACT, Trigger.CADENCE, 3, CadenceUnit.MONTH, Channel.CALL, OwnerRule.TEAM_POOL,
             H("0.5"), 7, None),
        ]),
    AddOn.ENHANCED_DD: (
        gettext_noop("High risk: enhanced due diligence on each new participation."), None, None, [
            (Action.DUE_DILIGENCE, Trigger.NEW_PARTICIPATION, 10, CadenceUnit.DAY, Channel.ANY,
             OwnerRule.RELATIONSHIP_MANAGER, H("6"), 10, None),
        ]),
    AddOn.KYC_REFRESH: (
        gettext_noop("High risk: KYC refreshed every six months."), None, None, [
            (Action.KYC_REFRESH, Trigger.CADENCE, 6, CadenceUnit.MONTH, Channel.EMAIL,
             OwnerRule.RELATIONSHIP_MANAGER, H("2"), 14, None),
        ]),
    AddOn.DATA_COLLECTION: (
        gettext_noop("Insufficient data: the owner collects what the classification lacks."), None, None, [
            (Action.DATA_COLLECTION, Trigger.CADENCE, 1, CadenceUnit.MONTH, Channel.EMAIL,
             OwnerRule.RELATIONSHIP_MANAGER, H("0.5"), 0, None),
        ]),
}

DEFAULT_CALENDAR = gettext_noop("Mainland China (Beijing time)")
DEFAULT_POLICY_NOTE = gettext_noop("Default policy")
# The shipped texts stay codes while nobody edits them: pages show them in the reader's language.
register_shipped([DEFAULT_CALENDAR, DEFAULT_POLICY_NOTE, MAKEUP_WORKDAY,
                  *(description for description, *_rest in DEFAULT_PLAYBOOKS.values())])


def ensure_defaults() -> None:
    """Create the default policy, playbooks and calendar where none exist. Safe to call concurrently."""
    if not TierPolicy.objects.exists():
        try:
            with transaction.atomic():
                TierPolicy.objects.create(version=1, is_active=True, rules=DEFAULT_RULES,
                                          note=DEFAULT_POLICY_NOTE)
        except IntegrityError:
            pass
    if not Playbook.objects.exists():
        try:
            with transaction.atomic():
                for code, (description, response, resolution, steps) in DEFAULT_PLAYBOOKS.items():
                    playbook = Playbook.objects.create(code=code, description=description,
                                                       response_sla_hours=response, resolution_sla_hours=resolution)
                    PlaybookStep.objects.bulk_create([
                        PlaybookStep(playbook=playbook, position=i, action=a, trigger=t, cadence_count=n,
                                     cadence_unit=u, channel=c, owner_rule=o, hours=h, lead_days=lead,
                                     only_dimension=only[0] if only else "", only_label=only[1] if only else "")
                        for i, (a, t, n, u, c, o, h, lead, only) in enumerate(steps)
                    ])
        except IntegrityError:
            pass
    if not WorkCalendar.objects.exists():
        from bcrm.playbooks.calendars import load_public_holidays

        try:
            with transaction.atomic():
                cal = WorkCalendar.objects.create(name=DEFAULT_CALENDAR, timezone="Asia/Shanghai",
                                                  day_start=dt.time(9, 0), day_end=dt.time(18, 0),
                                                  weekend="6,7", country="CN", is_default=True)
                year = timezone.localdate().year
                load_public_holidays(cal, "CN", range(year - 1, year + 2))
        except IntegrityError:
            pass
