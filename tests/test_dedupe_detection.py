"""Finding probable duplicates: the right groups on Chinese and English variants, never through free-mail
domains, restricted to what the user may see, and a "not a duplicate" remembered for good."""

from __future__ import annotations

import pytest

from bcrm.core.errors import InvalidInput, NotFound, PermissionDenied
from bcrm.dedupe import selectors, services
from bcrm.dedupe.models import DuplicateCandidate, DuplicateDismissal, DuplicateGroup, DuplicateScan
from bcrm.dedupe.services import scan as scan_services
from tests.factories import make_contact, make_org

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(team, other_team):
    """A small book with the variants real data has, and look-alikes that must stay apart."""
    o = {}
    o["hn_en"] = make_org(legal_name="Huaneng Capital Co., Ltd.", local_name="华能资本服务有限公司", team=team)
    o["hn_caps"] = make_org(legal_name="HUANENG CAPITAL LIMITED", team=team)
    o["hn_zh"] = make_org(legal_name="华能资本服务股份有限公司", team=team)  # Chinese typed into the legal name
    o["hn_wide"] = make_org(legal_name="ＨＵＡＮＥＮＧ　ＣＡＰＩＴＡＬ　ＬＴＤ．", team=other_team)
    o["cdb"] = make_org(legal_name="China Development Bank", local_name="国家开发银行", team=team,
                        website="https://www.cdb.com.cn", external_id="CDB-001")
    o["cdb_ext"] = make_org(legal_name="CDB Beijing", team=team, external_id=" cdb-001")
    o["sr_group"] = make_org(legal_name="Silk Road Holdings Group", team=team)
    o["sr"] = make_org(legal_name="Silk Road Ltd", team=team)
    o["web_a"] = make_org(legal_name="Pearl River Energy", team=team, website="http://pearlriver-energy.com/en")
    o["web_b"] = make_org(legal_name="PRE Power Trading", team=team, website="www.pearlriver-energy.com")
    # Free mail and documentation domains say nothing: these two must not pair.
    o["gm_a"] = make_org(legal_name="Alder Advisory", team=team)
    o["gm_b"] = make_org(legal_name="Birch Partners", team=team)
    make_contact(o["gm_a"], email="alder.desk@gmail.com")
    make_contact(o["gm_b"], email="birch.desk@gmail.com")
    make_contact(o["gm_a"], email="x@163.com")
    make_contact(o["gm_b"], email="y@163.com")
    make_contact(o["gm_a"], email="a@qq.com")
    make_contact(o["gm_b"], email="b@qq.com")
    make_contact(o["gm_a"], email="a@example.com")
    make_contact(o["gm_b"], email="b@example.com")
    # Different clients whose names only look alike.
    o["hn_power"] = make_org(legal_name="Huaneng Power International", team=team)
    o["lone"] = make_org(legal_name="Unrelated Fund", team=team)
    return o


def groups_of(entity="organizations", actor=None):
    _page, views = selectors.find_duplicates(actor=actor, entity=entity, page_size=100)
    return {frozenset(view.ids) for view in views}, views


def ids(book, *names):
    return frozenset(book[n].pk for n in names)


def test_scan_finds_the_variants_and_nothing_else(book):
    scan = services.duplicate_scan(entity="organizations")
    assert scan.status == "done" and scan.records == len(book)
    found, views = groups_of()
    assert found == {
        ids(book, "hn_en", "hn_caps", "hn_zh", "hn_wide"),
        ids(book, "cdb", "cdb_ext"),
        ids(book, "sr_group", "sr"),
        ids(book, "web_a", "web_b"),
    }
    reasons = {(v.low, v.high): [r["code"] for r in v.reasons] for view in views for v in view.pairs}
    pair = tuple(sorted([book["hn_en"].pk, book["hn_caps"].pk]))
    assert reasons[pair] == ["legal_name"]
    pair = tuple(sorted([book["hn_en"].pk, book["hn_zh"].pk]))
    assert reasons[pair] == ["legal_local"]  # the local name of one is the legal name of the other
    assert reasons[tuple(sorted([book["cdb"].pk, book["cdb_ext"].pk]))] == ["external_id"]
    assert reasons[tuple(sorted([book["sr"].pk, book["sr_group"].pk]))] == ["name_loose"]
    assert reasons[tuple(sorted([book["web_a"].pk, book["web_b"].pk]))] == ["website_domain"]


def test_group_scores_and_order(book):
    services.duplicate_scan(entity="organizations")
    _page, views = selectors.find_duplicates(actor=None, entity="organizations")
    scores = [v.score for v in views]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] >= 90 and scores[-1] <= 60  # exact ids and names first, a shared domain last


def test_reasons_carry_evidence_and_translate(book, settings):
    from django.utils import translation

    services.duplicate_scan(entity="organizations")
    with translation.override("zh-hans"):
        _page, views = selectors.find_duplicates(actor=None, entity="organizations")
    web = next(v for v in views if book["web_a"].pk in v.ids)
    assert web.pairs[0].reasons[0]["value"] == "pearlriver-energy.com"


def test_shared_free_mail_never_pairs_but_a_company_mailbox_does(team):
    a = make_org(legal_name="Oak Capital", team=team)
    b = make_org(legal_name="Elm Ventures", team=team)
    make_contact(a, email="team@gmail.com")
    make_contact(b, email="team@gmail.com")  # the very same free-mail address: still no evidence of one client
    services.duplicate_scan(entity="organizations")
    found, views = groups_of()
    assert found == {frozenset({a.pk, b.pk})}
    assert [r["code"] for r in views[0].pairs[0].reasons] == ["contact_email"]
    c = make_org(legal_name="Ash Group", team=team)
    d = make_org(legal_name="Yew Trading", team=team)
    make_contact(c, email="ir@ash-yew.com")
    make_contact(d, email="treasury@ash-yew.com")
    services.duplicate_scan(entity="organizations")
    found, _views = groups_of()
    assert frozenset({c.pk, d.pk}) in found


def test_free_mail_shared_address_is_weak(team):
    """A shared gmail address pairs through the address itself (contact_email), never through the domain."""
    a = make_org(legal_name="Oak Capital", team=team)
    b = make_org(legal_name="Elm Ventures", team=team)
    make_contact(a, email="one@gmail.com")
    make_contact(b, email="two@gmail.com")
    services.duplicate_scan(entity="organizations")
    assert groups_of()[0] == set()


def test_a_key_shared_too_widely_is_skipped(team):
    orgs = [make_org(legal_name=f"Branch {i}", team=team, website="https://bigbank.com") for i in range(7)]
    scan = services.duplicate_scan(entity="organizations")
    assert scan.skipped_blocks == 1 and groups_of()[0] == set()
    scan = services.duplicate_scan(entity="organizations", max_block=3)
    assert scan.max_block == 3
    two = orgs[:2]
    for org in orgs[2:]:
        org.delete()
    services.duplicate_scan(entity="organizations")
    assert groups_of()[0] == {frozenset(o.pk for o in two)}


def test_rescan_replaces_and_restricts_to_what_the_user_sees(book, rm, other_rm):
    services.duplicate_scan(entity="organizations")
    services.duplicate_scan(entity="organizations")  # twice: replaced, not doubled
    assert DuplicateGroup.objects.count() == 4
    # The relationship manager of the first team does not see hn_wide (other team): the group shows without it.
    found, _views = groups_of(actor=rm)
    assert ids(book, "hn_en", "hn_caps", "hn_zh") in found
    assert all(book["hn_wide"].pk not in group for group in found)
    # The other team's manager sees only hn_wide: no pair of theirs.
    assert groups_of(actor=other_rm)[0] == set()


def test_member_filter(book):
    services.duplicate_scan(entity="organizations")
    _page, views = selectors.find_duplicates(actor=None, entity="organizations", member=book["cdb_ext"].pk)
    assert [frozenset(v.ids) for v in views] == [ids(book, "cdb", "cdb_ext")]


def test_dismissal_is_remembered_across_scans(book, lead):
    services.duplicate_scan(entity="organizations")
    services.duplicate_dismiss(actor=lead, entity="organizations", ids=[book["web_a"].pk, book["web_b"].pk])
    assert ids(book, "web_a", "web_b") not in groups_of()[0]
    services.duplicate_scan(entity="organizations")
    assert ids(book, "web_a", "web_b") not in groups_of()[0]
    dismissal = DuplicateDismissal.objects.get()
    assert dismissal.dismissed_by == lead and dismissal.dismissed_at is not None


def test_dismissing_one_pair_splits_its_group(book, lead):
    services.duplicate_scan(entity="organizations")
    services.duplicate_dismiss(actor=lead, entity="organizations", ids=[book["sr"].pk, book["sr_group"].pk])
    services.duplicate_dismiss(actor=lead, entity="organizations", ids=[book["hn_wide"].pk, book["hn_en"].pk])
    found, _views = groups_of()
    # hn_wide still pairs with hn_caps (same legal name), so the group holds together.
    assert ids(book, "hn_en", "hn_caps", "hn_zh", "hn_wide") in found
    services.duplicate_dismiss(actor=lead, entity="organizations",
                               ids=[book["hn_wide"].pk, book["hn_caps"].pk, book["hn_zh"].pk])
    found, _views = groups_of()
    assert ids(book, "hn_en", "hn_caps", "hn_zh") in found
    assert all(book["hn_wide"].pk not in group for group in found)


def test_dismiss_needs_rights_and_sight(book, viewer, other_rm, rm):
    with pytest.raises(PermissionDenied):
        services.duplicate_dismiss(actor=viewer, entity="organizations", ids=[book["sr"].pk, book["sr_group"].pk])
    with pytest.raises(NotFound):
        services.duplicate_dismiss(actor=other_rm, entity="organizations", ids=[book["sr"].pk, book["sr_group"].pk])
    with pytest.raises(InvalidInput):
        services.duplicate_dismiss(actor=rm, entity="organizations", ids=[book["sr"].pk])
    with pytest.raises(InvalidInput):
        services.duplicate_dismiss(actor=rm, entity="pets", ids=[book["sr"].pk, book["sr_group"].pk])
    assert not DuplicateDismissal.objects.exists()
    services.duplicate_dismiss(actor=rm, entity="organizations", ids=[book["sr"].pk, book["sr_group"].pk])
    assert DuplicateDismissal.objects.count() == 1


def test_merge_updates_the_lists(book, lead):
    services.duplicate_scan(entity="organizations")
    hn = [book[n] for n in ("hn_en", "hn_caps", "hn_zh", "hn_wide")]
    services.duplicate_dismiss(actor=lead, entity="organizations", ids=[book["hn_caps"].pk, book["cdb"].pk])
    services.organization_merge(actor=lead, survivor=hn[0], others=[hn[1]])
    found, _views = groups_of()
    assert ids(book, "hn_en", "hn_zh", "hn_wide") in found
    assert not DuplicateCandidate.objects.filter(low_id=book["hn_caps"].pk).exists()
    assert not DuplicateCandidate.objects.filter(high_id=book["hn_caps"].pk).exists()
    # hn_caps was "not cdb": the survivor inherits that.
    low, high = sorted([hn[0].pk, book["cdb"].pk])
    assert DuplicateDismissal.objects.filter(low_id=low, high_id=high).exists()
    services.organization_merge(actor=lead, survivor=hn[0], others=hn[2:])
    found, _views = groups_of()
    assert all(hn[0].pk not in group for group in found)
    assert not DuplicateGroup.objects.filter(key__in=[o.pk for o in hn]).exists()


def test_contacts_pair_within_one_organisation(org, team):
    elsewhere = make_org(legal_name="Elsewhere Capital", team=team)
    wang = make_contact(org, full_name="Wang Wei", email="", phone="+86 138-1234-5678")
    wang2 = make_contact(org, full_name="WANG, Wei", email="", phone="")
    wang_zh = make_contact(org, full_name="王伟", local_name="", email="")
    wang_local = make_contact(org, full_name="W. Wang", local_name="王 伟", email="")
    phone_twin = make_contact(org, full_name="Wei (assistant)", email="", phone="138 1234 5678")
    mail_a = make_contact(org, full_name="Li Na", email="Li.Na@Huaneng.com")
    mail_b = make_contact(org, full_name="Na Li (treasury)", email="li.na@huaneng.com ")
    make_contact(elsewhere, full_name="Wang Wei", email="li.na@huaneng.com")  # another organisation
    services.duplicate_scan(entity="contacts")
    found, views = groups_of("contacts")
    assert found == {
        frozenset({wang.pk, wang2.pk, phone_twin.pk}),
        frozenset({wang_zh.pk, wang_local.pk}),
        frozenset({mail_a.pk, mail_b.pk}),
    }
    codes = {frozenset((p.low, p.high)): [r["code"] for r in p.reasons] for v in views for p in v.pairs}
    assert codes[frozenset({wang.pk, wang2.pk})] == ["name"]
    assert codes[frozenset({wang.pk, phone_twin.pk})] == ["phone"]
    assert codes[frozenset({wang_zh.pk, wang_local.pk})] == ["name_local"]
    assert codes[frozenset({mail_a.pk, mail_b.pk})] == ["email"]


def test_contact_email_in_two_organisations_pairs_the_organisations(org, team):
    other = make_org(legal_name="Totally Different Name", team=team)
    make_contact(org, full_name="Li Na", email="li.na@hn-capital.cn")
    make_contact(other, full_name="Li Na", email="LI.NA@hn-capital.cn")
    services.duplicate_scan(entity="organizations")
    _found, views = groups_of()
    codes = [r["code"] for r in views[0].pairs[0].reasons]
    assert codes == ["contact_email", "email_domain"]


def test_an_edit_since_the_scan_shows(book):
    services.duplicate_scan(entity="organizations")
    type(book["web_b"]).objects.filter(pk=book["web_b"].pk).update(website="")
    _found, views = groups_of()
    web = next(v for v in views if book["web_a"].pk in v.ids)
    assert web.pairs[0].changed and web.score == 0


def test_scan_requested_from_the_page_runs_as_a_task(book, lead, viewer, django_capture_on_commit_callbacks):
    with pytest.raises(PermissionDenied):
        services.duplicate_scan_request(actor=viewer, entity="organizations")
    with django_capture_on_commit_callbacks(execute=True):
        scan = services.duplicate_scan_request(actor=lead, entity="organizations")
    scan.refresh_from_db()
    assert scan.status == "done" and scan.requested_by == lead and scan.groups == 4
    assert selectors.last_finished_scan(entity="organizations") == scan


def test_a_failed_scan_is_recorded_and_keeps_the_old_candidates(book, monkeypatch):
    services.duplicate_scan(entity="organizations")
    before = set(DuplicateCandidate.objects.values_list("low_id", "high_id"))

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(scan_services, "_insert", broken)
    with pytest.raises(RuntimeError):
        services.duplicate_scan(entity="organizations")
    assert DuplicateScan.objects.order_by("-id").first().status == "failed"
    assert set(DuplicateCandidate.objects.values_list("low_id", "high_id")) == before


def test_merging_organisations_proposes_their_common_contacts_at_once(lead, team):
    a = make_org(legal_name="Oak Capital Ltd", team=team)
    b = make_org(legal_name="OAK CAPITAL LIMITED", team=team)
    wang_a = make_contact(a, full_name="Wang Wei", email="")
    wang_b = make_contact(b, full_name="WANG, Wei", email="")
    make_contact(b, full_name="Someone Else", email="")
    services.duplicate_scan(entity="contacts")
    assert groups_of("contacts")[0] == set()  # two organisations: not yet the same contact
    services.organization_merge(actor=lead, survivor=a, others=[b])
    assert groups_of("contacts")[0] == {frozenset({wang_a.pk, wang_b.pk})}
