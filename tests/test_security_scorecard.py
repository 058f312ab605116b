"""An expert scorecard that cannot tell clients apart is refused: at least one part, sanctions screening that
scores a hit below a clear result, known parts, well-formed bands; a 422 names the field that is wrong."""

from __future__ import annotations

import copy

import pytest
from django.test import Client

from bcrm.accounts.services import token_create
from bcrm.segmentation.models import ExpertScorecard
from bcrm.stats.scorecard import DEFAULT_EXPERT_CONFIG
from tests.factories import make_org

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(compliance):
    _t, raw = token_create(actor=None, user=compliance, name="t")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def post(api, config):
    return api.post("/api/v1/segmentation/expert-scorecard", {"config": config}, content_type="application/json")


def with_(change) -> dict:
    config = copy.deepcopy(DEFAULT_EXPERT_CONFIG)
    change(config)
    return config


def sanctions_only(hit=-100, clear=0):
    return {"sanctions": {"hit": hit, "clear": clear, "missing": 0}}


BAD = [
    ({}, "config"),
    ({"rating": DEFAULT_EXPERT_CONFIG["rating"]}, "config.sanctions"),
    (sanctions_only(hit=0, clear=0), "config.sanctions.hit"),
    (sanctions_only(hit=10, clear=0), "config.sanctions.hit"),
    (sanctions_only(hit="lots"), "config.sanctions.hit"),
    ({**sanctions_only(), "no_such_part": {}}, "config.no_such_part"),
    ({**sanctions_only(), "rating": "x"}, "config.rating"),
    ({**sanctions_only(), "rating": {"bands": []}}, "config.rating.bands"),
    ({**sanctions_only(), "rating": {"bands": [{"from": 1, "to": 30, "points": 5}]}}, "config.rating.bands"),
    ({**sanctions_only(), "rating": {"bands": [{"from": 1, "to": 22}]}}, "config.rating.bands.0"),
    ({**sanctions_only(), "rating": {"bands": [{"from": 1, "to": 10, "points": 1},
                                               {"from": 12, "to": 22, "points": 0}]}}, "config.rating.bands"),
    ({**sanctions_only(), "withdrawn_share": {"bands": [{"from": 0.5, "to": 0.1, "points": 1}]}},
     "config.withdrawn_share.bands.0"),
    ({**sanctions_only(), "kyc_state": {"points": {"bogus": 3}}}, "config.kyc_state.points"),
    ({**sanctions_only(), "country_risk": {"points": {"0": 1}}}, "config.country_risk.points"),
    (with_(lambda c: c["rating"]["bands"][2].update(points="x")), "config.rating.bands.2.points"),
    (with_(lambda c: c["kyc_state"].update(missing=None)), "config.kyc_state.missing"),
]


@pytest.mark.parametrize("config, path", BAD)
def test_a_bad_scorecard_is_a_422_naming_the_field(api, config, path):
    response = post(api, config)
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["error"]["code"] == "invalid"
    assert path in {f["path"] for f in body["error"]["fields"]}, body
    assert not ExpertScorecard.objects.exists()


def test_the_empty_scorecard_of_the_attack_is_refused_and_scores_do_not_change(api, team):
    from tests.test_expert_scorecard import score_of

    sanctioned = make_org(legal_name="Sanctioned Co", team=team, sanctions_flag=True, country="SG")
    clean = make_org(legal_name="Clean Co", team=team, country="SG", kyc_status="verified")
    before = score_of(sanctioned), score_of(clean)
    response = post(api, {})
    assert response.status_code == 422
    assert "at least one" in response.json()["error"]["message"]
    assert (score_of(sanctioned), score_of(clean)) == before
    assert score_of(sanctioned) < score_of(clean)


def test_a_small_valid_scorecard_is_accepted(api):
    response = post(api, sanctions_only())
    assert response.status_code == 201, response.content


def test_the_page_shows_the_error(client, compliance):
    client.force_login(compliance)
    response = client.post("/segmentation/risk/scorecard/", {"config": "{}", "base_version": 0})
    assert response.status_code == 200
    assert "at least one" in response.content.decode()
    assert not ExpertScorecard.objects.exists()
