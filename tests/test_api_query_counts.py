"""API lists make a fixed number of queries, whatever the number of rows (no query per row)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bcrm.engagement.models import Interaction
from tests.doors import api_client
from tests.factories import make_contact, make_org, make_participation, make_project

pytestmark = pytest.mark.django_db

# Pinned: auth token + session-free user load, roles, teams, page rows, count, and one prefetch per relation;
# lists of rows on projects one more: the deal walls the reader is outside of (financing.walls).
PINNED = {
    "/api/v1/organizations?page_size=5": 6,
    "/api/v1/participations?page_size=5": 6,
    "/api/v1/interactions?page_size=5": 7,
    "/api/v1/tasks?page_size=5": 6,
}


def populate(team, n):
    project = make_project()
    for i in range(n):
        org = make_org(team=team, legal_name=f"Row {n}-{i}")
        org.tags.create(name=f"tag-{n}-{i}")
        contact = make_contact(org)
        make_participation(project, org)
        interaction = Interaction.objects.create(organization=org, kind="call", occurred_at=timezone.now(),
                                                 summary="call")
        interaction.contacts.add(contact)


def counts(user):
    client = api_client(user)
    client.get("/api/v1/me")  # stamps last_used_at once, outside the measured requests
    result = {}
    for url in PINNED:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        result[url] = len(ctx.captured_queries)
    return result


def test_api_list_query_counts_are_pinned_and_flat(rm, team):
    populate(team, 6)
    small = counts(rm)
    populate(team, 25)
    large = counts(rm)
    assert small == large, "a list makes more queries with more rows"
    for url, pinned in PINNED.items():
        assert large[url] <= pinned, (url, large[url])
