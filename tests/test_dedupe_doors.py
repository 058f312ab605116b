"""The three doors onto duplicates: REST API, `bcrm dedupe` and the pages, with their errors."""

from __future__ import annotations

import json
from functools import partial

import pytest
from django.core.management import CommandError
from django.test import Client
from django.urls import reverse

from bcrm.audit.models import AuditEntry
from bcrm.dedupe import services
from bcrm.dedupe.models import DuplicateDismissal, DuplicateScan
from bcrm.engagement.models import Interaction
from bcrm.financing.models import Participation
from bcrm.parties.models import Contact, Organization
from tests.doors import Api, command, signed_in
from tests.factories import make_contact, make_org, make_participation, make_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def dupes(team):
    a = make_org(legal_name="Huaneng Capital Co., Ltd.", local_name="华能资本服务有限公司", team=team)
    b = make_org(legal_name="HUANENG CAPITAL LIMITED", local_name="华能资本服务股份有限公司", team=team,
                 website="https://www.hn-capital.com.cn", external_id="HN-2")
    make_contact(a, full_name="Wang Wei", is_primary=True)
    make_contact(b, full_name="Zhang Min", is_primary=True)
    Interaction.objects.create(organization=b, kind="call", occurred_at="2026-01-05T10:00:00+08:00", summary="Call")
    services.duplicate_scan(entity="organizations")
    return a, b


# ---------------------------------------------------------------------------------------------------
# API


def test_api_lists_groups_with_reasons(lead, dupes):
    a, b = dupes
    status, body = Api(lead).get("/duplicates?entity=organizations&page_size=10")
    assert status == 200 and body["count"] == 1 and body["scan_status"] == "done" and body["scanned_at"]
    group = body["items"][0]
    assert [m["id"] for m in group["members"]] == sorted([a.pk, b.pk])
    assert group["members"][1]["fields"]["external_id"] == "HN-2"
    assert group["members"][1]["counts"]["interactions"] == 1
    codes = [r["code"] for r in group["pairs"][0]["reasons"]]
    assert codes == ["legal_name", "local_name"] and group["score"] == 99


def test_api_list_errors(lead):
    api = Api(lead)
    assert api.get("/duplicates?entity=pets")[0] == 422
    assert api.get("/duplicates?page_size=0")[0] == 422
    status, body = api.get("/duplicates?entity=contacts")
    assert status == 200 and body["items"] == [] and body["scanned_at"] is None


def test_api_preview_then_merge(lead, dupes):
    a, b = dupes
    api = Api(lead)
    audit_before = AuditEntry.objects.count()
    status, preview = api.post("/duplicates/merge", {"survivor": a.pk, "others": [b.pk], "preview": True})
    assert status == 200 and not preview["merged"] and preview["can_merge"]
    assert AuditEntry.objects.count() == audit_before and Organization.objects.count() == 2
    assert {f["field"] for f in preview["fields"]} >= {"website", "external_id"}
    relations = {r["relation"]: r for r in preview["relations"]}
    assert relations["parties.Contact.organization"]["moved"] == 1
    assert relations["parties.Contact.organization"]["demoted"] == 1
    assert preview["resolutions"] and not preview["conflicts"]
    status, body = api.post("/duplicates/merge", {"survivor": a.pk, "others": [b.pk], "versions": preview["versions"]})
    assert status == 200 and body["merged"]
    assert list(Organization.objects.values_list("pk", flat=True)) == [a.pk]
    assert Interaction.objects.get().organization_id == a.pk
    assert api.get("/duplicates")[1]["items"] == []


def test_api_merge_needs_versions_and_refuses_stale_ones(lead, dupes):
    a, b = dupes
    api = Api(lead)
    status, body = api.post("/duplicates/merge", {"survivor": a.pk, "others": [b.pk]})
    assert status == 422 and body["error"]["fields"][0]["path"] == "versions"
    _status, preview = api.post("/duplicates/merge", {"survivor": a.pk, "others": [b.pk], "preview": True})
    Organization.objects.filter(pk=b.pk).update(version=5)  # someone saved B meanwhile
    status, body = api.post("/duplicates/merge", {"survivor": a.pk, "others": [b.pk], "versions": preview["versions"]})
    assert status == 409 and body["error"]["code"] == "conflict"
    assert Organization.objects.count() == 2


def test_api_merge_conflict_is_409_with_the_list(lead, dupes):
    a, b = dupes
    project = make_project(name="Offshore Wind I")
    make_participation(project, a, role="equity")
    make_participation(project, b, role="equity")
    api = Api(lead)
    _status, preview = api.post("/duplicates/merge", {"survivor": a.pk, "others": [b.pk], "preview": True})
    assert len(preview["conflicts"]) == 1 and "Offshore Wind I" in preview["conflicts"][0]
    status, body = api.post("/duplicates/merge", {"survivor": a.pk, "others": [b.pk], "versions": preview["versions"]})
    assert status == 409 and body["error"]["code"] == "merge_conflict"
    assert body["error"]["fields"][0]["path"] == "conflicts" and "Offshore Wind I" in body["error"]["fields"][0]["message"]
    assert Participation.objects.filter(organization=b).count() == 1


@pytest.mark.parametrize(("role", "status"), [("rm", 403), ("viewer", 403), ("other_rm", 404)])
def test_api_merge_permissions(request, role, status, dupes):
    a, b = dupes
    api = Api(request.getfixturevalue(role))
    code, _body = api.post("/duplicates/merge", {"survivor": a.pk, "others": [b.pk], "versions": {a.pk: 1, b.pk: 1}})
    assert code == status
    assert Organization.objects.count() == 2


def test_api_merge_bad_input(lead, dupes):
    a, b = dupes
    api = Api(lead)
    assert api.post("/duplicates/merge", {"survivor": a.pk, "others": [], "preview": True})[0] == 422
    assert api.post("/duplicates/merge", {"survivor": a.pk, "others": [a.pk], "preview": True})[0] == 422
    assert api.post("/duplicates/merge", {"survivor": a.pk, "others": [10**9], "preview": True})[0] == 404
    assert api.post("/duplicates/merge", {"survivor": "x", "others": [b.pk], "preview": True})[0] == 422


def test_api_contact_merge(lead, org):
    a = make_contact(org, full_name="Wang Wei")
    b = make_contact(org, full_name="WANG, Wei")
    api = Api(lead)
    _status, preview = api.post("/duplicates/merge", {"entity": "contacts", "survivor": a.pk, "others": [b.pk],
                                                      "preview": True})
    status, body = api.post("/duplicates/merge", {"entity": "contacts", "survivor": a.pk, "others": [b.pk],
                                                  "versions": preview["versions"]})
    assert status == 200 and body["merged"] and list(Contact.objects.all()) == [a]


def test_api_dismiss(rm, viewer, dupes):
    a, b = dupes
    assert Api(viewer).post("/duplicates/dismiss", {"ids": [a.pk, b.pk]})[0] == 403
    assert Api(rm).post("/duplicates/dismiss", {"ids": [a.pk]})[0] == 422
    status, body = Api(rm).post("/duplicates/dismiss", {"ids": [a.pk, b.pk]})
    assert status == 200 and body["pairs"] == [sorted([a.pk, b.pk])]
    assert Api(rm).get("/duplicates")[1]["items"] == []
    services.duplicate_scan(entity="organizations")
    assert Api(rm).get("/duplicates")[1]["items"] == []


def test_api_scan(lead, rm, dupes):
    assert Api(rm).post("/duplicates/scan", {"entity": "organizations"})[0] == 403
    status, body = Api(lead).post("/duplicates/scan", {"entity": "contacts"})
    assert status == 202 and body["entity"] == "contacts"


def test_openapi_documents_the_endpoints(lead):
    client = Client()
    client.force_login(lead)
    schema = client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/duplicates", "/api/v1/duplicates/merge", "/api/v1/duplicates/dismiss"} <= set(schema["paths"])


# ---------------------------------------------------------------------------------------------------
# CLI


run = partial(command, "dedupe")  # `bcrm dedupe …`; answers its stdout


def test_cli_find_scans_first_and_lists(team):
    a = make_org(legal_name="Huaneng Capital Co., Ltd.", team=team)
    b = make_org(legal_name="HUANENG CAPITAL LIMITED", team=team)
    text = run("find")
    assert "1 group(s)" in text and f"#{a.pk}" in text and f"#{b.pk}" in text
    assert "Same legal name" in text and f"bcrm dedupe merge {a.pk} {b.pk}" in text
    data = json.loads(run("find", "--json", "--limit", "5"))
    assert data["count"] == 1 and data["groups"][0]["pairs"][0]["reasons"][0]["code"] == "legal_name"
    assert "No probable duplicate contacts" in run("find", "--entity", "contacts")


def test_cli_scan_reports(team):
    make_org(legal_name="Alpha Ltd", team=team)
    make_org(legal_name="ALPHA LIMITED", team=team)
    text = run("scan")
    assert "Scanned 2 organizations" in text and "1 candidate pairs in 1 groups" in text
    assert "Scanned" in text and "contacts" in text
    assert DuplicateScan.objects.filter(status="done").count() == 2


def test_cli_merge_preview_then_merge(dupes, lead):
    a, b = dupes
    text = run("merge", str(a.pk), str(b.pk), "--preview")
    assert text.startswith("Preview: would merge") and "moved" in text and Organization.objects.count() == 2
    text = run("merge", str(a.pk), str(b.pk), "--as", lead.username)
    assert text.startswith("Merged") and Organization.objects.count() == 1


def test_cli_merge_refuses_with_reasons(dupes, rm):
    a, b = dupes
    with pytest.raises(CommandError) as err:
        run("merge", str(a.pk), str(b.pk), "--as", rm.username)
    assert "team lead" in str(err.value)
    project = make_project(name="Toll Road II")
    make_participation(project, a)
    make_participation(project, b)
    with pytest.raises(CommandError) as err:
        run("merge", str(a.pk), str(b.pk))
    assert "Toll Road II" in str(err.value)
    with pytest.raises(CommandError):
        run("merge", str(a.pk), "999999")
    with pytest.raises(CommandError):
        run("merge", str(a.pk), str(b.pk), "--as", "nobody")
    assert Organization.objects.count() == 2


def test_cli_merge_json(dupes):
    a, b = dupes
    data = json.loads(run("merge", str(a.pk), str(b.pk), "--preview", "--json"))
    assert data["survivor"]["id"] == a.pk and data["merged"] is False


def test_cli_dismiss(dupes):
    a, b = dupes
    assert "not duplicates" in run("dismiss", str(a.pk), str(b.pk))
    assert DuplicateDismissal.objects.count() == 1
    with pytest.raises(CommandError):
        run("dismiss", str(a.pk))


# ---------------------------------------------------------------------------------------------------
# Pages


def test_page_lists_groups_side_by_side(lead, dupes):
    a, b = dupes
    response = signed_in(lead).get(reverse("dedupe:candidate_list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "HUANENG CAPITAL LIMITED" in html and "华能资本服务有限公司" in html
    assert "Same legal name" in html and "Review and merge" in html and "Not duplicates" in html
    partial = signed_in(lead).get(reverse("dedupe:candidate_list") + "?page=1", HTTP_HX_REQUEST="true",
                              HTTP_HX_TARGET="duplicate-groups")
    assert "<html" not in partial.content.decode() and "HUANENG" in partial.content.decode()


def test_page_in_chinese(lead, dupes):
    client = signed_in(lead)
    client.cookies["django_language"] = "zh-hans"
    response = client.get(reverse("dedupe:candidate_list"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'lang="zh-Hans"' in html and "疑似重复记录" in html and "Probable duplicates" not in html


def test_page_hides_merge_from_those_who_cannot(rm, viewer, dupes):
    html = signed_in(rm).get(reverse("dedupe:candidate_list")).content.decode()
    assert "Review and merge" not in html and "Not duplicates" in html
    html = signed_in(viewer).get(reverse("dedupe:candidate_list")).content.decode()
    assert "Review and merge" not in html and "Not duplicates" not in html


def test_page_needs_login(dupes):
    response = Client().get(reverse("dedupe:candidate_list"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_merge_page_preview_and_confirm(lead, dupes):
    a, b = dupes
    client = signed_in(lead)
    url = reverse("dedupe:merge") + f"?entity=organizations&ids={a.pk},{b.pk}"
    html = client.get(url).content.decode()
    assert "Preview" in html and "Fields that change on the survivor" in html and "https://www.hn-capital.com.cn" in html
    assert Organization.objects.count() == 2
    # Choosing the other survivor changes the preview (htmx swaps it).
    partial = client.get(url + f"&survivor={b.pk}", HTTP_HX_REQUEST="true",
                         HTTP_HX_TARGET="merge-area").content.decode()
    assert "<html" not in partial and f'<input type="hidden" name="survivor" value="{b.pk}">' in partial
    assert f'<input type="hidden" name="others" value="{a.pk}">' in partial
    # Leaving the only other record out leaves nothing to merge.
    partial = client.get(url + f"&survivor={b.pk}&skip={a.pk}", HTTP_HX_REQUEST="true",
                         HTTP_HX_TARGET="merge-area").content.decode()
    assert "Choose a survivor and at least one record" in partial
    response = client.post(reverse("dedupe:merge"), {
        "entity": "organizations", "ids": f"{a.pk},{b.pk}", "survivor": a.pk, "others": [b.pk],
        f"version_{a.pk}": a.version, f"version_{b.pk}": b.version,
    })
    assert response.status_code == 302 and response["Location"] == reverse("client_detail", args=[a.pk])
    assert Organization.objects.count() == 1
    page = client.get(response["Location"]).content.decode()
    assert "Merged HUANENG CAPITAL LIMITED" in page and "Zhang Min" in page


def test_merge_page_shows_a_stale_version(lead, dupes):
    a, b = dupes
    response = signed_in(lead).post(reverse("dedupe:merge"), {
        "entity": "organizations", "ids": f"{a.pk},{b.pk}", "survivor": a.pk, "others": [b.pk],
        f"version_{a.pk}": a.version, f"version_{b.pk}": b.version + 1,
    })
    assert response.status_code == 200 and "changed since you previewed" in response.content.decode()
    assert Organization.objects.count() == 2


def test_merge_page_refuses_those_who_cannot(rm, other_rm, dupes):
    a, b = dupes
    data = {"entity": "organizations", "ids": f"{a.pk},{b.pk}", "survivor": a.pk, "others": [b.pk],
            f"version_{a.pk}": a.version, f"version_{b.pk}": b.version}
    assert signed_in(rm).post(reverse("dedupe:merge"), data).status_code == 403
    assert signed_in(other_rm).post(reverse("dedupe:merge"), data).status_code == 404
    html = signed_in(rm).get(reverse("dedupe:merge") + f"?ids={a.pk},{b.pk}").content.decode()
    assert "Only a team lead or an administrator may merge." in html and "disabled" in html
    assert signed_in(rm).get(reverse("dedupe:merge") + f"?ids={a.pk}").status_code == 422
    assert Organization.objects.count() == 2


def test_dismiss_and_scan_buttons(lead, dupes):
    a, b = dupes
    client = signed_in(lead)
    response = client.post(reverse("dedupe:dismiss"), {"entity": "organizations", "ids": [a.pk, b.pk],
                                                        "next": reverse("dedupe:candidate_list")})
    assert response.status_code == 302 and DuplicateDismissal.objects.count() == 1
    response = client.post(reverse("dedupe:scan"), {"entity": "organizations"})
    assert response.status_code == 302
    assert "No probable duplicates" in client.get(response["Location"]).content.decode()
    assert client.get(reverse("dedupe:dismiss")).status_code == 405


def test_contact_duplicates_page_and_merge(lead, org):
    a = make_contact(org, full_name="Wang Wei", email="wang.wei@huaneng.com")
    b = make_contact(org, full_name="WANG, Wei", email="")
    services.duplicate_scan(entity="contacts")
    client = signed_in(lead)
    html = client.get(reverse("dedupe:candidate_list") + "?entity=contacts").content.decode()
    assert "WANG, Wei" in html and "Same name in the same organisation" in html
    html = client.get(reverse("dedupe:merge") + f"?entity=contacts&ids={a.pk},{b.pk}").content.decode()
    assert "Primary contact" in html and "wang.wei@huaneng.com" in html and "Merge 1 record" in html
    response = client.post(reverse("dedupe:merge"), {
        "entity": "contacts", "ids": f"{a.pk},{b.pk}", "survivor": b.pk, "others": [a.pk],
        f"version_{a.pk}": a.version, f"version_{b.pk}": b.version,
    })
    assert response.status_code == 302
    assert response["Location"] == reverse("client_detail", args=[org.pk]) + "#contacts"
    b.refresh_from_db()
    assert list(Contact.objects.filter(organization=org)) == [b] and b.email == "wang.wei@huaneng.com"


def test_page_member_filter_and_restriction(rm, other_rm, dupes, team):
    a, _b = dupes
    c = make_org(legal_name="Pearl River Energy", team=team, website="https://pearl-river.cn")
    d = make_org(legal_name="PRE Trading", team=team, website="pearl-river.cn")
    services.duplicate_scan(entity="organizations")
    html = signed_in(rm).get(reverse("dedupe:candidate_list") + f"?member={c.pk}").content.decode()
    assert "PRE Trading" in html and "HUANENG" not in html and "Show all groups" in html
    assert "No probable duplicates" in signed_in(other_rm).get(reverse("dedupe:candidate_list")).content.decode()
    assert d.pk
