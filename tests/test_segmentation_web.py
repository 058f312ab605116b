"""The segmentation pages as each role meets them: the overview per dimension, the criterion editor with
preview and save, runs, the migration matrix, overrides, the client list's label filters and the 360°
card with its labels and the plain-language "why"."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from bcrm.segmentation import services
from bcrm.segmentation.models import Assignment, ClientLabels, Criterion, Override, Run
from tests.doors import off_site_references
from tests.factories import make_org, make_participation, make_project

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def portfolio(db, team):
    """40 clients with graded commitments and history, 3 without any history (insufficient data)."""
    project = make_project(name="Offshore Wind")
    orgs = []
    for i in range(40):
        org = make_org(legal_name=f"Investor {i:02d}", local_name=f"投资者{i:02d}", team=team, country="CN",
                       kyc_status="verified", rating_agency="internal", rating_grade=str(1 + i % 20),
                       rating_score=1 + i % 20, relationship_since=TODAY - dt.timedelta(days=400 + 30 * i))
        make_participation(project, org, amount=Decimal(10_000 * (i + 1) ** 2), status="funded",
                           fee_income=Decimal(100 * (i + 1)), status_changed_at=timezone.now() - dt.timedelta(days=60))
        orgs.append(org)
    thin = [make_org(legal_name=f"Unknown {i}", team=team, country="CN") for i in range(3)]
    return {"orgs": orgs, "thin": thin}


@pytest.fixture
def ran(portfolio, analyst):
    """The value dimension classified once."""
    return services.run_segmentation(actor=analyst, dimension="value").run


def html(response) -> str:
    return response.content.decode()


def editor_data(criterion: Criterion, **changes) -> dict[str, str]:
    """The criterion editor's POST body for ``criterion`` as the page renders it, with ``changes``."""
    data: dict[str, str] = {
        "base_version": str(criterion.version), "method": criterion.method,
        "min_history_months": str(criterion.min_history_months), "min_completeness": str(criterion.min_completeness),
        "hysteresis_margin": str(criterion.hysteresis_margin), "upper_name": criterion.upper_name,
        "lower_name": criterion.lower_name, "outcome_feature": criterion.outcome_feature,
        "schedule": criterion.schedule, "note": "",
        "features-TOTAL_FORMS": str(len(criterion.features) + 2), "features-INITIAL_FORMS": str(len(criterion.features)),
        "rules-TOTAL_FORMS": str(len(criterion.rules) + 1), "rules-INITIAL_FORMS": str(len(criterion.rules)),
    }
    for name, value in criterion.params.items():
        data[name] = str(value)
    for i, term in enumerate(criterion.features):
        for key in ("feature", "transform", "direction", "weight"):
            data[f"features-{i}-{key}"] = str(term[key])
    for i, rule in enumerate(criterion.rules):
        for key in ("feature", "op", "value", "label"):
            data[f"rules-{i}-{key}"] = str(rule[key])
    data.update(changes)
    return data


# --- who may see and do what ----------------------------------------------------------------------------

PORTFOLIO_PAGES = ["/segmentation/value/", "/segmentation/value/criterion/", "/segmentation/value/runs/",
                   "/segmentation/value/compare/", "/segmentation/value/overrides/"]


def test_a_relationship_manager_gets_403_on_portfolio_pages_but_sees_own_clients_labels(client, ran, rm, portfolio):
    client.force_login(rm)
    for url in PORTFOLIO_PAGES + [f"/segmentation/runs/{ran.pk}/"]:
        assert client.get(url).status_code == 403, url
    assert client.post("/segmentation/value/run/").status_code == 403
    # …but the 360° page of a client of their team shows its label and why.
    big = portfolio["orgs"][-1]
    page = html(client.get(f"/clients/{big.pk}/"))
    assert 'id="segmentation"' in page
    assert 'data-label="high"' in page and "above the line" in page
    assert f"/segmentation/runs/{ran.pk}/" not in page  # no link into portfolio pages they may not open


def test_viewer_can_look_but_not_run_or_edit(client, ran, viewer):
    client.force_login(viewer)
    for url in PORTFOLIO_PAGES + [f"/segmentation/runs/{ran.pk}/"]:
        assert client.get(url).status_code == 200, url
    overview = html(client.get("/segmentation/value/"))
    assert "Run now" not in overview
    assert client.post("/segmentation/value/run/").status_code == 403
    assert Run.objects.count() == 1
    criterion_page = html(client.get("/segmentation/value/criterion/"))
    assert 'id="criterion-form"' not in criterion_page and "Active criterion, version 1" in criterion_page
    active = Criterion.objects.get(dimension="value", is_active=True)
    response = client.post("/segmentation/value/criterion/", editor_data(active, q="0.3", action="save"))
    assert response.status_code == 403
    assert Criterion.objects.filter(dimension="value").count() == 1


def test_index_opens_the_value_dimension_and_an_unknown_dimension_is_404(client, analyst):
    client.force_login(analyst)
    response = client.get("/segmentation/")
    assert response.status_code == 302 and response["Location"].endswith("/segmentation/value/")
    assert client.get("/segmentation/colour/").status_code == 404
    assert client.get("/segmentation/colour/criterion/").status_code == 404


def test_login_required(client):
    response = client.get("/segmentation/value/")
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- overview -------------------------------------------------------------------------------------------

def test_without_a_run_the_overview_prompts_to_run_and_the_analyst_runs(client, portfolio, analyst):
    client.force_login(analyst)
    page = html(client.get("/segmentation/risk/"))
    assert "No run yet" in page and "Run the classification now" in page
    response = client.post("/segmentation/risk/run/")
    run = Run.objects.get(dimension="risk")
    assert response.status_code == 302 and response["Location"] == f"/segmentation/runs/{run.pk}/"
    assert Assignment.objects.filter(run=run).count() == 43
    page = html(client.get(response["Location"]))
    assert f"Run #{run.pk}" in page


def test_overview_shows_distribution_value_share_methods_near_line_and_queue(client, ran, analyst, portfolio):
    client.force_login(analyst)
    response = client.get("/segmentation/value/")
    page = html(response)
    # the counts and how much of the portfolio's value sits above the line
    assert re.search(r'data-count="upper">\s*8<', page)
    assert re.search(r'data-count="insufficient">\s*3<', page)
    share = ran.diagnostics["portfolio_value_share_upper"]
    assert f"{share * 100:.1f}%" in page
    # charts: the Vega-Lite specs travel as JSON, each with its table view beside it
    specs = re.findall(r'<script id="(chart-[^"]+-spec)" type="application/json">(.*?)</script>', page, re.S)
    names = [name for name, _ in specs]
    assert f"chart-distribution-{ran.pk}-spec" in names and f"chart-lorenz-{ran.pk}-spec" in names
    dist = json.loads(dict(specs)[f"chart-distribution-{ran.pk}-spec"])
    assert dist["datasets"]["line"][0]["threshold"] == pytest.approx(ran.threshold, abs=1e-6)
    assert sum(r["count"] for r in dist["datasets"]["bins"]) == 40
    assert page.count('class="chart-table"') >= 3 and "data:text/csv" in page
    # method comparison: each compared method with its line
    assert 'id="method-comparison"' in page
    for row in ran.comparison:
        assert row["threshold"] is None or f"{row['threshold']:,.3f}" in page
    # near the line: names link to the 360° page
    above = ran.diagnostics["near_line"]["above"][0][0]
    assert f'href="/clients/{above}/"' in page
    # the work queue says what is missing, in words
    for org in portfolio["thin"]:
        assert org.legal_name in page
    assert "Too little history" in page
    assert "vega-bundle.js" in page and off_site_references(page) == []


def test_the_insufficient_queue_pages_through_htmx(client, ran, analyst, settings):
    client.force_login(analyst)
    response = client.get("/segmentation/value/", {"page": 1}, HTTP_HX_REQUEST="true",
                          HTTP_HX_TARGET="insufficient-queue")
    page = html(response)
    assert "<html" not in page and "Unknown 0" in page


# --- criterion editor: preview, save, errors, conflicts -------------------------------------------------

def test_preview_shows_who_would_move_and_writes_nothing(client, ran, analyst):
    client.force_login(analyst)
    active = Criterion.objects.get(dimension="value", is_active=True)
    labels_before = list(ClientLabels.objects.order_by("pk").values_list("organization_id", "value"))
    response = client.post("/segmentation/value/criterion/",
                           editor_data(active, q="0.3", hysteresis_margin="0", action="preview"))
    page = html(response)
    assert response.status_code == 200
    assert 'id="preview"' in page
    assert "4 clients would rise to “High value”" in page  # 12 of 40 instead of 8 (no hysteresis band)
    assert re.search(r'data-label="high"><th scope="row">High value</th><td class="num">8</td><td class="num">12</td>',
                     page)
    moved = set(Assignment.objects.filter(run=ran, label="general").order_by("-score")
                .values_list("organization__legal_name", flat=True)[:4])
    for name in moved:
        assert name in page
    assert Criterion.objects.filter(dimension="value").count() == 1
    assert Run.objects.count() == 1
    assert list(ClientLabels.objects.order_by("pk").values_list("organization_id", "value")) == labels_before
    # the form keeps what was typed, ready to save
    assert 'name="q" value="0.3"' in page


def test_save_makes_a_new_version_shown_in_the_history(client, ran, analyst):
    client.force_login(analyst)
    active = Criterion.objects.get(dimension="value", is_active=True)
    response = client.post("/segmentation/value/criterion/",
                           editor_data(active, q="30%", note="Top 30 % this year", action="save"))
    assert response.status_code == 302
    new = Criterion.objects.get(dimension="value", is_active=True)
    assert new.version == 2 and new.params == {"q": 0.3} and new.note == "Top 30 % this year"
    assert new.created_by == analyst
    page = html(client.get("/segmentation/value/criterion/"))
    assert 'data-version="2"' in page and "Top 30 % this year" in page and "analyst_user" in page
    # htmx gets a client-side redirect instead of a page pasted into the form
    response = client.post("/segmentation/value/criterion/", editor_data(new, q="0.25", action="save"),
                           HTTP_HX_REQUEST="true", HTTP_HX_TARGET="criterion-editor")
    assert response.status_code == 200 and response["HX-Redirect"].endswith("/segmentation/value/criterion/")
    assert Criterion.objects.get(dimension="value", is_active=True).version == 3


def test_bad_input_shows_errors_next_to_the_fields_and_saves_nothing(client, ran, analyst):
    client.force_login(analyst)
    active = Criterion.objects.get(dimension="value", is_active=True)
    data = editor_data(active, action="save", q="1.5", min_completeness="2", **{"features-1-weight": "heavy"})
    response = client.post("/segmentation/value/criterion/", data)
    page = html(response)
    assert response.status_code == 200
    assert "The criterion is not valid." in page
    # the weight error sits in the row it belongs to
    row = re.search(r'<tr class="row-error" data-row="1">(.*?)</tr>', page, re.S)
    assert row and "Enter a number." in row.group(1)
    assert re.search(r'<td class="weight has-error">', row.group(1))
    assert 'class="cell has-error"' not in row.group(1)  # only the weight is marked
    assert re.search(r'<tr class="" data-row="0">', page)
    # the parameter and the completeness errors sit by their fields
    q_field = re.search(r'data-param="q">(.*?)</div>\s*</div>', page, re.S).group(1)
    assert "has-error" in q_field and "errorlist" in q_field
    assert "Enter a number from 0 to 1." in page
    assert Criterion.objects.filter(dimension="value").count() == 1
    # a removed row is dropped, a blank row ignored: the rest previews fine
    data = editor_data(active, action="preview", **{"features-4-DELETE": "on"})
    page = html(client.post("/segmentation/value/criterion/", data))
    assert 'id="preview"' in page and "not valid" not in page


def test_a_duplicate_feature_and_an_unknown_method_parameter_are_refused(client, ran, analyst):
    client.force_login(analyst)
    active = Criterion.objects.get(dimension="value", is_active=True)
    data = editor_data(active, action="preview", **{"features-1-feature": "committed_amount"})
    page = html(client.post("/segmentation/value/criterion/", data))
    assert "Each feature may appear once." in page and 'id="preview"' not in page
    data = editor_data(active, action="preview", method="fixed", threshold="abc")
    page = html(client.post("/segmentation/value/criterion/", data))
    assert "must be a number" in page and 'id="preview"' not in page


def test_saving_from_a_stale_version_is_a_conflict(client, ran, analyst, lead):
    client.force_login(analyst)
    v1 = Criterion.objects.get(dimension="value", is_active=True)
    services.criterion_create_version(actor=lead, dimension="value", spec={"params": {"q": 0.25}}, base_version=1)
    response = client.post("/segmentation/value/criterion/", editor_data(v1, q="0.3", action="save"))
    page = html(response)
    assert response.status_code == 200
    assert "Someone saved version 2 of this criterion since you opened it" in page
    assert Criterion.objects.get(dimension="value", is_active=True).params == {"q": 0.25}


def test_saving_an_unchanged_criterion_says_so(client, ran, analyst):
    client.force_login(analyst)
    active = Criterion.objects.get(dimension="value", is_active=True)
    page = html(client.post("/segmentation/value/criterion/", editor_data(active, action="save")))
    assert "Nothing changed" in page
    assert Criterion.objects.filter(dimension="value").count() == 1


def test_rows_are_added_without_script_and_old_versions_load_into_the_editor(client, ran, analyst):
    client.force_login(analyst)
    active = Criterion.objects.get(dimension="value", is_active=True)
    data = editor_data(active, action="add_feature", q="0.3")
    page = html(client.post("/segmentation/value/criterion/", data))
    # six default features (with predicted_clv) + the spare rows + the one added
    assert 'name="features-TOTAL_FORMS" value="9"' in page and 'name="features-8-feature"' in page
    assert 'name="q" value="0.3"' in page and 'id="preview"' not in page
    page = html(client.post("/segmentation/value/criterion/", editor_data(active, action="add_rule")))
    assert 'name="rules-1-feature"' in page
    services.criterion_create_version(actor=analyst, dimension="value", spec={"params": {"q": 0.4}})
    page = html(client.get("/segmentation/value/criterion/", {"version": 1}))
    assert "Version 1 is loaded into the editor" in page
    assert 'name="q" value="0.2"' in page and 'name="base_version" value="2"' in page


def test_rules_round_trip_through_the_editor(client, portfolio, analyst):
    client.force_login(analyst)
    risk = services.criterion_active("risk")
    data = editor_data(risk, action="save", note="sanctions and a rating floor",
                       **{"rules-1-feature": "rating_score", "rules-1-op": ">=", "rules-1-value": "20",
                          "rules-1-label": "lower", "rules-TOTAL_FORMS": "3"})
    assert client.post("/segmentation/risk/criterion/", data).status_code == 302
    new = Criterion.objects.get(dimension="risk", is_active=True)
    assert new.rules == [{"feature": "sanctions_flag", "op": "==", "value": 1.0, "label": "lower"},
                         {"feature": "rating_score", "op": ">=", "value": 20.0, "label": "lower"}]
    data = editor_data(new, action="preview", **{"rules-0-value": "x"})
    page = html(client.post("/segmentation/risk/criterion/", data))
    assert "Enter a number." in page and 'id="preview"' not in page


# --- runs, migration matrix ---------------------------------------------------------------------------

def test_run_page_filters_assignments_by_label_and_pages(client, ran, analyst, settings):
    client.force_login(analyst)
    page = html(client.get(f"/segmentation/runs/{ran.pk}/", {"label": "insufficient"}))
    assert "Unknown 0" in page and "Investor 39" not in page
    page = html(client.get(f"/segmentation/runs/{ran.pk}/", {"label": "high"}))
    assert "Investor 39" in page and "Investor 00" not in page and "Unknown 0" not in page
    partial = html(client.get(f"/segmentation/runs/{ran.pk}/", {"label": "general", "page": 1},
                              HTTP_HX_REQUEST="true", HTTP_HX_TARGET="assignments"))
    assert "<html" not in partial and "Investor 00" in partial
    assert "1–32 of 32" in partial
    # stability and completeness are shown per row
    assert "100%" in partial


def test_compare_two_runs_with_a_heatmap_and_drill_down(client, ran, analyst, lead, portfolio):
    client.force_login(analyst)
    services.criterion_create_version(actor=analyst, dimension="value",
                                      spec={"params": {"q": 0.3}, "hysteresis_margin": 0})
    second = services.run_segmentation(actor=analyst, dimension="value").run
    page = html(client.get("/segmentation/value/compare/"))  # the latest two by default
    assert 'id="migration-matrix"' in page and f"chart-migration-{ran.pk}-{second.pk}-spec" in page
    assert "4 of 43 moved" in page
    page = html(client.get("/segmentation/value/compare/", {"a": ran.pk, "b": second.pk, "from": "general",
                                                            "to": "high"}))
    moved = Assignment.objects.filter(run=second, label="high", previous_label="general")
    assert moved.count() == 4
    for a in moved.select_related("organization"):
        assert a.organization.legal_name in page
    # a run of another dimension is not a choice here
    risk = services.run_segmentation(actor=analyst, dimension="risk").run
    page = html(client.get("/segmentation/value/compare/", {"a": ran.pk, "b": risk.pk}))
    assert "Select a valid choice" in page and 'id="migration-matrix"' not in page


# --- client list and 360° card ---------------------------------------------------------------------------

def test_client_list_filters_by_label_and_shows_badges(client, ran, analyst, portfolio):
    client.force_login(analyst)
    page = html(client.get("/clients/", {"value": "high"}))
    assert page.count('data-dimension="value" data-label="high"') == 8
    assert "Investor 39" in page and "Investor 00" not in page
    page = html(client.get("/clients/", {"value": "insufficient"}))
    assert "Unknown 1" in page and "Investor" not in page.split('id="org-results"')[1]
    page = html(client.get("/clients/", {"value": "strategic"}))  # not a value label
    assert "Correct the filters above" in page


def test_client_list_label_column_costs_no_query(client, ran, analyst, django_assert_max_num_queries):
    client.force_login(analyst)
    with django_assert_max_num_queries(11):  # test_web's LIST_PAGE_QUERIES: saved views, bulk bar, tier note
        client.get("/clients/")


def test_360_card_shows_three_labels_why_and_overrides(client, ran, lead, portfolio, django_assert_max_num_queries):
    big = portfolio["orgs"][-1]
    client.force_login(lead)
    # the 360° page's queries + assignments + overrides; a classified client without an open task also has its
    # next step planned from the playbook: its steps, its last interaction of each kind and its team's
    # working calendar (calendar, assignment and days) — the labels and tier come joined to the client; the
    # deal walls the reader is outside of (one query, financing.walls); +5: the relationship-strength card
    # (bcrm.intel)
    with django_assert_max_num_queries(33):
        page = html(client.get(f"/clients/{big.pk}/"))
    card = page.split('id="segmentation"')[1].split("</section>")[0]
    assert 'data-dimension="value" data-label="high"' in card
    assert re.search(r"Score \d\.\d{3} is \d\.\d{3} above the line at \d\.\d{3}\.", card)
    assert "Committed amount" in card and "lifts the score" in card
    assert "Not classified yet" in card  # risk and relationship have not run
    assert 'name="target"' in page and "Set a label by hand" in page
    thin = portfolio["thin"][0]
    card = html(client.get(f"/clients/{thin.pk}/")).split('id="segmentation"')[1]
    assert "Insufficient data" in card and "Too little history" in card


def test_an_analyst_sees_labels_but_no_override_form(client, ran, analyst, portfolio):
    client.force_login(analyst)
    page = html(client.get(f"/clients/{portfolio['orgs'][0].pk}/"))
    assert 'id="segmentation"' in page and 'name="target"' not in page
    response = client.post(f"/segmentation/clients/{portfolio['orgs'][0].pk}/override/",
                           {"target": "value:high", "reason": "x", "expires_on": "2099-01-01"})
    assert response.status_code == 403 and not Override.objects.exists()


def test_a_lead_overrides_a_label_and_ends_it(client, ran, lead, portfolio):
    small = portfolio["orgs"][0]
    client.force_login(lead)
    until = TODAY + dt.timedelta(days=30)
    response = client.post(f"/segmentation/clients/{small.pk}/override/", {
        "target": "value:high", "reason": "Mandate signed for a 2 GW programme", "expires_on": until.isoformat()})
    assert response.status_code == 302 and response["Location"] == f"/clients/{small.pk}/#segmentation"
    override = Override.objects.get()
    assert (override.dimension, override.label, override.author) == ("value", "high", lead)
    assert timezone.localtime(override.expires_at).date() == until  # to the end of the day chosen
    assert ClientLabels.objects.get(organization=small).value == "high"
    page = html(client.get(f"/clients/{small.pk}/"))
    assert "Set by hand" in page and "Mandate signed for a 2 GW programme" in page
    listing = html(client.get("/segmentation/value/overrides/"))
    assert "Mandate signed" in listing and small.legal_name in listing
    response = client.post(f"/segmentation/overrides/{override.pk}/end/", {"next": f"/clients/{small.pk}/"})
    assert response.status_code == 302 and response["Location"] == f"/clients/{small.pk}/"
    override.refresh_from_db()
    assert override.revoked_at is not None
    assert ClientLabels.objects.get(organization=small).value == "general"
    assert "Mandate signed" in html(client.get("/segmentation/value/overrides/", {"state": "ended"}))


@pytest.mark.parametrize("data, message", [
    ({"target": "value:high", "reason": "", "expires_on": "2099-01-01"}, "This field is required."),
    ({"target": "value:high", "reason": "Why not", "expires_on": "2001-01-01"}, "The expiry must be in the future."),
    ({"target": "value:high", "reason": "Why not", "expires_on": "2099-01-01"}, "at most two years"),
    ({"target": "value:insufficient", "reason": "Why not", "expires_on": "2027-01-01"}, "Select a valid choice"),
])
def test_bad_overrides_show_the_error_and_keep_the_input(client, ran, lead, portfolio, data, message):
    client.force_login(lead)
    response = client.post(f"/segmentation/clients/{portfolio['orgs'][0].pk}/override/", data)
    page = html(response)
    assert response.status_code == 200 and message in page
    if data["reason"]:
        assert data["reason"] in page
    assert not Override.objects.exists()


def test_compliance_may_override_risk_only(client, portfolio, analyst, compliance):
    services.run_segmentation(actor=analyst, dimension="risk")
    client.force_login(compliance)
    org = portfolio["orgs"][5]
    page = html(client.get(f"/clients/{org.pk}/"))
    assert 'value="risk:low"' in page and 'value="value:high"' not in page
    response = client.post(f"/segmentation/clients/{org.pk}/override/",
                           {"target": "value:high", "reason": "no", "expires_on": "2027-01-01"})
    assert response.status_code == 200 and not Override.objects.exists()
    response = client.post(f"/segmentation/clients/{org.pk}/override/", {
        "target": "risk:high", "reason": "Adverse media", "expires_on": (TODAY + dt.timedelta(days=10)).isoformat()})
    assert response.status_code == 302
    assert ClientLabels.objects.get(organization=org).risk == "high"


def test_a_relationship_manager_cannot_override_or_end(client, ran, rm, lead, portfolio):
    org = portfolio["orgs"][0]
    override = services.override_create(actor=lead, organization=org, dimension="value", label="high",
                                        reason="Board decision", expires_at=timezone.now() + dt.timedelta(days=5))
    client.force_login(rm)
    page = html(client.get(f"/clients/{org.pk}/"))
    assert "Board decision" in page and "End override" not in page and 'name="target"' not in page
    assert client.post(f"/segmentation/overrides/{override.pk}/end/").status_code == 403
    override.refresh_from_db()
    assert override.revoked_at is None


def test_the_method_in_use_is_marked_even_when_its_parameters_differ_from_the_comparison(client, ran, analyst):
    services.criterion_create_version(actor=analyst, dimension="value", spec={"params": {"q": 0.3}})
    run = services.run_segmentation(actor=analyst, dimension="value").run
    client.force_login(analyst)
    page = html(client.get("/segmentation/value/"))
    table = page.split('id="method-comparison"')[1].split("</table>")[0]
    current = re.findall(r'<tr class="current-row">(.*?)</tr>', table, re.S)
    assert len(current) == 1 and "q = 0.3" in current[0] and f"{run.threshold:,.3f}" in current[0]
    assert "q = 0.2" not in table  # the engine compares the method in use at its own parameters
