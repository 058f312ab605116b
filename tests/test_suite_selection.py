"""CI's PostgreSQL run keeps only the tests that reach a database (BCRM_TESTS=database, tests/conftest.py)."""

import pytest

from tests.conftest import _uses_database


def test_a_test_with_the_db_fixture_is_a_database_test(db, request):
    assert _uses_database(request.node)


@pytest.mark.django_db
def test_a_test_marked_django_db_is_a_database_test(request):
    assert _uses_database(request.node)


@pytest.mark.database
def test_a_test_marked_database_is_a_database_test(request):
    assert _uses_database(request.node)


def test_a_pure_test_is_not(request):
    assert not _uses_database(request.node)


def test_the_backup_tests_run_their_sites_on_the_suite_database():
    from tests import test_backup

    assert test_backup.pytestmark.name == "database"
