"""The data-quality report: what evidence each client lacks per dimension, through every door."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from bcrm.accounts.services import token_create
from bcrm.dataquality.selectors import data_quality
from tests.factories import make_org, make_participation, make_project

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
