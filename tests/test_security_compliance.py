"""Finding 1 of the security probe (issue 15): KYC and sanctions data must not reach a viewer, an analyst or a
relationship manager through classification explanations, migration reasons, model figures or data-quality
figures. Those roles see that a compliance rule applied, never which field or value; compliance, lead and
admin see everything. One test per door, each over every role."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from bcrm.accounts.services import token_create
from bcrm.parties.models import Organization
from bcrm.segmentation import services
from bcrm.segmentation.compliance import COMPLIANCE_APPLIED
from tests.factories import make_org, make_participation, make_project, make_user

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
HIDDEN = ("viewer", "analyst", "relationship_manager")
SHOWN = ("lead", "compliance", "admin")
ROLES = HIDDEN + SHOWN
# What would name a compliance field or its value, in English and in Chinese.
# The expert risk score's name may show (its value is withheld); its value in an explanation may not.
LEAK = re.compile(r"sanction|kyc|制裁|expert risk score \(|专家风险评分（", re.IGNORECASE)


def aware(days_ago: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days_ago)


@pytest.fixture
def book(db, team):
    """Ten clients of one team with ratings and countries; one of them is hit by sanctions screening in the
    second risk run, one has an expired KYC review."""
    orgs = []
    for i in range(10):
        orgs.append(make_org(legal_name=f"Client {i:02d} Capital", team=team, rating_agency="sp",
                             rating_grade="BBB", rating_score=2 + i * 2, kyc_status="verified",
                             kyc_expires_on=TODAY + dt.timedelta(days=200), country=["SG", "CN", "VN"][i % 3],
                             relationship_since=TODAY - dt.timedelta(days=365 * (1 + i))))
    project = make_project(name="Solar A")
    for i, org in enumerate(orgs):
        make_participation(project, org, amount=Decimal(100000 * (i + 1)), status="funded",
                           status_changed_at=aware(30 + i))
    hit, expired = orgs[0], orgs[1]
    Organization.objects.filter(pk=expired.pk).update(kyc_status="expired",
                                                      kyc_expires_on=TODAY - dt.timedelta(days=30))
    admin = make_user("runner", "admin")
    first = services.run_segmentation(actor=admin, dimension="risk").run
    Organization.objects.filter(pk=hit.pk).update(sanctions_flag=True)
    second = services.run_segmentation(actor=admin, dimension="risk").run
    assert second.assignments.get(organization=hit).explanation.get("r") == 0  # the knock-out rule decided
    return {"orgs": orgs, "hit": hit, "expired": expired, "first": first, "second": second, "team": team}


@pytest.fixture
def readers(book):
    users = {role: make_user(f"reader_{role}", role, team=book["team"]) for role in ROLES}
    return users


def api(user) -> Client:
    _, raw = token_create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def browser_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _text(response) -> str:
    return response.content.decode()


def _check(role: str, text: str, *, shown_marker: str = "Sanctions") -> None:
    if role in HIDDEN:
        found = LEAK.search(text)
        assert found is None, (role, found.group(0), text[:2000])
    else:
        assert shown_marker in text, (role, text[:2000])


@pytest.mark.parametrize("role", ROLES)
def test_run_assignments_api(book, readers, role):
    response = api(readers[role]).get(f"/api/v1/segmentation/runs/{book['second'].pk}/assignments?page_size=100")
    if role == "relationship_manager":
        assert response.status_code == 403  # portfolio figures are not theirs at all
        return
    assert response.status_code == 200, response.content
    _check(role, _text(response))
    hit = next(i for i in response.json()["items"] if i["organization_id"] == book["hit"].pk)
    assert hit["label"] == "high"
    if role in HIDDEN:
        assert str(COMPLIANCE_APPLIED) in hit["why"]
    else:
        assert any("Sanctions hit" in line for line in hit["why"])


@pytest.mark.parametrize("role", ROLES)
def test_organization_labels_api(book, readers, role):
    client = api(readers[role])
    texts = []
    for org in (book["hit"], book["expired"]):
        response = client.get(f"/api/v1/organizations/{org.pk}/labels")
        assert response.status_code == 200, response.content
        texts.append(_text(response))
    _check(role, texts[0])
    risk = next(i for i in json.loads(texts[0]) if i["dimension"] == "risk")
    assert risk["label"] == "high"
    if role in HIDDEN:
        assert str(COMPLIANCE_APPLIED) in risk["why"]
        assert not LEAK.search(texts[1]), texts[1]


@pytest.mark.parametrize("role", ROLES)
def test_client_page(book, readers, role):
    client = browser_for(readers[role])
    response = client.get(f"/clients/{book['hit'].pk}/")
    assert response.status_code == 200
    section = _text(response).split('id="segmentation"', 1)[1].split("</section>", 1)[0]
    _check(role, section)
    if role in HIDDEN:
        assert str(COMPLIANCE_APPLIED) in section
    response = client.get(f"/clients/{book['hit'].pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    section = _text(response).split('id="segmentation"', 1)[1].split("</section>", 1)[0]
    if role in HIDDEN:
        assert not LEAK.search(section), section


@pytest.mark.parametrize("role", ROLES)
def test_model_figures_api(book, readers, role):
    response = api(readers[role]).get(f"/api/v1/organizations/{book['hit'].pk}/models")
    assert response.status_code == 200, response.content
    risk = response.json()["expert_risk_score"]
    if role in HIDDEN:
        assert risk["value"] is None  # the expert score carries the sanctions hit (−100 points)
        assert not LEAK.search(json.dumps(risk, ensure_ascii=False)), risk
    else:
        assert risk["value"] is not None


@pytest.mark.parametrize("role", ROLES)
def test_compare_clients_api_and_page(book, readers, role):
    first, second = book["first"], book["second"]
    before = first.assignments.get(organization=book["hit"]).label
    query = f"a={first.pk}&b={second.pk}&from={before}&to=high"
    response = api(readers[role]).get(f"/api/v1/segmentation/runs/compare/clients?{query}")
    page = browser_for(readers[role]).get(f"/segmentation/risk/compare/?{query}")
    if role == "relationship_manager":
        assert response.status_code == 403
        return
    assert response.status_code == 200, response.content
    items = response.json()["items"]
    assert book["hit"].pk in [i["organization_id"] for i in items]
    _check(role, _text(response))
    assert page.status_code == 200
    html = _text(page).split('id="cell-clients"', 1)[1]
    _check(role, html)
    if role in HIDDEN:
        hit = next(i for i in items if i["organization_id"] == book["hit"].pk)
        assert str(COMPLIANCE_APPLIED) in " ".join(hit["sentences"])


@pytest.mark.parametrize("role", ROLES)
def test_run_detail_api_diagnostics(book, readers, role):
    response = api(readers[role]).get(f"/api/v1/segmentation/runs/{book['second'].pk}")
    if role == "relationship_manager":
        assert response.status_code == 403
        return
    diagnostics = response.json()["diagnostics"]
    names = set(diagnostics.get("missing_by_feature") or {})
    if role in HIDDEN:
        assert not names & {"kyc_valid", "sanctions_flag", "expert_risk_score"}, names
    else:
        assert "kyc_valid" in names


@pytest.mark.parametrize("role", ROLES)
def test_data_quality_doors(book, readers, role):
    client = api(readers[role])
    summary = client.get("/api/v1/data-quality")
    assert summary.status_code == 200
    one = client.get(f"/api/v1/data-quality/organizations/{book['expired'].pk}")
    assert one.status_code == 200
    export = client.get("/api/v1/data-quality/export")
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    page = browser_for(readers[role]).get("/data-quality/?dimension=risk")
    assert page.status_code == 200
    features = {name for d in summary.json()["dimensions"] for name in d["missing_by_feature"]}
    if role in HIDDEN:
        assert not features & {"kyc_valid", "sanctions_flag", "expert_risk_score"}, features
        assert not LEAK.search(_text(summary)) and not LEAK.search(_text(one))
        assert not any(LEAK.search(cell) for row in rows for cell in row[2:])
        main = _text(page).split("<main", 1)[1]
        assert not LEAK.search(main), main[:3000]
    else:
        assert "kyc_valid" in features


def test_the_rule_is_the_parties_rule(readers):
    """The redaction follows the one compliance-field rule of bcrm.accounts.permissions."""
    from bcrm.accounts.permissions import can_see_compliance
    from bcrm.segmentation.compliance import shows_compliance

    for role, user in readers.items():
        assert shows_compliance(user) == can_see_compliance(user) == (role in SHOWN)
