"""The data-quality report: what evidence each client lacks per dimension, through every door."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from html import unescape

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from bcrm.accounts.services import token_create
from bcrm.dataquality.selectors import data_quality
from tests.factories import make_org, make_participation, make_project, make_user

TODAY = timezone.localdate()


@pytest.fixture
def clients(db, team, other_team):
    """One client with full evidence, one with none, one in another team with a formula-like name."""
    full = make_org(legal_name="Complete Capital", team=team, rating_agency="sp", rating_grade="A", rating_score=6,
                    kyc_status="verified", country="SG", relationship_since=TODAY - dt.timedelta(days=3000))
    make_participation(make_project(name="P1"), full, amount=Decimal("1000"), status="funded",
                       status_changed_at=timezone.now() - dt.timedelta(days=20))
    empty = make_org(legal_name="Blank Slate", team=team, country="ZZ")
    sneaky = make_org(legal_name="=HYPERLINK(\"http://x\")", team=other_team, country="CN")
    return {"full": full, "empty": empty, "sneaky": sneaky}


def test_report_names_what_each_client_lacks(clients, admin):
    report = data_quality(actor=admin)
    at = report.population.ids.tolist()
    full, empty = at.index(clients["full"].pk), at.index(clients["empty"].pk)
    rows = {r["dimension"]: r for r in report.client_rows(empty)}
    assert not rows["value"]["classifiable"] and "history" in rows["value"]["failing"]
    assert "country_risk" in rows["risk"]["missing"] and "feature:country_risk" in rows["risk"]["failing"]
    assert not rows["relationship"]["classifiable"]
    full_rows = {r["dimension"]: r for r in report.client_rows(full)}
    assert full_rows["value"]["classifiable"] and full_rows["risk"]["classifiable"]
    assert full_rows["risk"]["completeness"] == 1.0
    summary = report.summary()
    value = next(d for d in summary["dimensions"] if d["dimension"] == "value")
    assert summary["clients"] == 3 and value["classifiable"] == 1 and value["insufficient"] == 2


def test_a_relationship_manager_sees_only_their_clients(clients, rm):
    report = data_quality(actor=rm)
    assert sorted(report.population.ids.tolist()) == sorted([clients["full"].pk, clients["empty"].pk])


def test_api_summary_client_and_export(clients, admin, rm):
    _t, raw = token_create(actor=None, user=admin, name="t")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    summary = api.get("/api/v1/data-quality").json()
    assert summary["clients"] == 3 and len(summary["dimensions"]) == 3
    one = api.get(f"/api/v1/data-quality/organizations/{clients['empty'].pk}").json()
    assert [r["dimension"] for r in one] == ["value", "risk", "relationship"]
    export = api.get("/api/v1/data-quality/export")
    text = b"".join(export.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["organization_id", "legal_name", "dimension"] and len(rows) == 1 + 3 * 3
    names = {r[1] for r in rows[1:]}
    assert "'=HYPERLINK(\"http://x\")" in names, "a formula-looking name is neutralised"
    _t, rm_raw = token_create(actor=None, user=rm, name="t")
    rm_api = Client(HTTP_AUTHORIZATION=f"Bearer {rm_raw}")
    assert rm_api.get(f"/api/v1/data-quality/organizations/{clients['sneaky'].pk}").status_code == 404
    assert rm_api.get("/api/v1/data-quality").json()["clients"] == 2


def test_cli_prints_summary_and_exports(clients, tmp_path):
    out = io.StringIO()
    target = tmp_path / "dq.csv"
    call_command("quality", "--json", "--export", str(target), stdout=out)
    data = json.loads(out.getvalue())
    assert data["clients"] == 3
    assert target.read_text(encoding="utf-8-sig").count("\n") == 1 + 9


def test_page_lists_clients_lacking_evidence(clients, client, viewer):
    client.force_login(viewer)
    page = client.get("/data-quality/?dimension=risk")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Blank Slate" in body and "Complete Capital" not in body.split("Clients lacking evidence")[1]
    assert client.get("/data-quality/?dimension=bogus&page=x").status_code == 200
    client.logout()
    assert client.get("/data-quality/").status_code == 302


# --- the list of clients lacking evidence: one selector for the page and the API -----------------------------------

def api_for(user) -> Client:
    _t, raw = token_create(actor=None, user=user, name="t")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_api_lists_the_clients_lacking_evidence_worst_first_like_the_page(clients, admin, client):
    body = api_for(admin).get("/api/v1/data-quality/clients", {"dimension": "risk"}).json()
    names = [item["legal_name"] for item in body["items"]]
    assert "Blank Slate" in names and "Complete Capital" not in names      # complete on risk: not listed
    assert body["count"] == len(names) and body["page"] == 1 and body["page_size"] == 50 and not body["has_next"]
    first = body["items"][0]
    assert not first["classifiable"] and first["failing"] and first["lacks"]
    flags = [item["classifiable"] for item in body["items"]]
    assert flags == sorted(flags)                                          # the unclassifiable first
    blank = next(i for i in body["items"] if i["legal_name"] == "Blank Slate")
    assert blank["organization_id"] == clients["empty"].pk and "country_risk" in blank["missing"]
    # the page lists the same clients in the same order
    client.force_login(admin)
    html = unescape(client.get("/data-quality/?dimension=risk").content.decode()).split("Clients lacking evidence")[1]
    assert all(name in html for name in names)
    assert sorted(names, key=html.find) == names


def test_api_list_pages_with_the_shared_rules(clients, admin):
    api = api_for(admin)
    full = api.get("/api/v1/data-quality/clients", {"dimension": "value"}).json()
    n = full["count"]
    assert n == len(full["items"]) >= 2
    pages = [api.get("/api/v1/data-quality/clients", {"dimension": "value", "page_size": 1, "page": number}).json()
             for number in range(1, n + 1)]
    assert [p["has_next"] for p in pages] == [True] * (n - 1) + [False]
    assert {p["count"] for p in pages} == {n} and {p["page_size"] for p in pages} == {1}
    assert [item for p in pages for item in p["items"]] == full["items"]
    past = api.get("/api/v1/data-quality/clients", {"dimension": "value", "page": 9}).json()
    assert past["items"] == [] and past["count"] == n and past["page"] == 9 and not past["has_next"]


@pytest.mark.parametrize("query", [
    {"page": 0}, {"page": "x"}, {"page": 1_000_001}, {"page_size": 0}, {"page_size": 501}, {"dimension": "size"},
])
def test_api_list_refuses_bad_paging_and_filters_with_422(clients, admin, query):
    response = api_for(admin).get("/api/v1/data-quality/clients", query)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"


def test_api_list_shows_what_each_reader_may_see(clients, rm, viewer, compliance, lead):
    def listed(user):
        return {i["legal_name"]: i for i in api_for(user).get(
            "/api/v1/data-quality/clients", {"dimension": "relationship"}).json()["items"]}

    assert set(listed(viewer)) == set(listed(lead)) >= {"Blank Slate", "=HYPERLINK(\"http://x\")"}
    assert "=HYPERLINK(\"http://x\")" not in listed(rm) and "Blank Slate" in listed(rm)   # another team's client
    for user in (viewer, rm):   # compliance fields: null unless compliance, lead or admin
        assert all(i["kyc_status"] is None and i["sanctions_flag"] is None for i in listed(user).values())
    for user in (compliance, lead):
        blank = listed(user)["Blank Slate"]
        assert blank["kyc_status"] == clients["empty"].kyc_status and blank["sanctions_flag"] is not None
    nobody = make_user("nobody")
    assert api_for(nobody).get("/api/v1/data-quality/clients").json()["count"] == 0
    assert Client().get("/api/v1/data-quality/clients").status_code == 401


@pytest.mark.parametrize("as_of", ["0001-07-02", "1899-12-31", "9999-12-31"])
def test_a_day_at_the_calendars_ends_is_refused_not_an_overflow(db, as_of):
    """Found by schemathesis: as_of=0001-07-02 overflowed a year-long window (500); now a 422 that says the range,
    on the reports and on a classification run alike, and nothing is written."""
    from bcrm.segmentation.models import Run
    from tests.doors import Api

    api = Api(make_user("quality.admin", "admin"))
    for path in ("/data-quality", "/data-quality/clients"):
        status, body = api.call("get", f"{path}?as_of={as_of}")
        assert status == 422 and "1900-01-01" in json.dumps(body, ensure_ascii=False), (path, body)
    status, body = api.call("post", "/segmentation/runs", {"dimension": "value", "as_of": as_of})
    assert status == 422 and "as_of" in json.dumps(body), body
    assert not Run.objects.exists()


@pytest.mark.parametrize("path", ["/projects", "/organizations", "/exports/organizations"])
def test_a_search_with_a_nul_character_is_refused_not_a_database_error(db, path):
    """Found by schemathesis on PostgreSQL: GET /projects?q=%00… was a 500 (its text cannot hold NUL)."""
    from tests.doors import Api

    api = Api(make_user("nul.admin", "admin"))
    status, body = api.call("get", f"{path}?q=%00%29Z")
    assert status == 422, (path, status, body)


def test_the_project_list_selector_refuses_a_nul_from_any_door(db):
    from bcrm.core.errors import InvalidInput
    from bcrm.financing.selectors import project_list

    with pytest.raises(InvalidInput):
        list(project_list(actor=make_user("nul.lead", "lead"), filters={"q": "a\x00b"}))
