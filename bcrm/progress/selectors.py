"""Reads for progress reports: the report itself, milestones, updates and the delivery log.

Projects are visible to whoever sees every organisation (admin, lead, analyst, compliance, viewer)
and, for a relationship manager, when the project's sponsor or one of its participants is a client
they see (their team's or their own). A project somebody may not see answers NotFound, as if it did
not exist.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import organization_scope
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.financing.choices import COMMITMENT_LADDER, COMMITTED_STATUSES, ParticipationStatus
from bcrm.financing.models import Participation, Project
from bcrm.financing.selectors import rates_to_reporting
from bcrm.financing.walls import hidden_project_ids, restrict_projects
from bcrm.parties.choices import Language
from bcrm.parties.models import Organization
from bcrm.parties.selectors import organization_base
from bcrm.progress.models import DeliveryStatus, Milestone, ProjectUpdate, ReportDelivery
from bcrm.progress.periods import parse_period

LADDER_ORDER = [*COMMITMENT_LADDER, ParticipationStatus.DECLINED, ParticipationStatus.WITHDRAWN]
CENT = Decimal("0.01")


# Visibility ---------------------------------------------------------------------------------------------


def visible_projects(user) -> QuerySet[Project]:
    scope = organization_scope(user)
    projects = restrict_projects(user, Project.objects.all(), "pk")
    if scope is None:
        return projects
    seen = Organization.objects.filter(scope)
    takes_part = Participation.objects.filter(project=OuterRef("pk"), organization__in=seen.values("pk"))
    return projects.filter(Q(sponsor__in=seen.values("pk")) | Exists(takes_part))


def project_get_for_user(*, user, pk: Any) -> Project:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound() from None
    project = visible_projects(user).select_related("sponsor").filter(pk=pk).first()
    if project is None:
        raise NotFound()
    return project


def can_see_project(user, project: Project) -> bool:
    if project.pk in hidden_project_ids(user):
        return False
    return organization_scope(user) is None or visible_projects(user).filter(pk=project.pk).exists()


def clean_period(period: Any) -> tuple[dt.date, dt.date]:
    try:
        return parse_period(period)
    except ValueError:
        raise InvalidInput(fields={"period": [
            _("%(value)s is not a period: write a month as YYYY-MM, e.g. 2026-04.") % {"value": period}
        ]}) from None


def clean_language(language: Any) -> str:
    if language not in Language.values:
        raise InvalidInput(fields={"language": [
            _("Choose a language: %(choices)s.") % {"choices": ", ".join(Language.values)}
        ]})
    return str(language)


# The report ---------------------------------------------------------------------------------------------


@dataclass
class MilestoneRow:
    id: int
    name: str
    local_name: str
    due_on: dt.date
    completed_on: dt.date | None
    state: str  # done | due | overdue

    def display_name(self, language: str) -> str:
        return self.local_name if language == Language.ZH_HANS and self.local_name else self.name


@dataclass
class LadderRow:
    status: str
    label: str
    count: int
    amount: Decimal
    committed: bool


@dataclass
class Financing:
    currency: str
    target: Decimal
    committed: Decimal
    committed_share: Decimal | None
    ladder: list[LadderRow]
    rates_as_of: dt.date
    unconverted_currencies: list[str] = field(default_factory=list)

    @property
    def committed_percent(self) -> Decimal | None:
        return None if self.committed_share is None else (self.committed_share * 100).quantize(Decimal("0.1"))

    @property
    def pipeline(self) -> Decimal:
        """Amounts on the ladder below firm commitment (not declined or withdrawn)."""
        return sum((r.amount for r in self.ladder
                    if not r.committed and r.status in COMMITMENT_LADDER), Decimal(0))


@dataclass
class UpdateRow:
    id: int
    written_at: dt.datetime
    author: str
    body: str
    language: str


@dataclass
class ProgressReport:
    project: Project
    period: str
    period_start: dt.date
    period_end: dt.date
    as_of: dt.date
    language: str
    milestones: list[MilestoneRow]
    financing: Financing
    updates: list[UpdateRow]

    @property
    def project_display_name(self) -> str:
        if self.language == Language.ZH_HANS and self.project.local_name:
            return self.project.local_name
        return self.project.name

    @property
    def milestone_counts(self) -> dict[str, int]:
        counts = {"done": 0, "due": 0, "overdue": 0}
        for row in self.milestones:
            counts[row.state] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        project, money = self.project, self.financing
        return {
            "project": {
                "id": project.pk, "name": project.name, "local_name": project.local_name,
                "external_id": project.external_id, "sector": project.sector, "country": str(project.country),
                "stage": project.stage, "stage_label": project.get_stage_display(),
                "expected_close": project.expected_close.isoformat() if project.expected_close else None,
            },
            "period": self.period, "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(), "as_of": self.as_of.isoformat(), "language": self.language,
            "milestones": [{"id": m.id, "name": m.name, "local_name": m.local_name, "due_on": m.due_on.isoformat(),
                            "completed_on": m.completed_on.isoformat() if m.completed_on else None,
                            "state": m.state} for m in self.milestones],
            "financing": {
                "currency": money.currency, "target": str(money.target), "committed": str(money.committed),
                "committed_share": None if money.committed_share is None else str(money.committed_share),
                "rates_as_of": money.rates_as_of.isoformat(),
                "unconverted_currencies": money.unconverted_currencies,
                "ladder": [{"status": r.status, "label": r.label, "count": r.count, "amount": str(r.amount),
                            "committed": r.committed} for r in money.ladder],
            },
            "updates": [{"id": u.id, "written_at": u.written_at.isoformat(), "author": u.author, "body": u.body,
                         "language": u.language} for u in self.updates],
        }


def milestone_state(due_on: dt.date, completed_on: dt.date | None, as_of: dt.date) -> str:
    if completed_on is not None and completed_on <= as_of:
        return "done"
    return "overdue" if due_on < as_of else "due"


def report_as_of(period_end: dt.date, today: dt.date | None = None) -> dt.date:
    """A past month is reported as of its last day; the current month as of today."""
    today = today or timezone.localdate()
    return min(period_end, today)


def financing_progress(project: Project, as_of: dt.date) -> Financing:
    """Amounts by ladder status converted into the project's currency with the rates dated ``as_of``
    (two queries: the amounts grouped by status and currency, the rates)."""
    rows = list(
        Participation.objects.filter(project=project).order_by()
        .values("status", "currency").annotate(total=Sum("amount"), n=Count("id"))
    )
    rates = rates_to_reporting(as_of) if any(r["currency"] != project.currency for r in rows) else {}
    amounts = {s: Decimal(0) for s in ParticipationStatus.values}
    counts = dict.fromkeys(ParticipationStatus.values, 0)
    unconverted: set[str] = set()
    for row in rows:
        counts[row["status"]] += row["n"]
        if row["currency"] == project.currency:
            amounts[row["status"]] += row["total"]
            continue
        rate_from, rate_to = rates.get(row["currency"]), rates.get(project.currency)
        if rate_from is None or rate_to is None:
            unconverted.add(row["currency"])
            continue
        amounts[row["status"]] += row["total"] * rate_from / rate_to
    amounts = {s: a.quantize(CENT) for s, a in amounts.items()}
    committed = sum((amounts[s] for s in COMMITTED_STATUSES), Decimal(0))
    target = project.financing_target or Decimal(0)
    return Financing(
        currency=project.currency, target=target, committed=committed,
        committed_share=(committed / target).quantize(Decimal("0.0001")) if target else None,
        ladder=[LadderRow(status=str(s), label=str(ParticipationStatus(s).label), count=counts[s], amount=amounts[s],
                          committed=s in COMMITTED_STATUSES) for s in LADDER_ORDER],
        rates_as_of=as_of, unconverted_currencies=sorted(unconverted),
    )


def progress_report(project: Project, period: str, language: str = Language.EN, *,
                    today: dt.date | None = None) -> ProgressReport:
    """Everything the report shows for ``project`` in the month ``period``, in four queries."""
    start, end = clean_period(period)
    language = clean_language(language)
    as_of = report_as_of(end, today)
    milestones = [
        MilestoneRow(id=m.pk, name=m.name, local_name=m.local_name, due_on=m.due_on, completed_on=m.completed_on,
                     state=milestone_state(m.due_on, m.completed_on, as_of))
        for m in Milestone.objects.filter(project=project).order_by("position", "due_on", "id")
    ]
    tz = timezone.get_current_timezone()
    window_start = dt.datetime.combine(start, dt.time.min, tzinfo=tz)
    window_end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    updates = [
        UpdateRow(id=u.pk, written_at=u.written_at, body=u.body, language=u.language,
                  author=(u.author.get_full_name() or u.author.get_username()) if u.author else "")
        for u in ProjectUpdate.objects.filter(project=project, written_at__gte=window_start,
                                              written_at__lt=window_end)
        .select_related("author").order_by("-written_at", "-id")
    ]
    with translation.override(language):
        financing = financing_progress(project, as_of)
    return ProgressReport(project=project, period=f"{start:%Y-%m}", period_start=start, period_end=end, as_of=as_of,
                          language=language, milestones=milestones, financing=financing, updates=updates)


# Milestones and updates ---------------------------------------------------------------------------------


def milestone_list(*, user, project: Project) -> QuerySet[Milestone]:
    return Milestone.objects.filter(project=project).order_by("position", "due_on", "id")


def milestone_get_for_user(*, user, pk: Any) -> Milestone:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound() from None
    milestone = Milestone.objects.filter(pk=pk, project__in=visible_projects(user)).select_related("project").first()
    if milestone is None:
        raise NotFound()
    return milestone


def update_list(*, user, project: Project) -> QuerySet[ProjectUpdate]:
    return ProjectUpdate.objects.filter(project=project).select_related("author").order_by("-written_at", "-id")


def update_get_for_user(*, user, pk: Any) -> ProjectUpdate:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound() from None
    update = (ProjectUpdate.objects.filter(pk=pk, project__in=visible_projects(user))
              .select_related("project", "author").first())
    if update is None:
        raise NotFound()
    return update


# The delivery log ---------------------------------------------------------------------------------------


def visible_recipient_organizations(user):
    """Ids of the organisations whose report recipients ``user`` may see and mail: the client list's rule
    (None: all of them)."""
    if organization_scope(user) is None:
        return None
    return organization_base(actor=user).values("pk")


def deliveries(user, filters: dict[str, Any] | None = None) -> QuerySet[ReportDelivery]:
    """Deliveries to the organisations ``user`` sees (the client list's rule), on projects he sees, newest
    first; filters: project, period, status, organization."""
    filters = filters or {}
    queryset = ReportDelivery.objects.select_related("project", "organization", "contact")
    queryset = restrict_projects(user, queryset)
    visible = visible_recipient_organizations(user)
    if visible is not None:
        queryset = queryset.filter(project__in=visible_projects(user).values("pk"), organization__in=visible)
    errors: dict[str, list[str]] = {}
    if filters.get("project"):
        try:
            queryset = queryset.filter(project_id=int(filters["project"]))
        except (TypeError, ValueError):
            errors["project"] = [_("A project is given by its id.")]
    if filters.get("organization"):
        try:
            queryset = queryset.filter(organization_id=int(filters["organization"]))
        except (TypeError, ValueError):
            errors["organization"] = [_("An organisation is given by its id.")]
    if filters.get("period"):
        try:
            clean_period(filters["period"])
            queryset = queryset.filter(period=filters["period"])
        except InvalidInput as exc:
            errors.update(exc.fields)
    if filters.get("status"):
        if filters["status"] not in DeliveryStatus.values:
            errors["status"] = [_("Unknown status %(value)s.") % {"value": filters["status"]}]
        else:
            queryset = queryset.filter(status=filters["status"])
    if errors:
        raise InvalidInput(fields=errors)
    return queryset.order_by("-queued_at", "-id")


def delivery_counts(queryset: QuerySet[ReportDelivery]) -> dict[str, int]:
    counts = dict.fromkeys(DeliveryStatus.values, 0)
    for row in queryset.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts
