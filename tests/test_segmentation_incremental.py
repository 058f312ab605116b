"""Classification that costs what changed: the client-change triggers, the feature store, and the proof that an
incremental run gives the full run's features, scores and labels (also when the as-of date moves)."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import threading
from decimal import Decimal

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.engagement import services as engagement
from bcrm.engagement.models import Interaction, SurveyResponse
from bcrm.financing import services as financing
from bcrm.financing.models import ExchangeRate, Participation
from bcrm.parties import services as parties
from bcrm.parties.models import Contact, Organization
from bcrm.segmentation import feature_store, services, standing
from bcrm.segmentation.feature_store import compute_features_incremental
from bcrm.segmentation.features import INCREMENTAL, Population, compute_features, load_population
from bcrm.segmentation.model_features import ClvBasis
from bcrm.segmentation.models import Assignment, ClientChange, ClvFit, FeatureStore, Run
from bcrm.stats.clv import BGNBDFit, GammaGammaFit
from tests.doors import api_client
from tests.factories import make_org, make_participation, make_project

TODAY = timezone.localdate()


@pytest.fixture(autouse=True)
def _runs_as_of_today(monkeypatch):
    """Runs without an as-of date take TODAY, the date the data above were drawn for: a suite that crosses local
    midnight (16:00 UTC in Shanghai) would otherwise run as of the next day (CI, 2026-12-07)."""
    from bcrm.segmentation import classify

    monkeypatch.setattr(classify, "today", lambda: TODAY)
DIMENSIONS = ["value", "risk", "relationship"]


def aware(days_ago: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days_ago)


def age_changes() -> None:
    """As if every write so far happened yesterday: the next run sees only what changes after."""
    ClientChange.objects.update(changed_at=timezone.now() - dt.timedelta(days=1))


@pytest.fixture
def portfolio(db, team):
    """Thirty clients with varied ratings, commitments, interactions (some near the 12-month line, some dated
    in the future), surveys and contacts."""
    rng = random.Random(7)
    projects = [make_project(name=f"P{i}") for i in range(4)]
    ExchangeRate.objects.create(currency="EUR", quote="USD", as_of=TODAY - dt.timedelta(days=10), rate=Decimal("1.1"))
    orgs = []
    for i in range(30):
        org = make_org(legal_name=f"Client {i:02d}", team=team, rating_score=rng.randint(1, 22),
                       kyc_status=rng.choice(["verified", "pending"]), country=rng.choice(["SG", "VN", "CN", "DE"]),
                       kyc_expires_on=TODAY + dt.timedelta(days=rng.randint(-30, 60)),
                       relationship_since=TODAY - dt.timedelta(days=rng.randint(-20, 3000)))
        orgs.append(org)
        for project in rng.sample(projects, rng.randint(0, 3)):
            make_participation(project, org, amount=Decimal(rng.randint(1, 50) * 10_000),
                               currency=rng.choice(["USD", "EUR"]),
                               status=rng.choice(["funded", "firm_commitment", "withdrawn", "soft_circle"]),
                               fee_income=Decimal(rng.randint(0, 9) * 1000),
                               status_changed_at=aware(rng.choice([5, 100, 360, 380, 700])))
        for _ in range(rng.randint(0, 4)):
            Interaction.objects.create(organization=org, kind=rng.choice(["call", "senior_meeting", "email"]),
                                       occurred_at=aware(rng.choice([3, 50, 340, 362, 390, -10])),
                                       minutes_spent=rng.randint(0, 90), summary="note")
        if rng.random() < 0.5:
            SurveyResponse.objects.create(organization=org, nps=rng.randint(0, 10), responded_at=aware(rng.randint(-5, 300)))
        for _ in range(rng.randint(0, 2)):
            Contact.objects.create(organization=org, full_name=f"B{i}",
                                   seniority=rng.choice(["board", "middle", "senior"]))
    return orgs


def outcome_arrays(report) -> dict[str, np.ndarray]:
    o = report.outcome
    return {"ids": o.population.ids, "label": o.label.astype(str), "engine": o.engine_label.astype(str),
            "score": o.score, "held": o.held}


def assert_same(incremental: dict[str, np.ndarray], full: dict[str, np.ndarray]) -> None:
    np.testing.assert_array_equal(incremental["ids"], full["ids"])
    np.testing.assert_array_equal(incremental["label"], full["label"])
    np.testing.assert_array_equal(incremental["engine"], full["engine"])
    np.testing.assert_array_equal(incremental["held"], full["held"])
    np.testing.assert_allclose(incremental["score"], full["score"], rtol=0, atol=1e-12, equal_nan=True)


def incremental_then_full(dimension: str, as_of: dt.date):
    """An incremental real run, undone, then a full real run from the same starting point."""
    with transaction.atomic():
        inc = services.run_segmentation(actor=None, dimension=dimension, as_of=as_of, with_stability=False)
        assert inc.run is not None
        result = outcome_arrays(inc), inc.run.mode, inc.run.recomputed
        transaction.set_rollback(True)
    full = services.run_segmentation(actor=None, dimension=dimension, as_of=as_of, with_stability=False, full=True)
    assert full.run is not None
    assert full.run.mode == "full"
    assert full.run.recomputed == full.outcome.population.size
    return (*result, outcome_arrays(full))


def test_writers_mark_the_clients_they_change(portfolio, admin):
    a, b, c, d = portfolio[:4]
    age_changes()
    engagement.interaction_create(actor=admin, organization=a, data={"kind": "call", "summary": "hello"})
    Interaction.objects.filter(organization=b).update(minutes_spent=7)  # a bulk statement
    if not Interaction.objects.filter(organization=b).exists():
        Interaction.objects.bulk_create([Interaction(organization=b, kind="call", occurred_at=aware(1), summary="x")])
    Organization.objects.filter(pk=c.pk).update(legal_name="Renamed only")  # not an input of the features
    Contact.objects.filter(organization=d).delete()
    Contact.objects.create(organization=d, full_name="Person", seniority="board")
    fresh = timezone.now() - dt.timedelta(hours=1)
    marked = set(ClientChange.objects.filter(changed_at__gte=fresh).values_list("organization_id", flat=True))
    assert marked == {a.pk, b.pk, d.pk}
    Organization.objects.filter(pk=c.pk).update(rating_score=1 if c.rating_score != 1 else 2)
    participation = Participation.objects.filter(organization=portfolio[4]).first() or make_participation(
        make_project(name="Late"), portfolio[4])
    age_changes()
    financing.participation_update(actor=admin, participation=participation, data={"status": "funded"}
                                   if participation.status != "funded" else {"status": "withdrawn"},
                                   expected_version=participation.version)
    marked = set(ClientChange.objects.filter(changed_at__gte=fresh).values_list("organization_id", flat=True))
    assert marked == {portfolio[4].pk}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a second, concurrent transaction needs PostgreSQL")
def test_a_change_committed_after_a_run_read_the_changes_is_taken_by_the_next_run(team, admin, monkeypatch):
    """A writer's transaction stamps its clients with its start; it is still open while a run reads the changes and
    commits afterwards. However long it ran (here: no margin at all), the next run recomputes its client."""
    monkeypatch.setattr(feature_store, "CHANGE_MARGIN", dt.timedelta(0))
    monkeypatch.setattr(feature_store, "SUBSET_SHARE", 1.0)  # the changed clients alone, however few the clients
    orgs = [make_org(legal_name=f"Client {i}", team=team, rating_score=5 + i) for i in range(3)]
    services.run_segmentation(actor=None, dimension="relationship", with_stability=False)
    written, run_done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        from django.db import connection as thread_connection
        try:
            with transaction.atomic():
                Interaction.objects.create(organization_id=orgs[1].pk, kind="senior_meeting", summary="board lunch",
                                           occurred_at=timezone.now() - dt.timedelta(days=1), minutes_spent=90)
                written.set()
                assert run_done.wait(60)
        except BaseException as exc:  # reported by the test below
            failures.append(exc)
            written.set()
        finally:
            thread_connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert written.wait(60)
        during = services.run_segmentation(actor=None, dimension="relationship", with_stability=False)
        assert during.run is not None and during.run.recomputed == 0  # the write is not visible yet
    finally:
        run_done.set()
        thread.join()
    assert not failures, failures
    after = services.run_segmentation(actor=None, dimension="relationship", with_stability=False)
    assert after.run is not None and after.run.mode == "incremental"
    assert after.run.recomputed == 1  # the client of the late commit, not missed


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_incremental_run_gives_the_full_runs_labels(portfolio, admin, dimension, monkeypatch):
    # The standing assignments are read a piece at a time: pieces of 7 rows (30 clients: four whole, one part).
    monkeypatch.setattr(standing, "STANDING_CHUNK", 7)
    first = services.run_segmentation(actor=None, dimension=dimension, with_stability=False)
    assert first.outcome.mode == "full"  # no feature store yet: built for everyone
    assert FeatureStore.objects.get().as_of == TODAY
    age_changes()
    a, b, c, d, e = portfolio[:5]
    engagement.interaction_create(actor=admin, organization=a, data={
        "kind": "senior_meeting", "summary": "board lunch", "occurred_at": aware(1), "minutes_spent": 120})
    parties.organization_update(actor=admin, organization=b, data={"rating_agency": "sp", "rating_grade": "D", "country": "DE"},
                                expected_version=b.version)
    parties.contact_create(actor=admin, organization=c, data={"full_name": "C Level",
                                                              "seniority": "c_level"})
    engagement.survey_response_create(actor=admin, contact=parties.contact_create(
        actor=admin, organization=d, data={"full_name": "N P"}), data={"nps": 10})
    financing.participation_create(actor=admin, data={
        "project": make_project(name="New deal"), "organization": e, "role": "equity",
        "amount": Decimal("900000"), "currency": "USD", "status": "funded", "fee_income": Decimal("5000")})

    inc, mode, recomputed, full = incremental_then_full(dimension, TODAY)
    assert mode == "incremental"
    assert recomputed == 5  # the five changed clients, not the thirty
    assert_same(inc, full)


def test_incremental_run_follows_the_date_and_new_clients(portfolio, admin, monkeypatch):
    monkeypatch.setattr(feature_store, "SUBSET_SHARE", 1.0)  # the id-list queries even when many clients moved
    # a lifetime-value model kept as of today is still the one in use a month later: the summaries computed as of
    # its date stay (a refit, a new model's date, recomputes everyone's: test_clv_kept_model)
    monkeypatch.setattr(django_settings, "BCRM_CLV_REFIT_DAYS", 60)
    ClvFit.objects.create(as_of=TODAY, fitted_at=timezone.now(), customers=20, log_likelihood=-50.0,
                          params={"r": 0.8, "alpha": 4.0, "a": 0.6, "b": 2.5, "p": 6.0, "q": 4.0, "gamma": 15_000.0})
    services.run_segmentation(actor=None, dimension="relationship", with_stability=False)
    age_changes()
    newcomer = parties.organization_create(actor=admin, data={"legal_name": "Newcomer", "kind": "fund",
                                                              "country": "SG"})
    later = TODAY + dt.timedelta(days=30)  # interactions leave the 12-month window, future ones arrive
    inc, mode, recomputed, full = incremental_then_full("relationship", later)
    assert mode == "incremental"
    assert 1 <= recomputed < len(portfolio)
    assert newcomer.pk in inc["ids"]
    assert_same(inc, full)
    # and the features themselves, every one of the incremental families
    names = [n for n in compute_features.__globals__["FEATURES"]
             if compute_features.__globals__["FEATURES"][n].family in INCREMENTAL]
    pop = load_population(later)
    stored = compute_features_incremental(names, pop, write=False).matrix
    direct = compute_features(names, pop)
    for name in names:
        np.testing.assert_array_equal(stored[name].missing, direct[name].missing, err_msg=name)
        np.testing.assert_allclose(stored[name].values, direct[name].values, rtol=0, atol=1e-9, equal_nan=True,
                                   err_msg=name)


def test_exchange_rates_recompute_the_commitments_of_everyone(portfolio):
    services.run_segmentation(actor=None, dimension="value", with_stability=False)
    age_changes()
    ExchangeRate.objects.create(currency="EUR", quote="USD", as_of=TODAY, rate=Decimal("1.3"))
    inc, mode, recomputed, full = incremental_then_full("value", TODAY)
    assert recomputed == len(portfolio)
    assert_same(inc, full)


def test_a_dry_run_reads_the_store_without_writing(portfolio, admin):
    services.run_segmentation(actor=None, dimension="risk", with_stability=False)
    age_changes()
    state = FeatureStore.objects.values("watermark", "as_of").get()
    parties.organization_update(actor=admin, organization=portfolio[0], data={"rating_agency": "sp", "rating_grade": "D"},
                                expected_version=portfolio[0].version)
    report = services.run_segmentation(actor=None, dimension="risk", dry_run=True, with_stability=False)
    assert report.as_dict()["mode"] == "incremental" and report.as_dict()["recomputed"] == 1
    assert FeatureStore.objects.values("watermark", "as_of").get() == state
    assert Run.objects.count() == 1


def test_run_mode_is_shown_in_the_cli_api_and_page(portfolio, admin, client):
    out = io.StringIO()
    call_command("segment", "--dimension", "risk", "--json", stdout=out)
    assert json.loads(out.getvalue())["mode"] == "full"  # the store is built by the first run
    age_changes()
    out = io.StringIO()
    call_command("segment", "--dimension", "risk", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["mode"] == "incremental" and data["recomputed"] == 0
    out = io.StringIO()
    call_command("segment", "--dimension", "risk", "--full", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["mode"] == "full" and data["recomputed"] == len(portfolio)
    run = Run.objects.filter(mode="incremental").get()
    body = api_client(admin).get(f"/api/v1/segmentation/runs/{run.pk}").json()
    assert body["mode"] == "incremental" and body["recomputed"] == 0
    client.force_login(admin)
    page = client.get(f"/segmentation/runs/{run.pk}/").content.decode()
    assert "Incremental" in page
    page = client.get(f"/segmentation/runs/{run.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "增量" in page
    assert Assignment.objects.filter(run=run).count() == len(portfolio)


# --- the pure part: deriving features is row by row ------------------------------------------------

raw_number = st.one_of(st.just(float("nan")), st.floats(-1e6, 2e9, allow_nan=False, allow_infinity=False))


def rfm_summaries(data, n: int) -> dict[str, np.ndarray]:
    """``n`` clients' RFM summaries as ``clv_raw`` gives them: none (NaN), or months with a repeat commitment,
    the months from the first to the last (0 without a repeat) and to the model's date, the mean repeat amount."""
    out: dict[str, list[float]] = {name: [] for name in ("frequency", "recency", "T", "monetary", "unvalued")}
    for _ in range(n):
        frequency = data.draw(st.one_of(st.just(float("nan")), st.integers(0, 12).map(float)))
        age = float(data.draw(st.integers(0, 120)))
        recency = 0.0 if not frequency > 0 else float(data.draw(st.integers(0, int(age))))
        money = 0.0 if not frequency > 0 else data.draw(st.floats(1.0, 1e9))
        nan = np.isnan(frequency)
        for name, value in (("frequency", frequency), ("recency", np.nan if nan else recency),
                            ("T", np.nan if nan else age), ("monetary", np.nan if nan else money),
                            ("unvalued", float(data.draw(st.integers(0, 2))))):
            out[name].append(value)
    return {name: np.array(values, dtype=np.float64) for name, values in out.items()}


@given(st.data(), st.integers(1, 12), st.dates(dt.date(2000, 1, 1), dt.date(2040, 1, 1)))
@settings(max_examples=60, deadline=None)
def test_derived_features_of_a_subset_are_the_subset_of_the_derived_features(data, n, as_of):
    """What makes the incremental run exact: each client's features depend only on its own raw numbers (and
    the date), so deriving a subset gives the same numbers as deriving everyone and picking the subset."""
    from unittest import mock

    from bcrm.stats.scorecard import DEFAULT_EXPERT_CONFIG

    ids = np.arange(1, n + 1, dtype=np.int64) * 3
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    # the model families read other families' raw numbers (``uses``): counts, codes and dates, never negative
    # where the model requires it
    model_number = st.one_of(st.just(float("nan")), st.integers(0, 30).map(float))
    # the lifetime value: each client's RFM summary (or none), predicted with a kept model
    models = (BGNBDFit.from_params({"r": 0.8, "alpha": 4.0, "a": 0.6, "b": 2.5}),
              GammaGammaFit.from_params({"p": 6.0, "q": 4.0, "gamma": 15_000.0}))
    basis = ClvBasis(dt.date(2026, 1, 31), kept=ClvFit(as_of=dt.date(2026, 1, 31), params={}, notes=[]), models=models)
    for family, spec in INCREMENTAL.items():
        raw = {c: np.array(data.draw(st.lists(raw_number, min_size=n, max_size=n)), dtype=np.float64)
               for c in spec.columns}
        raw.update({u: np.array(data.draw(st.lists(model_number if spec.columns == () else raw_number,
                                                   min_size=n, max_size=n)), dtype=np.float64)
                    for u in spec.uses})
        if family == "clv":
            raw = rfm_summaries(data, n)
        # the scorecard in force and the kept lifetime-value model without a database
        with mock.patch("bcrm.segmentation.services.expert_scorecard_active", return_value=(DEFAULT_EXPERT_CONFIG, 0)), \
                mock.patch("bcrm.segmentation.model_features.clv_basis", return_value=basis):
            whole = spec.derive(Population(ids, as_of), raw)
            part = spec.derive(Population(ids[keep], as_of, subset=True), {c: v[keep] for c, v in raw.items()})
        for name, fv in whole.items():
            np.testing.assert_array_equal(part[name].missing, fv.missing[keep], err_msg=family)
            np.testing.assert_array_equal(part[name].values, fv.values[keep], err_msg=family)


def test_every_watched_table_keeps_its_change_triggers_after_all_migrations(db):
    """A later migration that rebuilds a watched table (SQLite does, to add a NOT NULL column) drops its
    triggers silently; then incremental runs would miss changes. Add the triggers back in that migration."""
    import importlib

    from django.db import connection

    watched = importlib.import_module("bcrm.segmentation.migrations.0005_feature_store_and_client_changes").WATCHED
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT c.relname, count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                           "WHERE NOT t.tgisinternal AND t.tgname LIKE 'seg_changed_%%' GROUP BY c.relname")
        else:
            cursor.execute("SELECT tbl_name, count(*) FROM sqlite_master WHERE type = 'trigger' "
                           "AND name LIKE 'seg_changed_%' GROUP BY tbl_name")
        found = dict(cursor.fetchall())
    assert {table: found.get(table, 0) for table, *_ in watched} == {table: 3 for table, *_ in watched}
