"""Progress reports through each door: services' permissions, the REST API, `bcrm report progress` and
the staff pages."""

from __future__ import annotations

import datetime as dt
import json
from functools import partial

import pytest
from django.core.management import CommandError
from django.urls import reverse

from bcrm.core.errors import NotFound, PermissionDenied
from bcrm.progress import selectors, services
from bcrm.progress.demo import demo_progress
from bcrm.progress.models import Milestone, ProjectUpdate, ReportDelivery
from tests.doors import Api, command, signed_in
from tests.factories import make_project
from tests.progress_fixtures import PERIOD, consenting, solar_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def solar(team):
    return solar_project(team)


@pytest.fixture
def project(solar):
    return solar[0]


# Permissions in the services and selectors --------------------------------------------------------------------


def test_rm_of_the_team_edits_milestones_and_updates(rm, project):
    milestone = services.milestone_create(actor=rm, project=project, data={"name": "COD", "due_on": dt.date(2027, 1, 1)})
    assert milestone.position == 4  # after the four of the fixture
    services.milestone_update(actor=rm, milestone=milestone, data={"completed_on": dt.date(2027, 1, 5)},
                              expected_version=milestone.version)
    update = services.update_create(actor=rm, project=project, data={"body": "  Site visit.  "})
    assert update.body == "Site visit." and update.author == rm
    services.update_delete(actor=rm, update=update)  # one's own note
    assert not ProjectUpdate.objects.filter(pk=update.pk).exists()


def test_viewer_cannot_edit_milestones_or_send(viewer, project):
    with pytest.raises(PermissionDenied):
        services.milestone_create(actor=viewer, project=project, data={"name": "X", "due_on": dt.date(2027, 1, 1)})
    with pytest.raises(PermissionDenied):
        services.report_send(actor=viewer, project=project, period=PERIOD)
    assert selectors.project_get_for_user(user=viewer, pk=project.pk) == project  # viewers may read


def test_an_rm_outside_the_projects_team_does_not_see_it(other_rm, project):
    with pytest.raises(NotFound):
        selectors.project_get_for_user(user=other_rm, pk=project.pk)
    with pytest.raises(NotFound):
        services.milestone_create(actor=other_rm, project=project, data={"name": "X", "due_on": dt.date(2027, 1, 1)})
    with pytest.raises(NotFound):
        selectors.milestone_get_for_user(user=other_rm, pk=Milestone.objects.filter(project=project).first().pk)
    assert not selectors.deliveries(other_rm).exists()


def test_empty_milestone_name_and_update_body_are_refused(rm, project):
    from bcrm.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        services.milestone_create(actor=rm, project=project, data={"name": "", "due_on": dt.date(2027, 1, 1)})
    assert "name" in caught.value.fields
    with pytest.raises(InvalidInput) as caught:
        services.update_create(actor=rm, project=project, data={"body": "   "})
    assert "body" in caught.value.fields
    with pytest.raises(InvalidInput):
        services.milestone_create(actor=rm, project=project, data={"name": "X", "due_on": "soon"})
    with pytest.raises(InvalidInput) as caught:
        services.milestone_create(actor=rm, project=project, data={"name": "X", "due_on": dt.date(2027, 1, 1),
                                                                  "project": 5})
    assert "project" in caught.value.fields


# API ----------------------------------------------------------------------------------------------------------


def test_api_report_as_json_html_and_pdf(rm, project):
    api = Api(rm)
    body = api.request("get", f"/projects/{project.pk}/progress-report?period={PERIOD}").json()
    assert body["financing"]["committed"] == "657142.86" and body["period"] == PERIOD
    assert [m["state"] for m in body["milestones"]] == ["done", "overdue", "due", "overdue"]
    html = api.request("get", f"/projects/{project.pk}/progress-report?period={PERIOD}&language=zh-hans&format=html")
    assert html.status_code == 200 and html["Content-Type"].startswith("text/html") and "并网协议" in html.content.decode()
    pdf = api.request("get", f"/projects/{project.pk}/progress-report?period={PERIOD}&format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "progress-qinghai-solar-power-station-2026-04.pdf" in pdf["Content-Disposition"]


@pytest.mark.parametrize(("query", "path"), [("period=2026-13", "period"), ("language=fr", "language"),
                                             ("format=docx", "format")])
def test_api_bad_report_input_is_422_with_the_field(rm, project, query, path):
    response = Api(rm).request("get", f"/projects/{project.pk}/progress-report?{query}")
    assert response.status_code == 422
    assert path in [f["path"] for f in response.json()["error"]["fields"]]


def test_api_unknown_or_invisible_project_is_404(rm, other_rm, project):
    assert Api(rm).request("get", "/projects/999999/progress-report").status_code == 404
    assert Api(other_rm).request("get", f"/projects/{project.pk}/progress-report").status_code == 404
    assert Api(other_rm).request("get", f"/projects/{project.pk}/milestones").status_code == 404


def test_api_send_then_the_delivery_log(rm, viewer, solar, smtp_server):
    project, orgs = solar
    consenting(orgs["a"], full_name="Lisa Chen", email="lisa@hn.example")
    consenting(orgs["b"], full_name="Fund Person", email="fund@silk.example", language="zh-hans")
    denied = Api(viewer).request("post", f"/projects/{project.pk}/progress-report/send", {"period": PERIOD})
    assert denied.status_code == 403 and not ReportDelivery.objects.exists()
    bad = Api(rm).request("post", f"/projects/{project.pk}/progress-report/send", {"period": "2026-13"})
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["path"] == "period"

    sent = Api(rm).request("post", f"/projects/{project.pk}/progress-report/send", {"period": PERIOD})
    assert sent.status_code == 200
    assert sent.json()["created"] == 2 and sent.json()["sent"]["sent"] == 2
    assert len(smtp_server.messages) == 2
    again = Api(rm).request("post", f"/projects/{project.pk}/progress-report/send", {"period": PERIOD}).json()
    assert (again["created"], again["already_queued"], again["sent"]["sent"]) == (0, 2, 0)
    assert len(smtp_server.messages) == 2

    log = Api(viewer).request("get", f"/report-deliveries?project={project.pk}&status=sent&period={PERIOD}").json()
    assert log["count"] == 2 and {d["email"] for d in log["items"]} == {"lisa@hn.example", "fund@silk.example"}
    assert all(d["interaction_id"] for d in log["items"])
    assert Api(viewer).request("get", "/report-deliveries?status=bogus").status_code == 422
    assert Api(viewer).request("get", "/report-deliveries?period=2026-13").status_code == 422


def test_api_milestones_and_updates(rm, viewer, project):
    api = Api(rm)
    created = api.request("post", f"/projects/{project.pk}/milestones", {"name": "COD", "local_name": "商业运营",
                                                                      "due_on": "2027-01-01"})
    assert created.status_code == 201
    milestone = created.json()
    patched = api.request("patch", f"/milestones/{milestone['id']}", {"completed_on": "2027-01-03",
                                                                   "version": milestone["version"]})
    assert patched.status_code == 200 and patched.json()["completed_on"] == "2027-01-03"
    stale = api.request("patch", f"/milestones/{milestone['id']}", {"name": "x", "version": milestone["version"]})
    assert stale.status_code == 409
    assert api.request("patch", f"/milestones/{milestone['id']}", {"name": None}).status_code == 422
    assert Api(viewer).request("post", f"/projects/{project.pk}/milestones",
                            {"name": "X", "due_on": "2027-01-01"}).status_code == 403
    assert Api(viewer).request("delete", f"/milestones/{milestone['id']}").status_code == 403
    assert len(api.request("get", f"/projects/{project.pk}/milestones").json()) == 5
    assert api.request("delete", f"/milestones/{milestone['id']}").status_code == 204

    note = api.request("post", f"/projects/{project.pk}/updates", {"body": "签约完成", "language": "zh-hans"})
    assert note.status_code == 201 and note.json()["language"] == "zh-hans"
    assert api.request("post", f"/projects/{project.pk}/updates", {"body": ""}).status_code == 422
    listed = api.request("get", f"/projects/{project.pk}/updates").json()
    assert listed["count"] == 5 and listed["items"][0]["body"] == "签约完成"


# CLI ----------------------------------------------------------------------------------------------------------


run = partial(command, "report")  # `bcrm report …`; answers its stdout


def test_cli_finds_the_project_by_id_external_id_and_name(project):
    assert "657,142.86 of 1,000,000.00 CNY" in run("progress", str(project.pk), "--period", PERIOD)
    assert json.loads(run("progress", "PRJ-QH-01", "--period", PERIOD, "--json"))["project_id"] == project.pk
    assert json.loads(run("progress", "qinghai solar power station", "--period", PERIOD, "--json"))["project_id"] == project.pk
    assert json.loads(run("progress", "青海光伏电站", "--period", PERIOD, "--json"))["project_id"] == project.pk


def test_cli_writes_a_pdf_and_html(project, tmp_path):
    pdf, html = tmp_path / "r.pdf", tmp_path / "r.html"
    out = run("progress", "PRJ-QH-01", "--period", PERIOD, "--language", "zh-hans", "--pdf", str(pdf), "--html", str(html))
    assert f"wrote PDF to {pdf}" in out
    assert pdf.read_bytes().startswith(b"%PDF") and "青海光伏电站" in html.read_text(encoding="utf-8")


def test_cli_default_period_is_the_previous_month(project):
    from django.utils import timezone

    from bcrm.progress.periods import previous_period

    assert json.loads(run("progress", str(project.pk), "--json"))["period"] == previous_period(timezone.localdate())


@pytest.mark.parametrize(("args", "message"), [
    (["progress", "PRJ-QH-01", "--period", "2026-13"], "is not a month"),
    (["progress", "No Such Project"], "No project 'No Such Project'"),
    (["progress", "PRJ-QH-01", "--period", PERIOD, "--pdf", "/nonexistent-dir/r.pdf"], "Cannot write /nonexistent-dir/r.pdf"),
])
def test_cli_errors_are_clear(project, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_cli_ambiguous_name_lists_the_candidates(project):
    twin = make_project(name="Qinghai Solar Power Station", external_id="PRJ-QH-02")
    with pytest.raises(CommandError) as caught:
        run("progress", "Qinghai Solar Power Station")
    assert "several projects" in str(caught.value) and str(twin.pk) in str(caught.value) and "PRJ-QH-01" in str(caught.value)


def test_cli_send(solar, smtp_server):
    project, orgs = solar
    consenting(orgs["a"], full_name="Lisa Chen", email="lisa@hn.example")
    out = run("progress", str(project.pk), "--period", PERIOD, "--send")
    assert "queued 1" in out and "e-mailed 1" in out
    assert [m["To"] for m in smtp_server.messages] == ["lisa@hn.example"]


# Pages --------------------------------------------------------------------------------------------------------


def test_progress_page_shows_the_preview_chart_and_forms(rm, project):
    page = signed_in(rm).get(reverse("progress:project_progress", args=[project.pk]) + f"?period={PERIOD}")
    body = page.content.decode()
    assert page.status_code == 200
    assert "data-vega-spec" in body and "Grid connection agreement" in body and "657,143" in body
    assert reverse("progress:report_send", args=[project.pk]) in body and 'name="ms-name"' in body


def test_progress_page_for_a_viewer_has_no_send_or_edit(viewer, project):
    body = signed_in(viewer).get(reverse("progress:project_progress", args=[project.pk])).content.decode()
    assert reverse("progress:report_send", args=[project.pk]) not in body and 'name="ms-name"' not in body
    assert signed_in(viewer).post(reverse("progress:report_send", args=[project.pk]),
                                  {"period": PERIOD, "confirm": "on"}).status_code == 403


def test_progress_page_is_404_for_an_rm_outside_the_team(other_rm, project):
    assert signed_in(other_rm).get(reverse("progress:project_progress", args=[project.pk])).status_code == 404


def test_bad_period_on_the_page_falls_back_and_shows_the_error(rm, project):
    page = signed_in(rm).get(reverse("progress:project_progress", args=[project.pk]) + "?period=2026-13")
    assert page.status_code == 200 and "YYYY-MM" in page.content.decode()
    pdf = signed_in(rm).get(reverse("progress:report_pdf", args=[project.pk]) + "?period=2026-13")
    assert pdf.status_code == 422


def test_add_milestone_and_update_through_the_page(rm, project):
    client = signed_in(rm)
    added = client.post(reverse("progress:milestone_add", args=[project.pk]),
                        {"ms-name": "COD", "ms-due_on": "2027-01-01", "ms-position": "9", "query": f"period={PERIOD}"})
    assert added.status_code == 302 and added["Location"].endswith(f"?period={PERIOD}")
    assert Milestone.objects.filter(project=project, name="COD").exists()
    refused = client.post(reverse("progress:milestone_add", args=[project.pk]), {"ms-name": "", "ms-due_on": ""})
    assert refused.status_code == 422
    client.post(reverse("progress:update_add", args=[project.pk]), {"up-body": "Lenders met.", "up-language": "en"})
    assert ProjectUpdate.objects.filter(project=project, body="Lenders met.", author=rm).exists()


def test_send_through_the_page_needs_the_confirmation(rm, solar, smtp_server):
    project, orgs = solar
    consenting(orgs["a"], full_name="Lisa Chen", email="lisa@hn.example")
    client = signed_in(rm)
    url = reverse("progress:report_send", args=[project.pk])
    client.post(url, {"period": PERIOD})
    assert not ReportDelivery.objects.exists() and not smtp_server.messages
    done = client.post(url, {"period": PERIOD, "confirm": "on"}, follow=True)
    assert "1 e-mailed" in done.content.decode() or "1 report(s) queued" in done.content.decode()
    assert [m["To"] for m in smtp_server.messages] == ["lisa@hn.example"]


def test_delivery_log_page_with_filters(rm, solar, smtp_server):
    project, orgs = solar
    consenting(orgs["a"], full_name="Lisa Chen", email="lisa@hn.example")
    services.report_send(actor=rm, project=project, period=PERIOD)
    client = signed_in(rm)
    page = client.get(reverse("progress:delivery_list") + f"?project={project.pk}&status=sent")
    assert page.status_code == 200 and "lisa@hn.example" in page.content.decode()
    empty = client.get(reverse("progress:delivery_list") + "?status=failed").content.decode()
    assert "lisa@hn.example" not in empty
    bad = client.get(reverse("progress:delivery_list") + "?period=2026-13")
    assert bad.status_code == 200 and "YYYY-MM" in bad.content.decode()


# Demo data ----------------------------------------------------------------------------------------------------


def test_demo_progress_adds_milestones_and_updates_once(project):
    other = make_project(name="Toll Road")
    Milestone.objects.filter(project=project).delete()
    counts = demo_progress(as_of=dt.date(2026, 6, 1), seed=3)
    assert counts["projects"] == 2 and counts["milestones"] >= 6 and 2 <= counts["updates"] <= 6
    assert set(ProjectUpdate.objects.filter(project=other).values_list("language", flat=True)) <= {"en", "zh-hans"}
    assert demo_progress(as_of=dt.date(2026, 6, 1), seed=3)["projects"] == 0  # nothing twice
    assert not Milestone.objects.filter(completed_on__gt=dt.date(2026, 6, 1)).exists()


# Query counts and the worker's tick -------------------------------------------------------------------------


def test_delivery_list_api_and_page_make_the_same_queries_for_1_or_12_rows(rm, solar):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    project, orgs = solar

    def count(n_contacts):
        ReportDelivery.objects.all().delete()
        for i in range(n_contacts):
            consenting(orgs["a"], full_name=f"Reader {n_contacts}-{i}", email=f"r{n_contacts}-{i}@hn.example")
        services.queue_progress_reports(period=PERIOD, organization_ids=type(orgs["a"]).objects.filter(
            pk=orgs["a"].pk).values_list("pk", flat=True))
        api, client = Api(rm), signed_in(rm)
        with CaptureQueriesContext(connection) as api_queries:
            assert api.request("get", "/report-deliveries?page_size=50").status_code == 200
        with CaptureQueriesContext(connection) as page_queries:
            assert client.get(reverse("progress:delivery_list")).status_code == 200
        return len(api_queries), len(page_queries)

    assert count(1) == count(11)


def test_tick_sends_what_is_due(solar, smtp_server):
    from bcrm.progress.tasks import send_deliveries, tick

    project, orgs = solar
    consenting(orgs["b"], full_name="Fund Person", email="fund@silk.example")
    services.queue_progress_reports(period=PERIOD, organization_ids=type(orgs["b"]).objects.filter(
        pk=orgs["b"].pk).values_list("pk", flat=True))
    assert tick()["sent"] == 1
    assert send_deliveries.enqueue().return_value["sent"] == 0  # nothing left: the task is harmless to rerun
    assert [m["To"] for m in smtp_server.messages] == ["fund@silk.example"]
