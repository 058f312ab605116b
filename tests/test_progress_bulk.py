"""Queueing in bulk: thousands of organisations in two statements, idempotent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bcrm.financing.models import Participation
from bcrm.parties.models import Contact, Organization
from bcrm.progress import services
from bcrm.progress.models import ReportDelivery
from tests.factories import make_project

pytestmark = pytest.mark.django_db
N_ORGS = 6_000  # two contacts each, one without an e-mail; every tenth participation declined


def test_queue_for_thousands_of_organisations_in_a_bounded_number_of_queries():
    now = timezone.now()
    projects = [make_project(name=f"Bulk {i}") for i in range(2)]
    orgs = Organization.objects.bulk_create(
        [Organization(legal_name=f"Bulk Org {i:05d}", kind="fund", country="CN") for i in range(N_ORGS)])
    if orgs[0].pk is None:  # backends that do not return ids from bulk inserts
        orgs = list(Organization.objects.filter(legal_name__startswith="Bulk Org ").order_by("pk"))
    Participation.objects.bulk_create([
        Participation(project=projects[i % 2], organization=org, role="equity", amount=Decimal("1000"), currency="USD",
                      status="declined" if i % 10 == 0 else "soft_interest", status_changed_at=now)
        for i, org in enumerate(orgs)])
    given = now - dt.timedelta(days=30)
    Contact.objects.bulk_create([
        Contact(organization=org, full_name=f"P{j} {org.legal_name}", email=f"p{j}.{org.pk}@bulk.example" if j else "",
                report_consent=True, consent_given_at=given, language="en")
        for org in orgs for j in range(2)])

    ids = Organization.objects.filter(legal_name__startswith="Bulk Org ").values_list("pk", flat=True)
    with CaptureQueriesContext(connection) as queries:
        result = services.queue_progress_reports(period="2026-04", organization_ids=ids, now=now)
    active = N_ORGS - N_ORGS // 10
    assert (result.created, result.skipped_no_email, result.skipped_no_consent) == (active, active, 0)
    assert ReportDelivery.objects.count() == active
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 2  # the counts, then one INSERT … SELECT: no row goes through Python
    again = services.queue_progress_reports(period="2026-04", organization_ids=ids, now=now)
    assert (again.created, again.already_queued) == (0, active)
