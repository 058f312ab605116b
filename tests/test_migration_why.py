"""Issue 7, the "why" of class migration: for the clients of one cell of the migration matrix, what changed
between run A and run B (score, the line, the features whose contribution moved most, missing evidence,
overrides), on the compare page, in the API, and as a pure function (``describe_move``)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.accounts.permissions import SystemOperator
from bcrm.financing.models import Participation
from bcrm.parties.models import Organization
from bcrm.segmentation import selectors, services
from bcrm.segmentation.models import Assignment, Criterion, Run
from bcrm.segmentation.selectors import MINUS, describe_move, feature_deltas, signed
from tests.doors import api_client
from tests.factories import make_org, make_participation, make_project

FULL_VIEW = SystemOperator()  # a reader who may see compliance fields (the redaction has its own tests)

TODAY = timezone.localdate()

# Four features, a fixed line and a required credit rating: every number below can be reasoned about.
SPEC = {
    "features": [
        {"feature": "committed_amount", "transform": "pct_rank", "direction": "higher", "weight": 0.5},
        {"feature": "rating_score", "transform": "minmax", "direction": "lower", "weight": 0.2},
        {"feature": "relationship_years", "transform": "pct_rank", "direction": "higher", "weight": 0.2},
        {"feature": "fee_income", "transform": "pct_rank", "direction": "higher", "weight": 0.1},
    ],
    "method": "fixed", "params": {"threshold": 0.55}, "rules": [], "required_features": ["rating_score"],
    "min_history_months": 0, "min_completeness": 0, "hysteresis_margin": 0,
}


@pytest.fixture
def moves(db, team, other_team, analyst, lead):
    """20 clients with graded commitments, classified twice. Between the runs:

    - Client 19 (high value, of the other team) withdraws its only commitment: its score collapses;
    - Client 05 loses its credit rating (a required feature): insufficient data;
    - Client 07 had no credit rating in run A and has one in run B;
    - Client 03 is set to high value by hand (override);
    - the line rises from 0.55 to 0.65 (criterion version 3): Client 14, whose score even rose a little
      (everyone's rank gains from Client 19's fall), drops below it.
    """
    project = make_project(name="Offshore Wind")
    orgs = []
    for i in range(20):
        org = make_org(legal_name=f"Client {i:02d}", team=other_team if i == 19 else team, country="CN",
                       kyc_status="verified", rating_agency="internal", rating_grade=str(1 + (i * 7) % 20),
                       rating_score=1 + (i * 7) % 20, relationship_since=TODAY - dt.timedelta(days=400 + 30 * i))
        make_participation(project, org, amount=Decimal(10_000 * (i + 1) ** 2), status="funded",
                           fee_income=Decimal(100 * (i + 1)), status_changed_at=timezone.now() - dt.timedelta(days=60))
        orgs.append(org)
    Organization.objects.filter(pk=orgs[7].pk).update(rating_score=None)
    services.criterion_create_version(actor=analyst, dimension="value", spec=SPEC, note="a simple formula")
    run_a = services.run_segmentation(actor=analyst, dimension="value").run

    Participation.objects.filter(organization=orgs[19]).update(status="withdrawn")
    Organization.objects.filter(pk=orgs[5].pk).update(rating_score=None)
    Organization.objects.filter(pk=orgs[7].pk).update(rating_score=3)
    services.override_create(actor=lead, organization=orgs[3], dimension="value", label="high",
                             reason="Board mandate signed", expires_at=timezone.now() + dt.timedelta(days=30))
    services.criterion_create_version(actor=analyst, dimension="value", spec={"params": {"threshold": 0.65}})
    run_b = services.run_segmentation(actor=analyst, dimension="value").run
    return {"orgs": orgs, "a": run_a, "b": run_b}


def cell_page(client, moves, source: str, target: str, **extra) -> str:
    response = client.get("/segmentation/value/compare/", {"a": moves["a"].pk, "b": moves["b"].pk, "from": source,
                                                           "to": target}, **extra)
    assert response.status_code == 200
    return response.content.decode()


def row(page: str, org) -> str:
    """The drill-down table row of one client."""
    match = re.search(rf'<tr data-org="{org.pk}">(.*?)</tr>', page, re.S)
    assert match, f"{org.legal_name} is not in the cell"
    return match.group(1)


def api_cell(api: Client, moves, source: str, target: str, **params):
    return api.get("/api/v1/segmentation/runs/compare/clients",
                   {"a": moves["a"].pk, "b": moves["b"].pk, "from": source, "to": target, **params})


def item_of(items: list[dict], org) -> dict:
    return next(item for item in items if item["organization_id"] == org.pk)


def assignments(moves, org) -> tuple[Assignment, Assignment]:
    return (Assignment.objects.get(run=moves["a"], organization=org),
            Assignment.objects.get(run=moves["b"], organization=org))


# --- the page ----------------------------------------------------------------------------------------

def test_the_drill_down_says_which_feature_moved_a_client_and_which_way(client, moves, analyst):
    client.force_login(analyst)
    run_a, run_b = moves["a"], moves["b"]
    fallen = moves["orgs"][19]
    page = cell_page(client, moves, "high", "general")
    assert ">Why<" in page
    text = row(page, fallen)
    a, b = assignments(moves, fallen)
    assert a.score > 0.8 and b.score < 0.3
    # score A → B in its column, then the sentences: the score fell across the line…
    assert f"{a.score:.3f} → {b.score:.3f}" in text
    assert f"Score {a.score:.3f} → {b.score:.3f} ({MINUS}{a.score - b.score:.3f}); the line moved 0.550 → 0.650." in text
    assert "The line alone would not have moved it: its score crossed the line." in text
    # …because its commitment went: the largest change in contribution, down
    assert "Committed amount: USD 4,000,000 → USD 0 (contribution +0.250 → −0.250)." in text
    assert text.index("Committed amount") < text.index("Fee income")
    assert f"The criterion changed between the runs: version {run_a.criterion.version} → {run_b.criterion.version}." \
        in text
    # the htmx partial (the pager's swap) carries the same column
    partial = cell_page(client, moves, "high", "general", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="cell-clients")
    assert "<html" not in partial and "Committed amount: USD 4,000,000 → USD 0" in row(partial, fallen)


def test_a_client_can_move_because_the_line_moved_not_because_it_changed(client, moves, analyst):
    client.force_login(analyst)
    stayed_put = moves["orgs"][14]
    a, b = assignments(moves, stayed_put)
    assert (a.label, b.label) == ("high", "general")
    assert b.score >= a.score >= 0.55 > b.score - 0.1  # its score even rose, and is above the old line
    text = row(cell_page(client, moves, "high", "general"), stayed_put)
    assert f"Score {a.score:.3f} → {b.score:.3f} (+{b.score - a.score:.3f}); the line moved 0.550 → 0.650." in text
    assert "Its score alone would not have moved it: the line moved, not the client." in text
    assert "its score crossed the line" not in text


def test_a_move_to_insufficient_data_names_the_missing_evidence(client, moves, analyst):
    client.force_login(analyst)
    run_a, run_b = moves["a"], moves["b"]
    lost, found = moves["orgs"][5], moves["orgs"][7]
    text = row(cell_page(client, moves, "general", "insufficient"), lost)
    assert f"Run #{run_b.pk}: insufficient data (required Credit rating grade missing)." in text
    # its rating was among run A's top contributions; run B has no value for it, and says so
    assert "Credit rating grade: 16 → not among the top contributions" in text
    text = row(cell_page(client, moves, "insufficient", "general"), found)
    assert f"Run #{run_a.pk}: insufficient data (required Credit rating grade missing)." in text
    assert f"Run #{run_b.pk} had enough evidence to classify the client." in text
    assert "Credit rating grade: not among the top contributions → 3" in text


def test_a_move_set_by_hand_says_so(client, moves, analyst):
    client.force_login(analyst)
    text = row(cell_page(client, moves, "general", "high"), moves["orgs"][3])
    assert f"Run #{moves['b'].pk}: Set by hand (override); the engine said: General." in text


def test_the_page_reads_run_a_once_for_the_whole_page(client, moves, analyst):
    client.force_login(analyst)

    def queries(source: str, target: str) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as ctx:
            page = cell_page(client, moves, source, target)
        reads_a = [q["sql"] for q in ctx.captured_queries
                   if "segmentation_assignment" in q["sql"] and "explanation" in q["sql"]]
        return page.count("<tr data-org="), len(reads_a)

    rows_one, reads_one = queries("insufficient", "general")
    rows_many, reads_many = queries("general", "general")
    assert rows_one == 1 and rows_many > 5
    assert reads_one == reads_many == 2  # run B's page, and run A's rows of that page: never one per client


# --- the API -----------------------------------------------------------------------------------------

def test_the_api_lists_a_cell_with_deltas_and_sentences_like_the_page(client, moves, analyst):
    api = api_client(analyst)
    response = api_cell(api, moves, "high", "general")
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 2 and data["page"] == 1 and not data["has_next"]
    fallen = item_of(data["items"], moves["orgs"][19])
    assert fallen["organization"] == "Client 19" and (fallen["label_a"], fallen["label_b"]) == ("high", "general")
    assert fallen["score_change"] < -0.5 and fallen["line_moved"]
    assert (fallen["line_a"], fallen["line_b"]) == (0.55, 0.65)
    top = fallen["deltas"][0]
    assert top["feature"] == "committed_amount" and top["feature_name"] == "Committed amount"
    assert (top["value_a"], top["value_b"]) == (4_000_000, 0)
    assert top["contribution_change"] < 0 and top["contribution_b"] < 0 < top["contribution_a"]
    assert len(fallen["deltas"]) <= 3
    changes = [abs(d["contribution_change"]) for d in fallen["deltas"]]
    assert changes == sorted(changes, reverse=True)
    # the same sentences as the page
    client.force_login(analyst)
    text = row(cell_page(client, moves, "high", "general"), moves["orgs"][19])
    for sentence in fallen["sentences"]:
        assert f"<li>{sentence}</li>" in text
    still = item_of(data["items"], moves["orgs"][14])
    assert still["score_change"] > 0 and "the line moved, not the client" in " ".join(still["sentences"])
    # paginated like the other lists
    first = api_cell(api, moves, "high", "general", page_size=1).json()
    second = api_cell(api, moves, "high", "general", page_size=1, page=2).json()
    assert first["has_next"] and len(first["items"]) == len(second["items"]) == 1
    assert first["items"][0]["organization_id"] != second["items"][0]["organization_id"]


def test_the_api_says_what_evidence_is_missing(moves, analyst):
    api = api_client(analyst)
    data = api_cell(api, moves, "general", "insufficient").json()
    lost = item_of(data["items"], moves["orgs"][5])
    assert lost["label_b"] == "insufficient"
    assert f"Run #{moves['b'].pk}: insufficient data (required Credit rating grade missing)." in lost["sentences"]
    rating = next(d for d in lost["deltas"] if d["feature"] == "rating_score")
    assert rating["in_top_a"] and not rating["in_top_b"]
    assert rating["value_a"] == 16 and rating["value_b"] is None and rating["contribution_change"] is None
    assert rating["value_b_text"] == "not among the top contributions"


@pytest.mark.parametrize("source, target, bad", [
    ("upper", "general", "from"), ("high", "bogus", "to"), ("low", "high", "from"), ("", "high", "from"),
])
def test_from_and_to_must_be_labels_of_the_dimension(moves, analyst, source, target, bad):
    response = api_cell(api_client(analyst), moves, source, target)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid" and "high, general, insufficient" in error["message"]
    assert [f["path"] for f in error["fields"]] == [bad]


def test_missing_parameters_and_runs_of_two_dimensions_are_refused(moves, analyst):
    api = api_client(analyst)
    response = api.get("/api/v1/segmentation/runs/compare/clients", {"a": moves["a"].pk, "b": moves["b"].pk})
    assert response.status_code == 422
    assert {f["path"] for f in response.json()["error"]["fields"]} == {"from", "to"}
    risk = services.run_segmentation(actor=analyst, dimension="risk").run
    response = api.get("/api/v1/segmentation/runs/compare/clients",
                       {"a": moves["a"].pk, "b": risk.pk, "from": "high", "to": "general"})
    assert response.status_code == 422 and "same dimension" in response.json()["error"]["message"]
    response = api.get("/api/v1/segmentation/runs/compare/clients",
                       {"a": moves["a"].pk, "b": 999_999, "from": "high", "to": "general"})
    assert response.status_code == 404


def test_a_relationship_manager_is_refused_as_on_the_matrix_and_sees_only_their_clients(client, moves, rm):
    # the page and the API follow the matrix's rule: portfolio-wide figures need a role that sees every client
    client.force_login(rm)
    response = client.get("/segmentation/value/compare/", {"a": moves["a"].pk, "b": moves["b"].pk, "from": "high",
                                                           "to": "general"})
    assert response.status_code == 403
    assert api_cell(api_client(rm), moves, "high", "general").status_code == 403
    assert api_client(rm).get(f"/api/v1/segmentation/runs/compare?a={moves['a'].pk}&b={moves['b'].pk}"
                              ).status_code == 403
    # the selectors under them restrict clients, never leak one: Client 19 is another team's
    run_a, run_b = moves["a"], moves["b"]
    mine = list(selectors.migration_clients(actor=rm, run_a=run_a, run_b=run_b, from_label="high",
                                            to_label="general"))
    assert [a.organization.legal_name for a in mine] == ["Client 14"]
    everyone = Assignment.objects.filter(run=run_b, label="general").select_related("organization")
    reasons = selectors.migration_reasons(actor=rm, run_a=run_a, run_b=run_b, assignments_b=everyone)
    assert moves["orgs"][19].pk not in reasons and moves["orgs"][14].pk in reasons


# --- describe_move, pure ----------------------------------------------------------------------------

def make_run(pk: int, threshold: float | None, *, version: int = 1, rules=None, margin: float = 0.0) -> Run:
    """A run in memory (no database): a fixed line, or a top share that found none."""
    method, params = ("fixed", {"threshold": threshold}) if threshold is not None else ("top_share", {"q": 0.2})
    criterion = Criterion(pk=version, dimension="value", version=version, features=[], method=method,
                          params=params, rules=rules or [], hysteresis_margin=margin)
    return Run(pk=pk, dimension="value", criterion=criterion, method=method, params=params, threshold=threshold)


def make_assignment(label: str, score: float | None, line: float | None, contributions=(), *, engine=None,
                    overridden: bool = False, held: bool = False, **explanation) -> Assignment:
    data = {"c": [list(c) for c in contributions], **explanation}
    if held:
        data["k"] = 1
    margin = score - line if score is not None and line is not None else None
    row = Assignment(organization_id=1, label=label, engine_label=engine or label, score=score,
                     completeness=1.0, overridden=overridden, held_by_hysteresis=held, explanation=data)
    row.margin = margin  # read against its run's line (not stored)
    return row


def test_describe_move_reads_like_the_issue_asks():
    run_a, run_b = make_run(1, 0.35), make_run(2, 0.36)
    a = make_assignment("high", 0.412, 0.35, [("committed_amount", 1_200_000, 0.06), ("fee_income", 5_000, 0.01)])
    b = make_assignment("general", 0.298, 0.36, [("committed_amount", 400_000, -0.02), ("joint_deals", 2, -0.015)])
    why = describe_move(a, b, run_a, run_b, actor=FULL_VIEW)
    assert why["sentences"][0] == "Score 0.412 → 0.298 (−0.114); the line moved 0.350 → 0.360."
    assert why["sentences"][1] == "The line alone would not have moved it: its score crossed the line."
    assert why["sentences"][2] == "Committed amount: USD 1,200,000 → USD 400,000 (contribution +0.060 → −0.020)."
    assert [d["feature"] for d in why["deltas"]] == ["committed_amount", "joint_deals", "fee_income"]
    assert why["deltas"][0]["contribution_change"] == pytest.approx(-0.08)
    assert "Joint deals: not among the top contributions → 2 (contribution −0.015 in run #2)." in why["sentences"]
    assert "Fee income: USD 5,000 → not among the top contributions (contribution +0.010 in run #1)." \
        in why["sentences"]


def test_describe_move_names_rules_hysteresis_and_a_client_new_to_run_b():
    rules = [{"feature": "sanctions_flag", "op": "==", "value": 1, "label": "lower"}]
    run_a, run_b = make_run(1, 0.5, margin=0.05), make_run(2, 0.5, rules=rules)
    a = make_assignment("high", 0.47, 0.5, held=True)
    b = make_assignment("general", 0.7, 0.5, r=0)
    sentences = describe_move(a, b, run_a, run_b, actor=FULL_VIEW)["sentences"]
    assert "Run #1: Kept on its previous side by the hysteresis margin of 0.05." in sentences
    assert "Run #2: Rule: Sanctions hit == yes puts the client in “General” whatever its score." in sentences
    assert not any("crossed the line" in s or "the line moved," in s for s in sentences)
    assert "the line stayed at 0.500" in sentences[-1]
    new = describe_move(None, b, run_a, run_b, actor=FULL_VIEW)
    assert new["sentences"][0] == "Not in run #1." and new["score_a"] is None and new["label_a"] == ""


FEATURE_NAMES = ["committed_amount", "fee_income", "rating_score", "relationship_years", "joint_deals", "kyc_valid"]
contribution = st.floats(-0.5, 0.5, allow_nan=False)
value = st.one_of(st.none(), st.floats(0, 1e7, allow_nan=False))
top_list = st.lists(st.tuples(st.sampled_from(FEATURE_NAMES), value, contribution), max_size=3,
                    unique_by=lambda t: t[0])
score = st.one_of(st.none(), st.floats(0, 1, allow_nan=False))
line = st.one_of(st.none(), st.floats(0.05, 0.95, allow_nan=False))
label = st.sampled_from(["high", "general", "insufficient"])


@given(top_a=top_list, top_b=top_list, score_a=score, score_b=score, line_a=line, line_b=line, label_a=label,
       label_b=label, overridden=st.booleans(), held=st.booleans(), in_a=st.booleans())
@settings(max_examples=300, deadline=None)
def test_describe_move_properties(top_a, top_b, score_a, score_b, line_a, line_b, label_a, label_b, overridden,
                                  held, in_a):
    run_a, run_b = make_run(1, line_a), make_run(2, line_b, version=2)
    missing = {"m": ["history"]}
    a = make_assignment(label_a, score_a, line_a, top_a, held=held, **(missing if label_a == "insufficient" else {}))
    b = make_assignment(label_b, score_b, line_b, top_b, overridden=overridden,
                        engine="general" if overridden else label_b,
                        **(missing if label_b == "insufficient" and not overridden else {}))
    why = describe_move(a if in_a else None, b, run_a, run_b, actor=FULL_VIEW)
    deltas = why["deltas"]
    # at most three, the largest change first, and the three largest of all the features either run lists
    assert len(deltas) <= 3
    sizes = [d["magnitude"] for d in deltas]
    assert sizes == sorted(sizes, reverse=True)
    listed_a = {n: c for n, _v, c in top_a} if in_a else {}
    listed_b = {n: c for n, _v, c in top_b}
    every = feature_deltas(a.explanation if in_a else None, b.explanation, limit=99)
    assert {d["feature"] for d in every} == set(listed_a) | set(listed_b)
    assert len(deltas) == min(3, len(every)) and sizes == [d["magnitude"] for d in every][: len(deltas)]
    for d in deltas:
        assert d["in_top_a"] == (d["feature"] in listed_a) and d["in_top_b"] == (d["feature"] in listed_b)
        if d["in_top_a"] and d["in_top_b"]:
            assert d["contribution_change"] == pytest.approx(listed_b[d["feature"]] - listed_a[d["feature"]], abs=1e-6)
            assert d["magnitude"] == abs(d["contribution_change"])
        else:  # never an invented value on the side that does not list the feature
            assert d["contribution_change"] is None
            side = "b" if d["in_top_a"] else "a"
            assert d[f"value_{side}"] is None and d[f"contribution_{side}"] is None
            assert d[f"value_{side}_text"] == "not among the top contributions"
    # the score sentence carries the change with the right sign
    text = " ".join(why["sentences"])
    if in_a and score_a is not None and score_b is not None:
        change = round(score_b - score_a, 6)
        assert why["score_change"] == change
        sentence = next(s for s in why["sentences"] if s.startswith("Score "))
        shown = re.search(r"\((\+|−)?(\d\.\d{3})\)", sentence)
        assert shown, sentence
        sign = shown.group(1)
        if round(change, 3) > 0:
            assert sign == "+"
        elif round(change, 3) < 0:
            assert sign == MINUS
        else:
            assert sign is None and shown.group(2) == "0.000"
        assert ("the line moved" in sentence) == why["line_moved"]
    else:
        assert why["score_change"] is None
    assert why["line_moved"] == (line_a is not None and line_b is not None and round(line_a, 3) != round(line_b, 3))
    # decisive causes are said
    if label_b == "insufficient" and not overridden:
        assert "Run #2: insufficient data (too little history)." in why["sentences"]
    if overridden:
        assert "Run #2: Set by hand (override); the engine said: General." in why["sentences"]
    if in_a and held:
        assert "Run #1: Kept on its previous side by the hysteresis margin of 0.0." in why["sentences"]
    if not in_a:
        assert why["sentences"][0] == "Not in run #1."
    assert "nan" not in text.lower()


@given(st.floats(-2, 2, allow_nan=False))
def test_signed_shows_the_sign_of_the_rounded_change(x):
    text = signed(x)
    assert float(text.replace(MINUS, "-")) == pytest.approx(round(x, 3), abs=1e-9)
    assert text[0] == ("+" if round(x, 3) > 0 else MINUS if round(x, 3) < 0 else "0")
