"""The database itself refuses bad rows, whatever door (or bulk loader) they come through."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from bcrm.engagement.models import ServiceRequest, SurveyResponse, Task
from bcrm.financing.models import ExchangeRate
from bcrm.parties.models import Contact, Organization
from tests.factories import make_contact, make_org, make_participation, make_project

pytestmark = pytest.mark.django_db


def refused(fn):
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


def test_participation_amount_cannot_be_negative():
    refused(lambda: make_participation(make_project(), make_org(), amount=Decimal("-1")))


def test_participation_probability_is_between_0_and_1():
    refused(lambda: make_participation(make_project(), make_org(), probability=Decimal("1.5")))


def test_same_role_and_tranche_twice_in_a_project_is_refused():
    project, org = make_project(), make_org()
    make_participation(project, org, role="senior_debt", tranche="A")
    refused(lambda: make_participation(project, org, role="senior_debt", tranche="A"))
    make_participation(project, org, role="senior_debt", tranche="B")  # another tranche is fine


def test_an_organisation_has_at_most_one_primary_contact():
    org = make_org()
    make_contact(org, is_primary=True)
    refused(lambda: make_contact(org, is_primary=True))


def test_report_consent_needs_its_date():
    org = make_org()
    refused(lambda: Contact.objects.create(organization=org, full_name="Li Wei", report_consent=True))


def test_external_id_unique_when_present_and_many_blanks_allowed():
    make_org(external_id="ORG-1")
    make_org(external_id=None)
    make_org(external_id=None)
    refused(lambda: make_org(external_id="ORG-1"))


def test_empty_external_id_is_stored_as_null():
    org = make_org(external_id="")
    assert Organization.objects.get(pk=org.pk).external_id is None


def test_rating_score_follows_grade():
    org = make_org(rating_agency="moodys", rating_grade="Baa3")
    assert org.rating_score == 10


def test_survey_scores_have_their_ranges():
    org = make_org()
    now = timezone.now()
    refused(lambda: SurveyResponse.objects.create(organization=org, nps=11, responded_at=now))
    refused(lambda: SurveyResponse.objects.create(organization=org, csat=0, responded_at=now))
    refused(lambda: SurveyResponse.objects.create(organization=org, responded_at=now))


def test_request_cannot_be_answered_before_it_was_opened():
    org = make_org()
    now = timezone.now()
    refused(lambda: ServiceRequest.objects.create(
        organization=org, subject="Q", opened_at=now, first_response_at=now - timezone.timedelta(hours=1)))


def test_generated_task_needs_its_idempotency_key_and_keys_are_unique():
    now = timezone.now()
    refused(lambda: Task.objects.create(title="Call", due_at=now, source="playbook"))
    Task.objects.create(title="Call", due_at=now, source="playbook", source_key="step:1:org:1:2026-12")
    refused(lambda: Task.objects.create(title="Call", due_at=now, source="playbook", source_key="step:1:org:1:2026-12"))


def test_exchange_rate_is_positive_and_unique_per_day():
    today = timezone.now().date()
    refused(lambda: ExchangeRate.objects.create(currency="CNY", quote="USD", as_of=today, rate=Decimal("0")))
    ExchangeRate.objects.create(currency="CNY", quote="USD", as_of=today, rate=Decimal("0.14"))
    refused(lambda: ExchangeRate.objects.create(currency="CNY", quote="USD", as_of=today, rate=Decimal("0.15")))
