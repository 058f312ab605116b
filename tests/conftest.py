import pytest

from tests.factories import make_org, make_team, make_user


@pytest.fixture
def team(db):
    return make_team("Energy Desk")


@pytest.fixture
def other_team(db):
    return make_team("Platform Desk")


@pytest.fixture
def admin(db):
    return make_user("admin_user", "admin")


@pytest.fixture
def lead(db):
    return make_user("lead_user", "lead")


@pytest.fixture
def rm(db, team):
    return make_user("rm_user", "relationship_manager", team=team)


@pytest.fixture
def other_rm(db, other_team):
    return make_user("rm_other", "relationship_manager", team=other_team)


@pytest.fixture
def viewer(db):
    return make_user("viewer_user", "viewer")


@pytest.fixture
def analyst(db):
    return make_user("analyst_user", "analyst")


@pytest.fixture
def compliance(db):
    return make_user("compliance_user", "compliance")


@pytest.fixture
def org(db, team):
    return make_org(legal_name="Huaneng Capital", local_name="华能资本", team=team)


@pytest.fixture
def foreign_org(db, other_team):
    return make_org(legal_name="Platform Ventures", local_name="平台创投", team=other_team)
