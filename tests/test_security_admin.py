"""The Django admin cannot edit the rows the services own: an admin edit bypassed the audit log and the
optimistic lock (the version stayed, a later API PATCH with the old version silently overwrote it). Those
models are read-only in the admin, which points to the real pages instead."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client

from bcrm.accounts.services import token_create
from bcrm.audit.models import AuditEntry
from bcrm.core.models import VersionedModel
from bcrm.parties.models import Organization
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db):
    user = make_user("root_admin", "admin")
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def versioned_admins():
    return sorted(((model, model_admin) for model, model_admin in admin.site._registry.items()
                   if issubclass(model, VersionedModel)), key=lambda pair: pair[0].__name__)


def test_every_versioned_model_in_the_admin_is_read_only(rf, superuser):
    pairs = versioned_admins()
    names = {model.__name__ for model, _ in pairs}
    assert {"Organization", "Contact", "Project", "Participation", "Interaction", "ServiceRequest", "Task"} <= names
    request = rf.get("/admin/")
    request.user = superuser
    for model, model_admin in pairs:
        assert not model_admin.has_add_permission(request), model
        assert not model_admin.has_change_permission(request), model
        assert not model_admin.has_delete_permission(request), model
        assert model_admin.has_view_permission(request), model
        for inline in model_admin.get_inline_instances(request):
            assert not inline.has_change_permission(request) and not inline.has_add_permission(request, None)


def test_an_admin_post_to_the_change_form_changes_nothing(client, superuser, org):
    client.force_login(superuser)
    url = f"/admin/parties/organization/{org.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "/clients/" in html  # points to the real page
    before = Organization.objects.get(pk=org.pk)
    audits = AuditEntry.objects.count()
    response = client.post(url, {"legal_name": "Renamed By Admin", "kind": org.kind, "country": "CN",
                                 "team": org.team_id, "kyc_status": "verified"})
    assert response.status_code in {302, 403}
    after = Organization.objects.get(pk=org.pk)
    assert (after.legal_name, after.version) == (before.legal_name, before.version)
    assert AuditEntry.objects.count() == audits


def test_the_api_patch_with_the_version_read_is_still_the_only_edit(superuser, org):
    """The attack: admin edit, then a PATCH with the old version overwrote it. Now the admin edit does not
    happen, and an API edit bumps the version so a stale one gets 409."""
    _, raw = token_create(user=superuser)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    first = api.patch(f"/api/v1/organizations/{org.pk}", {"legal_name": "First", "version": org.version},
                      content_type="application/json")
    assert first.status_code == 200, first.content
    stale = api.patch(f"/api/v1/organizations/{org.pk}", {"legal_name": "Second", "version": org.version},
                      content_type="application/json")
    assert stale.status_code == 409


@pytest.mark.parametrize("path", ["/admin/parties/organization/add/", "/admin/engagement/task/add/",
                                  "/admin/financing/project/add/"])
def test_add_forms_are_closed(client, superuser, path):
    client.force_login(superuser)
    assert client.get(path).status_code == 403


def test_delete_is_closed(client, superuser, org):
    client.force_login(superuser)
    response = client.post(f"/admin/parties/organization/{org.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Organization.objects.filter(pk=org.pk).exists()
