"""Every kind of write is audited, and the audit and backup state is shown to administrators and compliance
(issue 20): sign-ins, sign-outs, failed sign-ins, exports, role and team changes (services and the admin), API
tokens and their use (once an hour, not per request), the tasks each automation run created; the /audit/ page and
its API; the chain still verifies after all of it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.accounts.models import ApiToken
from bcrm.accounts.services import (
    team_member_remove,
    team_member_set,
    token_authenticate,
    token_create,
    token_revoke,
    token_use_due,
    user_roles_set,
)
from bcrm.audit import trail
from bcrm.audit.models import AuditCheck, AuditEntry
from bcrm.audit.selectors import task_origin
from bcrm.audit.services import id_ranges, in_ranges
from bcrm.dataio.exporters import export_to_file
from bcrm.engagement.models import Task
from tests.doors import Api
from tests.factories import make_org

PASSWORD = "pw-for-tests-2026"


def entries(action: str, **filters):
    return list(AuditEntry.objects.filter(action=action, **filters).order_by("id"))


def only_new(action: str, before: int) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action, id__gt=before).order_by("id"))


def last_id() -> int:
    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


# --- sign-in, sign-out, failed sign-in ----------------------------------------------------------------------

def test_sign_in_out_and_failure_each_leave_one_entry_on_the_user(rm):
    client = Client()
    start = last_id()
    response = client.post("/login/", {"username": "rm_user", "password": "wrong-password"})
    assert response.status_code == 200
    failed = only_new("login.failed", start)
    assert len(failed) == 1 and failed[0].object_id == str(rm.pk) and failed[0].actor_id is None
    assert failed[0].changes["username"] == "rm_user" and "wrong-password" not in str(failed[0].changes)
    client.post("/login/", {"username": "nobody_here", "password": "x"})
    unknown = only_new("login.failed", failed[0].id)
    assert len(unknown) == 1 and unknown[0].object_id == "" and unknown[0].object_repr == "nobody_here"

    assert client.post("/login/", {"username": "rm_user", "password": PASSWORD}).status_code == 302
    login = only_new("login", start)
    assert len(login) == 1 and (login[0].actor_id, login[0].object_id) == (rm.pk, str(rm.pk))
    assert login[0].content_type.model == "user"
    client.post("/logout/")
    logout = only_new("logout", start)
    assert len(logout) == 1 and logout[0].actor_id == rm.pk
    assert trail.verify().ok


# --- roles, staff, teams -------------------------------------------------------------------------------------

def test_role_changes_through_the_service_are_audited_with_before_and_after(admin, rm):
    start = last_id()
    user_roles_set(actor=admin, user=rm, roles=["admin"])
    [entry] = only_new("access.change", start)
    assert entry.actor_id == admin.pk and entry.object_id == str(rm.pk)
    assert entry.changes["roles"] == [["relationship_manager"], ["admin"]]
    assert entry.changes["is_staff"] == [False, True] and entry.changes["is_superuser"] == [False, True]
    user_roles_set(actor=admin, user=rm, roles=["admin"])  # no change: no entry
    assert len(only_new("access.change", start)) == 1


def test_role_change_refused_for_a_non_admin_writes_nothing(rm, lead):
    from bcrm.core.errors import InvalidInput, PermissionDenied

    start = last_id()
    with pytest.raises(PermissionDenied):
        user_roles_set(actor=lead, user=rm, roles=["admin"])
    with pytest.raises(InvalidInput):
        user_roles_set(actor=None, user=rm, roles=["pope"])
    assert last_id() == start
    assert sorted(rm.groups.values_list("name", flat=True)) == ["relationship_manager"]


def test_team_membership_changes_are_audited_on_the_user(lead, team, other_team, rm):
    start = last_id()
    team_member_set(actor=lead, team=other_team, user=rm, weekly_capacity_hours=20)
    team_member_set(actor=lead, team=other_team, user=rm, weekly_capacity_hours=20)  # unchanged
    team_member_remove(actor=lead, team=team, user=rm)
    joined, left = only_new("access.change", start)
    assert joined.changes == {"team": other_team.name, "member": [False, True],
                              "weekly_capacity_hours": [None, "20.0"]}
    assert left.changes == {"team": team.name, "member": [True, False]}
    assert {joined.object_id, left.object_id} == {str(rm.pk)}


def test_admin_site_edits_of_roles_staff_and_teams_are_audited(admin, rm, team):
    client = Client()
    client.force_login(admin)
    start = last_id()
    group = Group.objects.get(name="analyst")
    response = client.post(f"/admin/auth/user/{rm.pk}/change/", {
        "username": rm.username, "password": rm.password, "is_active": "on", "is_staff": "on",
        "groups": [group.pk], "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01", "initial-date_joined_1": "00:00:00",
        "last_login_0": "", "last_login_1": "",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    [entry] = only_new("access.change", start)
    assert entry.actor_id == admin.pk and entry.object_id == str(rm.pk)
    assert entry.changes["is_staff"] == [False, True]
    assert entry.changes["roles"] == [["relationship_manager"], ["analyst"]]

    membership = rm.memberships.get(team=team)
    response = client.post(f"/admin/accounts/team/{team.pk}/change/", {
        "name": team.name, "name_local": "", "description": "",
        "memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "1",
        "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": membership.pk, "memberships-0-team": team.pk, "memberships-0-user": rm.pk,
        "memberships-0-weekly_capacity_hours": "40", "memberships-0-DELETE": "on",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    left = only_new("access.change", entry.id)
    assert len(left) == 1 and left[0].changes["member"] == [True, False] and left[0].object_id == str(rm.pk)
    assert trail.verify().ok


# --- API tokens ----------------------------------------------------------------------------------------------

def test_token_use_is_audited_once_per_hour_not_per_request(rm, django_capture_on_commit_callbacks):
    """Last-used is written after the request's transaction commits, at most once a minute per process
    (tests/test_db_busy.py); the write that moves it into a new clock hour audits the use."""
    from bcrm.accounts import services as accounts

    token, raw = token_create(actor=rm, user=rm)
    api = Api(raw=raw)
    start = last_id()
    accounts._touched.clear()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            assert api.get("/me")[0] == 200
    [used] = only_new("token.use", start)
    assert used.object_id == str(token.pk) and used.actor_id == rm.pk
    # the same hour, more than a minute later: last-used moves, no second entry
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - dt.timedelta(minutes=2))
    accounts._touched.clear()   # a minute later in this process too
    if timezone.now().minute >= 3:
        with django_capture_on_commit_callbacks(execute=True):
            assert token_authenticate(raw) == rm
        assert len(only_new("token.use", start)) == 1
    # used again in a later hour: one more entry
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - dt.timedelta(hours=1, minutes=1))
    accounts._touched.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert token_authenticate(raw) == rm and token_authenticate(raw) == rm
    assert len(only_new("token.use", start)) == 2


def test_token_create_and_revoke_are_audited(admin, rm):
    start = last_id()
    token, _raw = token_create(actor=admin, user=rm, name="ci")
    token_revoke(actor=admin, token=token)
    created, revoked = only_new("create", start) + only_new("update", start)
    assert created.content_type.model == "apitoken" and created.changes["user"] == [None, rm.pk]
    assert revoked.object_id == str(token.pk) and revoked.changes["revoked_at"][0] is None
    assert "digest" not in str(created.changes) and _raw not in str(created.changes)


@given(last=st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 1, 1),
                         timezones=st.just(dt.UTC)),
       later=st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(hours=3)))
@settings(max_examples=50)
def test_token_use_is_due_once_per_clock_hour(last, later):
    now = last + later
    assert token_use_due(last, now) == ((last.year, last.month, last.day, last.hour)
                                        != (now.year, now.month, now.day, now.hour))
    assert token_use_due(None, now)


# --- exports -------------------------------------------------------------------------------------------------

def test_an_export_records_who_which_filter_and_which_rows_not_the_data(tmp_path: Path, lead, team):
    orgs = [make_org(legal_name=f"Export Co {i}", team=team) for i in range(3)]
    start = last_id()
    assert export_to_file(actor=lead, entity="organizations", path=tmp_path / "o.csv",
                          filters={"q": "Export Co"}) == 3
    [entry] = only_new("export", start)
    assert entry.actor_id == lead.pk and entry.content_type.model == "organization"
    assert entry.changes == {"entity": "organizations", "format": "csv", "filters": {"q": "Export Co"},
                             "rows": 3, "first_id": orgs[0].pk, "last_id": orgs[-1].pk}
    assert "Export Co 1" not in str(entry.changes)


def test_an_api_export_is_audited_once(lead, team):
    make_org(legal_name="Api Export Co", team=team)
    start = last_id()
    status, response = Api(lead).get("/exports/organizations?format=csv")
    assert status == 200
    b"".join(response.streaming_content)
    [entry] = only_new("export", start)
    assert entry.actor_id == lead.pk and entry.changes["rows"] >= 1


# --- automation ----------------------------------------------------------------------------------------------

@given(st.lists(st.integers(min_value=1, max_value=200), max_size=40))
@settings(max_examples=50)
def test_id_ranges_cover_exactly_the_ids(ids):
    ranges = id_ranges(ids)
    covered = [i for low, high in ranges for i in range(low, high + 1)]
    assert covered == sorted(set(ids))
    assert all(ranges[k][1] + 1 < ranges[k + 1][0] for k in range(len(ranges) - 1))
    assert all(in_ranges(i, ranges) for i in ids) and not in_ranges(0, ranges)


def test_each_automation_run_lists_the_tasks_it_created_and_the_task_page_says_so(admin, lead, rm, team):
    from bcrm.playbooks.automation import run_automation

    org = make_org(legal_name="Automated Co", team=team, relationship_manager=rm)
    manual = Task.objects.create(title="by hand", organization=org, assignee=rm, due_at=timezone.now())
    report = run_automation(actor=lead)
    created = list(Task.objects.filter(source="playbook").order_by("pk").values_list("pk", flat=True))
    assert created, report.counts
    [entry] = entries("automation.run")
    assert entry.object_id == str(report.run.pk) and entry.actor_id == lead.pk
    assert entry.changes["tasks"] == len(created) == sum(report.counts["created"].values())
    assert id_ranges(created) == entry.changes["task_ranges"]
    task = Task.objects.get(pk=created[-1])
    assert task_origin(task) == entry and task_origin(manual) is None
    run_automation(actor=lead)  # nothing new to create: no entry
    assert len(entries("automation.run")) == 1

    client = Client()
    client.force_login(admin)
    page = client.get(f"/tasks/{task.pk}/edit/")
    assert f"created by automation run #{report.run.pk}" in page.content.decode()
    assert trail.verify().ok


# --- the /audit/ page and API --------------------------------------------------------------------------------

@pytest.fixture
def backup_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"  # the backup reads the data folder: this test's own, not the checkout's
    settings.DATA_DIR.mkdir()
    settings.BCRM_BACKUP_DIR = tmp_path / "backups"
    settings.BCRM_AUDIT_CHECKPOINTS = tmp_path / "checkpoints.jsonl"
    return settings.BCRM_BACKUP_DIR


def test_audit_page_and_api_refuse_relationship_managers_and_viewers(rm, viewer, backup_dir):
    for user in (rm, viewer):
        client = Client()
        client.force_login(user)
        assert client.get("/audit/").status_code == 403
        assert client.post("/audit/check/").status_code == 403
        assert client.post("/audit/backup/").status_code == 403
        api = Api(user)
        for method, path in [("get", "/audit/status"), ("post", "/audit/verify"), ("get", "/audit/entries"),
                             ("get", "/backups"), ("post", "/backups")]:
            status, body = api.call(method, path)
            assert status == 403 and body["error"]["code"] == "permission_denied", (user, path)
    assert not AuditCheck.objects.exists() and not (backup_dir.exists() and any(backup_dir.iterdir()))


def test_compliance_checks_the_trail_but_may_not_take_a_backup(compliance, backup_dir):
    client = Client()
    client.force_login(compliance)
    page = client.get("/audit/")
    assert page.status_code == 200 and 'data-action="check-now"' in page.content.decode()
    assert 'data-action="backup-now"' not in page.content.decode()
    assert "/audit/" in _nav_urls(client)
    assert client.post("/audit/check/").status_code == 302
    check = AuditCheck.objects.get()
    assert check.ok and check.checked == AuditEntry.objects.count()
    assert "intact" in client.get("/audit/").content.decode()
    api = Api(compliance)
    status, body = api.get("/audit/status")
    assert status == 200 and body["last_check"]["ok"] and body["checkpoints"][0]["position"] == check.checked
    assert api.post("/backups")[0] == 403


def _nav_urls(client) -> list[str]:
    from bcrm.web.navigation import visible_urls

    request = client.get("/audit/").wsgi_request
    return visible_urls(request)


@pytest.mark.django_db(transaction=True)  # a backup reads committed data (SQLite's backup API, pg_dump)
def test_admin_takes_a_backup_now_and_sees_it_checked(admin, backup_dir):
    api = Api(admin)
    status, body = api.post("/backups")
    assert status == 201 and body["ok"] is True and body["size"] > 0
    assert (backup_dir / body["name"]).is_file()
    status, listed = api.get("/backups")
    assert status == 200 and [b["name"] for b in listed] == [body["name"]] and listed[0]["ok"]
    [entry] = entries("backup")
    assert entry.actor_id == admin.pk and entry.changes["file"] == body["name"]
    status, verified = api.post("/audit/verify")
    assert status == 200 and verified["ok"] and verified["findings"] == []


def test_entries_api_filters_by_object_actor_and_time_and_pages(compliance, lead, admin, team):
    from bcrm.parties.services import organization_update

    org = make_org(legal_name="Filtered Co", team=team)
    org = organization_update(actor=lead, organization=org, data={"notes": "one"}, expected_version=org.version)
    organization_update(actor=admin, organization=org, data={"notes": "two"}, expected_version=org.version)
    api = Api(compliance)
    status, body = api.get(f"/audit/entries?object=organization:{org.pk}&actor=lead_user")
    assert status == 200 and body["count"] == 1
    assert body["items"][0]["action"] == "update" and body["items"][0]["object_type"] == "parties.organization"
    status, body = api.get(f"/audit/entries?object=organization:{org.pk}&page_size=1")
    assert status == 200 and body["count"] == 2 and len(body["items"]) == 1 and body["has_next"]
    future = (timezone.localtime() + dt.timedelta(days=1)).date().isoformat()  # local: dates are local midnights
    assert api.get(f"/audit/entries?object=organization:{org.pk}&from={future}")[1]["count"] == 0
    status, body = api.get("/audit/entries?object=no_such_model:1")
    assert status == 422 and body["error"]["fields"][0]["path"] == "object"
    status, body = api.get(f"/audit/entries?from={future}&to=2020-01-01")
    assert status == 422



def test_the_audit_page_lists_and_filters_entries_in_both_languages(compliance, lead, team):
    from bcrm.parties.services import organization_update

    org = make_org(legal_name="Paged Co", team=team)
    organization_update(actor=lead, organization=org, data={"notes": "one"}, expected_version=org.version)
    client = Client()
    client.force_login(compliance)
    listed = client.get("/audit/", {"object": f"organization:{org.pk}"})
    body = listed.content.decode()
    assert listed.status_code == 200 and 'id="entry-table"' in body
    assert body.count(f"organization:{org.pk}</code>") == 1 and "lead_user" in body
    zh = client.get("/audit/", {"object": f"organization:{org.pk}", "actor": "lead_user"},
                    HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "变更内容" in zh and f"organization:{org.pk}</code>" in zh
    assert "<td>备注</td>" in zh and "<td>notes</td>" in body  # the field by its name in the reader's language
    assert 'id="entry-table"' not in client.get("/audit/", {"object": f"organization:{org.pk}",
                                                          "actor": "nobody"}).content.decode()
    refused = client.get("/audit/", {"object": "no_such_model:1"})
    assert refused.status_code == 422 and "model:id" in refused.content.decode()
    assert client.get("/audit/", {"from": "yesterday"}).status_code == 422

def test_the_audit_page_names_an_export_in_the_readers_language(tmp_path: Path, compliance, lead, team):
    make_org(legal_name="Export Co", team=team)
    export_to_file(actor=lead, entity="organizations", path=tmp_path / "o.csv", filters={})
    client = Client()
    client.force_login(compliance)
    english = client.get("/audit/", {"actor": "lead_user"}).content.decode()
    chinese = client.get("/audit/", {"actor": "lead_user"}, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "Export of Organisations" in english
    assert "导出：" in chinese and "export organizations" not in chinese and "Organisations" not in chinese

# --- the fast check hashes the same bytes as the chain's definition ------------------------------------------

_text = st.text(max_size=8)
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=8)


@given(st.integers(1, 10**9), st.none() | st.integers(1, 10**6), _text, _text, st.integers(1, 500), _text, _text,
       _json, st.sampled_from(["2026-12-06 13:04:24.830980", "2026-12-06 13:04:24"]))
@settings(max_examples=50)
def test_verify_digests_a_raw_row_as_the_chain_defines_it(entry_id, actor_id, label, action, content_type_id,
                                                          object_id, object_repr, changes, stored_at):
    import json

    from bcrm.audit import chain

    row = (1, entry_id, "", entry_id, stored_at, actor_id, label, action, content_type_id, object_id, object_repr,
           json.dumps(changes))
    at = dt.datetime.fromisoformat(stored_at).replace(tzinfo=dt.UTC)
    entry = {"id": entry_id, "at": at, "actor_id": actor_id, "actor_label": label, "action": action,
             "content_type_id": content_type_id, "object_id": object_id, "object_repr": object_repr,
             "changes": changes}
    assert trail._raw_content_digest(row, True) == chain.content_digest(entry)
    assert chain.content_digest(trail._raw_entry(row, True)) == chain.content_digest(entry)


def test_the_data_quality_export_is_audited_through_every_door(tmp_path: Path, lead, team):
    from django.core.management import call_command

    from tests.doors import signed_in

    make_org(legal_name="Quality Co", team=team)
    start = last_id()
    assert Api(lead).request("get", "/data-quality/export").status_code == 200
    page = signed_in(lead).get("/data-quality/export.csv")
    assert page.status_code == 200 and b"".join(page.streaming_content)  # type: ignore[attr-defined]  # streamed
    call_command("quality", "--export", str(tmp_path / "q.csv"))
    entries_made = only_new("export", start)
    assert [e.changes["entity"] for e in entries_made] == ["data-quality"] * 3
    assert entries_made[0].actor_id == lead.pk and entries_made[0].changes["clients"] >= 1
