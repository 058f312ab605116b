"""One write path per entity (issue 14, item 1): the single services (UI, API, CLI), their batch form and the
importer apply the same rule functions. Change a rule in the entity's service and the import follows; give the
same bad input to the API and to the import and both answer with the same error code."""

import json

import pytest
from django.test import Client

from bcrm.accounts.services import token_create
from bcrm.audit.models import AuditEntry
from bcrm.core.batch import BatchRefused
from bcrm.core.errors import InvalidInput, PermissionDenied
from bcrm.dataio.choices import JobStatus
from bcrm.dataio.models import ImportRow
from bcrm.engagement.models import Interaction
from bcrm.engagement.services import interaction_create
from bcrm.financing.models import ParticipationStatusChange
from bcrm.financing.services import participation_create
from bcrm.parties import services
from bcrm.parties.models import Organization
from tests.factories import make_project
from tests.fixtures_dataio.helpers import reasons, run_import, write_csv

pytestmark = pytest.mark.django_db

ORG_HEADER = ["legal_name", "kind", "country", "rating_agency", "rating_grade", "sanctions_flag", "team", "tags"]


@pytest.fixture(autouse=True)
def import_dir(settings, tmp_path):
    settings.BCRM_IMPORT_DIR = tmp_path / "imports"
    return settings.BCRM_IMPORT_DIR


def api_post(user, path, body):
    _, raw = token_create(user=user)
    response = Client().post(f"/api/v1{path}", data=json.dumps(body), content_type="application/json",
                             HTTP_AUTHORIZATION=f"Bearer {raw}")
    return response.status_code, response.json()


def row_errors(job, number):
    return ImportRow.objects.get(job=job, number=number).errors


def org_csv(tmp_path, *rows, name="o.csv"):
    return write_csv(tmp_path / name, [ORG_HEADER, *[list(r) for r in rows]])


# ------------------------------------------------------------------ a rule changed in the service changes import

def test_compliance_rule_changed_in_the_service_changes_the_import(tmp_path, lead, monkeypatch):
    row = ["Flagged Co", "fund", "CN", "", "", "yes", "", ""]
    job = run_import(lead, "organizations", org_csv(tmp_path, row))
    assert job.status == JobStatus.DONE and Organization.objects.get().sanctions_flag
    Organization.objects.all().delete()

    def stricter(actor, data, current):  # nobody sets a sanctions hit by hand any more
        if data.get("sanctions_flag"):
            raise PermissionDenied("Sanctions hits come from the screening feed only.")

    monkeypatch.setattr("bcrm.parties.services.check_compliance_fields", stricter)
    job = run_import(lead, "organizations", org_csv(tmp_path, row, name="o2.csv"))
    assert job.status == JobStatus.ROLLED_BACK and not Organization.objects.exists()
    assert "screening feed" in reasons(job)[2]
    assert row_errors(job, 2) == [{"field": "sanctions_flag", "message": "Sanctions hits come from the screening feed only.",
                                   "code": "permission_denied"}]
    with pytest.raises(PermissionDenied, match="screening feed"):
        services.organization_create(actor=lead, data={"legal_name": "Flagged Co", "kind": "fund", "country": "CN",
                                                       "sanctions_flag": True})


def test_team_rule_changed_in_the_service_changes_the_import(tmp_path, lead, team, monkeypatch):
    row = ["Desk Client", "fund", "CN", "", "", "", team.name, ""]
    assert run_import(lead, "organizations", org_csv(tmp_path, row)).status == JobStatus.DONE
    Organization.objects.all().delete()

    def frozen(actor, data, current):
        if data.get("team") is not None:
            raise InvalidInput(fields={"team": ["Teams are assigned by the desk head."]})

    monkeypatch.setattr("bcrm.parties.services.check_team", frozen)
    job = run_import(lead, "organizations", org_csv(tmp_path, row, name="o2.csv"))
    assert job.status == JobStatus.ROLLED_BACK
    assert row_errors(job, 2) == [{"field": "team", "message": "Teams are assigned by the desk head.", "code": "invalid"}]
    with pytest.raises(InvalidInput):
        services.organization_create(actor=lead, data={"legal_name": "Desk Client", "kind": "fund", "country": "CN",
                                                       "team": team})


def test_rating_score_rule_changed_in_one_place_changes_every_door(tmp_path, lead, monkeypatch):
    monkeypatch.setattr("bcrm.parties.ratings.rating_score", lambda agency, grade: 7 if grade else None)
    job = run_import(lead, "organizations", org_csv(tmp_path, ["Imported", "fund", "CN", "sp", "AAA", "", "", ""]))
    assert job.status == JobStatus.DONE, reasons(job)
    single = services.organization_create(actor=lead, data={"legal_name": "Typed in", "kind": "fund", "country": "CN",
                                                            "rating_agency": "sp", "rating_grade": "AAA"})
    assert dict(Organization.objects.values_list("legal_name", "rating_score")) == {"Imported": 7, "Typed in": 7}
    assert single.rating_score == 7


def test_search_text_and_tags_follow_the_service(tmp_path, lead, monkeypatch):
    monkeypatch.setattr("bcrm.parties.services.search_text_of", lambda parts: "|".join(p for p in parts if p).upper())
    monkeypatch.setattr("bcrm.parties.services.TAG_SEPARATORS", __import__("re").compile("/"))
    job = run_import(lead, "organizations", org_csv(tmp_path, ["Alpha", "fund", "CN", "", "", "", "", "b/a, c"]))
    assert job.status == JobStatus.DONE, reasons(job)
    org = Organization.objects.get()
    assert org.search_text == "ALPHA"
    assert sorted(t.name for t in org.tags.all()) == ["a, c", "b"]


def test_default_owner_and_ladder_steps_follow_the_service(tmp_path, lead, org, monkeypatch):
    monkeypatch.setattr("bcrm.engagement.services.interaction_default_owner", lambda actor: None)
    rows = [["organization", "kind", "occurred_at", "summary"], ["Huaneng Capital", "call", "2026-03-05 10:00", "Call"]]
    assert run_import(lead, "interactions", write_csv(tmp_path / "i.csv", rows)).status == JobStatus.DONE
    interaction_create(actor=lead, organization=org, data={"kind": "call", "summary": "Typed in"})
    assert list(Interaction.objects.values_list("owner", flat=True)) == [None, None]

    from bcrm.financing import services as financing

    real = financing.status_step
    monkeypatch.setattr("bcrm.financing.services.status_step",
                        lambda pk, before, after, actor, at: real(pk, before or "(new)", after, actor, at))
    project = make_project(name="戈壁光伏")
    rows = [["project", "organization", "role", "amount", "currency"], ["戈壁光伏", "Huaneng Capital", "equity", "100", "USD"]]
    assert run_import(lead, "participations", write_csv(tmp_path / "p.csv", rows)).status == JobStatus.DONE
    participation_create(actor=lead, data={"project": project, "organization": org, "role": "senior_debt",
                                           "amount": 5, "currency": "USD"})
    assert list(ParticipationStatusChange.objects.values_list("from_status", flat=True)) == ["(new)", "(new)"]


# ------------------------------------------------------------------ the same bad input, the same code at every door

def test_compliance_fields_same_code_from_api_and_import(tmp_path, rm):
    status, body = api_post(rm, "/organizations", {"legal_name": "Mine", "kind": "fund", "country": "CN",
                                                   "sanctions_flag": True})
    assert status == 403 and body["error"]["code"] == "permission_denied"
    job = run_import(rm, "organizations", org_csv(tmp_path, ["Mine", "fund", "CN", "", "", "yes", "", ""]))
    assert job.status == JobStatus.ROLLED_BACK
    [error] = row_errors(job, 2)
    assert error["code"] == "permission_denied" and error["message"] == body["error"]["message"]
    assert error["field"] == "sanctions_flag"


def test_someone_elses_team_same_code_from_api_and_import(tmp_path, rm, other_team):
    """The team rule used to be missing from the import: a relationship manager could file a client under any team."""
    status, body = api_post(rm, "/organizations", {"legal_name": "Mine", "kind": "fund", "country": "CN",
                                                   "team": other_team.pk})
    assert status == 422 and body["error"]["code"] == "invalid"
    [field] = body["error"]["fields"]
    job = run_import(rm, "organizations", org_csv(tmp_path, ["Mine", "fund", "CN", "", "", "", other_team.name, ""]))
    assert job.status == JobStatus.ROLLED_BACK and not Organization.objects.exists()
    assert row_errors(job, 2) == [{"field": "team", "message": field["message"], "code": "invalid"}]


def test_model_rule_same_code_and_message_from_api_and_import(tmp_path, lead):
    status, body = api_post(lead, "/organizations", {"legal_name": "Graded", "kind": "fund", "country": "CN",
                                                     "rating_agency": "sp", "rating_grade": "ZZZ"})
    assert status == 422 and body["error"]["code"] == "invalid"
    [field] = body["error"]["fields"]
    job = run_import(lead, "organizations", org_csv(tmp_path, ["Graded", "fund", "CN", "sp", "ZZZ", "", "", ""]))
    assert job.status == JobStatus.ROLLED_BACK and not Organization.objects.exists()
    assert row_errors(job, 2) == [{"field": field["path"], "message": field["message"], "code": "invalid"}]


# ------------------------------------------------------------------ the batch service: all or nothing, bulk SQL

def test_batch_create_reports_every_bad_row_and_writes_nothing(rm, other_team):
    rows = [{"legal_name": "Good", "kind": "fund", "country": "CN"},
            {"legal_name": "Flagged", "kind": "fund", "country": "CN", "sanctions_flag": True},
            {"legal_name": "Elsewhere", "kind": "fund", "country": "CN", "team_id": other_team.pk},
            {"legal_name": "", "kind": "fund", "country": "CN"}]
    with pytest.raises(BatchRefused) as refused:
        services.organization_create_many(actor=rm, rows=rows)
    found = {(e["row"], e["field"], e["code"]) for e in refused.value.rows}
    assert {(2, "sanctions_flag", "permission_denied"), (3, "team", "invalid"), (4, "legal_name", "invalid")} <= found
    assert not any(e["row"] == 1 for e in refused.value.rows)
    assert not Organization.objects.exists()
    assert not AuditEntry.objects.filter(content_type__model="organization").exists()


def test_batch_create_writes_with_the_single_services_rules(rm, team, django_assert_max_num_queries):
    rows = [{"legal_name": f"Client {i}", "local_name": f"客户{i}", "kind": "fund", "country": "CN", "team_id": team.pk,
             "rating_agency": "sp", "rating_grade": "A", "tags": ["core", "energy"] if i % 2 else "asia；core"}
            for i in range(30)]
    ids = services.organization_create_many(actor=rm, rows=rows)
    orgs = Organization.objects.filter(pk__in=ids).order_by("pk")
    assert orgs.count() == 30
    first = orgs[0]
    assert (first.relationship_manager, first.rating_score, first.search_text) == (rm, 6, "client 0 客户0")
    assert sorted(t.name for t in first.tags.all()) == ["asia", "core"]
    assert sorted(t.name for t in orgs[1].tags.all()) == ["core", "energy"]
    entries = AuditEntry.objects.filter(action="create", content_type__model="organization")
    assert entries.count() == 30 and entries.filter(actor=rm).count() == 30
    assert entries.get(object_id=str(first.pk)).changes["legal_name"] == [None, "Client 0"]
