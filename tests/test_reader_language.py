"""Text the system writes reads in each reader's language (pages, API), numbers are grouped in both
languages, the Chinese UI names clients by their local name, and imports take and explain choices by label."""

from __future__ import annotations

import datetime as dt
import importlib
import json
from decimal import Decimal

import pytest
from django.apps import apps
from django.test import Client
from django.utils import translation

from bcrm.accounts.services import team_member_set, token_create
from bcrm.core import texts
from bcrm.dataio.choices import JobStatus
from bcrm.engagement.models import Task
from bcrm.engagement.services import service_request_create, task_update
from bcrm.parties.models import Organization
from bcrm.playbooks.automation import run_automation
from bcrm.playbooks.calendars import load_public_holidays
from bcrm.playbooks.choices import Action
from bcrm.playbooks.defaults import DEFAULT_CALENDAR, ensure_defaults
from bcrm.playbooks.models import CalendarDay, Playbook, PlaybookStep, TierPolicy, WorkCalendar
from bcrm.segmentation.models import ClientLabels
from tests.factories import make_org
from tests.fixtures_dataio.helpers import run_import, write_csv
from tests.test_automation import at

pytestmark = pytest.mark.django_db


def in_language(language: str, value):
    with translation.override(language):
        return value() if callable(value) else str(value)


@pytest.fixture
def cn(db):
    cal = WorkCalendar.objects.create(name=DEFAULT_CALENDAR, timezone="Asia/Shanghai", is_default=True,
                                      day_start=dt.time(9), day_end=dt.time(18), weekend="6,7")
    load_public_holidays(cal, "CN", [2026])
    ensure_defaults()
    return cal


@pytest.fixture
def escalation(cn, team, rm, lead):
    """An SLA escalation the automation made for a breached first response."""
    team_member_set(team=team, user=lead, weekly_capacity_hours=5)
    PlaybookStep.objects.update(is_active=False)
    org = make_org(legal_name="Huaneng Capital", local_name="华能资本", team=team, relationship_manager=rm)
    ClientLabels.objects.create(organization=org, value="high", risk="low", relationship="ordinary")
    run_automation(actor=None, as_of=at(2026, 11, 27, 9))
    request = service_request_create(actor=rm, organization=org,
                                     data={"subject": "Term sheet question", "opened_at": at(2026, 11, 27, 16)})
    run_automation(actor=None, as_of=at(2026, 11, 30, 12))
    task = Task.objects.get(action=Action.SLA_ESCALATION)
    return task, request


def test_an_escalation_reads_in_each_readers_language(escalation):
    task, request = escalation
    assert task.title_code and task.title_params == {"request": str(request.pk)}
    assert task.title == f"SLA breached: first response overdue on request #{request.pk}"  # English, for search
    assert in_language("en", lambda: task.display_title) == task.title
    chinese = in_language("zh-hans", lambda: task.display_title)
    assert chinese == f"SLA 超时：客户诉求 #{request.pk} 首次响应已逾期"


def test_the_api_renders_generated_titles_in_the_requests_language(escalation, lead):
    task, request = escalation
    _token, raw = token_create(user=lead)
    client = Client()
    for language, expected in (("zh-hans", "SLA 超时"), ("en", "SLA breached")):
        for path in ("/api/v1/tasks", "/api/v1/tasks/mine"):  # the engagement and the playbook doors
            response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_ACCEPT_LANGUAGE=language)
            assert response.status_code == 200
            item = next(i for i in response.json()["items"] if i["id"] == task.pk)
            assert item["title"].startswith(expected), item
            assert item["title_code"] == task.title_code and item["title_params"] == {"request": str(request.pk)}


def test_my_day_shows_a_leads_overflow_and_escalations_in_chinese(escalation, lead, client):
    task, request = escalation
    client.force_login(lead)
    client.cookies["django_language"] = "zh-hans"
    page = client.get("/my-day/")
    text = page.content.decode()
    assert f"客户诉求 #{request.pk} 首次响应已逾期" in text
    assert "SLA breached" not in text


def test_a_playbook_task_title_follows_the_reader_and_an_edit_makes_it_the_persons(cn, team, rm):
    org = make_org(team=team, relationship_manager=rm)
    ClientLabels.objects.create(organization=org, value="high", risk="low", relationship="ordinary")
    run_automation(actor=None, as_of=at(2026, 11, 27, 9))
    task = Task.objects.filter(source="playbook", action=Action.CONTACT).first()
    assert task.title == "Personal contact" and task.title_code == "Personal contact"
    assert in_language("zh-hans", lambda: task.display_title) == in_language("zh-hans", Action.CONTACT.label)
    # Sent back as shown in Chinese (an edit form in the Chinese UI): still the generated title.
    shown = in_language("zh-hans", lambda: task.display_title)
    task = task_update(actor=rm, task=task, data={"title": shown, "description": "x"}, expected_version=task.version)
    assert task.title_code == "Personal contact" and in_language("en", lambda: task.display_title) == "Personal contact"
    # A new title is the person's: it reads the same for everyone.
    task = task_update(actor=rm, task=task, data={"title": "致电王总"}, expected_version=task.version)
    assert task.title_code == "" and in_language("en", lambda: task.display_title) == "致电王总"


def test_titles_written_before_codes_are_mapped_by_the_migration(team):
    org = make_org(team=team)
    now = at(2026, 11, 30)
    rows = {
        "Financing-plan review": Task.objects.create(title="Financing-plan review", source="playbook",
                                                     source_key="old:1", organization=org, due_at=now),
        "sla": Task.objects.create(title="SLA breached: resolution overdue on request #15", source="playbook",
                                   source_key="old:2", organization=org, due_at=now),
        "overflow": Task.objects.create(
            title="Capacity overflow: 173 tasks (394.50 h) without an owner in No team", source="playbook",
            source_key="old:3", due_at=now),
        "manual": Task.objects.create(title="Personal contact", source="manual", organization=org, due_at=now),
    }
    migration = importlib.import_module("bcrm.engagement.migrations.0005_task_title_code")
    migration.codes_for_old_titles(apps, None)
    for task in rows.values():
        task.refresh_from_db()
    with translation.override("zh-hans"):
        assert rows["Financing-plan review"].display_title == str(Action.PLAN_REVIEW.label)
        assert rows["sla"].display_title == "SLA 超时：客户诉求 #15 解决已逾期"
        assert rows["overflow"].display_title == "产能溢出：173 项待办（394.5 小时）无人承接，且未归属任何团队"
        assert rows["manual"].display_title == "Personal contact"  # typed by a person: never translated
    with translation.override("en"):
        assert rows["overflow"].display_title == \
            "Capacity overflow: 173 tasks (394.5 h) without an owner and without a team"


def test_shipped_names_read_in_the_readers_language_until_edited(cn):
    policy = TierPolicy.objects.get(is_active=True)
    playbook = Playbook.objects.get(code="dedicated")
    workday = CalendarDay.objects.filter(calendar=cn, kind="workday").first()
    with translation.override("zh-hans"):
        assert str(cn) == "中国大陆（北京时间）" and policy.display_note == "默认服务层级规则"
        assert playbook.display_description.startswith("专属客户经理")
        assert workday.display_name == "调休上班日"
    with translation.override("en"):
        assert str(cn) == "Mainland China (Beijing time)" and workday.display_name == "Make-up working day"
    # A row written in Chinese before the codes were kept still reads in English for an English reader.
    workday.name = "调休上班日"
    with translation.override("en"):
        assert workday.display_name == "Make-up working day"
    # What a person typed is shown as typed.
    cn.name = "Open"
    with translation.override("zh-hans"):
        assert str(cn) == "Open"


def test_the_calendar_and_playbook_pages_in_chinese(cn, lead, client):
    client.force_login(lead)
    client.cookies["django_language"] = "zh-hans"
    calendars = client.get("/calendars/").content.decode()
    assert "中国大陆（北京时间）" in calendars and ">Mainland China" not in calendars
    playbooks = client.get("/playbooks/").content.decode()
    assert "专属客户经理、定制化融资方案" in playbooks and "A dedicated relationship manager" not in playbooks


def test_numbers_are_grouped_in_both_languages():
    from bcrm.core.formatting import money, number
    from bcrm.segmentation.selectors import format_feature_value
    from bcrm.web.templatetags.bcrm_web import money as money_filter

    for language in ("en", "zh-hans"):
        with translation.override(language):
            assert money_filter(Decimal("15388260"), 0) == "15,388,260"
            assert money_filter("1234567.891") == "1,234,567.89"
            assert money(Decimal("-5000.5")) == "-5,000.50"
            assert number(1234) == "1,234" and number(394.5) == "394.5"
            assert format_feature_value("committed_amount", 15388260.4) == "USD 15,388,260"
            assert money_filter(None) == "" and money_filter("n/a") == "n/a"


def test_the_chinese_ui_names_a_client_by_its_local_name_first(org, rm, client):
    with translation.override("zh-hans"):
        assert org.display_name == "华能资本" and org.other_name == "Huaneng Capital"
        assert str(org) == "华能资本 (Huaneng Capital)"
    with translation.override("en"):
        assert org.display_name == "Huaneng Capital" and org.other_name == "华能资本"
    plain = Organization(legal_name="Platform Ventures")
    with translation.override("zh-hans"):
        assert plain.display_name == "Platform Ventures" and plain.other_name == ""
    client.force_login(rm)
    client.cookies["django_language"] = "zh-hans"
    page = client.get(f"/clients/{org.pk}/").content.decode()
    assert "<title>华能资本" in page and "<h1>华能资本</h1>" in page
    listing = client.get("/clients/").content.decode()
    assert listing.index("华能资本") < listing.index("Huaneng Capital")


# --- import: choices by label, errors by label --------------------------------------------------------------

ORG_HEADER = ["legal_name", "kind", "country"]


@pytest.mark.parametrize("kind", ["银行", "Bank", "bank", "commercial_bank", "商业银行", "Commercial bank"])
def test_import_takes_a_choice_by_code_or_by_label_in_either_language(import_dir, tmp_path, lead, kind):
    job = run_import(lead, "organizations", write_csv(tmp_path / "o.csv", [ORG_HEADER, ["Bank of Ningbo", kind, "CN"]]))
    assert job.status == JobStatus.DONE, list(job.row_reports.values_list("errors", flat=True))
    assert Organization.objects.get(legal_name="Bank of Ningbo").kind == "commercial_bank"


@pytest.mark.parametrize("kind", ["investor", "基金会", "银"])
def test_an_ambiguous_or_unknown_choice_is_refused(import_dir, tmp_path, lead, kind):
    # "investor" is part of two labels (equity and institutional investor): it names neither.
    job = run_import(lead, "organizations", write_csv(tmp_path / "o.csv", [ORG_HEADER, ["X Capital", kind, "CN"]]))
    assert job.status == JobStatus.ROLLED_BACK and not Organization.objects.filter(legal_name="X Capital").exists()


def test_an_import_error_names_the_field_and_choices_by_label_in_the_readers_language(import_dir, tmp_path, lead,
                                                                                      client):
    job = run_import(lead, "organizations", write_csv(tmp_path / "o.csv", [ORG_HEADER, ["X Capital", "银行家", "CN"]]))
    row = job.row_reports.get(outcome="rejected")
    with translation.override("zh-hans"):
        reason = row.reason_text
        assert reason.startswith("类型 [kind]: “银行家”不在可选值中：") and "商业银行 [commercial_bank]、" in reason
        assert "equity_investor, " not in reason
    with translation.override("en"):
        reason = row.reason_text
        assert reason.startswith("kind: “银行家” is not one of: ")  # the English label is the code itself
        assert "Commercial bank [commercial_bank], " in reason
    # The page and the API show the same in the reader's language.
    client.force_login(lead)
    client.cookies["django_language"] = "zh-hans"
    page = client.get(f"/data/imports/{job.pk}/").content.decode()
    assert "商业银行 [commercial_bank]" in page
    _token, raw = token_create(user=lead)
    body = Client().get(f"/api/v1/imports/{job.pk}/rows", HTTP_AUTHORIZATION=f"Bearer {raw}",
                        HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    error = body["items"][0]["errors"][0]
    assert error["field"] == "kind" and error["label"] == "类型" and "商业银行 [commercial_bank]" in error["message"]


def test_texts_render_nested_parameters_and_survive_a_bad_catalogue_entry():
    stored = texts.text("%(team)s: %(tasks)s tasks, %(hours)s h", team="Core", tasks=1234, hours=2.5)
    assert stored["message"] == "Core: 1,234 tasks, 2.5 h"
    assert json.loads(json.dumps(stored)) == stored  # stored as JSON
    with translation.override("zh-hans"):
        assert texts.render(stored) == "Core:1,234 项待办,2.5 小时"
    # Parameters the template does not name: the English template, not an error page.
    assert texts.render("Hello %(name)s", {"other": 1}) == "Hello %(name)s"


def test_a_shipped_description_sent_back_in_chinese_stays_shipped(cn, admin):
    from bcrm.playbooks.services import playbook_update

    playbook = Playbook.objects.get(code="standard")
    shipped_text = playbook.description
    shown = in_language("zh-hans", lambda: playbook.display_description)
    playbook = playbook_update(actor=admin, playbook=playbook, data={"description": shown, "is_active": True},
                               expected_version=playbook.version)
    assert playbook.description == shipped_text
    playbook = playbook_update(actor=admin, playbook=playbook, data={"description": "每月报告"},
                               expected_version=playbook.version)
    assert in_language("en", lambda: playbook.display_description) == "每月报告"


def test_the_api_shows_shipped_texts_in_the_requests_language(cn, lead):
    _token, raw = token_create(user=lead)
    client = Client()
    for language, description, note in (("zh-hans", "专属客户经理", "默认服务层级规则"),
                                         ("en", "A dedicated relationship manager", "Default policy")):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}", "HTTP_ACCEPT_LANGUAGE": language}
        playbooks = client.get("/api/v1/playbooks", **headers).json()
        dedicated = next(p for p in playbooks if p["code"] == "dedicated")
        assert dedicated["description"].startswith(description)
        policy = client.get("/api/v1/tier-policy", **headers).json()
        assert policy["note"] == note


def test_public_holidays_read_in_the_readers_language_unless_renamed(cn, lead, client):
    new_year = CalendarDay.objects.get(calendar=cn, date=dt.date(2026, 1, 1))
    assert new_year.name == "元旦"  # loaded in Chinese
    with translation.override("en"):
        assert new_year.display_name == "New Year's Day"
    with translation.override("zh-hans"):
        assert new_year.display_name == "元旦"
    new_year.name = "公司年会"  # renamed by a person
    with translation.override("en"):
        assert new_year.display_name == "公司年会"
    client.force_login(lead)
    client.cookies["django_language"] = "en"
    page = client.get("/calendars/?year=2026").content.decode()
    assert "New Year&#x27;s Day" in page or "New Year's Day" in page


def test_amounts_are_rounded_not_cut():
    from bcrm.core.formatting import number

    for language in ("en", "zh-hans"):
        with translation.override(language):
            assert number(Decimal("657142.857"), 0) == "657,143"
            assert number(Decimal("0.125"), 2) == "0.12" and number(Decimal("0.135"), 2) == "0.14"


def test_every_cell_error_reads_in_the_readers_language_after_the_import(import_dir, tmp_path, lead):
    # The import runs in English (as the background worker does); the report is read in Chinese later.
    with translation.override("en"):
        job = run_import(lead, "organizations",
                         write_csv(tmp_path / "o.csv", [ORG_HEADER, ["X Capital", "fund", "Atlantis"], ["", "fund", "CN"]]))
    rows = {r.number: r for r in job.row_reports.filter(outcome="rejected")}
    with translation.override("zh-hans"):
        assert rows[2].reason_text == "国家/地区 [country]: “Atlantis”不是可识别的国家/地区（请使用 CN 等 ISO 代码或名称）。"
        assert rows[3].reason_text.endswith("[legal_name]: 此字段为必填项。")
    with translation.override("en"):
        assert rows[2].reason_text.startswith("country: “Atlantis” is not a country bcrm knows")
