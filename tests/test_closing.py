"""Closing checklists: made from the sector template, item moves, waivers (lead + reason), evidence files
(size and type, served only to who may see the project), sign-off, readiness arithmetic, the doors."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.closing import selectors, services
from bcrm.closing.models import Checklist, ChecklistItem, Evidence, ItemStatus
from bcrm.closing.readiness import readiness
from bcrm.core.errors import InvalidInput, PermissionDenied
from tests.doors import Api, command, signed_in
from tests.factories import make_project

TODAY = dt.date(2026, 12, 6)
statuses = st.sampled_from(["open", "submitted", "satisfied", "waived"])
dues = st.one_of(st.none(), st.dates(dt.date(2026, 11, 1), dt.date(2027, 1, 31)))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(statuses, dues), max_size=40))
def test_readiness_arithmetic(items):
    state = readiness(items, TODAY)
    assert state.total == len(items) == state.satisfied + state.waived + state.submitted + state.open
    assert state.done + len(state.blocking) == state.total
    assert Decimal("0") <= state.share_done <= Decimal("1")
    assert state.ready == (bool(items) and all(s in ("satisfied", "waived") for s, _d in items))
    assert state.overdue == sum(1 for s, d in items if s in ("open", "submitted") and d is not None and d < TODAY)
    if items:
        assert abs(state.share_done - Decimal(state.done) / Decimal(state.total)) <= Decimal("0.00005")
    # satisfying one more blocking item never lowers the share done
    if state.blocking:
        better = list(items)
        better[state.blocking[0]] = ("satisfied", items[state.blocking[0]][1])
        assert readiness(better, TODAY).share_done >= state.share_done


@pytest.fixture
def project(db):
    return make_project(name="Coastal Wind", sector="energy", expected_close=dt.date(2027, 3, 31))


@pytest.fixture
def checklist(rm, project):
    return services.checklist_create(actor=rm, project=project)


def test_checklist_from_the_sector_template_with_due_dates_before_close(checklist, project):
    items = list(checklist.items.all())
    assert len(items) >= 12 and {i.category for i in items} >= {"finance_docs", "permits", "technical"}
    assert all(i.due_on and i.due_on < project.expected_close for i in items)
    assert selectors.checklist_readiness(checklist).percent == 0
    with pytest.raises(InvalidInput):
        services.checklist_create(actor=checklist.created_by, project=project)


def test_item_moves_waiver_needs_lead_and_reason_and_sign_off_needs_all_done(rm, lead, checklist):
    items = list(checklist.items.all())
    first = items[0]
    services.item_set_status(actor=rm, item=first, to=ItemStatus.SUBMITTED)
    with pytest.raises(InvalidInput):  # open → satisfied skips the submission
        services.item_set_status(actor=rm, item=items[1], to=ItemStatus.SATISFIED)
    with pytest.raises(PermissionDenied):
        services.item_set_status(actor=rm, item=items[1], to=ItemStatus.WAIVED, reason="Not needed")
    with pytest.raises(InvalidInput) as caught:
        services.item_set_status(actor=lead, item=items[1], to=ItemStatus.WAIVED, reason="  ")
    assert caught.value.code == "waiver_reason_missing"
    assert ChecklistItem.objects.get(pk=items[1].pk).status == "open"
    services.item_set_status(actor=lead, item=items[1], to=ItemStatus.WAIVED, reason="Sponsor guarantee instead")
    with pytest.raises(InvalidInput) as caught:
        services.checklist_sign_off(actor=lead, checklist=checklist)
    assert caught.value.code == "not_ready"
    services.item_set_status(actor=rm, item=first, to=ItemStatus.SATISFIED)
    for item in items[2:]:
        services.item_set_status(actor=rm, item=item, to=ItemStatus.SUBMITTED)
        services.item_set_status(actor=rm, item=item, to=ItemStatus.SATISFIED)
    with pytest.raises(PermissionDenied):
        services.checklist_sign_off(actor=rm, checklist=checklist)
    services.checklist_sign_off(actor=lead, checklist=checklist)
    state = selectors.checklist_readiness(checklist)
    assert state.ready and state.percent == 100 and checklist.signed_off_by == lead
    with pytest.raises(InvalidInput):
        services.item_set_status(actor=lead, item=first, to=ItemStatus.OPEN)


def test_evidence_is_type_and_size_checked_and_kept_in_the_data_folder(rm, checklist, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.BCRM_EVIDENCE_MAX_BYTES = 2048
    item = checklist.items.first()
    evidence = services.evidence_upload(actor=rm, item=item, file_name="../../PPA signed.pdf",
                                        content=b"%PDF-1.7 signed")
    assert evidence.file_name == "PPA signed.pdf"
    assert services.evidence_path(evidence).read_bytes() == b"%PDF-1.7 signed"
    assert services.evidence_path(evidence).parent == tmp_path / "closing-evidence"
    for name, content, code in (("x.exe", b"MZ", "file_type"), ("fake.pdf", b"<html>", "file_type"),
                                ("big.txt", b"a" * 4096, "file_too_large"), ("e.txt", b"", "file_empty")):
        with pytest.raises(InvalidInput) as caught:
            services.evidence_upload(actor=rm, item=item, file_name=name, content=content)
        assert caught.value.code == code
    assert Evidence.objects.count() == 1


def test_api_checklist_and_evidence_download_permissions(rm, lead, viewer, project, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    api = Api(rm)
    assert api.get(f"/projects/{project.pk}/closing")[1]["exists"] is False
    status, body = api.post(f"/projects/{project.pk}/closing")
    assert status == 201 and body["readiness"]["total"] == len(body["items"])
    item_id = body["items"][0]["id"]
    status, body = Api(lead).post(f"/closing-items/{item_id}/status", {"to": "waived"})
    assert status == 422 and body["error"]["code"] == "waiver_reason_missing"
    status, body = api.post(f"/closing-items/{item_id}/status", {"to": "submitted"})
    assert status == 200 and body["status"] == "submitted"
    from tests.factories import make_contact, make_org, make_participation

    insider, outsider = make_contact(make_org()), make_contact(make_org())
    make_participation(project, insider.organization)
    response = api.request("patch", f"/closing-items/{item_id}", {"owner_contact": outsider.pk, "due_on": "2027-01-15"})
    assert response.status_code == 422 and ChecklistItem.objects.get(pk=item_id).due_on != dt.date(2027, 1, 15)
    response = api.request("patch", f"/closing-items/{item_id}", {"owner_contact": insider.pk, "due_on": "2027-01-15"})
    assert response.status_code == 200 and response.json()["owner_contact_id"] == insider.pk
    from django.core.files.uploadedfile import SimpleUploadedFile

    status, body = api.post_form(f"/closing-items/{item_id}/evidence",
                                 {"file": SimpleUploadedFile("cp.pdf", b"%PDF-1.4 x", "application/pdf")})
    assert status == 201
    response = signed_in(viewer).get(f"/closing/evidence/{body['id']}/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"%PDF-1.4 x"
    assert Api(viewer).post(f"/projects/{project.pk}/closing/sign-off")[0] == 403


def test_cli_closing_show(checklist, project):
    data = json.loads(command("closing", "show", str(project.pk), as_json=True))
    assert data["readiness"]["total"] == len(data["items"]) and data["readiness"]["ready"] is False
    text = command("closing", "show", str(project.pk))
    assert "0% satisfied or waived" in text and "Facility agreement signed" in text
    assert Checklist.objects.count() == 1


def test_checklist_page_and_project_card(rm, lead, project):
    client = signed_in(rm)
    assert "No closing checklist yet." in client.get(f"/projects/{project.pk}/closing/").content.decode()
    client.post(f"/projects/{project.pk}/closing/create/")
    item = Checklist.objects.get(project=project).items.first()
    client.post(f"/closing/items/{item.pk}/status/", {"to": "submitted", "version": item.version})
    client.post(f"/closing/items/{item.pk}/status/", {"to": "waived", "reason": "x"})  # refused: not a lead
    item.refresh_from_db()
    assert item.status == "submitted"
    signed_in(lead).post(f"/closing/items/{item.pk}/status/", {"to": "waived", "reason": "Covered by guarantee"})
    item.refresh_from_db()
    assert (item.status, item.waiver_reason) == ("waived", "Covered by guarantee")
    page = client.get(f"/projects/{project.pk}/closing/").content.decode()
    assert "Covered by guarantee" in page and "Facility agreement signed" in page
    card = client.get(f"/projects/{project.pk}/").content.decode()
    assert "Closing readiness" in card and "Blocks close:" in card


def test_my_day_lists_the_conditions_the_user_owns_that_fall_due(rm, project, checklist):
    from bcrm.playbooks.selectors import my_day

    items = list(checklist.items.all()[:3])
    today = dt.date.today()
    for item, due in zip(items, (today - dt.timedelta(days=2), today + dt.timedelta(days=3),
                                 today + dt.timedelta(days=60)), strict=True):
        services.item_update(actor=rm, item=item, data={"owner_user": rm, "due_on": due})
    assert [i.pk for i in my_day(rm).closing] == [items[0].pk, items[1].pk]
    page = signed_in(rm).get("/my-day/").content.decode()
    assert "Closing conditions you own" in page


def test_progress_report_has_a_closing_readiness_section(rm, lead, project, checklist):
    from bcrm.progress.render import render_html
    from bcrm.progress.selectors import progress_report

    first = checklist.items.first()
    services.item_set_status(actor=lead, item=first, to=ItemStatus.WAIVED, reason="Not applicable")
    period = f"{dt.date.today():%Y-%m}"
    report = progress_report(project, period, "zh-hans")
    data = report.as_dict()["closing"]
    assert data["waived"] == 1 and data["total"] == checklist.items.count()
    assert len(data["left"]) == 12 and first.title not in [row["title"] for row in data["left"]]
    html = render_html(report, "zh-hans")
    assert 'id="pr-closing"' in html


def test_sector_template_is_edited_by_leads_and_used_by_new_checklists(rm, lead, project):
    signed_in(lead).post("/closing/templates/energy/", {"title": "Grid code compliance test", "category": "technical",
                                                        "days_before_close": "10"})
    signed_in(rm).post("/closing/templates/energy/", {"title": "Sneaked in", "category": "other"})  # refused
    checklist = services.checklist_create(actor=rm, project=project)
    titles = list(checklist.items.values_list("title", flat=True))
    assert "Grid code compliance test" in titles and "Sneaked in" not in titles
    assert checklist.items.get(title="Grid code compliance test").due_on == dt.date(2027, 3, 21)
    with pytest.raises(InvalidInput):
        services.template_item_add(actor=lead, template=checklist.template, category="nonsense", title="x",
                                   days_before_close=1)
