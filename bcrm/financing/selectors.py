"""Reads on projects and participations, restricted to what the actor may see."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import Count, Q, QuerySet, Sum

from bcrm.accounts.permissions import restrict_organizations
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.financing.choices import COMMITMENT_LADDER, COMMITTED_STATUSES, ParticipationStatus
from bcrm.financing.models import ExchangeRate, Participation, Project
from bcrm.financing.walls import restrict_projects


def project_list(*, actor, filters: dict[str, Any] | None = None) -> QuerySet[Project]:
    """Projects are shared across teams (but for confidential ones: ``financing.walls``); who takes part in
    them is what permissions restrict."""
    filters = filters or {}
    queryset = restrict_projects(actor, Project.objects.select_related("sponsor"), "pk").order_by("name", "id")
    if filters.get("q"):
        if "\x00" in str(filters["q"]):
            raise InvalidInput(fields={"q": [str(ProhibitNullCharactersValidator.message)]})
        queryset = queryset.filter(Q(name__icontains=filters["q"]) | Q(local_name__icontains=filters["q"]))
    if filters.get("sector"):
        queryset = queryset.filter(sector=filters["sector"])
    if filters.get("stage"):
        queryset = queryset.filter(stage=filters["stage"])
    return queryset


def project_get_for_user(*, user, pk: int) -> Project:
    project = restrict_projects(user, Project.objects.select_related("sponsor"), "pk").filter(pk=pk).first()
    if project is None:
        raise NotFound()
    return project


def participation_list(*, actor, filters: dict[str, Any] | None = None) -> QuerySet[Participation]:
    filters = filters or {}
    queryset = restrict_organizations(
        actor, Participation.objects.select_related("project", "organization"), prefix="organization__"
    )
    queryset = restrict_projects(actor, queryset)
    for key in ("project", "organization"):
        if filters.get(key):
            queryset = queryset.filter(**{f"{key}_id": filters[key]})
    if filters.get("status"):
        if filters["status"] not in ParticipationStatus.values:
            raise InvalidInput(fields={"status": [f"Unknown status {filters['status']!r}."]})
        queryset = queryset.filter(status=filters["status"])
    return queryset.order_by("project__name", "-amount", "id")


def participation_get_for_user(*, user, pk: int) -> Participation:
    participation = participation_list(actor=user).filter(pk=pk).first()
    if participation is None:
        raise NotFound()
    return participation


def rate_to_reporting(currency: str, on: dt.date, reporting: str | None = None) -> Decimal | None:
    """The latest rate on or before ``on``; None when the portfolio has none (the caller says so)."""
    reporting = reporting or settings.BCRM_REPORTING_CURRENCY
    if currency == reporting:
        return Decimal(1)
    row = (
        ExchangeRate.objects.filter(currency=currency, quote=reporting, as_of__lte=on)
        .order_by("-as_of").values_list("rate", flat=True).first()
    )
    return row


def rates_to_reporting(on: dt.date, reporting: str | None = None) -> dict[str, Decimal]:
    """Every currency's latest rate on or before ``on``, in one query (currencies without one are absent)."""
    reporting = reporting or settings.BCRM_REPORTING_CURRENCY
    rates: dict[str, Decimal] = {}
    for currency, rate in (ExchangeRate.objects.filter(quote=reporting, as_of__lte=on)
                           .order_by("currency", "as_of").values_list("currency", "rate")):
        rates[currency] = rate  # ordered by date: the last one per currency wins
    rates[reporting] = Decimal(1)
    return rates


def project_funding_summary(*, actor, project: Project) -> dict[str, Any]:
    """Target versus amounts by ladder status, in the project's currency."""
    rows = (
        Participation.objects.filter(project=project)
        .values("status", "currency")
        .annotate(total=Sum("amount"), n=Count("id"))
    )
    today = dt.date.today()
    rates: dict[str, Decimal | None] = {}

    def rate(currency: str) -> Decimal | None:
        if currency not in rates:
            rates[currency] = rate_to_reporting(currency, today)
        return rates[currency]

    by_status: dict[str, Decimal] = {s: Decimal(0) for s in ParticipationStatus.values}
    counts: dict[str, int] = dict.fromkeys(ParticipationStatus.values, 0)
    unconverted: set[str] = set()
    for row in rows:
        if row["currency"] == project.currency:
            amount = row["total"]
            by_status[row["status"]] += amount
            counts[row["status"]] += row["n"]
            continue
        rate_from, rate_to = rate(row["currency"]), rate(project.currency)
        if rate_from is None or rate_to is None:
            unconverted.add(row["currency"])
            continue
        else:
            amount = (row["total"] * rate_from / rate_to).quantize(Decimal("0.01"))
        by_status[row["status"]] += amount
        counts[row["status"]] += row["n"]
    committed = sum((by_status[s] for s in COMMITTED_STATUSES), Decimal(0))
    target = project.financing_target or Decimal(0)
    return {
        "currency": project.currency,
        "target": target,
        "committed": committed,
        "committed_share": (committed / target) if target else None,
        "ladder": [
            {"status": s, "label": ParticipationStatus(s).label, "amount": by_status[s], "count": counts[s]}
            for s in [*COMMITMENT_LADDER, ParticipationStatus.DECLINED, ParticipationStatus.WITHDRAWN]
        ],
        "unconverted_currencies": sorted(unconverted),
    }
