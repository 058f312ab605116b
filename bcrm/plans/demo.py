"""Demo financing plans for dedicated-tier clients: a plan on a project each takes part in, some with a
second version (a tighter margin after negotiation), at every status. Deterministic for a seed; adds nothing
when plans exist. Few rows (a dozen or two), through the services, so the audit trail and timelines are real."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.utils import timezone

from bcrm.accounts.permissions import SystemOperator
from bcrm.financing.models import Participation
from bcrm.parties.classes import Tier
from bcrm.parties.models import Organization
from bcrm.plans import services
from bcrm.plans.models import FinancingPlan, PlanStatus

LIMIT = 16
#: the path each demo plan walks, cycling: how far it got
PATHS = [
    [],
    [PlanStatus.INTERNAL_REVIEW],
    [PlanStatus.INTERNAL_REVIEW, PlanStatus.PROPOSED],
    [PlanStatus.INTERNAL_REVIEW, PlanStatus.PROPOSED, PlanStatus.NEGOTIATING],
    [PlanStatus.INTERNAL_REVIEW, PlanStatus.PROPOSED, PlanStatus.NEGOTIATING, PlanStatus.ACCEPTED],
    [PlanStatus.INTERNAL_REVIEW, PlanStatus.PROPOSED, PlanStatus.DECLINED],
]
INSTRUMENTS = {"senior_debt": "senior_debt", "mezzanine": "mezzanine", "equity": "equity", "guarantee": "guarantee"}


def demo_plans(*, seed: int = 1, now: dt.datetime | None = None) -> dict[str, int]:
    if FinancingPlan.objects.exists():
        return {}
    rng = random.Random(seed)
    now = now or timezone.now()
    actor = SystemOperator()
    dedicated = list(Organization.objects.filter(service_tier__tier=Tier.DEDICATED, participations__isnull=False)
                     .distinct().order_by("pk")[:LIMIT * 3])
    rng.shuffle(dedicated)
    counts = {"plans": 0, "versions": 0}
    for i, organization in enumerate(dedicated[:LIMIT]):
        participation = (Participation.objects.filter(organization=organization).select_related("project")
                         .exclude(status__in=("declined", "withdrawn")).order_by("-amount", "pk").first())
        if participation is None:
            continue
        instrument = INSTRUMENTS.get(participation.role, "senior_debt")
        amount = (participation.amount or Decimal("10000000")).quantize(Decimal("1"))
        margin = Decimal(rng.choice([225, 250, 275, 300, 350]))
        terms = {"instrument": instrument, "amount": amount, "currency": participation.currency,
                 "tenor_months": rng.choice([60, 120, 180, 216]), "grace_months": rng.choice([0, 12, 24]),
                 "repayment": rng.choice(["amortising", "sculpted", "balloon"]),
                 "reference_rate": rng.choice(["SOFR", "EURIBOR 6M", "LPR 5Y"]),
                 "margin_bps": margin if instrument != "equity" else None,
                 "upfront_fee_pct": Decimal(rng.choice(["0.75", "1.00", "1.25"])),
                 "commitment_fee_pct": Decimal("0.35"), "security": "Share pledge, account pledges, assignment of "
                 "project contracts", "covenants": "DSCR ≥ 1.20x; debt/equity ≤ 75/25",
                 "conditions": "Credit approval; satisfactory due diligence",
                 "rationale": "Tailored to the client's ticket and tenor appetite (dedicated tier)."}
        start = now - dt.timedelta(days=rng.randint(20, 90))
        plan = services.plan_create(actor=actor, organization=organization, project=participation.project,
                                    tranche=participation.tranche, terms=terms, now=start)
        counts["plans"] += 1
        counts["versions"] += 1
        path = PATHS[i % len(PATHS)]
        for step, status in enumerate(path):
            if status == PlanStatus.NEGOTIATING:
                services.plan_transition(actor=actor, plan=plan, to=status, now=start + dt.timedelta(days=step + 1))
                change = ({"amount": (amount * Decimal("0.9")).quantize(Decimal("1"))} if instrument == "equity"
                          else {"margin_bps": margin - 25})
                services.plan_revise(actor=actor, plan=plan, terms=change,
                                     reason="Client countered; matched the competing bid.",
                                     now=start + dt.timedelta(days=step + 2))
                counts["versions"] += 1
                continue
            services.plan_transition(actor=actor, plan=plan, to=status, now=start + dt.timedelta(days=step + 1))
    return counts
