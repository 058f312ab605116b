"""The REST API as a client uses it: bearer tokens, one error shape, status codes that mean what they say."""

import json

import pytest
from django.test import Client

from bcrm.accounts.services import token_create, token_revoke
from bcrm.engagement.models import Interaction
from bcrm.financing.models import ParticipationStatusChange
from bcrm.parties.models import Organization
from tests.doors import Api, off_site_references
from tests.factories import make_contact, make_org, make_project

pytestmark = pytest.mark.django_db


def assert_error(body, code, *paths):
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert {f["path"] for f in body["error"]["fields"]} >= set(paths)


def test_no_token_is_401_with_error_shape(org):
    status, body = Api().call("get", "/organizations")
    assert status == 401
    assert_error(body, "unauthenticated")


def test_revoked_token_stops_working(rm):
    token, raw = token_create(user=rm)
    api = Api(raw=raw)
    assert api.call("get", "/me")[0] == 200
    token_revoke(token=token)
    assert api.call("get", "/me")[0] == 401


def test_token_is_stored_hashed(rm):
    token, raw = token_create(user=rm)
    assert raw not in (token.digest, token.prefix) and len(token.digest) == 64


def test_list_is_paginated_filtered_and_restricted(rm, team, foreign_org):
    for i in range(7):
        make_org(legal_name=f"Alpha {i}", team=team, kind="commercial_bank" if i % 2 else "fund")
    api = Api(rm)
    status, body = api.call("get", "/organizations?page_size=3")
    assert status == 200
    assert body["count"] == 7 and len(body["items"]) == 3 and body["has_next"]
    assert foreign_org.pk not in {o["id"] for o in body["items"]}
    status, body = api.call("get", "/organizations?kind=commercial_bank&page_size=50")
    assert {o["kind"] for o in body["items"]} == {"commercial_bank"} and body["count"] == 3
    status, body = api.call("get", "/organizations?page=3&page_size=3")
    assert len(body["items"]) == 1 and not body["has_next"]


def test_bad_query_parameters_are_422_with_paths(rm):
    status, body = Api(rm).call("get", "/organizations?kind=pirate&page_size=0")
    assert status == 422
    assert_error(body, "invalid", "kind", "page_size")


def test_create_read_update_delete_organisation(lead, team):
    api = Api(lead)
    status, created = api.call("post", "/organizations", {
        "legal_name": "Belt Road Capital", "local_name": "一带一路资本", "kind": "fund", "country": "SG",
        "team": team.pk, "rating_agency": "fitch", "rating_grade": "BBB", "tags": ["dfi-coinvest"],
    })
    assert status == 201, created
    assert created["rating_score"] == 9 and created["tags"] == ["dfi-coinvest"] and created["version"] == 1
    status, read = api.call("get", f"/organizations/{created['id']}")
    assert status == 200 and read["local_name"] == "一带一路资本"
    status, updated = api.call("patch", f"/organizations/{created['id']}", {"version": 1, "sector": "energy"})
    assert status == 200 and updated["sector"] == "energy" and updated["version"] == 2
    assert updated["legal_name"] == "Belt Road Capital"  # PATCH leaves other fields alone
    status, _ = api.call("delete", f"/organizations/{created['id']}")
    assert status == 204
    assert api.call("get", f"/organizations/{created['id']}")[0] == 404


def test_validation_errors_name_each_field(lead):
    status, body = Api(lead).call("post", "/organizations", {"legal_name": "X", "kind": "fund", "country": "ZZ",
                                                               "rating_agency": "sp", "rating_grade": "QQ"})
    assert status == 422
    assert_error(body, "invalid", "country", "rating_grade")
    assert not Organization.objects.exists()


def test_missing_required_field_is_422(lead):
    status, body = Api(lead).call("post", "/organizations", {"kind": "fund"})
    assert status == 422
    assert_error(body, "invalid", "legal_name", "country")


def test_malformed_json_is_an_error_not_a_crash(lead):
    response = Api(lead).request("post", "/organizations", data="{not json", content_type="application/json")
    assert response.status_code in (400, 422)
    assert "error" in response.json()


def test_stale_version_is_409(rm, org):
    api = Api(rm)
    assert api.call("patch", f"/organizations/{org.pk}", {"version": org.version, "notes": "first"})[0] == 200
    status, body = api.call("patch", f"/organizations/{org.pk}", {"version": org.version, "notes": "second"})
    assert status == 409
    assert_error(body, "conflict")
    assert Organization.objects.get(pk=org.pk).notes == "first"


def test_invisible_organisation_is_404_not_403(rm, foreign_org):
    status, body = Api(rm).call("get", f"/organizations/{foreign_org.pk}")
    assert status == 404
    assert_error(body, "not_found")


def test_viewer_gets_403_on_write(viewer, org):
    status, body = Api(viewer).call("patch", f"/organizations/{org.pk}", {"version": org.version, "notes": "x"})
    assert status == 403
    assert_error(body, "permission_denied")


def test_relationship_manager_cannot_delete(rm, org):
    assert Api(rm).call("delete", f"/organizations/{org.pk}")[0] == 403


def test_kyc_fields_hidden_from_relationship_manager(rm, compliance, org):
    assert Api(rm).call("get", f"/organizations/{org.pk}")[1]["kyc_status"] is None
    assert Api(compliance).call("get", f"/organizations/{org.pk}")[1]["kyc_status"] == "not_started"
    status, body = Api(rm).call("patch", f"/organizations/{org.pk}", {"version": org.version, "sanctions_flag": True})
    assert status == 403


def test_contacts_crud_and_bad_email(rm, org):
    api = Api(rm)
    status, contact = api.call("post", f"/organizations/{org.pk}/contacts",
                               {"full_name": "Wang Fang", "local_name": "王芳", "email": "wang.fang@hn.cn",
                                "seniority": "c_level", "language": "zh-hans"})
    assert status == 201, contact
    status, body = api.call("post", f"/organizations/{org.pk}/contacts", {"full_name": "Bad", "email": "not-an-email"})
    assert status == 422
    assert_error(body, "invalid", "email")
    status, body = api.call("post", f"/organizations/{org.pk}/contacts",
                            {"full_name": "Consent", "report_consent": True})
    assert status == 422  # consent needs its date
    status, listed = api.call("get", f"/organizations/{org.pk}/contacts")
    assert [c["full_name"] for c in listed] == ["Wang Fang"]


def test_project_and_participation_flow_dates_each_status_change(lead, org):
    api = Api(lead)
    status, project = api.call("post", "/projects", {
        "name": "Yuedong Offshore Wind", "local_name": "粤东海上风电", "sector": "energy", "country": "CN",
        "currency": "CNY", "total_cost": "12000000000.00", "financing_target": "9000000000.00",
    })
    assert status == 201, project
    assert project["total_cost"] == "12000000000.00"  # money stays a decimal string
    status, part = api.call("post", "/participations", {
        "project": project["id"], "organization": org.pk, "role": "senior_debt", "tranche": "A",
        "amount": "1500000000.00", "currency": "CNY", "status": "soft_interest", "probability": "0.4",
    })
    assert status == 201, part
    status, part = api.call("patch", f"/participations/{part['id']}", {"version": part["version"], "status": "term_sheet"})
    assert status == 200 and part["status"] == "term_sheet"
    steps = list(ParticipationStatusChange.objects.filter(participation_id=part["id"]).values_list("from_status", "to_status"))
    assert steps == [("", "soft_interest"), ("soft_interest", "term_sheet")]
    status, body = api.call("post", "/participations", {
        "project": project["id"], "organization": org.pk, "role": "equity", "amount": "-5", "currency": "CNY",
    })
    assert status == 422
    assert_error(body, "invalid", "amount")


def test_participation_in_invisible_organisation_is_refused(rm, foreign_org):
    project = make_project()
    status, body = Api(rm).call("post", "/participations", {
        "project": project.pk, "organization": foreign_org.pk, "role": "equity", "amount": "1", "currency": "USD",
    })
    assert status == 422
    assert_error(body, "invalid", "organization")


def test_record_interaction_needs_timezone_and_own_contacts(rm, org, foreign_org):
    api = Api(rm)
    mine = make_contact(org)
    theirs = make_contact(foreign_org)
    status, body = api.call("post", "/interactions", {"organization": org.pk, "kind": "meeting", "summary": "Kick-off",
                                                     "occurred_at": "2026-11-02T10:00:00"})
    assert status == 422
    assert_error(body, "invalid", "occurred_at")
    status, body = api.call("post", "/interactions", {"organization": org.pk, "kind": "meeting", "summary": "x",
                                                     "contacts": [theirs.pk]})
    assert status == 422
    assert_error(body, "invalid", "contacts")
    status, created = api.call("post", "/interactions", {
        "organization": org.pk, "kind": "senior_meeting", "summary": "Chairman lunch", "contacts": [mine.pk],
        "occurred_at": "2026-11-02T10:00:00+08:00", "minutes_spent": 90,
    })
    assert status == 201, created
    assert created["contact_ids"] == [mine.pk] and created["owner_id"] == rm.pk
    status, listed = api.call("get", f"/interactions?organization={org.pk}")
    assert [i["id"] for i in listed["items"]] == [created["id"]]
    assert Interaction.objects.get().minutes_spent == 90


def test_service_request_and_task_lifecycle(rm, org):
    api = Api(rm)
    status, req = api.call("post", "/service-requests", {"organization": org.pk, "subject": "Need drawdown schedule",
                                                        "priority": "high"})
    assert status == 201, req
    status, body = api.call("patch", f"/service-requests/{req['id']}",
                            {"version": req["version"], "first_response_at": "2000-01-01T00:00:00+00:00"})
    assert status == 422  # answered before it was opened
    status, open_list = api.call("get", "/service-requests?open=true")
    assert [r["id"] for r in open_list["items"]] == [req["id"]]
    status, task = api.call("post", "/tasks", {"title": "Send term sheet", "organization": org.pk,
                                              "assignee": rm.pk, "due_at": "2026-12-01T09:00:00+08:00"})
    assert status == 201, task
    status, task = api.call("patch", f"/tasks/{task['id']}", {"version": task["version"], "status": "done"})
    assert status == 200 and task["completed_at"] is not None


def test_openapi_document_and_offline_docs(client, viewer):
    client.force_login(viewer)
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/v1/organizations", "/api/v1/projects", "/api/v1/participations", "/api/v1/interactions",
                 "/api/v1/service-requests", "/api/v1/tasks", "/api/v1/organizations/{pk}/contacts"):
        assert path in paths
    docs = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in docs
    assert off_site_references(docs) == []


def test_session_auth_works_for_browser_users(client, rm, org):
    client.force_login(rm)
    response = client.get(f"/api/v1/organizations/{org.pk}")
    assert response.status_code == 200


def test_session_write_needs_csrf(rm, org):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rm)
    response = client.patch(f"/api/v1/organizations/{org.pk}", data=json.dumps({"version": 1, "notes": "x"}),
                            content_type="application/json")
    assert response.status_code in (401, 403)
    assert Organization.objects.get(pk=org.pk).notes == ""


def test_no_two_api_schemas_share_a_name():
    """The OpenAPI document names each schema by its class name: two classes of one name (playbooks' and the
    book's ``StepOut``) silently become one, and one of the endpoints then documents the other's answer."""
    import importlib
    from collections import defaultdict

    from ninja import Schema

    import bcrm.api  # noqa: F401  (every router and its schemas)

    for module in ("bcrm.plans.api", "bcrm.book.api", "bcrm.closing.api", "bcrm.privacy.api", "bcrm.connect.api"):
        importlib.import_module(module)
    seen: dict[str, set[str]] = defaultdict(set)
    stack = list(Schema.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("bcrm."):
            seen[cls.__name__].add(cls.__module__)
    assert not {name: modules for name, modules in seen.items() if len(modules) > 1}


def test_off_site_check_finds_a_cdn_script_and_ignores_a_token_that_spells_cdn():
    page = ('<meta name="csrf" content="7qa1wcdnaw0"><script src="/static/a.js"></script>'
            '<link href="https://cdn.example.com/x.css"><script src="//cdn.example.com/y.js"></script>')
    assert off_site_references(page) == ["https://cdn.example.com/x.css", "//cdn.example.com/y.js"]
