"""Compliance sets the expert scorecard's points; the next run scores with them."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from bcrm.core.errors import Conflict, InvalidInput, PermissionDenied
from bcrm.segmentation import services
from bcrm.segmentation.features import compute_features, load_population
from bcrm.segmentation.models import ExpertScorecard
from bcrm.stats.scorecard import DEFAULT_EXPERT_CONFIG
from tests.doors import api_client
from tests.factories import make_org


@pytest.fixture
def clients(db, team):
    return [make_org(legal_name="Sanctioned Co", team=team, sanctions_flag=True, country="SG"),
            make_org(legal_name="Clean Co", team=team, country="SG", kyc_status="verified")]


def score_of(org):
    import datetime as dt

    pop = load_population(dt.date.today())
    matrix = compute_features(["expert_risk_score"], pop)
    return float(matrix["expert_risk_score"].values[pop.ids.tolist().index(org.pk)])


def test_a_new_version_changes_the_scores_from_then_on(clients, compliance):
    sanctioned, clean = clients
    before = score_of(sanctioned)
    config = copy.deepcopy(DEFAULT_EXPERT_CONFIG)
    config["sanctions"]["hit"] = -50  # (a milder table, to see the effect)
    row = services.expert_scorecard_save(actor=compliance, config=config, note="test", base_version=0)
    assert row.version == 1 and services.expert_scorecard_active()[1] == 1
    assert score_of(sanctioned) > before
    assert np.isfinite(score_of(clean))


def test_only_compliance_lead_admin_and_bad_tables_are_refused(clients, rm, analyst, compliance):
    config = copy.deepcopy(DEFAULT_EXPERT_CONFIG)
    config["rating"]["bands"][0]["points"] = 41
    for user in (rm, analyst):
        with pytest.raises(PermissionDenied):
            services.expert_scorecard_save(actor=user, config=config)
    with pytest.raises(InvalidInput):
        services.expert_scorecard_save(actor=compliance, config={"no_such_part": {}})
    with pytest.raises(InvalidInput):
        services.expert_scorecard_save(actor=compliance, config=copy.deepcopy(DEFAULT_EXPERT_CONFIG))  # unchanged
    services.expert_scorecard_save(actor=compliance, config=config, base_version=0)
    with pytest.raises(Conflict):
        services.expert_scorecard_save(actor=compliance, config=DEFAULT_EXPERT_CONFIG, base_version=0)
    assert ExpertScorecard.objects.count() == 1


def test_api_and_page(clients, compliance, viewer, client):
    api = api_client(compliance)
    got = api.get("/api/v1/segmentation/expert-scorecard").json()
    assert got["version"] == 0 and got["can_edit"] and "rating" in got["config"]
    config = copy.deepcopy(got["config"])
    config["country_risk"]["points"]["7"] = -20
    saved = api.post("/api/v1/segmentation/expert-scorecard", {"config": config, "base_version": 0},
                     content_type="application/json")
    assert saved.status_code == 201 and saved.json()["version"] == 1
    bad = api.post("/api/v1/segmentation/expert-scorecard", {"config": {"rating": "x"}},
                   content_type="application/json")
    assert bad.status_code == 422
    client.force_login(viewer)
    page = client.get("/segmentation/risk/scorecard/")
    assert page.status_code == 200 and "Save a new version" not in page.content.decode()
    assert client.post("/segmentation/risk/scorecard/", {"config": "{}", "base_version": 1}).status_code == 403
    client.force_login(compliance)
    response = client.post("/segmentation/risk/scorecard/", {"config": "{not json", "base_version": 1})
    assert response.status_code == 200 and "Not valid JSON" in response.content.decode()
    assert ExpertScorecard.objects.count() == 1
