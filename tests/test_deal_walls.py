"""Information barriers (deal walls, issue 15): a confidential project is seen only by its deal team and
compliance, through every door; crossing a wall is a recorded act with a reason; compliance reads the register.

The matrix (roles × doors × walled/unwalled project) is one test walking over the cases with the data built
once, collecting every breach, so it stays fast on both databases."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.audit.models import AuditAction, AuditEntry
from bcrm.core.errors import InvalidInput, NotFound, PermissionDenied
from bcrm.engagement.models import Interaction, Task
from bcrm.financing import selectors, walls
from bcrm.financing.models import DealWallMember
from bcrm.monitoring import services as monitoring_services
from bcrm.monitoring.models import KpiSnapshot
from bcrm.segmentation import compliance as seg_compliance
from bcrm.segmentation.features import FEATURES
from tests.doors import Api, command, signed_in
from tests.factories import make_org, make_participation, make_project, make_team, make_user

INSIDE = {"lead", "rm_in", "compliance"}  # lead through the deal team's team, rm_in by name, compliance always


@pytest.fixture
def deal(db):
    desk, deal_team = make_team("Coverage Desk"), make_team("Syndicate Team")
    users = {
        "admin": make_user("w_admin", "admin"),
        "lead": make_user("w_lead", "lead", team=deal_team),
        "rm_in": make_user("w_rm_in", "relationship_manager", team=desk),
        "rm_out": make_user("w_rm_out", "relationship_manager", team=desk),
        "analyst": make_user("w_analyst", "analyst"),
        "viewer": make_user("w_viewer", "viewer"),
        "compliance": make_user("w_compliance", "compliance"),
    }
    client = make_org(legal_name="Harbour Lending Partners", team=desk)
    walled = make_project(name="Zircon Walled Deal", local_name="Zircon 锆石")
    open_ = make_project(name="Amber Open Deal")
    now = timezone.now()
    parts = {
        "walled": make_participation(walled, client, amount=Decimal("7777777"), status="funded", status_changed_at=now),
        "open": make_participation(open_, client, amount=Decimal("1000000"), status="funded", status_changed_at=now),
    }
    interactions = {
        key: Interaction.objects.create(organization=client, project=project, kind="meeting", occurred_at=now,
                                        summary=f"{project.name.split()[0]} kick-off meeting")
        for key, project in (("walled", walled), ("open", open_))
    }
    tasks = {key: Task.objects.create(title=f"{key} review", organization=client, due_at=now,
                                      participation=parts.get(key))
             for key in ("walled", "open", "none")}
    walls.wall_set_confidential(actor=users["compliance"], project=walled, confidential=True, reason="MNPI: bid")
    walls.wall_add_member(actor=users["compliance"], project=walled, user=users["rm_in"], reason="Coverage RM")
    walls.wall_add_member(actor=users["compliance"], project=walled, team=deal_team, reason="Deal team")
    return {"users": users, "client": client, "projects": {"walled": walled, "open": open_}, "parts": parts,
            "interactions": interactions, "tasks": tasks, "deal_team": deal_team}


def _sees(role: str, which: str) -> bool:
    return which == "open" or role in INSIDE


def _names(which: str) -> str:
    return {"walled": "Zircon", "open": "Amber"}[which]


def test_every_door_hides_the_walled_project_from_outside(deal, tmp_path):
    users, client, projects, parts = deal["users"], deal["client"], deal["projects"], deal["parts"]
    breaches: list[str] = []

    def check(role: str, door: str, which: str, shown: bool) -> None:
        if shown != _sees(role, which):
            breaches.append(f"{role} × {door} × {which}: {'shown' if shown else 'hidden'}")

    for role, user in users.items():
        page, api = signed_in(user), Api(user)
        html = page.get("/projects/").content.decode()
        status, body = api.get("/projects?page_size=100")
        api_ids = {p["id"] for p in body["items"]}
        client_html = page.get(f"/clients/{client.pk}/").content.decode()
        _s, participations = api.get(f"/participations?organization={client.pk}")
        _s, interactions = api.get(f"/interactions?organization={client.pk}")
        part_ids = {p["id"] for p in participations["items"]}
        _s, tasks = api.get(f"/tasks?organization={client.pk}")
        task_ids = {t["id"] for t in tasks["items"]}
        assert deal["tasks"]["none"].pk in task_ids  # a task on no deal stays
        interaction_ids = {i["id"] for i in interactions["items"]}
        exported = api.request("get", "/exports/participations?format=csv")
        export_csv = b"".join(exported.streaming_content).decode("utf-8-sig") if exported.status_code == 200 else ""
        admin_list = page.get("/admin/financing/project/")
        admin_html = admin_list.content.decode() if admin_list.status_code == 200 else ""
        audit_list = page.get("/admin/audit/auditentry/?q=Deal")
        admin_html += audit_list.content.decode() if audit_list.status_code == 200 else ""
        if role == "admin":
            assert admin_list.status_code == 200
        export_projects = api.request("get", "/exports/projects?format=csv")
        projects_csv = (b"".join(export_projects.streaming_content).decode("utf-8-sig")
                        if export_projects.status_code == 200 else "")
        search_html = page.get("/search/?q=Deal").content.decode()  # both projects' names end in "Deal"
        _s, found = api.get("/search?q=Deal")
        hits = {(g["kind"], i["id"]) for g in found["groups"] for i in g["items"]}
        out = tmp_path / f"{role}.csv"
        command("export", "participations", str(out), "--as", user.username)
        cli_csv = out.read_text(encoding="utf-8-sig")
        for which, project in projects.items():
            name = _names(which)
            check(role, "project list page", which, name in html)
            check(role, "project page", which, page.get(f"/projects/{project.pk}/").status_code == 200)
            check(role, "progress page", which, page.get(f"/projects/{project.pk}/progress/").status_code == 200)
            check(role, "project list API", which, project.pk in api_ids)
            check(role, "project API", which, api.get(f"/projects/{project.pk}")[0] == 200)
            check(role, "milestones API", which, api.get(f"/projects/{project.pk}/milestones")[0] == 200)
            check(role, "participation list API", which, parts[which].pk in part_ids)
            check(role, "interaction list API", which, deal["interactions"][which].pk in interaction_ids)
            check(role, "task list API", which, deal["tasks"][which].pk in task_ids)
            check(role, "client 360° page", which, name in client_html)
            check(role, "search page", which, f"/projects/{project.pk}/" in search_html)
            check(role, "search API", which, ("projects", project.pk) in hits)
            if exported.status_code == 200:
                check(role, "participations CSV export", which, name in export_csv)
            check(role, "bcrm export --as", which, name in cli_csv)
            if admin_html:
                check(role, "admin site project list", which, name in admin_html)
            if export_projects.status_code == 200:
                check(role, "projects CSV export", which, name in projects_csv)
        assert status == 200
    command("export", "participations", str(tmp_path / "system.csv"))  # the server's operator sees every deal
    system_csv = (tmp_path / "system.csv").read_text(encoding="utf-8-sig")
    assert "Zircon Walled Deal" in system_csv and "Amber Open Deal" in system_csv
    assert breaches == []


def test_pipeline_sums_and_counts_leave_walled_deals_out(deal):
    period = timezone.localdate().strftime("%Y-%m")
    monitoring_services.compute_snapshot(actor=deal["users"]["lead"], period=period)
    total = KpiSnapshot.objects.get(period=period, breakdown="tier", segment="all", team=None).figures
    assert Decimal(total["committed"]) == Decimal("1000000.00")
    assert total["commitments"] == 1
    assert total["pipeline"]["funded"]["count"] == 1


def test_timeline_and_explanations_outside_the_wall(deal):
    from bcrm.engagement.selectors import organization_timeline

    users, client = deal["users"], deal["client"]
    outside = organization_timeline(actor=users["rm_out"], organization=client)
    inside = organization_timeline(actor=users["rm_in"], organization=client)
    walled_id = deal["projects"]["walled"].pk

    def walled_events(events):
        return [e for e in events if getattr(e["object"], "project_id", None) == walled_id
                or getattr(getattr(e["object"], "participation", None), "project_id", None) == walled_id]

    assert walled_events(outside) == [] and walled_events(inside)
    assert walls.organizations_behind_walls(users["rm_out"]) == {client.pk}
    assert walls.organizations_behind_walls(users["rm_in"]) == set()
    assert walls.organizations_behind_walls(users["compliance"]) == set()
    explanation = {"c": [["committed_amount", 7.0, 0.4], ["contacts", 3.0, 0.1], ["projects", 2.0, 0.2]],
                   "r": 0, "m": ["feature:joint_deals", "feature:contacts"]}
    rules = [{"feature": "committed_amount", "op": ">=", "value": 1}]
    shown = seg_compliance.visible_deal_explanation(explanation, rules)
    assert shown == {"c": [["contacts", 3.0, 0.1]], "xd": 1, "m": ["feature:contacts"]}
    assert seg_compliance.visible_deal_explanation({"r": 0}, [{"feature": "contacts"}]) == {"r": 0}


def test_who_may_cross_a_wall_and_what_is_recorded(deal):
    users, walled, open_ = deal["users"], deal["projects"]["walled"], deal["projects"]["open"]
    entries = AuditEntry.objects.filter(action=AuditAction.WALL_CROSS)
    before = entries.count()
    with pytest.raises(PermissionDenied):  # inside the wall, but a relationship manager does not manage it
        walls.wall_add_member(actor=users["rm_in"], project=walled, user=users["viewer"], reason="x")
    with pytest.raises(NotFound):  # an administrator outside the wall does not even see the project
        walls.wall_add_member(actor=users["admin"], project=walled, user=users["admin"], reason="curious")
    with pytest.raises(InvalidInput):  # a crossing needs a reason
        walls.wall_add_member(actor=users["lead"], project=walled, user=users["viewer"], reason="  ")
    with pytest.raises(InvalidInput):
        walls.wall_add_member(actor=users["lead"], project=walled, user=users["rm_in"], reason="again")
    assert entries.count() == before
    member = walls.wall_add_member(actor=users["lead"], project=walled, user=users["viewer"], reason="Credit review")
    assert selectors.project_get_for_user(user=users["viewer"], pk=walled.pk) == walled
    entry = entries.latest("id")
    assert entry.actor == users["lead"] and entry.changes["reason"] == "Credit review" and entry.object_id == str(walled.pk)
    walls.wall_remove_member(actor=users["compliance"], member=member, reason="Review done")
    with pytest.raises(NotFound):
        selectors.project_get_for_user(user=users["viewer"], pk=walled.pk)
    assert AuditEntry.objects.filter(action=AuditAction.WALL_LEAVE, object_id=str(walled.pk)).exists()
    # An administrator who raises a wall stays inside it; a relationship manager may not raise one.
    with pytest.raises(PermissionDenied):
        walls.wall_set_confidential(actor=users["rm_in"], project=open_, confidential=True, reason="x")
    walls.wall_set_confidential(actor=users["admin"], project=open_, confidential=True, reason="Mandate signed")
    assert DealWallMember.objects.filter(project=open_, user=users["admin"]).exists()
    assert selectors.project_get_for_user(user=users["admin"], pk=open_.pk).confidential
    with pytest.raises(NotFound):
        selectors.project_get_for_user(user=users["analyst"], pk=open_.pk)


def test_wall_api_and_register(deal):
    users, walled = deal["users"], deal["projects"]["walled"]
    status, body = Api(users["compliance"]).get("/walls")
    assert status == 200
    [row] = body
    assert row["project"]["id"] == walled.pk and row["project"]["confidential"] is True
    assert {m["user_id"] for m in row["members"]} == {users["rm_in"].pk, None}
    assert {c["reason"] for c in row["crossings"]} >= {"Coverage RM", "Deal team"}
    crossing = next(c for c in row["crossings"] if c["reason"] == "Coverage RM")
    assert crossing["actor"] == "w_compliance" and crossing["action"] == "wall.cross" and crossing["member"] == "w_rm_in"
    for role in ("admin", "lead", "rm_in", "viewer"):
        assert Api(users[role]).get("/walls")[0] == 403
    status, body = Api(users["lead"]).post(f"/projects/{walled.pk}/wall/members", {"user": users["analyst"].pk,
                                                                                   "reason": ""})
    assert status == 422 and body["error"]["code"] == "reason_required"
    assert Api(users["rm_out"]).post(f"/projects/{walled.pk}/wall/members",
                                     {"user": users["rm_out"].pk, "reason": "let me in"})[0] == 404
    assert Api(users["rm_in"]).post(f"/projects/{walled.pk}/wall/members",
                                    {"user": users["rm_out"].pk, "reason": "let him in"})[0] == 403
    # Writes naming the walled project from outside answer as for a project that does not exist.
    client = deal["client"]
    for path, body in (("/interactions", {"kind": "call", "summary": "probe"}),
                       ("/participations", {"role": "equity", "amount": "1", "currency": "USD"})):
        for project_id in (walled.pk, 999999):
            status, answer = Api(users["rm_out"]).post(path, {"organization": client.pk, "project": project_id, **body})
            assert status == 422 and answer["error"]["fields"][0]["message"].startswith("No such project (id ")
    assert Api(users["rm_in"]).post("/interactions", {"organization": client.pk, "project": walled.pk,
                                                      "kind": "call", "summary": "inside"})[0] == 201
    status, body = Api(users["lead"]).post(f"/projects/{walled.pk}/wall/members",
                                           {"user": users["analyst"].pk, "reason": "Model review"})
    assert status == 201 and body["user_id"] == users["analyst"].pk
    assert Api(users["analyst"]).get(f"/projects/{walled.pk}")[0] == 200
    status, _body = Api(users["lead"]).call("delete", f"/projects/{walled.pk}/wall/members/{body['id']}?reason=done")
    assert status == 204 and Api(users["analyst"]).get(f"/projects/{walled.pk}")[0] == 404
    status, body = Api(users["lead"]).call("put", f"/projects/{walled.pk}/wall", {"confidential": False,
                                                                                   "reason": "Deal announced"})
    assert status == 200 and body["confidential"] is False
    assert Api(users["rm_out"]).get(f"/projects/{walled.pk}")[0] == 200


def test_wall_pages(deal):
    users, walled, open_ = deal["users"], deal["projects"]["walled"], deal["projects"]["open"]
    compliance = signed_in(users["compliance"])
    page = compliance.get("/compliance/walls/").content.decode()
    assert "Zircon Walled Deal" in page and "Coverage RM" in page
    assert signed_in(users["admin"]).get("/compliance/walls/").status_code == 403
    detail = compliance.get(f"/projects/{walled.pk}/").content.decode()
    assert 'id="wall-member-form"' in detail and "w_rm_in" in detail
    assert 'id="wall-form"' not in signed_in(users["rm_in"]).get(f"/projects/{walled.pk}/").content.decode()
    response = compliance.post(f"/projects/{walled.pk}/wall/", {"action": "add", "user": users["viewer"].pk,
                                                                "reason": "Valuation"})
    assert response.status_code == 302
    assert DealWallMember.objects.filter(project=walled, user=users["viewer"], reason="Valuation").exists()
    response = compliance.post(f"/projects/{walled.pk}/wall/", {"action": "add", "user": users["analyst"].pk,
                                                                "reason": ""})
    assert response.status_code == 422
    assert not DealWallMember.objects.filter(project=walled, user=users["analyst"]).exists()
    lead = signed_in(users["lead"])
    response = lead.post(f"/projects/{open_.pk}/wall/", {"action": "confidential", "confidential": "on",
                                                         "reason": "Exclusive mandate"})
    assert response.status_code == 302
    open_.refresh_from_db()
    assert open_.confidential and signed_in(users["viewer"]).get(f"/projects/{open_.pk}/").status_code == 404
    assert signed_in(users["rm_out"]).post(f"/projects/{walled.pk}/wall/", {"action": "confidential",
                                                                          "reason": "x"}).status_code == 404


_FEATURES = sorted(FEATURES)


@settings(max_examples=50)
@given(contributions=st.lists(st.tuples(st.sampled_from(_FEATURES), st.floats(-1, 1), st.floats(-1, 1)), max_size=8),
       missing=st.lists(st.sampled_from(_FEATURES), max_size=5), rule=st.sampled_from(_FEATURES))
def test_a_redacted_explanation_names_no_deal_feature_and_keeps_the_others(contributions, missing, rule):
    explanation = {"c": [list(c) for c in contributions], "m": [f"feature:{m}" for m in missing], "r": 0}
    shown = seg_compliance.visible_deal_explanation(explanation, [{"feature": rule}])
    assert shown["c"] == [c for c in explanation["c"] if not seg_compliance.is_deal_feature(c[0])]
    assert all(not seg_compliance.is_deal_feature(r[8:]) for r in shown["m"])
    assert ("r" in shown) != seg_compliance.is_deal_feature(rule) and ("xd" in shown) == seg_compliance.is_deal_feature(rule)
    assert explanation["r"] == 0  # the stored explanation is not changed


def test_the_class_stays_but_its_explanation_outside_the_wall_leaves_the_deals_out(deal):
    from bcrm.segmentation import selectors as seg_selectors
    from bcrm.segmentation.models import Assignment, Criterion, Run

    users, client = deal["users"], deal["client"]
    now = timezone.now()
    criterion = Criterion.objects.create(dimension="value", version=1, features=["committed_amount", "contacts"],
                                         method="fixed", params={"threshold": 0.0},
                                         rules=[{"feature": "committed_amount", "op": ">=", "value": 5000000,
                                                 "label": "upper"}])
    run = Run.objects.create(criterion=criterion, dimension="value", as_of=now.date(), method="fixed", threshold=0.0,
                             started_at=now, finished_at=now, duration_ms=1)
    assignment = Assignment.objects.create(
        run=run, organization=client, label="high", engine_label="high", score=0.5, margin=0.5, completeness=1.0,
        explanation={"r": 0, "c": [["committed_amount", 8777777.0, 0.4], ["contacts", 3.0, 0.1]]})
    committed, contacts = seg_selectors.feature_name("committed_amount"), seg_selectors.feature_name("contacts")
    amount = seg_selectors.format_feature_value("committed_amount", 8777777.0)
    for role in ("rm_out", "admin", "analyst"):
        why = " ".join(seg_selectors.explain(assignment, actor=users[role]))
        assert committed not in why and amount not in why and contacts in why, (role, why)
        assert seg_compliance.deal_rule_text() in why
    for role in ("rm_in", "lead", "compliance"):
        why = " ".join(seg_selectors.explain(assignment, actor=users[role]))
        assert committed in why and amount in why and contacts in why, (role, why)
    assert assignment.label == "high"  # the class itself is the firm's view, the same for everyone
