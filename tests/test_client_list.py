"""Issue 13, "The daily hour": the client list's tier, sort, exports, remembered filters, saved views and
bulk edits, through the page, the API and the services."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from bcrm.audit.models import AuditEntry
from bcrm.core.errors import InvalidInput
from bcrm.parties import services
from bcrm.parties.models import Organization, SavedView
from bcrm.playbooks.models import ClientTier
from bcrm.playbooks.policy import tier_for
from bcrm.playbooks.selectors import active_policy
from bcrm.segmentation import services as segmentation_services
from bcrm.segmentation.models import ClientLabels
from tests.doors import Api
from tests.factories import make_org, make_participation, make_project, make_user

pytestmark = pytest.mark.django_db
TODAY = dt.date.today()


def html(response) -> str:
    return response.content.decode()


def label(org, value="", risk="", relationship="", tier=None):
    ClientLabels.objects.update_or_create(organization=org, defaults={
        "value": value, "risk": risk, "relationship": relationship})
    if tier:
        ClientTier.objects.update_or_create(organization=org, defaults={
            "tier": tier, "policy_version": 1, "since": timezone.now()})


@pytest.fixture
def book(team, other_team):
    """Five clients of the Energy Desk (two dedicated) and one of the Platform Desk."""
    orgs = {
        "alpha": make_org(legal_name="Alpha Capital", country="CN", team=team),
        "bravo": make_org(legal_name="Bravo Bank", country="SG", team=team, kind="commercial_bank"),
        "charlie": make_org(legal_name="Charlie Fund", country="DE", team=team),
        "delta": make_org(legal_name="Delta Partners", country="CN", team=team),
        "echo": make_org(legal_name="Echo Infra", country="FR", team=team),
        "foreign": make_org(legal_name="Foxtrot Ventures", country="SG", team=other_team),
    }
    label(orgs["alpha"], "high", "low", "strategic", "dedicated")
    label(orgs["bravo"], "general", "high", "ordinary", "standard")
    label(orgs["charlie"], "high", "low", "ordinary", "dedicated")
    label(orgs["delta"], "general", "low", "ordinary", "standard")
    return orgs


def names(page: str) -> list[str]:
    """The client names in the results table, in order."""
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(r'<a class="strong" href="/clients/\d+/">([^<]+)</a>', body)


# --- 1. service tier: column, filter (page, API, export), and a run moves it at once ----------------------

def test_tier_column_and_filter_on_the_page(client, lead, book):
    client.force_login(lead)
    page = html(client.get("/clients/", {"tier": "dedicated"}))
    assert names(page) == ["Alpha Capital", "Charlie Fund"]
    assert page.count('data-tier="dedicated"') == 2
    assert "Dedicated service" in page
    page = html(client.get("/clients/", {"tier": "standard"}, HTTP_ACCEPT_LANGUAGE="zh-hans"))
    assert names(page) == ["Bravo Bank", "Delta Partners"] and "标准服务" in page
    assert "Correct the filters above" in html(client.get("/clients/", {"tier": "gold"}))


def test_tier_filter_in_the_api(lead, book):
    status, body = Api(lead).call("get", "/organizations?tier=dedicated")
    assert status == 200 and [o["legal_name"] for o in body["items"]] == ["Alpha Capital", "Charlie Fund"]
    status, body = Api(lead).call("get", "/organizations?tier=gold")
    assert status == 422 and body["error"]["code"] == "invalid"


@pytest.fixture
def portfolio(team):
    project = make_project(name="Offshore Wind")
    orgs = []
    for i in range(20):
        org = make_org(legal_name=f"Investor {i:02d}", team=team, country="CN", kyc_status="verified",
                       rating_agency="internal", rating_grade=str(1 + i % 20), rating_score=1 + i % 20,
                       relationship_since=TODAY - dt.timedelta(days=400 + 30 * i))
        make_participation(project, org, amount=Decimal(10_000 * (i + 1) ** 2), status="funded",
                           fee_income=Decimal(100 * (i + 1)), status_changed_at=timezone.now() - dt.timedelta(days=60))
        orgs.append(org)
    return orgs


def test_a_classification_run_moves_the_tiers_of_the_clients_it_relabels(analyst, lead, portfolio, client):
    assert not ClientTier.objects.exists()
    segmentation_services.run_segmentation(actor=analyst, dimension="value")
    rules = active_policy().rules
    labels = {row.organization_id: row for row in ClientLabels.objects.all()}
    tiers = dict(ClientTier.objects.values_list("organization_id", "tier"))
    assert set(tiers) == {o.pk for o in portfolio}
    for org in portfolio:
        row = labels[org.pk]
        expected = tier_for({"value": row.value, "risk": row.risk, "relationship": row.relationship}, rules)[0]
        assert tiers[org.pk] == expected
    high = [pk for pk, row in labels.items() if row.value == "high"]
    assert high and all(tiers[pk] == "dedicated" for pk in high)  # the default policy: high value is dedicated
    # The list shows it without waiting for the automation.
    client.force_login(lead)
    page = html(client.get("/clients/", {"tier": "dedicated"}))
    assert len(names(page)) == len(high)


def test_an_override_moves_the_tier_at_once(lead, book):
    delta = book["delta"]
    assert ClientTier.objects.get(organization=delta).tier == "standard"
    segmentation_services.override_create(actor=lead, organization=delta, dimension="value", label="high",
                                          reason="Anchor investor", expires_at=timezone.now() + dt.timedelta(days=30))
    assert ClientTier.objects.get(organization=delta).tier == "dedicated"


def test_a_large_run_leaves_tiers_to_the_automation_and_the_list_says_when(analyst, lead, portfolio, client,
                                                                           settings):
    from bcrm.playbooks.automation import run_automation
    from bcrm.playbooks.models import AutomationSchedule

    settings.BCRM_TIER_INLINE_LIMIT = 5
    segmentation_services.run_segmentation(actor=analyst, dimension="value")
    assert not ClientTier.objects.exists()
    hour = AutomationSchedule.objects.get(key="daily").hour
    client.force_login(lead)
    page = html(client.get("/clients/"))
    assert 'id="tiers-pending"' in page and f"{hour:02d}:00" in page
    assert "at the next automation run" in page
    page = html(client.get("/clients/", HTTP_ACCEPT_LANGUAGE="zh-hans"))
    assert "下次自动化运行" in page
    run_automation(actor=None)
    assert ClientTier.objects.count() == len(portfolio)
    assert AutomationSchedule.objects.get(key="daily").tiers_stale_since is None
    assert 'id="tiers-pending"' not in html(client.get("/clients/"))


# --- 2. exports keep every filter, through htmx too, and carry the classes -------------------------------

def test_htmx_swap_carries_export_links_with_the_current_filters(client, lead, book):
    client.force_login(lead)
    response = client.get("/clients/", {"value": "high", "country": "CN"}, HTTP_HX_REQUEST="true",
                          HTTP_HX_TARGET="org-results")
    page = html(response)
    assert "<html" not in page
    assert 'id="export-csv" href="/data/export/organizations/?country=CN&amp;value=high"' in page
    assert 'href="/data/export/organizations/?country=CN&amp;value=high&amp;format=xlsx"' in page


def test_export_applies_label_and_tier_filters(client, lead, book):
    client.force_login(lead)
    rows = export_rows(client.get("/data/export/organizations/", {"value": "high", "headers": "name"}))
    assert sorted(r["legal_name"] for r in rows) == ["Alpha Capital", "Charlie Fund"]
    rows = export_rows(client.get("/data/export/organizations/", {"tier": "standard", "country": "SG",
                                                                  "headers": "name"}))
    assert [r["legal_name"] for r in rows] == ["Bravo Bank"]


def test_export_sorts_like_the_list(client, lead, book):
    client.force_login(lead)
    rows = export_rows(client.get("/data/export/organizations/", {"sort": "-name", "headers": "name"}))
    assert [r["legal_name"] for r in rows][:2] == ["Foxtrot Ventures", "Echo Infra"]


def test_export_carries_class_codes_and_names_in_the_readers_language(client, lead, book):
    client.force_login(lead)
    rows = export_rows(client.get("/data/export/organizations/", {"q": "Alpha", "headers": "en"}))
    assert rows[0]["value_label"] == "high" and rows[0]["Value class"] == "High value"
    assert rows[0]["risk_label"] == "low" and rows[0]["Risk class"] == "Low risk"
    assert rows[0]["relationship_label"] == "strategic" and rows[0]["Relationship class"] == "Strategic partner"
    assert rows[0]["tier"] == "dedicated" and rows[0]["Service tier"] == "Dedicated service"
    rows = export_rows(client.get("/data/export/organizations/", {"q": "Alpha"}, HTTP_ACCEPT_LANGUAGE="zh-hans"))
    assert rows[0]["value_label"] == "high" and rows[0]["价值分类"] == "高价值客户"
    assert rows[0]["服务层级"] == "专属服务"
    # A client never classified: empty cells, not a guess.
    rows = export_rows(client.get("/data/export/organizations/", {"q": "Echo", "headers": "en"}))
    assert rows[0]["value_label"] == "" and rows[0]["Service tier"] == ""


def test_api_and_cli_exports_take_the_same_filters(lead, book, tmp_path):
    from django.core.management import call_command

    api = Api(lead)
    response = api.request("get", "/exports/organizations", data={"tier": "dedicated", "headers": "name"})
    assert sorted(r["legal_name"] for r in export_rows(response)) == ["Alpha Capital", "Charlie Fund"]
    target = tmp_path / "out.csv"
    call_command("export", "organizations", str(target), "--value", "general", "--risk", "high",
                 "--as", lead.username, stdout=io.StringIO(), stderr=io.StringIO())
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert [r["legal_name"] for r in rows] == ["Bravo Bank"] and rows[0]["risk_label"] == "high"


def export_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.content[:300]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


# --- 3. sort by column header --------------------------------------------------------------------------

def test_header_links_toggle_the_sort_and_keep_the_filters(client, lead, book):
    client.force_login(lead)
    page = html(client.get("/clients/", {"team": book["alpha"].team_id}))
    assert names(page) == ["Alpha Capital", "Bravo Bank", "Charlie Fund", "Delta Partners", "Echo Infra"]
    team = book["alpha"].team_id
    assert f'data-sort="name" href="/clients/?team={team}&amp;sort=-name"' in page  # sorted by name: next is Z→A
    assert f'data-sort="country" href="/clients/?team={team}&amp;sort=country"' in page
    assert f'hx-get="/clients/?team={team}&amp;sort=tier"' in page
    page = html(client.get("/clients/", {"team": team, "sort": "-name"}, HTTP_HX_REQUEST="true",
                           HTTP_HX_TARGET="org-results"))
    assert names(page) == ["Echo Infra", "Delta Partners", "Charlie Fund", "Bravo Bank", "Alpha Capital"]
    assert f'data-sort="name" href="/clients/?team={team}&amp;sort=name"' in page
    # The partial also swaps the form's sort field, so the next filter change keeps this sort.
    assert 'id="org-sort-filter" hx-swap-oob="true"' in page and '<option value="-name" selected>' in page


def test_sort_by_class_and_tier_puts_unclassified_last_and_breaks_ties_by_id(client, lead, book):
    client.force_login(lead)
    team = book["alpha"].team_id
    page = html(client.get("/clients/", {"team": team, "sort": "tier"}))
    by_tier = names(page)
    assert by_tier[:2] == ["Alpha Capital", "Charlie Fund"]  # dedicated, by id
    assert by_tier[2:4] == ["Bravo Bank", "Delta Partners"] and by_tier[-1] == "Echo Infra"
    # Classes sort by meaning: high value first, then general, then the never classified.
    page = html(client.get("/clients/", {"team": team, "sort": "value"}))
    assert names(page) == ["Alpha Capital", "Charlie Fund", "Bravo Bank", "Delta Partners", "Echo Infra"]
    page = html(client.get("/clients/", {"team": team, "sort": "-value"}))
    assert names(page) == ["Delta Partners", "Bravo Bank", "Charlie Fund", "Alpha Capital", "Echo Infra"]


def test_equal_names_keep_one_order_by_id(lead, team):
    twins = [make_org(legal_name="Same Name", team=team) for _ in range(4)]
    from bcrm.parties.selectors import organization_list

    assert list(organization_list(actor=lead, filters={"sort": "name"})) == twins
    assert list(organization_list(actor=lead, filters={"sort": "-name"})) == twins[::-1]


def test_unknown_sort_key_is_refused_on_page_and_api(client, lead, book):
    client.force_login(lead)
    page = html(client.get("/clients/", {"sort": "legal_name; drop table"}))
    assert "Correct the filters above" in page and "Alpha Capital" not in page
    status, body = Api(lead).call("get", "/organizations?sort=password")
    assert status == 422
    assert set(body) == {"error"} and body["error"]["code"] == "invalid"
    assert [f["path"] for f in body["error"]["fields"]] == ["sort"]
    status, body = Api(lead).call("get", "/organizations?sort=-tier")
    assert status == 200 and body["items"][-1]["legal_name"] in {"Echo Infra", "Foxtrot Ventures"}


# --- 4. the last used filters come back ----------------------------------------------------------------

def test_bare_list_restores_the_last_filters_until_cleared(client, lead, book):
    client.force_login(lead)
    client.get("/clients/", {"value": "high", "sort": "-name", "page": "1"})
    response = client.get("/clients/")
    assert response.status_code == 302 and response["Location"] == "/clients/?value=high&sort=-name"
    page = html(client.get(response["Location"]))
    assert 'id="clear-filters" href="/clients/?clear=1"' in page
    # Filters changed through htmx are remembered too.
    client.get("/clients/", {"country": "SG"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="org-results")
    assert client.get("/clients/")["Location"] == "/clients/?country=SG"
    assert 'id="reset-filters" href="/clients/?clear=1"' in page  # the form's Reset forgets them too
    response = client.get("/clients/", {"clear": "1"})
    assert response.status_code == 302 and response["Location"] == "/clients/"
    page = html(client.get("/clients/"))
    assert "Foxtrot Ventures" in page and 'id="clear-filters"' not in page


def test_invalid_filters_are_not_remembered(client, lead, book):
    client.force_login(lead)
    client.get("/clients/", {"kind": "spaceship"})
    assert client.get("/clients/").status_code == 200


def test_remembered_filters_are_per_user(client, lead, admin, book):
    client.force_login(lead)
    client.get("/clients/", {"value": "high"})
    other = Client()
    other.force_login(admin)
    assert other.get("/clients/").status_code == 200


# --- 5. saved views -------------------------------------------------------------------------------------

def test_save_open_and_delete_a_view(client, lead, book):
    client.force_login(lead)
    response = client.post("/clients/views/", {"name": " High value CN ", "query": "value=high&country=CN&page=3&x=1"})
    view = SavedView.objects.get()
    assert (view.owner, view.page, view.name, view.query) == (lead, "clients", "High value CN", "country=CN&value=high")
    assert response.status_code == 302 and response["Location"] == "/clients/?country=CN&value=high"
    page = html(client.get("/clients/?country=CN&value=high"))
    assert 'data-view="High value CN"' in page and 'href="/clients/?country=CN&amp;value=high">High value CN' in page
    assert names(page) == ["Alpha Capital"]
    response = client.post(f"/clients/views/{view.pk}/delete/", {"next": "/clients/?country=CN"})
    assert response.status_code == 302 and response["Location"] == "/clients/?country=CN"
    assert not SavedView.objects.exists()


@pytest.mark.parametrize(("language", "empty", "duplicate"), [
    ("en", "Give the view a name.", "You already have a view named “Mine” on this page."),
    ("zh-hans", "请为视图命名。", "您在此页面上已有名为“Mine”的视图。"),
])
def test_empty_or_duplicate_view_name_is_refused_in_both_languages(client, lead, language, empty, duplicate):
    client.force_login(lead)
    response = client.post("/clients/views/", {"name": "  ", "query": "value=high"}, HTTP_ACCEPT_LANGUAGE=language,
                           follow=True)
    assert empty in html(response) and not SavedView.objects.exists()
    services.saved_view_create(actor=lead, page="clients", name="Mine", query="")
    response = client.post("/clients/views/", {"name": "Mine", "query": "value=high"}, HTTP_ACCEPT_LANGUAGE=language,
                           follow=True)
    assert duplicate in html(response) and SavedView.objects.count() == 1


def test_view_names_are_unique_per_owner_and_page_only(lead, admin):
    services.saved_view_create(actor=lead, page="clients", name="Mine", query="")
    services.saved_view_create(actor=admin, page="clients", name="Mine", query="")
    with pytest.raises(InvalidInput):
        services.saved_view_create(actor=lead, page="clients", name="Mine", query="sort=tier")
    with pytest.raises(InvalidInput):
        services.saved_view_create(actor=lead, page="clients", name="Bad", query="sort=nonsense")


def test_shared_views_reach_the_team_and_only_the_owner_deletes(client, rm, team, other_rm):
    mate = make_user("rm_mate", "relationship_manager", team=team)
    shared = services.saved_view_create(actor=rm, page="clients", name="Team book", query="tier=dedicated", shared=True)
    services.saved_view_create(actor=rm, page="clients", name="Private", query="")
    client.force_login(mate)
    page = html(client.get("/clients/", {"q": "x"}))
    assert 'data-view="Team book"' in page and 'data-view="Private"' not in page
    assert client.post(f"/clients/views/{shared.pk}/delete/").status_code == 403
    client.force_login(other_rm)
    assert 'data-view="Team book"' not in html(client.get("/clients/", {"q": "x"}))
    assert client.post(f"/clients/views/{shared.pk}/delete/").status_code == 404
    assert SavedView.objects.filter(pk=shared.pk).exists()


# --- 6. bulk edits --------------------------------------------------------------------------------------

def test_lead_bulk_assigns_a_team_with_audit_and_versions(client, lead, book, other_team):
    client.force_login(lead)
    ids = [book["alpha"].pk, book["bravo"].pk]
    response = client.post("/clients/bulk/", {"ids": ids, "action": "assign_team", "team": other_team.pk,
                                              "next": "/clients/?value=high"}, follow=True)
    assert response.redirect_chain[-1][0] == "/clients/?value=high"
    assert "2 clients changed, 0 already had it, 0 refused." in html(response)
    for pk in ids:
        org = Organization.objects.get(pk=pk)
        assert org.team == other_team and org.version == 2
        entry = AuditEntry.objects.filter(object_id=str(pk), action="update").get()
        assert entry.changes["team"] == [book["alpha"].team_id, other_team.pk] and entry.actor == lead


def test_bulk_add_tag_keeps_the_existing_tags(lead, book):
    services.organization_update(actor=lead, organization=book["alpha"], data={}, expected_version=None,
                                 tags=["core"])
    result = services.organization_bulk_update(actor=lead, ids=[book["alpha"].pk, book["bravo"].pk],
                                               action="add_tag", value=" priority ")
    assert sorted(result.changed) == sorted([book["alpha"].pk, book["bravo"].pk])
    assert sorted(t.name for t in Organization.objects.get(pk=book["alpha"].pk).tags.all()) == ["core", "priority"]
    again = services.organization_bulk_update(actor=lead, ids=[book["alpha"].pk], action="add_tag", value="priority")
    assert again.unchanged == [book["alpha"].pk] and not again.changed


def test_relationship_manager_cannot_touch_another_teams_client(client, rm, book):
    client.force_login(rm)
    response = client.post("/clients/bulk/", {"ids": [book["alpha"].pk, book["foreign"].pk], "action": "add_tag",
                                              "tag": "review"}, follow=True)
    page = html(response)
    assert "1 clients changed, 0 already had it, 1 refused." in page
    assert f"Refused: — (#{book['foreign'].pk}): Not found, or you may not see it." in page
    assert [t.name for t in Organization.objects.get(pk=book["alpha"].pk).tags.all()] == ["review"]
    assert not Organization.objects.get(pk=book["foreign"].pk).tags.exists()


def test_relationship_manager_assigns_only_their_own_teams(client, rm, team, other_team, book):
    client.force_login(rm)
    response = client.post("/clients/bulk/", {"ids": [book["alpha"].pk], "action": "assign_team",
                                              "team": other_team.pk}, follow=True)
    assert "You may only assign one of your own teams." in html(response)
    assert Organization.objects.get(pk=book["alpha"].pk).team == team
    # The same rule holds for the single edit: one service.
    with pytest.raises(InvalidInput):
        services.organization_update(actor=rm, organization=book["alpha"], data={"team": other_team},
                                     expected_version=None)
    page = html(client.get("/clients/", {"q": "Alpha"}))
    bar = page.split('id="bulk-form"')[1].split("</form>")[0]
    teams = bar.split('name="team"')[1].split("</select>")[0]    # the team choice (users have ids too)
    assert f'<option value="{team.pk}">' in teams and f'<option value="{other_team.pk}">' not in teams


def test_single_edit_form_offers_a_relationship_manager_only_their_teams(client, rm, team, other_team, book):
    foreign_managed = make_org(legal_name="Golf Partners", team=other_team, relationship_manager=rm)
    client.force_login(rm)
    teams = client.get(f"/clients/{book['alpha'].pk}/edit/").context["form"].fields["team"].queryset
    assert list(teams) == [team]
    # A client of another team they manage keeps its team on an unchanged save.
    teams = client.get(f"/clients/{foreign_managed.pk}/edit/").context["form"].fields["team"].queryset
    assert set(teams) == {team, other_team}
    assert set(client.get("/clients/new/").context["form"].fields["team"].queryset) == {team}


def test_viewer_cannot_bulk_edit_nor_sees_the_bar(client, viewer, book):
    client.force_login(viewer)
    assert 'id="bulk-form"' not in html(client.get("/clients/"))
    response = client.post("/clients/bulk/", {"ids": [book["alpha"].pk], "action": "add_tag", "tag": "x"})
    assert response.status_code == 403
    assert not Organization.objects.get(pk=book["alpha"].pk).tags.exists()


def test_bulk_bad_input(client, lead, book):
    client.force_login(lead)
    page = html(client.post("/clients/bulk/", {"ids": [], "action": "add_tag", "tag": "x"}, follow=True))
    assert "Select at least one client." in page
    page = html(client.post("/clients/bulk/", {"ids": [book["alpha"].pk], "action": "explode"}, follow=True))
    assert "Choose one of: assign_team, assign_relationship_manager, add_tag." in page
    page = html(client.post("/clients/bulk/", {"ids": [book["alpha"].pk], "action": "assign_relationship_manager",
                                               "relationship_manager": lead.pk}, follow=True))
    assert "Choose a relationship manager." in page  # a lead is not a relationship manager
    assert Organization.objects.get(pk=book["alpha"].pk).version == 1


def test_api_bulk_follows_the_same_rules(rm, viewer, lead, book, other_rm):
    status, body = Api(rm).call("post", "/organizations/bulk", {
        "ids": [book["alpha"].pk, book["foreign"].pk], "action": "assign_relationship_manager",
        "relationship_manager": other_rm.pk})
    assert status == 200
    assert body["changed"] == [book["alpha"].pk] and body["unchanged"] == []
    assert body["refused"] == [{"id": book["foreign"].pk, "code": "not_found",
                                "message": "Not found, or you may not see it."}]
    assert Organization.objects.get(pk=book["alpha"].pk).relationship_manager == other_rm
    status, body = Api(viewer).call("post", "/organizations/bulk", {"ids": [book["alpha"].pk], "action": "add_tag",
                                                                    "tag": "x"})
    assert status == 403 and body["error"]["code"] == "permission_denied"
    status, body = Api(lead).call("post", "/organizations/bulk", {"ids": [], "action": "add_tag", "tag": "x"})
    assert status == 422 and body["error"]["code"] == "invalid"
    status, body = Api(lead).call("post", "/organizations/bulk", {"ids": [book["alpha"].pk], "action": "assign_team",
                                                                  "team": 999_999})
    assert status == 422 and [f["path"] for f in body["error"]["fields"]] == ["team"]
