"""Merging duplicates: every related row moves, nothing is lost, the preview writes nothing, a failure
leaves the database as it was, and only a lead or an admin merges what they can see."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

import pytest
from django.apps import apps
from django.db import models
from django.utils import timezone

from bcrm.audit.models import AuditEntry
from bcrm.audit.selectors import audit_history
from bcrm.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from bcrm.dedupe import services
from bcrm.dedupe.merging import KEEP_SURVIVOR, REFUSE, merge_relations, policy_for, unique_rules
from bcrm.dedupe.services import merges
from bcrm.engagement.models import Interaction, ServiceRequest, SurveyResponse, Task
from bcrm.financing.models import Participation, Project
from bcrm.parties.models import Contact, Organization, Tag
from tests.factories import make_contact, make_org, make_participation, make_project

pytestmark = pytest.mark.django_db
NOW = timezone.now()


# ---------------------------------------------------------------------------------------------------
# Rows for any model: the relation test builds one for every relation the schema has, including models
# other apps add later. Required fields get plain values; models with rules a plain value breaks get a
# factory here.


def _plain_value(field: models.Field):
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, models.DateTimeField):
        return NOW
    if isinstance(field, models.DateField):
        return NOW.date()
    if isinstance(field, models.DecimalField):
        return Decimal("1")
    if isinstance(field, models.FloatField):
        return 0.5
    if isinstance(field, models.BooleanField):
        return False
    if isinstance(field, models.IntegerField):
        return 1
    if isinstance(field, models.JSONField):
        return {}
    if isinstance(field, models.CharField | models.TextField):
        return "x"
    raise AssertionError(f"no plain value for {field!r}: add a factory to FACTORIES in {__file__}")


def autofill(model: type[models.Model], **values):
    factory = FACTORIES.get(model._meta.label)
    if factory is not None:
        return factory(**values)
    kwargs = {}
    for field in model._meta.concrete_fields:
        if field.name in values or field.attname in values:
            continue
        if (field.primary_key and not field.is_relation) or field.has_default() or field.null:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            continue
        if field.blank and isinstance(field, models.CharField | models.TextField):
            continue
        if field.is_relation:
            related = cast(type[models.Model], field.related_model)  # a concrete relation: a model class
            existing = related._default_manager.first() if related not in (Organization, Contact) else None
            kwargs[field.name] = existing or autofill(related)
        else:
            kwargs[field.name] = _plain_value(field)
    kwargs.update(values)
    return model._default_manager.create(**kwargs)


FACTORIES: dict[str, Callable[..., Any]] = {
    "parties.Organization": lambda **v: make_org(**v),
    "parties.Contact": lambda organization=None, **v: make_contact(organization or make_org(), **v),
    "engagement.SurveyResponse": lambda **v: SurveyResponse.objects.create(**{"nps": 9, "responded_at": NOW, **v}),
    "financing.Participation": lambda **v: make_participation(v.pop("project", None) or make_project(),
                                                              v.pop("organization", None) or make_org(), **v),
}


def schema_pointers(target: type[models.Model]) -> list[tuple[type[models.Model], models.Field]]:
    """Every foreign key and one-to-one in the whole schema that points at ``target``, link tables included:
    found here independently of the code under test."""
    found = []
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.concrete_fields:
            if field.is_relation and (field.many_to_one or field.one_to_one) and field.related_model is target:
                found.append((model, field))
    return found


def pointer_label(model, field) -> str:
    """The relation label merge_relations gives the pointer: link tables under their many-to-many."""
    if model._meta.auto_created:
        for m2m_model in apps.get_models():
            for m2m in m2m_model._meta.many_to_many:
                if m2m.remote_field.through is model:
                    return f"{m2m_model._meta.label}.{m2m.name}"
    return f"{model._meta.label}.{field.name}"


def make_related(relation, owner):
    """One row of ``relation`` pointing at ``owner``; returns (model, pk) to find it again."""
    if relation.kind == "m2m":
        target_model = relation.target.related_model
        target = autofill(target_model, **({"organization": owner.organization} if target_model is Interaction
                                           and isinstance(owner, Contact) else {}))
        row = relation.model._default_manager.create(**{relation.field.name: owner, relation.target.name: target})
        return row
    extra = {}
    if relation.model is Participation:
        extra["project"] = make_project()
    if relation.model is Contact:
        extra["is_primary"] = False
    for field in relation.model._meta.concrete_fields:  # keep denormalised organisations consistent
        if field is not relation.field and field.is_relation and field.related_model is Organization \
                and isinstance(owner, Contact) and not field.null:
            extra[field.name] = owner.organization
    return autofill(relation.model, **{relation.field.name: owner}, **extra)


@pytest.mark.parametrize("target", [Organization, Contact])
def test_every_relation_in_the_schema_is_moved_to_the_survivor(lead, target):
    relations = merge_relations(target)
    labels = {r.label for r in relations}
    # 1. Nothing that points at the model is missing from what a merge moves.
    pointers = schema_pointers(target)
    assert {pointer_label(m, f) for m, f in pointers} == labels
    assert len(labels) >= (10 if target is Organization else 4)

    # 2. One row of every relation on the duplicate (and on the survivor for rules with a policy).
    org = make_org(legal_name="Survivor Holdings")
    if target is Organization:
        survivor, other = org, make_org(legal_name="Survivor Holdings Ltd")
    else:
        survivor = make_contact(org, full_name="Wang Wei")
        other = make_contact(org, full_name="WANG, Wei")
    made = {}
    for relation in relations:
        made[relation.label] = make_related(relation, other)
        for rule in unique_rules(relation):
            if policy_for(relation.model, rule) == KEEP_SURVIVOR:
                make_related(relation, survivor)

    plan = services.merge(entity="organizations" if target is Organization else "contacts", actor=lead,
                          survivor=survivor, others=[other], preview=True)
    assert not plan.conflicts
    services.merge(entity="organizations" if target is Organization else "contacts", actor=lead,
                   survivor=survivor, others=[other], versions=plan.versions)

    # 3. No row anywhere still points at the merged-away record, and each row made for it moved or was
    #    dropped by its relation's stated policy.
    assert not target.objects.filter(pk=other.pk).exists()
    for model, field in pointers:
        assert not model._base_manager.filter(**{field.attname: other.pk}).exists(), pointer_label(model, field)
    for relation in relations:
        row = made[relation.label]
        kept = relation.model._base_manager.filter(pk=row.pk).first()
        policies = {policy_for(relation.model, rule) for rule in unique_rules(relation)}
        if kept is None:
            assert KEEP_SURVIVOR in policies or relation.model._meta.get_field(relation.field.name).primary_key, \
                relation.label
            assert relation.rows([survivor.pk]).exists(), relation.label
        else:
            assert getattr(kept, relation.field.attname) == survivor.pk, relation.label


def test_policies_default_to_refusing(lead):
    participation = next(r for r in merge_relations(Organization) if r.model is Participation)
    assert [policy_for(Participation, rule) for rule in unique_rules(participation)] == [REFUSE]


# ---------------------------------------------------------------------------------------------------
# A realistic pair of duplicates


@pytest.fixture
def pair(team, rm):
    tag_a, tag_b, tag_c = (Tag.objects.create(name=n) for n in ("core", "energy", "watch"))
    a = make_org(legal_name="Huaneng Capital Co., Ltd.", local_name="华能资本服务有限公司", team=team,
                 relationship_manager=rm, website="", relationship_since=dt.date(2019, 5, 1),
                 notes="Long-standing equity investor.", kind="equity_investor")
    b = make_org(legal_name="HUANENG CAPITAL LIMITED", local_name="华能资本服务股份有限公司", team=team,
                 website="https://www.hn-capital.com.cn", external_id="HN-002", relationship_since=dt.date(2015, 3, 2),
                 rating_agency="sp", rating_grade="A-", kind="equity_investor")
    a.tags.add(tag_a, tag_b)
    b.tags.add(tag_b, tag_c)
    wang = make_contact(a, full_name="Wang Wei", is_primary=True, email="wang.wei@hn-capital.com.cn")
    zhang = make_contact(b, full_name="Zhang Min", local_name="张敏", is_primary=True, email="zhang.min@hn-capital.com.cn")
    li = make_contact(b, full_name="Li Na", email="li.na@hn-capital.com.cn")
    p1, p2 = make_project(name="Offshore Wind I"), make_project(name="Toll Road II")
    make_participation(p1, a, role="equity")
    make_participation(p1, b, role="senior_debt")
    make_participation(p2, b, role="equity")
    Project.objects.filter(pk=p2.pk).update(sponsor=b)
    meeting = Interaction.objects.create(organization=b, kind="meeting", occurred_at=NOW, summary="Kick-off")
    meeting.contacts.add(zhang, li)
    ServiceRequest.objects.create(organization=b, contact=zhang, subject="Term sheet", opened_at=NOW)
    Task.objects.create(organization=b, title="Send report", due_at=NOW)
    SurveyResponse.objects.create(organization=b, contact=li, nps=9, responded_at=NOW)
    return {"a": a, "b": b, "wang": wang, "zhang": zhang, "li": li, "p1": p1, "p2": p2}


def table_counts():
    tracked = [Organization, Contact, Participation, Project, Interaction, Interaction.contacts.through,
               ServiceRequest, Task, SurveyResponse, Organization.tags.through, AuditEntry]
    return {m._meta.label: m._base_manager.count() for m in tracked} | {
        "where": sorted(Participation.objects.values_list("organization_id", flat=True))}


def test_preview_says_what_would_happen_and_writes_nothing(lead, pair):
    a, b = pair["a"], pair["b"]
    before = table_counts()
    plan = services.organization_merge(actor=lead, survivor=a, others=[b], preview=True)
    assert table_counts() == before
    assert Organization.objects.get(pk=a.pk).version == a.version
    assert plan.can_merge and not plan.merged and not plan.conflicts
    moves = {m.relation.label: (m.moved, m.dropped) for m in plan.active_moves}
    assert moves["parties.Contact.organization"] == (2, 0)
    assert moves["financing.Participation.organization"] == (2, 0)
    assert moves["parties.Organization.tags"] == (1, 1)  # "energy" both had
    assert moves["financing.Project.sponsor"] == (1, 0)
    fields = {c.name: (c.before, c.after) for c in plan.fields}
    assert fields["website"] == ("—", "https://www.hn-capital.com.cn")
    assert fields["external_id"] == ("—", "HN-002")
    assert fields["relationship_since"] == ("2019-05-01", "2015-03-02")  # the relationship began with B
    assert "legal_name" not in fields and "local_name" not in fields  # the survivor's values win
    assert [c.describe() for c in plan.resolutions] and "Zhang Min" in plan.resolutions[0].describe()


def test_merge_moves_everything_and_deletes_the_duplicate(lead, pair):
    a, b, zhang = pair["a"], pair["b"], pair["zhang"]
    plan = services.organization_merge(actor=lead, survivor=a, others=[b], preview=True)
    services.organization_merge(actor=lead, survivor=a, others=[b], versions=plan.versions)
    a.refresh_from_db()
    assert not Organization.objects.filter(pk=b.pk).exists()
    assert a.contacts.count() == 3
    assert Participation.objects.filter(organization=a).count() == 3
    assert Interaction.objects.get().organization == a
    assert sorted(t.name for t in a.tags.all()) == ["core", "energy", "watch"]
    assert Project.objects.get(pk=pair["p2"].pk).sponsor == a
    assert ServiceRequest.objects.get().organization == a and Task.objects.get().organization == a
    assert SurveyResponse.objects.get().organization == a
    # Fields: the survivor's win, empty ones are filled, the other's external id is the survivor's now.
    assert a.legal_name == "Huaneng Capital Co., Ltd." and a.website == "https://www.hn-capital.com.cn"
    assert (a.rating_agency, a.rating_grade, a.rating_score) == ("sp", "A-", 7)
    assert a.external_id == "HN-002" and a.relationship_since == dt.date(2015, 3, 2)
    assert a.notes.startswith("Long-standing equity investor.") and f"#{b.pk} HUANENG CAPITAL LIMITED" in a.notes
    # One primary contact: the survivor's; the duplicate's was demoted (and that is audited).
    assert list(a.contacts.filter(is_primary=True)) == [pair["wang"]]
    zhang.refresh_from_db()
    assert not zhang.is_primary and zhang.version > 1
    assert audit_history(instance=zhang).filter(action="update", changes__is_primary=[True, False]).exists()
    # Moved rows changed: their version grew, so a form opened before the merge gets a conflict.
    assert Interaction.objects.get().version == 2


def test_the_audit_trail_keeps_both_records(lead, pair):
    a, b = pair["a"], pair["b"]
    old_entry = AuditEntry.objects.create(content_type_id=audit_ct(), object_id=str(b.pk), action="update",
                                          object_repr=str(b), changes={"notes": ["", "hello"]})
    plan = services.organization_merge(actor=lead, survivor=a, others=[b], preview=True)
    services.organization_merge(actor=lead, survivor=a, others=[b], versions=plan.versions)
    entry = audit_history(instance=a).get(action="merge")
    assert entry.actor == lead
    merged = entry.changes["merged"]
    assert merged["ids"] == [b.pk]
    assert merged["records"][0]["values"]["legal_name"] == "HUANENG CAPITAL LIMITED"
    assert merged["records"][0]["values"]["external_id"] == "HN-002"
    assert merged["moved"]["parties.Contact.organization"] == 2
    assert merged["moved"]["engagement.Interaction.organization"] == 1
    assert entry.changes["fields"]["website"] == ["", "https://www.hn-capital.com.cn"]
    # The merged-away record's history stays readable and ends with where it went.
    gone = Organization(pk=b.pk)
    history = list(audit_history(instance=gone))
    assert old_entry in history
    assert history[0].action == "delete" and history[0].changes["merged_into"] == [None, a.pk]


def audit_ct():
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(Organization).pk


def test_same_project_role_and_tranche_is_a_conflict_listed_and_refused(lead, pair):
    a, b, p1 = pair["a"], pair["b"], pair["p1"]
    make_participation(p1, a, role="senior_debt")  # B has senior debt in the same project and tranche
    before = table_counts()
    plan = services.organization_merge(actor=lead, survivor=a, others=[b], preview=True)
    assert len(plan.conflicts) == 1 and "Offshore Wind I" in plan.conflicts[0].describe()
    with pytest.raises(Conflict) as err:
        services.organization_merge(actor=lead, survivor=a, others=[b], versions=plan.versions)
    assert err.value.code == "merge_conflict"
    assert "Offshore Wind I" in err.value.fields["conflicts"][0]
    assert table_counts() == before
    # A different tranche is not a clash: fixing it by hand lets the merge through.
    Participation.objects.filter(organization=a, role="senior_debt").update(tranche="B")
    plan = services.organization_merge(actor=lead, survivor=a, others=[b], preview=True)
    assert not plan.conflicts
    services.organization_merge(actor=lead, survivor=a, others=[b], versions=plan.versions)
    assert Participation.objects.filter(organization=a).count() == 4


def test_a_record_changed_since_the_preview_is_a_conflict(lead, rm, pair):
    from bcrm.parties.services import organization_update

    a, b = pair["a"], pair["b"]
    plan = services.organization_merge(actor=lead, survivor=a, others=[b], preview=True)
    organization_update(actor=rm, organization=b, data={"notes": "changed"}, expected_version=b.version)
    before = table_counts()
    with pytest.raises(Conflict) as err:
        services.organization_merge(actor=lead, survivor=a, others=[b], versions=plan.versions)
    assert "HUANENG CAPITAL LIMITED" in err.value.message
    assert table_counts() == before


def test_versions_must_name_every_record(lead, pair):
    with pytest.raises(InvalidInput) as err:
        services.organization_merge(actor=lead, survivor=pair["a"], others=[pair["b"]], versions={pair["a"].pk: 1})
    assert "versions" in err.value.fields


@pytest.mark.parametrize("role", ["rm", "viewer", "analyst", "compliance"])
def test_only_lead_and_admin_merge(request, role, pair):
    user = request.getfixturevalue(role)
    before = table_counts()
    plan = services.organization_merge(actor=user, survivor=pair["a"], others=[pair["b"]], preview=True)
    assert not plan.can_merge
    with pytest.raises(PermissionDenied):
        services.organization_merge(actor=user, survivor=pair["a"], others=[pair["b"]], versions=plan.versions)
    assert table_counts() == before


def test_admin_merges(admin, pair):
    services.organization_merge(actor=admin, survivor=pair["b"], others=[pair["a"]])
    assert list(Organization.objects.values_list("pk", flat=True)) == [pair["b"].pk]


def test_nobody_merges_what_they_cannot_see(rm, pair, foreign_org):
    with pytest.raises(NotFound):
        services.organization_merge(actor=rm, survivor=pair["a"], others=[foreign_org], preview=True)
    with pytest.raises(NotFound):
        services.organization_merge(actor=rm, survivor=pair["a"], others=[foreign_org])
    assert Organization.objects.filter(pk=foreign_org.pk).exists()


@pytest.mark.parametrize("others", ["none", "self", "twice"])
def test_bad_requests_are_refused_with_the_field(lead, pair, others):
    a, b = pair["a"], pair["b"]
    value = {"self": [a.pk], "twice": [b.pk, b.pk]}.get(others, [])
    with pytest.raises(InvalidInput) as err:
        services.organization_merge(actor=lead, survivor=a, others=value, preview=True)
    assert "others" in err.value.fields


def test_unknown_id_is_not_found(lead, pair):
    with pytest.raises(NotFound):
        services.organization_merge(actor=lead, survivor=pair["a"], others=[999_999], preview=True)


def test_a_failure_half_way_leaves_the_database_as_it_was(lead, pair, monkeypatch):
    a, b = pair["a"], pair["b"]
    before = table_counts()
    search_before = Organization.objects.get(pk=a.pk).search_text

    def fail(organization):  # after every row has moved and B is deleted
        assert not Organization.objects.filter(pk=b.pk).exists()
        raise RuntimeError("disk full")

    monkeypatch.setattr(merges, "organization_search_refresh", fail)
    with pytest.raises(RuntimeError):
        services.organization_merge(actor=lead, survivor=a, others=[b])
    assert table_counts() == before
    assert Organization.objects.get(pk=a.pk).search_text == search_before
    assert Organization.objects.get(pk=b.pk).version == b.version


def test_search_index_follows_the_contacts(lead, pair):
    a, b = pair["a"], pair["b"]
    services.organization_merge(actor=lead, survivor=a, others=[b])
    assert "zhang min" in Organization.objects.get(pk=a.pk).search_text


def test_sanctions_hit_and_kyc_are_never_lost(lead, team):
    a = make_org(legal_name="Alpha Fund", team=team)
    b = make_org(legal_name="Alpha Fund Ltd", team=team, sanctions_flag=True, kyc_status="verified",
                 kyc_expires_on=dt.date(2030, 1, 1))
    services.organization_merge(actor=lead, survivor=a, others=[b])
    a.refresh_from_db()
    assert a.sanctions_flag and (a.kyc_status, a.kyc_expires_on) == ("verified", dt.date(2030, 1, 1))


def test_merging_several_at_once(lead, team):
    a, b, c = (make_org(legal_name=n, team=team) for n in ("Gamma Capital", "GAMMA CAPITAL LTD", "Gamma Capital Limited"))
    for org in (a, b, c):
        make_contact(org, is_primary=True)
    services.organization_merge(actor=lead, survivor=c, others=[a, b])
    assert list(Organization.objects.all()) == [c]
    assert c.contacts.count() == 3 and c.contacts.filter(is_primary=True).count() == 1


# ---------------------------------------------------------------------------------------------------
# Contacts


def test_contact_merge_moves_meetings_requests_and_primary(lead, org):
    wang = make_contact(org, full_name="Wang Wei", email="", phone="+86 138 1234 5678")
    dup = make_contact(org, full_name="WANG, Wei", email="wang.wei@huaneng.com", is_primary=True, title="CFO")
    both = Interaction.objects.create(organization=org, kind="call", occurred_at=NOW, summary="Both present")
    both.contacts.add(wang, dup)
    only_dup = Interaction.objects.create(organization=org, kind="call", occurred_at=NOW, summary="Dup only")
    only_dup.contacts.add(dup)
    request_ = ServiceRequest.objects.create(organization=org, contact=dup, subject="Data room", opened_at=NOW)
    plan = services.contact_merge(actor=lead, survivor=wang, others=[dup], preview=True)
    assert {m.relation.label: (m.moved, m.dropped) for m in plan.active_moves}["engagement.Interaction.contacts"] == (1, 1)
    services.contact_merge(actor=lead, survivor=wang, others=[dup], versions=plan.versions)
    wang.refresh_from_db()
    assert not Contact.objects.filter(pk=dup.pk).exists()
    assert (wang.email, wang.title, wang.is_primary) == ("wang.wei@huaneng.com", "CFO", True)
    assert list(both.contacts.all()) == [wang] and list(only_dup.contacts.all()) == [wang]
    request_.refresh_from_db()
    assert request_.contact == wang
    assert audit_history(instance=wang).filter(action="merge").exists()


def test_contacts_of_different_organisations_are_not_merged(lead, org, team):
    other_org = make_org(legal_name="Elsewhere", team=team)
    a, b = make_contact(org, full_name="Li Na"), make_contact(other_org, full_name="Li Na")
    with pytest.raises(InvalidInput) as err:
        services.contact_merge(actor=lead, survivor=a, others=[b], preview=True)
    assert "others" in err.value.fields


def test_contact_merge_never_invents_consent(lead, org):
    a = make_contact(org, full_name="Chen Jie")
    b = make_contact(org, full_name="Chen Jie", report_consent=True, consent_given_at=NOW)
    services.contact_merge(actor=lead, survivor=a, others=[b])
    a.refresh_from_db()
    assert (a.report_consent, a.consent_given_at) == (False, None)
