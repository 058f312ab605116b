"""Shared arrange steps for the progress-report tests (tests/test_progress*.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from bcrm.financing.models import ExchangeRate
from bcrm.progress.models import Milestone, ProjectUpdate
from tests.factories import make_contact, make_org, make_participation, make_project

PERIOD = "2026-04"


def aware(y, m, d, h=12, minute=0) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=timezone.get_current_timezone())


def consenting(org, **fields):
    fields.setdefault("report_consent", True)
    if fields["report_consent"]:
        fields.setdefault("consent_given_at", aware(2025, 1, 1))
    return make_contact(org, **fields)


def solar_project(team, *, with_rates: bool = True):
    """Qinghai Solar (CNY, target 1,000,000) with participants in three currencies, dated exchange rates,
    four milestones and updates around April 2026; figures hand-computed in test_progress_report.py."""
    project = make_project(name="Qinghai Solar Power Station", local_name="青海光伏电站", currency="CNY",
                           financing_target=Decimal("1000000"), total_cost=Decimal("1250000"),
                           external_id="PRJ-QH-01", stage="marketing", expected_close=dt.date(2026, 9, 30))
    if with_rates:
        for currency, day, rate in [("CNY", dt.date(2026, 3, 1), "0.14"), ("EUR", dt.date(2026, 3, 1), "1.10"),
                                    ("CNY", dt.date(2026, 5, 1), "0.15"), ("EUR", dt.date(2026, 5, 1), "2.00")]:
            ExchangeRate.objects.create(currency=currency, quote="USD", as_of=day, rate=Decimal(rate))
    orgs = {
        "a": make_org(legal_name="Huaneng Capital", local_name="华能资本", team=team),
        "b": make_org(legal_name="Silk Road Fund", team=team),
        "c": make_org(legal_name="Euro Infra Debt", team=team),
        "d": make_org(legal_name="Declined Bank", team=team),
    }
    make_participation(project, orgs["a"], amount=Decimal("300000"), currency="CNY", status="firm_commitment")
    make_participation(project, orgs["b"], amount=Decimal("50000"), currency="USD", status="funded",
                       role="senior_debt")
    make_participation(project, orgs["c"], amount=Decimal("20000"), currency="EUR", status="term_sheet",
                       role="mezzanine")
    make_participation(project, orgs["d"], amount=Decimal("100000"), currency="CNY", status="declined",
                       role="senior_debt")
    Milestone.objects.create(project=project, name="Feasibility study approved", local_name="可研批复",
                             due_on=dt.date(2026, 3, 1), completed_on=dt.date(2026, 3, 5), position=0)
    Milestone.objects.create(project=project, name="Grid connection agreement", local_name="并网协议",
                             due_on=dt.date(2026, 4, 10), position=1)
    Milestone.objects.create(project=project, name="Financial close", local_name="融资关闭",
                             due_on=dt.date(2026, 6, 1), position=2)
    Milestone.objects.create(project=project, name="Land lease signed", local_name="土地租赁签署",
                             due_on=dt.date(2026, 4, 1), completed_on=dt.date(2026, 5, 10), position=3)
    ProjectUpdate.objects.create(project=project, written_at=aware(2026, 3, 20), body="March: site visit done.")
    ProjectUpdate.objects.create(project=project, written_at=aware(2026, 4, 15, 10), body="April: two lenders approved.")
    ProjectUpdate.objects.create(project=project, written_at=aware(2026, 4, 30, 23, 30), language="zh-hans",
                                 body="四月底：条款清单谈判进入最后阶段。")
    ProjectUpdate.objects.create(project=project, written_at=aware(2026, 5, 1, 0, 10), body="May: too late.")
    return project, orgs
