"""The client list's pages at scale (issue 19): a page is ordered and cut on the organisation table alone and
the page's other tables are joined to its rows only (a late row lookup); a search with more hits than the
hit limit is looked for by a bounded walk of the list's order, and says so when the page lies beyond it.
Whatever way a page is found, it holds the rows of the plain query, in the same order, for every sort key."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bcrm.core.pagination import paginate
from bcrm.parties import filters
from bcrm.parties.classes import Tier, labels_for
from bcrm.parties.filters import SORT_CHOICES, TooManyMatches
from bcrm.parties.models import Organization
from bcrm.parties.selectors import organization_list
from bcrm.playbooks.models import ClientTier
from bcrm.segmentation.models import ClientLabels
from tests.doors import Api
from tests.factories import make_org

pytestmark = pytest.mark.django_db

SORTS = [key for key, _ in SORT_CHOICES]
NOW = timezone.now()
# Few distinct values in every sort column, so that ties (broken by the id) are everywhere.
NAMES = ["Beta Zephyr Holdings", "Alpha Capital", "Beta Zephyr Holdings", "Gamma Fund", "Alpha Capital",
         "Zephyr Partners", "delta zephyr bank"]
COUNTRIES = ["SG", "CN", "GB"]
KINDS = ["fund", "commercial_bank"]


@pytest.fixture
def portfolio(team):
    orgs = []
    values, risks, relationships = labels_for("value"), labels_for("risk"), labels_for("relationship")
    for i in range(31):
        org = make_org(legal_name=NAMES[i % len(NAMES)], country=COUNTRIES[i % 3], kind=KINDS[i % 2], team=team)
        if i % 4:  # a quarter never classified: NULL labels, last either way
            ClientLabels.objects.create(organization=org, value=values[i % len(values)],
                                        risk=risks[(i // 2) % len(risks)],
                                        relationship=relationships[(i // 3) % len(relationships)])
        if i % 3 == 0:
            ClientTier.objects.create(organization=org, tier=Tier.values[(i // 3) % 2], addons="", policy_version=1,
                                      since=NOW)
        orgs.append(org)
    for i, org in enumerate(orgs):  # three distinct update times
        Organization.objects.filter(pk=org.pk).update(updated_at=NOW - dt.timedelta(hours=i % 3))
    return orgs


def plain(actor, **given) -> list[int]:
    """The plain query's order: the whole list iterated without a slice (no late lookup, no walk)."""
    queryset = organization_list(actor=actor, filters=given).select_related("labels", "service_tier")
    return [o.pk for o in queryset]


def pages(actor, size: int, **given) -> list[list[int]]:
    queryset = organization_list(actor=actor, filters=given).select_related("labels", "service_tier")
    count = Organization.objects.count()
    return [[o.pk for o in queryset[start:start + size]] for start in range(0, count + size, size)]


def cut(ids: list[int], size: int) -> list[list[int]]:
    count = Organization.objects.count()
    return [ids[start:start + size] for start in range(0, count + size, size)]


@pytest.mark.parametrize("sort", SORTS)
def test_every_page_holds_the_plain_querys_rows_in_its_order(lead, portfolio, sort):
    for given in ({"sort": sort}, {"sort": sort, "q": "zephyr"}, {"sort": sort, "country": "SG"},
                  {"sort": sort, "q": "al", "kind": "fund"}):
        expected = plain(lead, **given)
        assert expected, given
        assert pages(lead, 4, **given) == cut(expected, 4), given
        # the pager the list and the API use: first, second and last page
        queryset = organization_list(actor=lead, filters=given)
        assert [o.pk for o in paginate(queryset, number=2, size=4, strict=True).items] == expected[4:8], given
        last = -(-len(expected) // 4)
        assert [o.pk for o in paginate(queryset, number=last, size=4).items] == expected[(last - 1) * 4:], given


def test_the_page_is_ordered_and_cut_before_the_other_tables_are_joined(lead, portfolio):
    def page_sql(sort: str) -> tuple[str, str]:
        queryset = organization_list(actor=lead, filters={"sort": sort}).select_related("labels", "service_tier")
        with CaptureQueriesContext(connection) as captured:
            list(queryset[:10])
        (sql,) = [q["sql"] for q in captured.captured_queries]  # one query for the page
        outer, inner = sql.split("IN (SELECT", 1)
        return outer, inner

    outer, inner = page_sql("name")
    # the page's joins are on the outer query; the inner one orders and cuts the organisation table alone
    assert "segmentation_clientlabels" in outer and "playbooks_clienttier" in outer and "accounts_team" in outer
    assert "JOIN" not in inner and "LIMIT 10" in inner
    outer, inner = page_sql("value")
    # a class sort joins the one table its key lives in, and no other
    assert "segmentation_clientlabels" in inner and "playbooks_clienttier" not in inner and "accounts_team" not in inner


def test_a_relationship_managers_pages_keep_the_scope(rm, other_team, portfolio):
    outside = make_org(legal_name="Alpha Capital", team=other_team)
    for given in ({"sort": "name"}, {"sort": "-value", "q": "alpha"}):
        found = [pk for page in pages(rm, 5, **given) for pk in page]
        assert outside.pk not in found and found == plain(rm, **given)


@pytest.fixture
def common(monkeypatch):
    """Every search counts as common (more hits than the limit): the page comes from the walk."""
    monkeypatch.setattr(filters, "SEARCH_HITS_LIMIT", 0)


@pytest.mark.parametrize("sort", SORTS)
def test_a_common_terms_pages_walk_the_list_order_and_hold_the_same_rows(lead, portfolio, monkeypatch, sort):
    expected = {q: plain(lead, sort=sort, q=q) for q in ("zephyr", "al", "holdings", "nobody here")}
    monkeypatch.setattr(filters, "SEARCH_HITS_LIMIT", 0)
    for q, ids in expected.items():
        with CaptureQueriesContext(connection) as captured:
            got = pages(lead, 3, sort=sort, q=q)
        assert got == cut(ids, 3), q
        # a term with hits walks; one without any never needs to (zero hits are within any limit)
        assert any("walk_hit" in c["sql"] for c in captured.captured_queries) == bool(ids), q


def test_a_walk_reads_a_bounded_window_and_says_when_the_page_lies_beyond_it(lead, team, common, monkeypatch):
    for i in range(10):
        make_org(legal_name=f"A{i:02d} Plain Holdings", team=team)
    rare = [make_org(legal_name=f"Z{i:02d} Rare Word Bank", team=team) for i in range(3)]
    monkeypatch.setattr(filters, "WALK_ROWS", 8)
    monkeypatch.setattr(filters, "WALK_ROWS_PER_ROW", 1)
    by_name = organization_list(actor=lead, filters={"q": "rare word"})
    # the first 8 rows by name hold none of the 3 hits, and the list goes on: not "no match", but "narrow it"
    with pytest.raises(TooManyMatches) as raised:
        list(by_name[:5])
    assert "rare word" in raised.value.message and raised.value.fields["q"]
    # from the other end the hits come first: found within the window
    reverse = organization_list(actor=lead, filters={"q": "rare word", "sort": "-name"})
    assert [o.pk for o in reverse[:2]] == [rare[2].pk, rare[1].pk]
    # a window that holds the whole list (13 rows) finds every hit, however few
    monkeypatch.setattr(filters, "WALK_ROWS", 13)
    assert [o.pk for o in by_name[:5]] == [o.pk for o in rare]
    # deeper pages may look further: up to WALK_ROWS_PER_ROW rows per row shown
    monkeypatch.setattr(filters, "WALK_ROWS", 4)
    monkeypatch.setattr(filters, "WALK_ROWS_PER_ROW", 5)
    assert [o.pk for o in by_name[2:3]] == [rare[2].pk]


def test_too_many_matches_is_a_clear_message_on_the_list_the_api_and_the_global_search(client, lead, team, common,
                                                                                      monkeypatch):
    for i in range(6):
        make_org(legal_name=f"A{i:02d} Plain Holdings", team=team)
    make_org(legal_name="Zz Rare Word Bank", team=team)
    monkeypatch.setattr(filters, "WALK_ROWS", 3)
    monkeypatch.setattr(filters, "WALK_ROWS_PER_ROW", 0)
    client.force_login(lead)
    page = client.get("/clients/", {"q": "rare word"}).content.decode()
    assert 'id="search-too-many"' in page and "too many to list in order" in page and "Rare Word Bank" not in page
    zh = client.get("/clients/", {"q": "rare word"}, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'id="search-too-many"' in zh and "无法按顺序列出" in zh
    partial = client.get("/clients/", {"q": "rare word"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="org-results")
    assert 'id="search-too-many"' in partial.content.decode()
    # a valid search is not remembered as the list's last filters when it showed no page
    assert client.session.get("clients.last_filters") in (None, "")

    status, body = Api(lead).call("get", "/organizations?q=rare+word")
    assert status == 422 and body["error"]["code"] == "too_many_matches"
    assert [f["path"] for f in body["error"]["fields"]] == ["q"]

    found = client.get("/search/", {"q": "rare word"}).content.decode()
    assert "too many to list in order" in found and "Nothing found" not in found

    # with fewer hits than the limit the same search is served from its hits
    monkeypatch.setattr(filters, "SEARCH_HITS_LIMIT", 10)
    page = client.get("/clients/", {"q": "rare word"}).content.decode()
    assert "Zz Rare Word Bank" in page and 'id="search-too-many"' not in page


def test_a_search_within_the_limit_never_walks(lead, portfolio):
    list(organization_list(actor=lead, filters={})[:1])  # warm: the actor's roles are read once
    with CaptureQueriesContext(connection) as captured:
        list(organization_list(actor=lead, filters={"q": "zephyr"})[:50])
    probe = 3 if connection.vendor == "postgresql" else 1  # on PostgreSQL: SET enable_seqscan, probe, RESET
    assert len(captured) == probe + 1 and not any("walk_hit" in c["sql"] for c in captured.captured_queries)


def test_the_pagers_count_of_a_search_is_the_probes_and_costs_no_query(lead, portfolio, monkeypatch):
    for given in ({"q": "zephyr"}, {"q": "zephyr", "country": "SG"}, {"q": "al"}, {"q": "nobody here"}):
        expected = plain(lead, **given)
        queryset = organization_list(actor=lead, filters=given)
        with CaptureQueriesContext(connection) as captured:
            page = paginate(queryset, number=1, size=2, strict=True)
        assert (page.count, page.count_is_capped) == (len(expected), False), given
        assert len(captured) <= 1, given  # the page only: no COUNT over the hits again
    # more hits than the limit: the count is capped at the limit without counting them again
    monkeypatch.setattr(filters, "SEARCH_HITS_LIMIT", 3)
    monkeypatch.setattr("django.conf.settings.BCRM_COUNT_CAP", 3)
    queryset = organization_list(actor=lead, filters={"q": "zephyr"})
    with CaptureQueriesContext(connection) as captured:
        page = paginate(queryset, number=1, size=2, strict=True)
    assert (page.count, page.count_is_capped) == (3, True) and page.items
    assert not any("COUNT(" in c["sql"].upper() for c in captured.captured_queries)
