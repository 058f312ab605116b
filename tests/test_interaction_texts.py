"""Interactions the system writes (a plan reviewed, a proposal or a progress report e-mailed, a playbook task done
without a typed summary) read in each reader's language: stored as a code with parameters, the English rendering
kept for search and exports; a person's edit replaces the code with what they typed."""

from __future__ import annotations

import pytest
from django.utils import translation

from bcrm.core.texts import text
from bcrm.engagement import services as engagement
from bcrm.engagement.models import Interaction
from bcrm.plans import services as plans
from bcrm.plans.models import PlanStatus
from bcrm.progress.services import REPORT_SENT
from tests.doors import Api
from tests.factories import make_project
from tests.test_plans import TERMS


@pytest.fixture
def reviewed(rm, lead, org):
    project = make_project(name="Gobi Solar 400 MW", local_name="戈壁光伏")
    plan = plans.plan_create(actor=rm, organization=org, project=project, terms=TERMS, tranche="A")
    plans.plan_transition(actor=rm, plan=plan, to=PlanStatus.INTERNAL_REVIEW)
    plans.plan_transition(actor=lead, plan=plan, to=PlanStatus.PROPOSED, note="Credit agrees.")
    return plan, Interaction.objects.get(organization=org, kind="plan_review")


def test_a_plan_review_reads_in_each_language_and_keeps_the_typed_note(reviewed):
    plan, review = reviewed
    assert review.summary == f"Financing plan {plan.pk} v1 for {plan.project} reviewed: Proposed. Credit agrees."
    with translation.override("zh-hans"):
        shown = review.display_summary
    assert "已审阅" in shown and "已提交客户" in shown and "Credit agrees." in shown and "reviewed" not in shown
    with translation.override("en"):
        assert review.display_summary == review.summary


def test_the_api_gives_the_summary_in_the_readers_language(reviewed, lead):
    _plan, review = reviewed
    api = Api(lead)
    zh = api.request("get", f"/interactions/{review.pk}", HTTP_ACCEPT_LANGUAGE="zh-hans")
    en = api.request("get", f"/interactions/{review.pk}", HTTP_ACCEPT_LANGUAGE="en")
    assert zh.status_code == en.status_code == 200
    assert "已审阅" in zh.json()["summary"] and en.json()["summary"] == review.summary


def test_a_persons_edit_replaces_the_systems_summary(reviewed, rm):
    _plan, review = reviewed
    engagement.interaction_update(actor=rm, interaction=review, data={"summary": "Lead happy; send Friday."},
                                  expected_version=review.version)
    review.refresh_from_db()
    assert (review.summary_code, review.summary_params) == ("", {})
    with translation.override("zh-hans"):
        assert review.display_summary == "Lead happy; send Friday."


def test_an_edit_of_other_fields_keeps_the_code(reviewed, rm):
    _plan, review = reviewed
    engagement.interaction_update(actor=rm, interaction=review, data={"minutes_spent": 45},
                                  expected_version=review.version)
    review.refresh_from_db()
    assert review.summary_code and review.minutes_spent == 45


def test_a_system_summary_is_stored_with_its_english_rendering(rm, org):
    written = text(REPORT_SENT, period="2026-11", project="Qinghai Solar", email="cfo@example.com")
    interaction = engagement.interaction_create(actor=rm, organization=org, data={"kind": "report_sent"},
                                                summary=written)
    interaction.refresh_from_db()
    assert interaction.summary == ("Progress report 2026-11 for Qinghai Solar e-mailed to cfo@example.com "
                                   "(automated).")
    with translation.override("zh-hans"):
        assert "项目进展报告" in interaction.display_summary and "cfo@example.com" in interaction.display_summary

