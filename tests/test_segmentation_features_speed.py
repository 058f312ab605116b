"""Issue 19, the feature side of a run: the relationship model and the expert scorecard derived from the feature
store's raw numbers give what the models computed from their own queries gave (the labels of a seeded
portfolio unchanged), the store is read back without a Python object per client, and a copy of it in the data
folder serves runs and previews only while it is the stored one."""

from __future__ import annotations

import datetime as dt
import random
import re
from decimal import Decimal
from unittest import mock

import numpy as np
import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from bcrm.engagement.models import Interaction
from bcrm.financing.choices import COMMITTED_STATUSES
from bcrm.financing.models import ExchangeRate, Participation
from bcrm.parties.models import Contact, Organization
from bcrm.segmentation import feature_store, services
from bcrm.segmentation.feature_store import compute_features_incremental
from bcrm.segmentation.features import (
    Population,
    compute_features,
    fetch,
    load_population,
    to_epoch,
)
from bcrm.segmentation.models import ClientChange, FeatureRow
from bcrm.stats.relationship import (
    DEFAULT_RELATIONSHIP_CONFIG,
    contact_seniority,
    interaction_depth,
    relationship_strength,
)
from bcrm.stats.scorecard import DEFAULT_EXPERT_CONFIG, KYC_STATES, expert_points
from tests.factories import make_participation, make_project

TODAY = timezone.localdate()


@pytest.fixture(autouse=True)
def _runs_as_of_today(monkeypatch):
    """Runs without an as-of date take TODAY, the date the data above were drawn for: a suite that crosses local
    midnight (16:00 UTC in Shanghai) would otherwise run as of the next day (CI, 2026-12-07)."""
    from bcrm.segmentation import classify

    monkeypatch.setattr(classify, "today", lambda: TODAY)


def aware(days_ago: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days_ago)


@pytest.fixture
def seeded(db, team):
    """Sixty clients drawn from a seeded generator: ratings, KYC states and dates (some expired), countries,
    sanctions hits, commitments and withdrawals, interactions of every kind over four years, contacts at every
    level, relationship starts in the past and the future."""
    rng = random.Random(19)
    projects = [make_project(name=f"P{i}") for i in range(5)]
    ExchangeRate.objects.create(currency="EUR", quote="USD", as_of=TODAY - dt.timedelta(days=30), rate=Decimal("1.1"))
    kinds = list(DEFAULT_RELATIONSHIP_CONFIG["kind_weights"])
    orgs = []
    for i in range(60):
        org = Organization.objects.create(
            legal_name=f"Seeded {i:02d}", team=team, kind="fund",
            rating_score=rng.choice([None, *range(1, 23)]),
            kyc_status=rng.choice(["verified", "pending", "not_started", "rejected", "expired", ""]),
            kyc_expires_on=rng.choice([None, TODAY + dt.timedelta(days=rng.randint(-400, 400))]),
            sanctions_flag=rng.random() < 0.05, country=rng.choice(["SG", "VN", "CN", "DE", "IR", ""]),
            relationship_since=rng.choice([None, TODAY - dt.timedelta(days=rng.randint(-60, 4000))]))
        orgs.append(org)
        for project in rng.sample(projects, rng.randint(0, 4)):
            make_participation(project, org, amount=Decimal(rng.randint(1, 90) * 10_000),
                               currency=rng.choice(["USD", "EUR"]),
                               status=rng.choice(["funded", "firm_commitment", "withdrawn", "declined",
                                                  "soft_circle", "prospect"]),
                               status_changed_at=aware(rng.randint(1, 1400)))
        for _ in range(rng.randint(0, 12)):
            Interaction.objects.create(organization=org, kind=rng.choice(kinds), summary="note",
                                       occurred_at=aware(rng.uniform(-20, 1500)), minutes_spent=rng.randint(0, 120))
        for _ in range(rng.randint(0, 5)):
            Contact.objects.create(organization=org, full_name=f"Person {i}",
                                   seniority=rng.choice(["board", "c_level", "senior", "middle", "staff"]))
    return orgs


# --- the models before: each from its own queries, one row per (client, kind, month) ------------------

def _reference_models(pop: Population) -> tuple[np.ndarray, np.ndarray]:
    """The expert score and the relationship strength computed as the model families did before they were
    derived from the store: the organisation rows, the participation counts, interactions counted by
    (client, kind, calendar month in UTC) and contacts by (client, level), through the pure model functions."""
    n = pop.size
    day, month_days = 86400.0, 365.25 / 12
    as_of = (pop.as_of - dt.date(1970, 1, 1)).days * day
    orgs = {o.pk: o for o in Organization.objects.all()}
    pos = {int(i): k for k, i in enumerate(pop.ids)}
    rating = np.array([np.nan if (r := orgs[i].rating_score) is None else float(r) for i in pop.ids])
    expires = to_epoch([orgs[i].kyc_expires_on for i in pop.ids])
    since = to_epoch([orgs[i].relationship_since for i in pop.ids])
    state = np.array([orgs[i].kyc_status or None for i in pop.ids], dtype=object)
    with np.errstate(invalid="ignore"):
        state[(state == "verified") & (expires < as_of)] = "expired"
        age = np.where(np.isnan(expires), np.nan, np.maximum(12.0 - (expires - as_of) / day / month_days, 0.0))
        years = np.where(since <= as_of, (as_of - since) / day / 365.25, np.nan)
    from bcrm.segmentation.features import country_risk_table

    table = country_risk_table()
    country = np.array([table.get(str(orgs[i].country).upper(), np.nan) if orgs[i].country else np.nan
                        for i in pop.ids])
    part = Participation.objects.filter(status_changed_at__lt=pop.end).exclude(status="prospect")
    n_part, closed, deals = np.zeros(n), np.zeros(n), np.zeros(n)
    projects: dict[int, set] = {}
    for org_id, status, project_id in part.values_list("organization_id", "status", "project_id"):
        n_part[pos[org_id]] += 1
        closed[pos[org_id]] += status in ("declined", "withdrawn")
        if status in COMMITTED_STATUSES:
            projects.setdefault(org_id, set()).add(project_id)
    for org_id, projs in projects.items():
        deals[pos[org_id]] = len(projs)
    with np.errstate(invalid="ignore", divide="ignore"):
        withdrawn = np.where(n_part > 0, closed / np.maximum(n_part, 1), np.nan)
    expert = expert_points(DEFAULT_EXPERT_CONFIG, {
        "rating_score": rating, "kyc_state": state, "kyc_age_months": age,
        "sanctions_flag": np.array([1.0 if orgs[i].sanctions_flag else 0.0 for i in pop.ids]),
        "withdrawn_share": withdrawn, "country_risk": country}).scaled
    now_month = pop.as_of.year * 12 + pop.as_of.month - 1
    rows = [(pos[o], kind, when.astimezone(dt.UTC)) for o, kind, when in
            Interaction.objects.filter(occurred_at__lt=pop.end).values_list("organization_id", "kind", "occurred_at")]
    depth = interaction_depth(np.array([r[0] for r in rows], dtype=np.int64),
                              np.array([max(now_month - (r[2].year * 12 + r[2].month - 1), 0) for r in rows], float),
                              np.array([r[1] for r in rows], dtype=object), n) if rows else np.zeros(n)
    people = list(Contact.objects.values_list("organization_id", "seniority"))
    seniority = contact_seniority(np.array([pos[o] for o, _ in people], dtype=np.int64),
                                  np.array([s for _, s in people], dtype=object), n) if people else np.zeros(n)
    strength = relationship_strength(depth=depth, joint_deals=deals, years=years, seniority=seniority).strength
    return np.asarray(expert, dtype=float), np.asarray(strength, dtype=float)


@pytest.mark.parametrize("as_of", [TODAY, TODAY - dt.timedelta(days=200)])
def test_the_derived_models_give_what_the_models_gave_from_their_own_queries(seeded, as_of):
    pop = load_population(as_of)
    expert, strength = _reference_models(pop)
    matrix = compute_features(["expert_risk_score", "relationship_strength"], pop)
    np.testing.assert_array_equal(matrix["expert_risk_score"].values, expert)
    # the depth is summed by the database relative to a fixed month (a different order of float operations)
    np.testing.assert_allclose(matrix["relationship_strength"].values, strength, rtol=1e-12, atol=0)
    assert np.isfinite(strength).all() and np.isfinite(expert).all()


def test_the_labels_of_a_seeded_portfolio_are_the_models_labels(seeded):
    """The relationship and risk runs with the derived models against the same runs with the models'
    earlier values put in: the same labels for every client."""
    pop = load_population(TODAY)
    expert, strength = _reference_models(pop)
    for dimension, name, values in (("risk", "expert_risk_score", expert),
                                    ("relationship", "relationship_strength", strength)):
        report = services.run_segmentation(actor=None, dimension=dimension, dry_run=True, full=True,
                                           with_stability=False)
        def with_reference(names, population, _name=name, _values=values, _real=compute_features):
            matrix = _real(names, population)
            matrix.columns[_name].values = _values.copy()
            return matrix

        with mock.patch("bcrm.segmentation.features.compute_features", with_reference):
            before = services.run_segmentation(actor=None, dimension=dimension, dry_run=True, full=True,
                                               with_stability=False)
        np.testing.assert_array_equal(report.outcome.label.astype(str), before.outcome.label.astype(str))
        assert report.outcome.counts == before.outcome.counts


# --- the store read back, and its copy in the data folder ---------------------------------------------

def test_the_store_is_read_back_exactly(seeded):
    compute_features_incremental(["relationship_strength", "expert_risk_score"], load_population(TODAY))
    cols = feature_store.layout()
    ids, block = feature_store._read_rows(len(cols))
    rows = fetch(FeatureRow.objects.order_by("organization_id").values_list("organization_id", "data"))
    assert ids.tolist() == [r[0] for r in rows] == sorted(o.pk for o in seeded)
    expected = np.frombuffer(b"".join(bytes(r[1]) for r in rows), dtype="<f8").reshape(len(rows), len(cols))
    np.testing.assert_array_equal(block, expected)
    assert block.flags["F_CONTIGUOUS"]  # each raw column a contiguous array


def test_a_copy_of_the_store_serves_previews_while_it_is_the_stored_one(seeded, admin, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.BCRM_FEATURE_CACHE_SECONDS = 900
    names = ["relationship_strength", "expert_risk_score", "interactions_12m", "history_months"]
    services.run_segmentation(actor=None, dimension="relationship", with_stability=False)  # builds the store
    ClientChange.objects.update(changed_at=timezone.now() - dt.timedelta(days=1))
    assert (feature_store._snapshot_dir() / "meta.json").exists()
    pop = load_population(TODAY)
    with mock.patch.object(feature_store, "_read_rows", side_effect=AssertionError("read the rows")):
        from_copy = compute_features_incremental(names, pop, write=False)
    direct = compute_features(names, pop)
    for name in names:
        np.testing.assert_array_equal(from_copy.matrix[name].values, direct[name].values)
    # a client changes: the preview still starts from the copy and recomputes that client
    Interaction.objects.create(organization=seeded[0], kind="senior_meeting", occurred_at=aware(1), summary="x")
    with mock.patch.object(feature_store, "_read_rows", side_effect=AssertionError("read the rows")):
        preview = compute_features_incremental(names, pop, write=False)
    assert preview.recomputed == 1
    np.testing.assert_array_equal(preview.matrix["relationship_strength"].values,
                                  compute_features(names, pop)["relationship_strength"].values)
    # the store moves on without the copy (a run whose copy could not be written): the copy is ignored
    with mock.patch.object(feature_store, "_save_snapshot"), mock.patch.object(feature_store, "_save_delta"):
        services.run_segmentation(actor=None, dimension="relationship", with_stability=False)
    read = mock.Mock(wraps=feature_store._read_rows)
    with mock.patch.object(feature_store, "_read_rows", read):
        again = compute_features_incremental(names, pop, write=False)
    assert read.called
    np.testing.assert_array_equal(again.matrix["interactions_12m"].values, direct["interactions_12m"].values + (
        np.isin(pop.ids, [seeded[0].pk])).astype(float))


def test_the_copy_takes_each_runs_recomputed_rows_as_a_delta_and_reads_as_the_store(seeded, settings, tmp_path,
                                                                                      monkeypatch):
    settings.DATA_DIR = tmp_path
    settings.BCRM_FEATURE_CACHE_SECONDS = 900
    monkeypatch.setattr(feature_store, "DELTA_SHARE", 0.09)  # up to five of the sixty clients
    cols = feature_store.layout()
    folder = feature_store._snapshot_dir()

    def meta() -> dict:
        import json
        return json.loads((folder / "meta.json").read_text())

    def copy_is_the_store() -> None:
        state = feature_store.FeatureStore.objects.get()
        copy = feature_store._load_snapshot(state, cols)
        assert copy is not None
        ids, block = feature_store._read_rows(len(cols))
        np.testing.assert_array_equal(copy[0], ids)
        np.testing.assert_array_equal(copy[1], block)

    services.run_segmentation(actor=None, dimension="risk", with_stability=False)  # builds the store: whole
    base = meta()["token"]
    assert meta()["deltas"] == []
    copy_is_the_store()
    for step in range(3):  # two clients change per run: two deltas, then past the share, written whole
        ClientChange.objects.update(changed_at=timezone.now() - dt.timedelta(days=1))
        for org in seeded[step * 2: step * 2 + 2]:
            Interaction.objects.create(organization=org, kind="senior_meeting", occurred_at=aware(1), summary="x")
        services.run_segmentation(actor=None, dimension="risk", with_stability=False)
        copy_is_the_store()
        if step < 2:
            assert meta()["token"] == base and len(meta()["deltas"]) == step + 1
            assert len(list(folder.glob("delta-*.npz"))) == step + 1
    assert meta()["token"] != base and meta()["deltas"] == []
    assert not list(folder.glob("delta-*.npz")) and len(list(folder.glob("block-*.npy"))) == 1
    # a delta cut short: the copy is passed over (the stored rows are read), never an error
    ClientChange.objects.update(changed_at=timezone.now() - dt.timedelta(days=1))
    Interaction.objects.create(organization=seeded[9], kind="senior_meeting", occurred_at=aware(1), summary="x")
    services.run_segmentation(actor=None, dimension="risk", with_stability=False)
    (delta,) = folder.glob("delta-*.npz")
    delta.write_bytes(delta.read_bytes()[:100])
    assert feature_store._load_snapshot(feature_store.FeatureStore.objects.get(), cols) is None
    services.run_segmentation(actor=None, dimension="risk", with_stability=False)
    copy_is_the_store()
    # a client added: the copy is written whole (its rows are not the stored clients' any more)
    Organization.objects.create(legal_name="Newcomer", team=seeded[0].team, kind="fund")
    services.run_segmentation(actor=None, dimension="risk", with_stability=False)
    assert meta()["deltas"] == []
    copy_is_the_store()


def test_without_the_file_cache_no_copy_is_written(seeded, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.BCRM_FEATURE_CACHE_SECONDS = 0
    services.run_segmentation(actor=None, dimension="risk", with_stability=False)
    assert not (feature_store._snapshot_dir() / "meta.json").exists()


# --- pure: the scorecard's array path is its general path -------------------------------------------

@given(st.lists(st.tuples(st.sampled_from([*KYC_STATES, "", "unknown"]),
                          st.one_of(st.just(float("nan")), st.integers(0, 9).map(float))), max_size=40))
def test_the_scorecard_reads_arrays_as_it_reads_lists(rows):
    states = [s for s, _ in rows]
    countries = [c for _, c in rows]
    n = len(rows)
    as_lists = expert_points(DEFAULT_EXPERT_CONFIG, {"kyc_state": [s or None for s in states],
                                                     "country_risk": [None if c != c else c for c in countries],
                                                     "rating_score": [np.nan] * n})
    as_arrays = expert_points(DEFAULT_EXPERT_CONFIG, {"kyc_state": np.array(states, dtype=str),
                                                      "country_risk": np.array(countries, dtype=float),
                                                      "rating_score": np.full(n, np.nan)})
    np.testing.assert_array_equal(as_lists.points, as_arrays.points)
    for part in ("kyc_state", "country_risk"):
        np.testing.assert_array_equal(as_lists.missing[part], as_arrays.missing[part])


# --- a daily run's changed clients: their numbers in few queries ---------------------------------------

def test_a_subsets_raw_numbers_are_the_populations_in_one_query_a_family_on_postgresql(seeded, monkeypatch):
    """The daily run recomputes its changed clients' raw numbers with the whole-table queries restricted to their
    ids: on PostgreSQL as one array parameter (``= ANY``), one query per family whatever their number (lists of
    5,000 ids made four queries a family for 18,000 clients, each binding and planning 5,000 parameters, issue
    19); elsewhere in ``IN`` lists of ``ID_CHUNK``. Each client's numbers are those of the whole population, the
    earliest commitment step included (found per participation on PostgreSQL)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bcrm.segmentation import features
    from bcrm.segmentation.features import INCREMENTAL

    monkeypatch.setattr(features, "ID_CHUNK", 4)
    pop = load_population(TODAY)
    picked = np.sort(np.random.default_rng(3).choice(pop.ids, 13, replace=False))
    sub = Population(picked, TODAY, subset=True)
    positions = pop.positions(picked)
    for family, spec in sorted(INCREMENTAL.items()):
        whole = spec.raw(pop)
        with CaptureQueriesContext(connection) as one:
            spec.raw(Population(picked[:1], TODAY, subset=True))
        with CaptureQueriesContext(connection) as many:
            part = spec.raw(sub)
        for name, values in whole.items():
            np.testing.assert_array_equal(part[name], values[positions], err_msg=f"{family}:{name}")
        lists = len(many) - len(one)  # the queries the 13 clients asked beyond one client's
        if connection.vendor == "postgresql":
            assert lists == 0, family
        else:  # four lists of at most 4 ids for each query that reads a table restricted to the clients
            assert lists == 3 * sum("IN (" in q["sql"] for q in one.captured_queries), family


def test_the_clients_whose_rows_crossed_a_date_line_are_found_by_an_index(db):
    """A daily run looks for the clients with a row dated in the last day (an event now in the past, or leaving
    the 12-month window): by an index on the date, not by reading the tables (1–2 s of every daily run at a
    million clients before the date indexes, issue 19). The planner is told to avoid reading whole tables, as
    it does on big ones; without an index on the date it still has to."""
    from django.db import connection, transaction

    from bcrm.segmentation.features import INCREMENTAL

    end = timezone.make_aware(dt.datetime.combine(TODAY, dt.time()))
    bands = [band for spec in INCREMENTAL.values() for band in spec.bands]
    assert {band.model.__name__ for band in bands} >= {"Interaction", "Participation", "SurveyResponse",
                                                        "ParticipationStatusChange"}
    for band in bands:
        sql, params = feature_store.crossed_query(band, end - dt.timedelta(days=1), end).query.sql_with_params()
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute(f"EXPLAIN {sql}", params)
            else:
                cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
        table = band.model._meta.db_table
        column = band.model._meta.get_field(band.date_field).column
        if connection.vendor == "postgresql":  # the date bounds the index scan (not a whole index read)
            assert re.search(rf"Index Cond: .*\b{column} >= .*\b{column} < ", plan), plan
        else:
            assert re.search(rf"SEARCH {table} USING (COVERING )?INDEX \w+ \({column}>\? AND {column}<\?\)", plan), plan
