"""Reads never fail for a write elsewhere: a lock timeout answers 503 with Retry-After (API and pages), and a
token's last-used time is written at most once a minute, giving way when the database is busy."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.test import Client
from django.utils import timezone

from bcrm.accounts import services as accounts
from bcrm.accounts.models import ApiToken
from bcrm.core.dbbusy import BUSY_RETRY_AFTER, is_lock_timeout
from tests.doors import Api

LOCKED = OperationalError("database is locked")


def test_lock_timeouts_are_recognised_and_other_errors_are_not():
    assert is_lock_timeout(LOCKED)
    assert is_lock_timeout(OperationalError("canceling statement due to lock timeout"))
    assert not is_lock_timeout(OperationalError("no such table: x"))
    assert not is_lock_timeout(ValueError("database is locked"))


def test_api_answers_503_with_retry_after_on_a_lock_timeout(lead):
    api = Api(lead)
    with mock.patch("bcrm.accounts.api.user_roles", side_effect=LOCKED):
        response = api.request("get", "/me")
    assert response.status_code == 503
    assert response["Retry-After"] == str(BUSY_RETRY_AFTER)
    assert response.json()["error"]["code"] == "database_busy"


def test_api_other_database_errors_stay_500(lead):
    api = Api(lead)
    api.client.raise_request_exception = False
    with mock.patch("bcrm.accounts.api.user_roles", side_effect=OperationalError("disk I/O error")):
        assert api.request("get", "/me").status_code == 500


@pytest.mark.usefixtures("import_dir")
def test_page_answers_503_with_retry_after_on_a_lock_timeout(lead):
    client = Client()
    client.force_login(lead)
    upload = SimpleUploadedFile("c.csv", b"legal_name,kind,country\nA,fund,CN\n", content_type="text/csv")
    with mock.patch("bcrm.dataio.services.import_job_create", side_effect=LOCKED):
        response = client.post("/data/", {"entity": "organizations", "file": upload})
    assert response.status_code == 503 and response["Retry-After"] == str(BUSY_RETRY_AFTER)
    assert "The database is busy" in response.content.decode()


def test_token_last_used_is_written_at_most_once_a_minute(lead, django_capture_on_commit_callbacks,
                                                          django_assert_num_queries):
    token, _raw = accounts.token_create(user=lead)
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):   # never inside the caller's transaction
        assert accounts.token_touch(token, now)
        assert ApiToken.objects.get(pk=token.pk).last_used_at is None   # not yet: after the commit
    assert ApiToken.objects.get(pk=token.pk).last_used_at == now
    token.refresh_from_db()
    with django_assert_num_queries(0):
        assert not accounts.token_touch(token, now + dt.timedelta(seconds=30))   # the stored time says recent
        assert not accounts.token_touch(token, now + dt.timedelta(seconds=90))   # this process wrote just now
    accounts._touched.clear()   # a minute later in this process
    with django_capture_on_commit_callbacks(execute=True):
        assert accounts.token_touch(token, now + dt.timedelta(seconds=90))


def test_a_busy_database_does_not_fail_the_read_for_a_timestamp(lead, django_capture_on_commit_callbacks):
    token, raw = accounts.token_create(user=lead)
    with mock.patch("django.db.models.query.QuerySet.update", side_effect=LOCKED):
        assert accounts._write_last_used(token.pk, timezone.now()) is False
        # Through the door: the request is answered, and the stamp after it gives way without an error.
        with django_capture_on_commit_callbacks(execute=True) as stamps:
            status, body = Api(raw=raw).get("/me")
    assert status == 200 and body["username"] == lead.get_username()
    assert len(stamps) == 1
    assert ApiToken.objects.get(pk=token.pk).last_used_at is None
