"""Financing plans: versions with who/when/why, the status machine, permissions, templates applied in bulk,
the proposal document (PDF read back) and its e-mail, and the doors (API, CLI)."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.core.errors import InvalidInput, NotFound, PermissionDenied
from bcrm.engagement.models import Interaction
from bcrm.plans import selectors, services
from bcrm.plans.models import FinancingPlan, PlanStatus, PlanVersion
from bcrm.plans.terms import TERM_FIELDS, diff_terms
from tests.doors import Api, command
from tests.factories import make_contact, make_org, make_participation, make_project, make_user

TERMS = {"instrument": "senior_debt", "amount": "50000000", "currency": "USD", "tenor_months": 180,
         "grace_months": 24, "repayment": "sculpted", "reference_rate": "SOFR", "margin_bps": "275",
         "upfront_fee_pct": "1.25", "arrangement_fee": "150000", "security": "Share pledge",
         "covenants": "DSCR ≥ 1.20x", "rationale": "Long tenor for a contracted asset."}


@pytest.fixture
def project(db):
    return make_project(name="Gobi Solar 400 MW", local_name="戈壁光伏")


@pytest.fixture
def plan(rm, org, project):
    return services.plan_create(actor=rm, organization=org, project=project, terms=TERMS, tranche="A")


# --- pure: the version diff -------------------------------------------------------------------------------

term_values = st.one_of(st.none(), st.integers(0, 10**6), st.text(max_size=5),
                        st.decimals(0, 10**6, places=2, allow_nan=False))
terms_dicts = st.dictionaries(st.sampled_from(TERM_FIELDS), term_values)


@settings(max_examples=50, deadline=None)
@given(terms_dicts, terms_dicts)
def test_diff_names_exactly_the_changed_terms_in_order(a, b):
    changes = diff_terms(a, b)
    assert [c.field for c in changes] == [f for f in TERM_FIELDS if a.get(f) != b.get(f)]
    assert all(c.before == a.get(c.field) and c.after == b.get(c.field) for c in changes)
    assert diff_terms(a, a) == []
    assert [c.field for c in diff_terms(b, a)] == [c.field for c in changes]


# --- services ---------------------------------------------------------------------------------------------


def test_create_then_revise_keeps_every_version_with_who_and_why(rm, plan):
    assert plan.status == PlanStatus.DRAFT and plan.current_number == 1
    v2 = services.plan_revise(actor=rm, plan=plan, terms={"margin_bps": "250", "amount": "45000000"},
                              reason="Client asked for a tighter margin")
    plan.refresh_from_db()
    assert (v2.number, plan.current_number, v2.created_by, v2.reason) == (2, 2, rm, "Client asked for a tighter margin")
    assert v2.tenor_months == 180 and v2.amount == Decimal("45000000")
    left, right, changes = selectors.plan_compare(plan, 1, 2)
    assert {c.field: (c.before, c.after) for c in changes} == {
        "amount": (Decimal("50000000.00"), Decimal("45000000.00")), "margin_bps": (Decimal("275.00"), Decimal("250.00"))}


@pytest.mark.parametrize("terms, field", [({"amount": "-1"}, "amount"), ({"currency": "XXX"}, "currency"),
                                          ({"amount": "many"}, "amount"), ({"grace_months": 500}, "grace_months"),
                                          ({"upfront_fee_pct": "120"}, "upfront_fee_pct")])
def test_bad_terms_are_refused_and_change_nothing(rm, plan, terms, field):
    with pytest.raises(InvalidInput) as caught:
        services.plan_revise(actor=rm, plan=plan, terms=terms, reason="try")
    assert field in caught.value.fields
    assert PlanVersion.objects.filter(plan=plan).count() == 1
    before = FinancingPlan.objects.count()
    with pytest.raises(InvalidInput):
        services.plan_create(actor=rm, organization=plan.organization, project=plan.project, terms={**TERMS, **terms})
    assert FinancingPlan.objects.count() == before


def test_a_revision_needs_a_reason_and_a_change(rm, plan):
    with pytest.raises(InvalidInput):
        services.plan_revise(actor=rm, plan=plan, terms={"margin_bps": "260"}, reason=" ")
    with pytest.raises(InvalidInput):
        services.plan_revise(actor=rm, plan=plan, terms={"margin_bps": "275"}, reason="same")


def test_status_machine_is_checked_and_recorded_and_review_fulfils_the_playbook_step(rm, lead, plan):
    with pytest.raises(InvalidInput) as caught:
        services.plan_transition(actor=rm, plan=plan, to=PlanStatus.ACCEPTED)
    assert caught.value.code == "bad_transition"
    services.plan_transition(actor=rm, plan=plan, to=PlanStatus.INTERNAL_REVIEW)
    with pytest.raises(PermissionDenied):  # the RM does not review their own plan
        services.plan_transition(actor=rm, plan=plan, to=PlanStatus.PROPOSED)
    services.plan_transition(actor=lead, plan=plan, to=PlanStatus.PROPOSED, note="Approved by credit")
    review = Interaction.objects.get(organization=plan.organization, kind="plan_review")
    assert review.project_id == plan.project_id
    services.plan_transition(actor=rm, plan=plan, to=PlanStatus.NEGOTIATING)
    services.plan_transition(actor=rm, plan=plan, to=PlanStatus.ACCEPTED)
    assert [(c.from_status, c.to_status) for c in plan.status_changes.all()] == [
        ("", "draft"), ("draft", "internal_review"), ("internal_review", "proposed"), ("proposed", "negotiating"),
        ("negotiating", "accepted")]
    with pytest.raises(InvalidInput):  # an accepted plan's terms are final
        services.plan_revise(actor=rm, plan=plan, terms={"margin_bps": "1"}, reason="late")


def test_only_who_may_edit_the_client_writes_its_plans(other_rm, viewer, rm, plan, project):
    for outsider in (other_rm, viewer):
        with pytest.raises(PermissionDenied):
            services.plan_revise(actor=outsider, plan=plan, terms={"margin_bps": "1"}, reason="x")
    with pytest.raises(NotFound):
        selectors.plan_get_for_user(user=other_rm, pk=plan.pk)
    assert list(selectors.plan_list(actor=rm)) == [plan]


def test_template_applies_to_standard_tier_clients_without_a_plan(rm, lead, team, project, plan):
    from bcrm.playbooks.models import ClientTier

    standard, dedicated, hidden = (make_org(team=team), make_org(team=team), make_org())
    for org, tier in ((standard, "standard"), (dedicated, "dedicated"), (hidden, "standard"),
                      (plan.organization, "standard")):
        make_participation(project, org, tranche="A")
        ClientTier.objects.create(organization=org, tier=tier, policy_version=1, since=timezone.now())
    template = services.plan_template_create(actor=lead, project=project, name="Senior A standard", tranche="A",
                                             terms={**TERMS, "margin_bps": "300"})
    result = services.plan_template_apply(actor=rm, template=template)
    assert [p.organization for p in result.created] == [standard]
    assert result.created[0].current.margin_bps == Decimal("300.00")
    assert {(o, why) for o, why in result.skipped} == {(plan.organization, "has_plan"), (hidden, "not_permitted")}


# --- the proposal -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("language, expected", [("en", "Financing proposal"), ("zh-hans", "融资方案")])
def test_proposal_pdf_in_both_languages(plan, tmp_path, language, expected):
    from pypdf import PdfReader

    out = tmp_path / "plan.pdf"
    command("plan", "pdf", str(plan.pk), str(out), language=language)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(out.read_bytes())).pages)
    assert expected in text and "Gobi Solar 400 MW" in text and "50,000,000" in text.replace(" ", "")


def test_proposal_mail_goes_once_per_version_through_the_delivery_loop(rm, lead, plan):
    contact = make_contact(plan.organization, language="zh-hans")
    with pytest.raises(InvalidInput):  # a draft is not sent
        services.plan_send_proposal(actor=rm, plan=plan, contacts=[contact])
    services.plan_transition(actor=rm, plan=plan, to=PlanStatus.INTERNAL_REVIEW)
    services.plan_transition(actor=lead, plan=plan, to=PlanStatus.PROPOSED)
    summary = services.plan_send_proposal(actor=rm, plan=plan, contacts=[contact])
    assert summary.sent == 1 and len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [contact.email] and "Gobi Solar" in message.subject
    assert message.attachments[0][0] == f"financing-plan-{plan.pk}-v1.pdf"
    assert services.plan_send_proposal(actor=rm, plan=plan, contacts=[contact]).sent == 0
    assert len(mail.outbox) == 1


# --- doors ------------------------------------------------------------------------------------------------


def test_api_create_revise_transition_compare(rm, org, project):
    api = Api(rm)
    status, body = api.post("/plans", {"organization": org.pk, "project": project.pk, "terms": TERMS})
    assert status == 201 and body["status"] == "draft" and body["terms"]["amount"] == "50000000.00"
    pk = body["id"]
    status, body = api.post(f"/plans/{pk}/versions", {"terms": {"tenor_months": 200}, "reason": "Longer",
                                                      "version": body["version"]})
    assert status == 201 and body["number"] == 2
    status, body = api.get(f"/plans/{pk}/compare?a=1&b=2")
    assert status == 200 and body["changes"] == [{"field": "tenor_months", "a": 180, "b": 200}]
    status, body = api.post(f"/plans/{pk}/transition", {"to": "proposed"})
    assert status == 422 and body["error"]["code"] == "bad_transition"
    status, body = api.post("/plans", {"organization": org.pk, "project": project.pk,
                                       "terms": {**TERMS, "amount": "-5"}})
    assert status == 422 and body["error"]["fields"][0]["path"] == "amount"
    assert FinancingPlan.objects.count() == 1
    assert Api(make_user(None, "relationship_manager")).get(f"/plans/{pk}")[0] == 404
    assert "/api/v1/plans/{pk}/compare" in api.get("/openapi.json")[1]["paths"]


def test_cli_plan_list_filters_and_json(plan, project):
    rows = json.loads(command("plan", "list", project=project.pk, as_json=True))
    assert [r["id"] for r in rows] == [plan.pk] and rows[0]["terms"]["currency"] == "USD"
    assert json.loads(command("plan", "list", client=plan.organization_id + 999, as_json=True)) == []
    assert "Gobi Solar" in command("plan", "list")


def test_pages_list_detail_compare_revise_and_status_buttons(rm, lead, plan):
    from tests.doors import signed_in

    client = signed_in(rm)
    assert "Gobi Solar 400 MW" in client.get("/plans/").content.decode()
    response = client.post(f"/plans/{plan.pk}/terms/", {**TERMS, "margin_bps": "240",
                                                        "reason": "Competing bid", "plan_version": plan.version})
    assert response.status_code == 302
    page = client.get(f"/plans/{plan.pk}/?a=1&b=2").content.decode()
    assert "Competing bid" in page and "1 term changed." in page
    client.post(f"/plans/{plan.pk}/status/", {"to": "internal_review"})
    plan.refresh_from_db()
    assert plan.status == "internal_review"
    client.post(f"/plans/{plan.pk}/status/", {"to": "proposed"})  # refused: the RM is not the approver
    plan.refresh_from_db()
    assert plan.status == "internal_review"
    assert "Gobi Solar" in client.get(f"/plans/{plan.pk}/proposal.html?language=zh-hans").content.decode()
    assert signed_in(make_user(None, "relationship_manager")).get(f"/plans/{plan.pk}/").status_code == 404


def test_team_board_lists_dedicated_clients_with_an_open_deal_and_no_plan(lead, team, project):
    from bcrm.playbooks.models import ClientTier
    from bcrm.playbooks.selectors import team_board, week_start

    waiting, served, standard = make_org(team=team), make_org(team=team), make_org(team=team)
    for org, tier in ((waiting, "dedicated"), (served, "dedicated"), (standard, "standard")):
        make_participation(project, org, status="soft_interest")
        ClientTier.objects.create(organization=org, tier=tier, policy_version=1, since=timezone.now())
    services.plan_create(actor=lead, organization=served, project=project, terms=TERMS)
    board = team_board(lead, team, week_start(timezone.localdate()))
    assert board.without_plan == [waiting]


def test_pages_save_standard_terms_and_apply_them(rm, team, plan, project):
    from bcrm.plans.models import PlanTemplate
    from bcrm.playbooks.models import ClientTier
    from tests.doors import signed_in

    client = signed_in(rm)
    standard = make_org(team=team)
    make_participation(project, standard, tranche="A")
    ClientTier.objects.create(organization=standard, tier="standard", policy_version=1, since=timezone.now())
    client.post(f"/plans/{plan.pk}/save-template/", {"name": "Senior A"})
    template = PlanTemplate.objects.get(name="Senior A")
    assert "Senior A" in client.get(f"/plans/?project={project.pk}").content.decode()
    client.post(f"/plan-templates/{template.pk}/apply/")
    made = FinancingPlan.objects.get(organization=standard)
    assert (made.template, made.status, made.current.amount) == (template, "draft", Decimal("50000000.00"))
