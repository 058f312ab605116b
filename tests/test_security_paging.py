"""Paging that an attacker cannot turn into a 500: every API list validates page and page_size (422 in the
API's error shape), the pages show the last page for a page number past the end.

The API lists are enumerated from the OpenAPI document (every GET operation with a ``page`` query
parameter), so a list added later is covered without touching this file."""

from __future__ import annotations

import re

import pytest

from bcrm.api import api
from bcrm.core.pagination import MAX_PAGE, paginate
from bcrm.parties.models import Organization
from tests import doors
from tests.factories import make_org, make_project, make_user

pytestmark = pytest.mark.django_db

HUGE = "1000000000000000000"


def list_endpoints() -> list[str]:
    schema = api.get_openapi_schema()
    found = []
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if not get:
            continue
        names = {p["name"] for p in get.get("parameters", []) if p.get("in") == "query"}
        if "page" in names and "page_size" in names:
            found.append(path)
    return sorted(found)


ENDPOINTS = list_endpoints()


def test_the_openapi_document_lists_the_paged_endpoints():
    # at least the lists the attacker probed; a new list shows up here by itself
    assert len(ENDPOINTS) >= 16
    assert "/api/v1/organizations" in ENDPOINTS and "/api/v1/tasks" in ENDPOINTS


@pytest.fixture
def api_client(db):
    return doors.api_client(make_user("paging_admin", "admin"))


def concrete(path: str) -> str:
    """Fill path parameters with a value: an unknown id gives 404 (or a 422 for the page), never a 500."""
    def value(match: re.Match) -> str:
        name = match.group(1)
        return "risk" if name == "dimension" else "1"
    return re.sub(r"\{(\w+)\}", value, path)


def assert_invalid(response, path_name: str):
    assert response.status_code == 422, (response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == "invalid"
    assert path_name in {f["path"] for f in body["error"]["fields"]}, body


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("params, field", [
    ({"page": HUGE}, "page"),
    ({"page": str(MAX_PAGE + 1)}, "page"),
    ({"page": "-1"}, "page"),
    ({"page": "0"}, "page"),
    ({"page": "abc"}, "page"),
    ({"page": "1e3"}, "page"),
    ({"page_size": "0"}, "page_size"),
    ({"page_size": "501"}, "page_size"),
    ({"page_size": HUGE}, "page_size"),
    ({"page_size": "ten"}, "page_size"),
])
def test_every_api_list_refuses_a_bad_page_with_422(api_client, path, params, field):
    query = {"dimension": "risk", "entity": "organization", "run_a": "1", "run_b": "1", "from_label": "low",
             "to_label": "high", **params}
    # the page is checked before the path's id is looked up: the 422 comes even for an unknown id
    assert_invalid(api_client.get(concrete(path), query), field)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_api_list_accepts_the_largest_page(api_client, path):
    query = {"dimension": "risk", "entity": "organization", "run_a": "1", "run_b": "1", "from_label": "low",
             "to_label": "high", "page": str(MAX_PAGE), "page_size": "500"}
    response = api_client.get(concrete(path), query)
    assert response.status_code in {200, 404, 422}, (response.status_code, response.content[:300])
    if response.status_code == 200:
        assert response.json()["items"] == []
    elif response.status_code == 422:
        # a missing filter the endpoint needs, never the page
        assert "page" not in {f["path"] for f in response.json()["error"]["fields"]}


def test_organizations_api_huge_page_is_422_not_500(api_client):
    make_org(legal_name="Only One")
    response = api_client.get("/api/v1/organizations", {"page": HUGE})
    assert_invalid(response, "page")


def test_paginate_refuses_a_page_beyond_the_limit():
    from bcrm.core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        paginate(Organization.objects.all(), number=MAX_PAGE + 1, strict=True)
    with pytest.raises(InvalidInput):
        paginate(Organization.objects.all(), number=1, size=501, strict=True)
    assert paginate(Organization.objects.all(), number=MAX_PAGE, strict=True).items == []


def test_paginate_clamped_shows_the_last_page():
    for i in range(7):
        make_org(legal_name=f"Org {i}")
    page = paginate(Organization.objects.order_by("legal_name"), number=40, size=3)
    assert page.number == 3 and [o.legal_name for o in page.items] == ["Org 6"]
    page = paginate(Organization.objects.order_by("legal_name"), number=10**18, size=3)
    assert page.number == 3


@pytest.fixture
def signed_in_admin(client):
    return doors.signed_in(make_user("paging_web_admin", "admin"), client)


@pytest.mark.parametrize("url", ["/clients/", "/tasks/", "/projects/", "/requests/", "/data-quality/", "/data/"])
@pytest.mark.parametrize("page", [HUGE, "99999999999999999999999999", "9" * 5000, "-5", "abc", "7"])
def test_pages_show_the_last_page_for_a_page_beyond_the_end(signed_in_admin, settings, url, page):
    settings.BCRM_PAGE_SIZE = 2
    for i in range(5):
        make_org(legal_name=f"Paged {i}")
    make_project(name="Paged project")
    response = signed_in_admin.get(url, {"page": page})
    assert response.status_code == 200, response.status_code


def test_client_list_past_the_end_shows_the_last_rows(signed_in_admin, settings):
    settings.BCRM_PAGE_SIZE = 2
    for i in range(5):
        make_org(legal_name=f"Paged {i}")
    html = signed_in_admin.get("/clients/", {"page": HUGE, "sort": "name"}).content.decode()
    assert "Paged 4" in html and "Paged 0" not in html
