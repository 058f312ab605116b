"""Issue 15, finding 9: a Content-Security-Policy with no inline script and no eval, the OpenAPI document and
its Swagger UI behind sign-in, and every unknown path under /api/ answered in the API's JSON error shape."""

from __future__ import annotations

import pytest
from django.test import Client

from bcrm.parties.models import Organization
from tests.browsing import PASSWORD, TIMEOUT_MS
from tests.doors import api_client, signed_in
from tests.factories import make_user
from tests.test_monitoring_pages_browser import CHARTS, snapshots  # noqa: F401  (the fixture)

POLICY = {"default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
          "object-src 'none'", "frame-ancestors 'none'", "base-uri 'self'", "form-action 'self'"}


def directives(response) -> set[str]:
    return {part.strip() for part in response["Content-Security-Policy"].split(";") if part.strip()}


@pytest.mark.django_db
def test_every_answer_carries_the_policy():
    user = make_user("csp.reader", "lead")
    for response in (Client().get("/login/"), signed_in(user).get("/clients/"),
                     api_client(user).get("/api/v1/organizations")):
        assert directives(response) == POLICY, response.request["PATH_INFO"]
    assert "unsafe-eval" not in Client().get("/login/")["Content-Security-Policy"]


@pytest.mark.django_db
def test_the_api_docs_and_schema_need_a_signed_in_user_or_a_token(settings):
    anonymous = Client()
    schema = anonymous.get("/api/v1/openapi.json")
    assert schema.status_code == 401 and schema.json()["error"]["code"] == "unauthenticated"
    docs = anonymous.get("/api/v1/docs")
    assert docs.status_code == 302 and docs["Location"].startswith("/login/?next=/api/v1/docs")
    refused = Client(headers={"Authorization": "Bearer bcrm_not-a-token"}).get("/api/v1/openapi.json")
    assert refused.status_code == 401
    viewer = make_user("docs.viewer", "viewer")
    assert "/api/v1/organizations" in api_client(viewer).get("/api/v1/openapi.json").json()["paths"]
    assert signed_in(viewer).get("/api/v1/docs").status_code == 200
    settings.BCRM_API_DOCS_PUBLIC = True
    assert anonymous.get("/api/v1/openapi.json").status_code == 200
    assert anonymous.get("/api/v1/docs").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/organizations/abc", "/api/v1/imports/1.5/rows", "/api/v1/nowhere",
                                  "/api/v2/organizations"])
def test_an_unknown_api_path_is_a_json_404(path):
    response = api_client(make_user("api.reader", "viewer")).get(path)
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_no_template_has_an_inline_script_or_an_event_handler_attribute():
    import re
    from pathlib import Path

    import bcrm

    found = []
    for template in Path(bcrm.__file__).parent.glob("**/templates/**/*.html"):
        source = template.read_text(encoding="utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", source) or re.search(
                r"\son[a-z]+\s*=|javascript:|hx-on", source):
            found.append(template.name)
    assert found == []


@pytest.mark.browser
def test_the_main_pages_run_under_the_policy_without_a_violation(live_server, browser, snapshots):  # noqa: F811
    org = Organization.objects.order_by("pk").first()
    page = browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    reported, errors = [], []
    page.on("console", lambda m: reported.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    # a listener added before any page script: catches violations the console might word differently
    page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                         "function (e) { window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });")
    page.goto(f"{live_server.url}/dashboard/")
    page.fill("input[name=username]", "lead.person")
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url("**/dashboard/")
    waits = {
        "/dashboard/": [f"#chart-{key} .chart-canvas svg" for key in CHARTS],
        "/clients/": ["#org-results"],
        f"/clients/{org.pk}/": ["main h1"],
        "/api/v1/docs": [".swagger-ui .opblock-tag"],
    }
    for path, selectors in waits.items():
        if path != "/dashboard/":
            page.goto(f"{live_server.url}{path}")
        for selector in selectors:
            page.wait_for_selector(selector)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__csp") == [], path
        assert page.evaluate("document.querySelector('meta[http-equiv=Content-Security-Policy]')") is None
    assert reported == [] and errors == []


@pytest.mark.django_db
def test_the_document_agrees_with_the_api():
    admin = make_user("schema.admin", "admin")
    client = api_client(admin)
    schema = client.get("/api/v1/openapi.json").json()
    components = schema["components"]["schemas"]
    # imports and exports: all five entities (the duplicates' two-value enum had taken the name)
    assert components["Entity"]["enum"] == ["organizations", "contacts", "projects", "participations", "interactions"]
    assert components["DuplicateFilters"]["properties"]["entity"]["enum"] == ["organizations", "contacts"]
    # a task without a client: created, and its answer is the documented TaskOut (no "organization" name in it)
    created = client.post("/api/v1/tasks", {"title": "Call back", "due_at": "2026-12-01T09:00:00+08:00"},
                          content_type="application/json")
    assert created.status_code == 201 and created.json()["organization_id"] is None
    documented = schema["paths"]["/api/v1/tasks"]["post"]["responses"]["201"]["content"]["application/json"]
    assert documented["schema"]["$ref"] == "#/components/schemas/TaskOut"
    assert set(components["TaskOut"]["required"]) <= set(created.json())
    assert "organization" not in components["TaskOut"]["properties"]
    # a body that is not JSON: a documented 400 in the error shape
    malformed = client.post("/api/v1/tasks", "{not json", content_type="application/json")
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_body"
    assert "400" in schema["paths"]["/api/v1/tasks"]["post"]["responses"]
    assert "400" not in schema["paths"]["/api/v1/tasks"]["get"]["responses"]
    # a session write without the CSRF token under /api/: JSON, not Django's page
    session = signed_in(admin, Client(enforce_csrf_checks=True))
    refused = session.post("/api/v1/tasks", {"title": "x"}, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"


@pytest.mark.django_db
def test_the_document_names_each_answer_of_an_operation_once():
    """A status given both as a number and as text (ninja's 401 beside the documented "401") is a duplicated key
    in the JSON: Swagger UI then refuses the whole document ("duplicated mapping key")."""
    import json

    raw = api_client(make_user("schema.reader", "admin")).get("/api/v1/openapi.json").content
    duplicated: list[str] = []

    def pairs(items):
        keys = [key for key, _value in items]
        duplicated.extend(key for key in set(keys) if keys.count(key) > 1)
        return dict(items)

    json.loads(raw, object_pairs_hook=pairs)
    assert duplicated == []
