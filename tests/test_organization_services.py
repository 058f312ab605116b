"""Use cases on organisations: permissions, validation, optimistic locking, audit."""

import datetime as dt

import pytest

from bcrm.audit.models import AuditEntry
from bcrm.audit.selectors import audit_history
from bcrm.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from bcrm.parties import selectors, services
from bcrm.parties.models import Organization
from tests.factories import make_participation, make_project

pytestmark = pytest.mark.django_db


def base_data(**extra):
    data = {"legal_name": "Silk Road Infra Fund", "local_name": "丝路基建基金", "kind": "fund", "country": "CN"}
    data.update(extra)
    return data


def test_create_records_an_audit_entry(rm, team):
    org = services.organization_create(actor=rm, data=base_data(team=team), tags=["core", "energy"])
    entry = audit_history(instance=org).get(action="create")
    assert entry.actor == rm
    assert entry.changes["legal_name"] == [None, "Silk Road Infra Fund"]
    assert sorted(t.name for t in org.tags.all()) == ["core", "energy"]


def test_relationship_managers_new_client_stays_within_reach(rm):
    org = services.organization_create(actor=rm, data=base_data())
    assert org.relationship_manager == rm
    assert selectors.organization_get_for_user(user=rm, pk=org.pk) == org


def test_invalid_input_names_the_fields_and_writes_nothing(admin):
    with pytest.raises(InvalidInput) as err:
        services.organization_create(actor=admin, data=base_data(country="XX", rating_agency="sp", rating_grade="ZZZ"))
    assert {"country", "rating_grade"} <= set(err.value.fields)
    assert not Organization.objects.exists()
    assert not AuditEntry.objects.filter(content_type__model="organization").exists()


def test_unknown_field_is_refused(admin):
    with pytest.raises(InvalidInput) as err:
        services.organization_create(actor=admin, data=base_data(version=7))
    assert "version" in err.value.fields


def test_update_records_before_and_after(rm, org):
    updated = services.organization_update(actor=rm, organization=org, data={"legal_name": "Huaneng Capital Ltd"},
                                           expected_version=org.version)
    assert updated.version == org.version + 1
    entry = audit_history(instance=org).get(action="update")
    assert entry.changes == {"legal_name": ["Huaneng Capital", "Huaneng Capital Ltd"]}


def test_second_editor_gets_conflict_and_nothing_is_overwritten(rm, lead, org):
    first_read = Organization.objects.get(pk=org.pk)
    second_read = Organization.objects.get(pk=org.pk)
    services.organization_update(actor=rm, organization=first_read, data={"notes": "first"},
                                 expected_version=first_read.version)
    with pytest.raises(Conflict):
        services.organization_update(actor=lead, organization=second_read, data={"notes": "second"},
                                     expected_version=second_read.version)
    assert Organization.objects.get(pk=org.pk).notes == "first"


def test_relationship_manager_cannot_see_or_edit_another_teams_client(rm, foreign_org):
    with pytest.raises(NotFound):
        selectors.organization_get_for_user(user=rm, pk=foreign_org.pk)
    with pytest.raises(PermissionDenied):
        services.organization_update(actor=rm, organization=foreign_org, data={"notes": "x"},
                                     expected_version=foreign_org.version)
    assert foreign_org not in selectors.organization_list(actor=rm)


def test_viewer_and_analyst_read_only(viewer, analyst, org):
    for user in (viewer, analyst):
        assert selectors.organization_get_for_user(user=user, pk=org.pk) == org
        with pytest.raises(PermissionDenied):
            services.organization_update(actor=user, organization=org, data={"notes": "x"}, expected_version=None)
        with pytest.raises(PermissionDenied):
            services.organization_create(actor=user, data=base_data())


def test_only_lead_and_admin_delete(rm, lead, org):
    with pytest.raises(PermissionDenied):
        services.organization_delete(actor=rm, organization=org)
    pk = org.pk
    services.organization_delete(actor=lead, organization=org)
    assert not Organization.objects.filter(pk=pk).exists()
    entry = AuditEntry.objects.get(content_type__model="organization", object_id=str(pk), action="delete")
    assert entry.actor == lead and entry.changes["legal_name"] == ["Huaneng Capital", None]


def test_client_with_participations_cannot_be_deleted(admin, org):
    make_participation(make_project(), org)
    with pytest.raises(Conflict):
        services.organization_delete(actor=admin, organization=org)
    assert Organization.objects.filter(pk=org.pk).exists()


def test_only_compliance_lead_admin_change_kyc(rm, compliance, org):
    with pytest.raises(PermissionDenied):
        services.organization_update(actor=rm, organization=org, data={"sanctions_flag": True}, expected_version=None)
    updated = services.organization_update(
        actor=compliance, organization=org,
        data={"kyc_status": "verified", "kyc_expires_on": dt.date(2027, 6, 30)}, expected_version=None,
    )
    assert updated.kyc_status == "verified"


def test_compliance_cannot_edit_commercial_fields(compliance, org):
    with pytest.raises(PermissionDenied):
        services.organization_update(actor=compliance, organization=org, data={"legal_name": "x"}, expected_version=None)


def test_relationship_manager_may_resubmit_unchanged_kyc_values(rm, org):
    # A form that carries the fields through unchanged is not an attempt to edit them.
    updated = services.organization_update(actor=rm, organization=org,
                                           data={"notes": "met CFO", "sanctions_flag": org.sanctions_flag},
                                           expected_version=org.version)
    assert updated.notes == "met CFO"


def test_verified_kyc_needs_expiry(compliance, org):
    with pytest.raises(InvalidInput) as err:
        services.organization_update(actor=compliance, organization=org, data={"kyc_status": "verified"},
                                     expected_version=None)
    assert "kyc_expires_on" in err.value.fields


def test_search_finds_chinese_name_contact_name_and_email(rm, org):
    from bcrm.parties.services import contact_create

    contact_create(actor=rm, organization=org, data={"full_name": "Zhang Min", "email": "zhang.min@hncap.cn"})
    for q in ("华能", "huaneng", "zhang min", "HNCAP.CN"):
        assert list(selectors.organization_list(actor=rm, filters={"q": q})) == [org], q
    assert list(selectors.organization_list(actor=rm, filters={"q": "nobody"})) == []


def test_bad_filter_is_a_clear_error(rm):
    with pytest.raises(InvalidInput) as err:
        selectors.organization_list(actor=rm, filters={"kind": "pirate", "sort": "chaos"})
    assert {"kind", "sort"} <= set(err.value.fields)


def test_kyc_check_reads_the_stored_row_not_the_callers_object(rm, org):
    # A bound ModelForm has already written the new values onto the instance it hands over.
    org.sanctions_flag = True
    with pytest.raises(PermissionDenied):
        services.organization_update(actor=rm, organization=org, data={"sanctions_flag": True},
                                     expected_version=org.version)
    assert Organization.objects.get(pk=org.pk).sanctions_flag is False


def test_search_follows_renames_and_odd_input(rm, org):
    updated = services.organization_update(actor=rm, organization=org, data={"legal_name": "Yangtze Power Partners"},
                                           expected_version=org.version)
    found = lambda q: list(selectors.organization_list(actor=rm, filters={"q": q}))  # noqa: E731
    assert found("tze pow") == [updated]       # substring inside a word, 3+ characters (trigram index)
    assert found("huaneng capital") == []      # the old name is gone from the index
    assert found("华能") == [updated]            # two characters: the start of the local name
    assert found("YA") == [updated]             # ... or of the legal name, in any case
    assert found("po") == []                    # short queries match name starts only (index range)
    for odd in ('"', 'a"b', "%", "_", "' OR 1=1 --", "NEAR(", "*"):
        assert found(odd) == [], odd
