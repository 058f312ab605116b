"""A run writes only the assignments whose result changed; every reader sees what a full run would have written.

The chain: a full run, a run with nothing changed since, then changes through the real services and an
incremental run (built on the previous one, writing a few rows), compared reader by reader — the API list,
the run page, the migration matrix and its cells, the insufficient-evidence queue, each client's labels and
explanation, the stored counts and migrations, the monitoring density check, the effect estimate and the
resource plan's scores — with a full run from the same starting point."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from decimal import Decimal

import numpy as np
import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bcrm.engagement import services as engagement
from bcrm.financing import services as financing
from bcrm.monitoring.effect import estimate_effect
from bcrm.monitoring.selectors import manipulation_checks
from bcrm.parties import services as parties
from bcrm.parties.models import Organization
from bcrm.segmentation import changes, selectors, services
from bcrm.segmentation.choices import labels_for
from bcrm.segmentation.models import Assignment, Run
from tests.doors import api_client
from tests.factories import make_project
from tests.test_segmentation_incremental import age_changes, aware, portfolio  # noqa: F401  (a fixture)

DIMENSIONS = ["value", "risk", "relationship"]
NUMBER = re.compile(r"[−-]?\d+(?:\.\d+)?")


def sentences(lines: list[str]) -> tuple[list[str], list[float]]:
    """Sentences with their numbers taken out (compared apart, at the stored precision)."""
    return [NUMBER.sub("#", line) for line in lines], [float(x.replace("−", "-")) for line in lines
                                                       for x in NUMBER.findall(line)]


def close(a: float | None, b: float | None, tol: float) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= tol)


def readers(run: Run, admin) -> dict:
    """What every reader of a run's assignments shows, keyed by client (run ids left out)."""
    run = Run.objects.get(pk=run.pk)
    assert run.previous_run_id is not None
    previous = Run.objects.get(pk=run.previous_run_id)
    api = api_client(admin)
    items = []
    page = 1
    while True:
        body = api.get(f"/api/v1/segmentation/runs/{run.pk}/assignments", {"page": page, "page_size": 7}).json()
        items += body["items"]
        if page * 7 >= body["count"]:
            break
        page += 1
    matrix = selectors.migration_matrix(actor=admin, run_a=previous, run_b=run)
    cells = {}
    for a in labels_for(run.dimension):
        for b in labels_for(run.dimension):
            rows = list(selectors.migration_clients(actor=admin, run_a=previous, run_b=run, from_label=a, to_label=b))
            why = selectors.migration_reasons(actor=admin, run_a=previous, run_b=run, assignments_b=rows)
            cells[(a, b)] = [(r.organization_id, sentences(why[r.organization_id]["sentences"])[0]) for r in rows]
    labels = {}
    for org in {item["organization_id"] for item in items}:
        organization = Organization.objects.get(pk=org)
        for entry in selectors.organization_labels(actor=admin, organization=organization):
            if entry["dimension"] == run.dimension:
                a = entry["assignment"]
                labels[org] = (entry["label"], a.score, a.margin, sentences(entry["why"]))
    effective = list(selectors.effective_assignments(run))
    counted = Counter(a.label for a in effective)
    return {
        "items": sorted(items, key=lambda i: i["organization_id"]),
        "order": [i["organization_id"] for i in items],
        "matrix": {k: matrix[k] for k in ("labels", "matrix", "moved", "total")},
        "cells": cells,
        "queue": [a.organization_id for a in selectors.insufficient_queue(actor=admin, dimension=run.dimension)],
        "labels": labels,
        "counts": run.counts, "migrations": run.migrations,
        "counted": {code: counted.get(code, 0) for code in labels_for(run.dimension)},
        "overridden": sum(a.overridden for a in effective), "rows": len(effective),
        "checks": [c for c in manipulation_checks(admin) if c["dimension"] == run.dimension],
        "effect": estimate_effect(dimension=run.dimension, outcome="commitments_after", now=timezone.now())
        if run.dimension == "value" else None,
    }


def assert_same_readers(inc: dict, full: dict) -> None:
    assert inc["counts"] == full["counts"] and inc["migrations"] == full["migrations"]
    assert inc["matrix"] == full["matrix"]
    assert inc["cells"] == full["cells"]
    assert inc["queue"] == full["queue"]
    assert inc["rows"] == full["rows"] == full["counts"]["total"]
    # the counts stored on the run are those of its rows
    for side in (inc, full):
        assert all(side["counted"][code] == side["counts"][code] for code in side["counted"])
        assert side["overridden"] == side["counts"]["overridden"]
    assert [i["organization_id"] for i in inc["items"]] == [i["organization_id"] for i in full["items"]]
    for a, b in zip(inc["items"], full["items"], strict=True):
        for key in ("label", "engine_label", "previous_label", "overridden", "organization"):
            assert a[key] == b[key], (key, a, b)
        assert close(a["score"], b["score"], changes.SCORE_TOLERANCE), (a, b)
        assert close(a["margin"], b["margin"], changes.SCORE_TOLERANCE), (a, b)
        if a["margin"] is not None:
            assert (a["margin"] >= 0) == (b["margin"] >= 0)  # never on the other side of the line
        assert close(a["completeness"], b["completeness"], changes.COMPLETENESS_TOLERANCE)
        assert close(a["stability"], b["stability"], changes.STABILITY_TOLERANCE)
        words_a, numbers_a = sentences(a["why"])
        words_b, numbers_b = sentences(b["why"])
        assert words_a == words_b, (a["why"], b["why"])
        # numbers as shown (three decimals, whole money): within the stored precision and one shown digit
        assert np.allclose(numbers_a, numbers_b, rtol=2e-4, atol=1.5e-3), (a["why"], b["why"])
    assert inc["labels"].keys() == full["labels"].keys()
    for org, (label, score, margin, why) in inc["labels"].items():
        f_label, f_score, f_margin, f_why = full["labels"][org]
        assert label == f_label and why[0] == f_why[0]
        assert close(score, f_score, changes.SCORE_TOLERANCE) and close(margin, f_margin, changes.SCORE_TOLERANCE)
    # density check and effect estimate read every score: equal up to the stored precision
    assert [c["dimension"] for c in inc["checks"]] == [c["dimension"] for c in full["checks"]]
    for a, b in zip(inc["checks"], full["checks"], strict=True):
        assert a.keys() == b.keys()
    if inc["effect"] is not None:
        assert inc["effect"]["estimate"].keys() == full["effect"]["estimate"].keys()
        migrated = [(side["effect"]["before_after"] or {}).get("migrated") for side in (inc, full)]
        assert migrated[0] == migrated[1]


def change_some(admin, orgs, *, step: int) -> None:
    """Edits through the real services: an interaction, a rating, a contact, a commitment, an override."""
    a, b, c, d = orgs[step * 4: step * 4 + 4]
    engagement.interaction_create(actor=admin, organization=a, data={
        "kind": "senior_meeting", "summary": "board lunch", "occurred_at": aware(1), "minutes_spent": 120})
    b.refresh_from_db()
    parties.organization_update(actor=admin, organization=b, data={"rating_agency": "sp", "rating_grade": "D"},
                                expected_version=b.version)
    parties.contact_create(actor=admin, organization=c, data={"full_name": "C Level", "seniority": "c_level"})
    financing.participation_create(actor=admin, data={
        "project": make_project(name=f"Deal {step}"), "organization": d, "role": "equity",
        "amount": Decimal("900000"), "currency": "USD", "status": "funded", "fee_income": Decimal("5000")})


def incremental_and_full(dimension: str, admin):
    """The incremental run and its readers, undone; then a full run from the same starting point."""
    with transaction.atomic():
        inc = services.run_segmentation(actor=None, dimension=dimension)
        assert inc.run is not None
        shown = readers(inc.run, admin)
        run = Run.objects.get(pk=inc.run.pk)
        transaction.set_rollback(True)
    full = services.run_segmentation(actor=None, dimension=dimension, full=True)
    assert full.run is not None and full.run.base_run_id is None
    assert full.run.written == full.outcome.population.size
    return run, shown, readers(full.run, admin)


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_an_incremental_chain_reads_like_a_full_run(portfolio, admin, dimension, monkeypatch):  # noqa: F811
    # thirty clients: a change in four moves the percentile ranks of many; keep building on the chain anyway
    monkeypatch.setattr(services, "FULL_WRITE_SHARE", 1.0)
    n = len(portfolio)
    first = services.run_segmentation(actor=None, dimension=dimension, full=True)
    assert first.run.written == n and first.run.base_run_id is None and first.run.chain == [first.run.pk]
    # every label moved from "no label yet": the next run rewrites the previous labels of most clients
    second = services.run_segmentation(actor=None, dimension=dimension)
    age_changes()
    third = services.run_segmentation(actor=None, dimension=dimension)
    assert third.run.base_run_id == second.run.pk and third.run.written == 0  # nothing changed: no rows
    assert third.run.chain[0] == third.run.pk and third.run.chain[1] == second.run.pk
    age_changes()
    change_some(admin, portfolio, step=0)
    fourth = services.run_segmentation(actor=None, dimension=dimension)
    fourth.run.refresh_from_db()
    assert fourth.run.base_run_id == third.run.pk and 0 < fourth.run.written <= n
    target = portfolio[10]
    label = labels_for(dimension)[1]
    services.override_create(actor=admin, organization=target, dimension=dimension, label=label, reason="client asked",
                             expires_at=timezone.now() + dt.timedelta(days=30))
    run, inc, full = incremental_and_full(dimension, admin)
    assert run.base_run_id == fourth.run.pk and run.chain[:2] == [run.pk, fourth.run.pk]
    assert 0 < run.written < n  # the overridden client (and any whose stability moved), no more
    assert run.chain == [run.pk, fourth.run.pk, third.run.pk, second.run.pk, first.run.pk]
    assert inc["labels"][target.pk][0] == label
    assert_same_readers(inc, full)


def test_a_run_that_changes_nothing_writes_no_rows_and_its_readers_see_every_client(portfolio, admin):  # noqa: F811
    services.run_segmentation(actor=None, dimension="value", full=True)
    base = services.run_segmentation(actor=None, dimension="value")
    quiet = services.run_segmentation(actor=None, dimension="value")
    assert quiet.run.written == 0 and quiet.run.base_run_id == base.run.pk
    assert not Assignment.objects.filter(run=quiet.run).exists()
    rows = {a.organization_id: a for a in selectors.effective_assignments(quiet.run)}
    assert len(rows) == len(portfolio)
    assert Counter(a.label for a in rows.values()) == Counter(
        {k: v for k, v in quiet.run.counts.items() if k in labels_for("value") and v})
    # the margin is measured against the run being read
    for a in rows.values():
        if a.score is not None and quiet.run.threshold is not None:
            assert a.margin == pytest.approx(a.score - quiet.run.threshold)


def test_a_full_run_starts_a_new_chain_and_old_runs_read_as_before(portfolio, admin, monkeypatch):  # noqa: F811
    monkeypatch.setattr(services, "FULL_WRITE_SHARE", 1.0)
    services.run_segmentation(actor=None, dimension="risk", full=True)
    base = services.run_segmentation(actor=None, dimension="risk")
    age_changes()
    change_some(admin, portfolio, step=0)
    built = services.run_segmentation(actor=None, dimension="risk")
    assert built.run.base_run_id == base.run.pk
    before = {a.organization_id: (a.label, a.score) for a in selectors.effective_assignments(base.run)}
    fresh = services.run_segmentation(actor=None, dimension="risk", full=True)
    assert fresh.run.base_run_id is None and fresh.run.written == len(portfolio)
    # the base run still reads as it did (rows replaced by the later run are still its rows)
    assert {a.organization_id: (a.label, a.score) for a in selectors.effective_assignments(base.run)} == before
    # a deleted client has no row in the next run, which counts one client fewer
    gone = portfolio[0]
    gone.delete()
    after = services.run_segmentation(actor=None, dimension="risk")
    rows = list(selectors.effective_assignments(after.run))
    assert gone.pk not in {a.organization_id for a in rows}
    assert len(rows) == after.run.counts["total"] == len(portfolio) - 1


def test_a_changed_criterion_writes_every_row(portfolio, admin):  # noqa: F811
    services.run_segmentation(actor=None, dimension="value", full=True)
    services.run_segmentation(actor=None, dimension="value")
    services.criterion_create_version(actor=admin, dimension="value", spec={"params": {"q": 0.3}})
    after = services.run_segmentation(actor=None, dimension="value")
    assert after.run.base_run_id is None and after.run.written == len(portfolio)


# --- the comparison itself -------------------------------------------------------------------------------

def _maybe(strategy):
    return st.one_of(st.just(float("nan")), strategy)


#: What each fingerprint column can hold: feature positions, values, contributions, rule, reason code,
#: months of history, completeness.
COLUMN = (
    [_maybe(st.integers(min_value=-1, max_value=12).map(float))] * changes.TOP
    + [_maybe(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False))] * changes.TOP
    + [_maybe(st.floats(min_value=-1, max_value=1, allow_nan=False))] * changes.TOP
    + [st.integers(min_value=-1, max_value=5).map(float), st.integers(min_value=0, max_value=2**20 - 1).map(float),
       _maybe(st.floats(min_value=0, max_value=600, allow_nan=False)),
       _maybe(st.floats(min_value=0, max_value=1, allow_nan=False))]
)


def _results(n: int, data) -> changes.Results:
    def label() -> str:
        return data.draw(st.sampled_from(["high", "general", ""]))

    def unit() -> float:
        return data.draw(_maybe(st.floats(min_value=-2, max_value=2, allow_nan=False)))

    return changes.Results(
        label=np.array([label() for _ in range(n)], dtype=object),
        engine_label=np.array([label() for _ in range(n)], dtype=object),
        previous=np.array([label() for _ in range(n)], dtype=object),
        overridden=np.zeros(n, dtype=bool), held=np.zeros(n, dtype=bool),
        score=np.array([unit() for _ in range(n)]), completeness=np.ones(n), stability=np.ones(n),
        fingerprint=np.array([[data.draw(COLUMN[j]) for j in range(changes.WIDTH)] for _ in range(n)]),
    )


@hsettings(max_examples=60, deadline=None)
@given(st.data(), st.integers(min_value=1, max_value=12), st.floats(min_value=-1, max_value=1))
def test_unchanged_compares_at_the_stated_precision(data, n, line):
    new = _results(n, data)
    new.previous = new.label.copy()
    # a copy is unchanged, through the float32 it is stored in
    stored = changes.Results(**{**new.__dict__, "fingerprint": changes.unpack(changes.pack(new.fingerprint))})
    assert changes.unchanged(new, stored, line).all()
    # a client that moved is always written
    moved = changes.Results(**{**new.__dict__, "previous": np.array(["x"] * n, dtype=object)})
    assert not changes.unchanged(moved, stored, line).any()
    # a score further than the precision, or across the line, is written
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    shifted = stored.score.copy()
    if np.isfinite(shifted[i]):
        shifted[i] += data.draw(st.sampled_from([1, -1])) * 2 * changes.SCORE_TOLERANCE
        assert not changes.unchanged(new, changes.Results(**{**stored.__dict__, "score": shifted}), line)[i]
        near = stored.score.copy()
        near[i] = new.score[i] + changes.SCORE_TOLERANCE / 2
        same_side = (near[i] >= line) == (new.score[i] >= line)
        assert changes.unchanged(new, changes.Results(**{**stored.__dict__, "score": near}), line)[i] == same_side
    # the features an explanation names are compared exactly
    fp = stored.fingerprint.copy()
    fp[i, 0] = (0 if np.isnan(fp[i, 0]) else fp[i, 0]) + 1
    assert not changes.unchanged(new, changes.Results(**{**stored.__dict__, "fingerprint": fp}), line)[i]
    # a client without a standing row is written
    absent = changes.Results(**{**stored.__dict__, "present": np.zeros(n, dtype=bool)})
    assert not changes.unchanged(new, absent, line).any()


UNITS = ["money", "count", "years", "months", "share", "score", "grade", "flag", ""]


@hsettings(max_examples=60, deadline=None)
@given(st.data(), st.integers(min_value=1, max_value=8), st.floats(min_value=-1e6, max_value=1e6))
def test_a_feature_value_is_compared_at_the_precision_its_unit_is_shown(data, n, value):
    """Years, months and scores are shown with one decimal and shares as whole percentages: a value within half
    the last shown digit keeps the standing row (years of relationship, and the strength with them, grow every
    day for everyone), one beyond it, or beyond four significant digits for money and counts, is written."""
    units = data.draw(st.lists(st.sampled_from(UNITS), min_size=13, max_size=13))
    new = _results(n, data)
    new.previous = new.label.copy()
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    slot = data.draw(st.integers(min_value=0, max_value=changes.TOP - 1))
    feature = data.draw(st.integers(min_value=0, max_value=12))
    new.fingerprint[i, slot] = feature
    new.fingerprint[i, changes.TOP + slot] = value
    stored = changes.Results(**{**new.__dict__, "fingerprint": new.fingerprint.copy()})
    assert changes.unchanged(new, stored, 0.0, units)[i]
    four_digits = changes.VALUE_TOLERANCE + changes.VALUE_RELATIVE * abs(value)
    tolerance = max(changes.UNIT_TOLERANCE.get(units[feature], 0.0), four_digits)
    for factor, same in ((0.9, True), (1.1, False)):
        moved = stored.fingerprint.copy()
        moved[i, changes.TOP + slot] = value + factor * tolerance
        assert changes.unchanged(new, changes.Results(**{**stored.__dict__, "fingerprint": moved}), 0.0, units)[i] \
            == same, (units[feature], value, factor)
    if units[feature] in ("years", "months", "score"):  # a day older is not a new row
        older = stored.fingerprint.copy()
        older[i, changes.TOP + slot] = value + 1 / 365.25
        assert changes.unchanged(new, changes.Results(**{**stored.__dict__, "fingerprint": older}), 0.0, units)[i]
