"""The standing assignments a run leaves in the data folder: the next run reads them from there instead of reading
a million rows back, and only while they are exactly what the database holds.

After each real run the copy is compared, array by array, with the rows read from the database; a run that
builds on the copy is shown to read nothing else; and each writer that changes assignment rows outside a run
(a merge, an erased client, a row put back in force) makes the next run read the rows again."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.db import connection, transaction
from django.utils import timezone

from bcrm.dedupe import services as dedupe
from bcrm.playbooks.models import ClientTier
from bcrm.segmentation import services, standing
from bcrm.segmentation.models import Assignment, AssignmentEpoch, Run
from tests.test_segmentation_chain import change_some
from tests.test_segmentation_incremental import age_changes, portfolio  # noqa: F401  (a fixture)

DIMENSIONS = ["value", "risk", "relationship"]


@pytest.fixture
def copies(settings, tmp_path):
    """The file cache on, in this test's own data folder."""
    settings.BCRM_FEATURE_CACHE_SECONDS = 900
    settings.DATA_DIR = tmp_path
    return tmp_path


def run(dimension: str, capture, **kwargs) -> Run:
    """A real run whose transaction commits (its on-commit work, the copy, is done)."""
    with capture(execute=True):
        report = services.run_segmentation(actor=None, dimension=dimension, with_stability=False, **kwargs)
    assert report.run is not None
    return report.run


def assert_same_standing(a: standing.Standing, b: standing.Standing) -> None:
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.run_ids, b.run_ids)
    assert a.results is not None and b.results is not None
    for name in ("label", "engine_label", "previous"):
        assert getattr(a.results, name).astype(str).tolist() == getattr(b.results, name).astype(str).tolist(), name
    for name in ("overridden", "held"):
        np.testing.assert_array_equal(getattr(a.results, name), getattr(b.results, name), err_msg=name)
    for name in ("score", "completeness", "stability", "fingerprint"):  # exactly, NaN where NaN
        np.testing.assert_array_equal(getattr(a.results, name), getattr(b.results, name), err_msg=name)


def copy_matches_rows(latest: Run) -> bool:
    """The copy ``latest`` left is the rows read back; whether it holds rows of earlier runs (kept ones)."""
    kept = standing.load(latest, standing.epoch(), detail=True)
    assert kept is not None, "the run left a usable copy"
    rows, labels = standing.read(latest, detail=True)
    assert_same_standing(kept[0], rows)
    np.testing.assert_array_equal(kept[1].ids, labels.ids)
    assert kept[1].labels.astype(str).tolist() == labels.labels.astype(str).tolist()
    return bool((rows.run_ids != latest.pk).any())


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_the_copy_each_run_leaves_is_the_rows_the_database_holds(portfolio, admin, dimension, copies,  # noqa: F811
                                                                 monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(services, "FULL_WRITE_SHARE", 1.0)  # keep building on the chain, however many rows move
    capture = django_capture_on_commit_callbacks
    latest = run(dimension, capture, full=True)
    copy_matches_rows(latest)
    mixed = []
    for step in range(3):  # a run with nothing changed, then changes through the services, an override
        latest = run(dimension, capture)
        mixed.append(copy_matches_rows(latest))
        age_changes()
        change_some(admin, portfolio, step=step)
        if step == 1:
            services.override_create(actor=admin, organization=portfolio[20], dimension=dimension,
                                     label=services.labels_for(dimension)[1], reason="client asked",
                                     expires_at=timezone.now() + dt.timedelta(days=30))
        latest = run(dimension, capture)
        assert latest.base_run_id is not None  # built on the chain
        mixed.append(copy_matches_rows(latest))
    assert any(mixed)  # kept rows of earlier runs beside the rows a run wrote


def test_a_run_built_on_the_copy_reads_no_rows_and_writes_what_reading_them_writes(
        portfolio, admin, copies, monkeypatch, django_capture_on_commit_callbacks):  # noqa: F811
    monkeypatch.setattr(services, "FULL_WRITE_SHARE", 1.0)  # build on the chain, however many rows move
    capture = django_capture_on_commit_callbacks
    run("value", capture, full=True)
    base = run("value", capture)
    services.override_create(actor=admin, organization=portfolio[10], dimension="value", label="general",
                             reason="client asked", expires_at=timezone.now() + dt.timedelta(days=30))

    # the same run twice from the same start: once reading the rows (no copy), once from the copy
    def written(latest: Run) -> dict[int, tuple]:
        return {a.organization_id: (a.label, a.engine_label, a.previous_label, a.score, a.explanation)
                for a in Assignment.objects.filter(run=latest)}

    real_load = standing.load
    with transaction.atomic():
        monkeypatch.setattr(standing, "load", lambda *args, **kwargs: None)
        with capture(execute=False):  # rolled back below: it never commits, so it leaves no copy
            from_rows = services.run_segmentation(actor=None, dimension="value", with_stability=False).run
        assert from_rows is not None
        expected = (written(from_rows), sorted(Assignment.objects.filter(superseded_by=from_rows)
                                               .values_list("run_id", "organization_id")))
        transaction.set_rollback(True)
    monkeypatch.setattr(standing, "load", real_load)
    monkeypatch.setattr(standing, "read", lambda *args, **kwargs: pytest.fail("the rows were read back"))
    from_copy = run("value", capture)
    assert from_copy.base_run_id == base.pk and 0 < from_copy.written < len(portfolio)
    assert (written(from_copy), sorted(Assignment.objects.filter(superseded_by=from_copy)
                                       .values_list("run_id", "organization_id"))) == expected


def test_a_run_rolled_back_leaves_the_previous_copy_usable(portfolio, admin, copies,  # noqa: F811
                                                          django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    base = run("risk", capture, full=True)
    age_changes()
    change_some(admin, portfolio, step=0)
    with transaction.atomic():
        with capture(execute=False) as callbacks:
            services.run_segmentation(actor=None, dimension="risk", with_stability=False)
        transaction.set_rollback(True)
    assert callbacks, "the copy waits for the commit"
    copy_matches_rows(base)


def test_changes_to_assignment_rows_outside_a_run_move_the_epoch(portfolio, admin, django_capture_on_commit_callbacks,  # noqa: F811
                                                                 copies, monkeypatch):
    monkeypatch.setattr(services, "FULL_WRITE_SHARE", 1.0)  # the second run replaces rows of the first
    capture = django_capture_on_commit_callbacks
    first = run("value", capture, full=True)
    before = standing.epoch()
    run("value", capture)  # a run's own writes (rows added, replaced rows marked) leave it alone
    assert standing.epoch() == before
    a, b = portfolio[0], portfolio[1]
    Assignment.objects.filter(run=first, organization=a).update(organization_id=a.pk)  # moved (even onto itself)
    assert standing.epoch() > before
    before = standing.epoch()
    row = Assignment.objects.filter(superseded_by__isnull=False).first()
    assert row is not None
    Assignment.objects.filter(pk=row.pk).update(superseded_by=None)  # put back in force
    assert standing.epoch() > before
    before = standing.epoch()
    Assignment.objects.filter(pk=row.pk).update(superseded_by=first)  # what a run does: no move
    assert standing.epoch() == before
    Assignment.objects.filter(organization=b).delete()
    assert standing.epoch() > before
    assert AssignmentEpoch.objects.count() == 1


@pytest.mark.parametrize("writer", ["merge", "erase"])
def test_after_a_merge_or_an_erased_client_the_next_run_reads_the_rows(portfolio, admin, lead, copies, writer,  # noqa: F811
                                                                       monkeypatch, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    run("relationship", capture, full=True)
    latest = run("relationship", capture)
    a, b = [org for org in portfolio if not org.participations.exists()][:2]  # nothing that blocks either
    if writer == "merge":
        ClientTier.objects.filter(organization=b).delete()  # the one clash the merge asks a person to settle
        dedupe.organization_merge(actor=admin, survivor=a, others=[b])
    else:
        b.delete()
    assert standing.load(latest, standing.epoch(), detail=True) is None  # the copy no longer says what is stored
    reads = []
    real_read = standing.read
    monkeypatch.setattr(standing, "read", lambda *args, **kwargs: reads.append(1) or real_read(*args, **kwargs))
    after = run("relationship", capture)
    assert reads == [1]
    assert b.pk not in standing.read(after, detail=True)[0].ids.tolist()
    copy_matches_rows(after)  # and that run left a good copy again


def test_a_run_during_which_rows_changed_leaves_no_copy(portfolio, admin, copies, monkeypatch,  # noqa: F811
                                                       django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    run("value", capture, full=True)
    target = portfolio[5].pk
    real = services.engine.classify

    def classify_while_a_merge_moves_rows(*args, **kwargs):
        Assignment.objects.filter(organization_id=target).update(organization_id=target)
        return real(*args, **kwargs)

    monkeypatch.setattr(services.engine, "classify", classify_while_a_merge_moves_rows)
    during = run("value", capture)
    assert standing.load(during, standing.epoch(), detail=True) is None


def test_without_the_file_cache_no_copy_is_kept(portfolio, settings, tmp_path,  # noqa: F811
                                               django_capture_on_commit_callbacks):
    settings.DATA_DIR = tmp_path
    latest = run("risk", django_capture_on_commit_callbacks, full=True)
    assert not list(tmp_path.rglob("standing-*"))
    settings.BCRM_FEATURE_CACHE_SECONDS = 900
    assert standing.load(latest, standing.epoch(), detail=True) is None


def test_the_epoch_triggers_exist_after_all_migrations(db):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'segmentation_assignment'::regclass "
                           "AND NOT tgisinternal")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'segmentation_assignment'")
        names = {row[0] for row in cursor.fetchall()}
    assert {"seg_assignment_epoch_d", "seg_assignment_epoch_u", "seg_assignment_epoch_r"} <= names


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign"])
def test_a_damaged_copy_is_ignored_and_the_rows_are_read(portfolio, copies, damage, monkeypatch,  # noqa: F811
                                                        django_capture_on_commit_callbacks):
    """The data folder is not the record: a copy that is not a NumPy archive, one cut short, or another run's is
    passed over (the rows are read) and the run still writes what the rows say."""
    monkeypatch.setattr(services, "FULL_WRITE_SHARE", 1.0)  # build on the chain, however many rows move
    capture = django_capture_on_commit_callbacks
    run("value", capture, full=True)
    latest = run("value", capture)
    path = standing._path("value")
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not an archive at all")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:  # a well-formed copy, but stamped for another run (say, of a database restored from a backup)
        import json

        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(str(arrays["meta"]))
        meta["stamp"]["run"] = latest.pk + 1000
        arrays["meta"] = np.array(json.dumps(meta))
        with path.open("wb") as fh:
            np.savez(fh, **arrays)
    assert standing.load(latest, standing.epoch(), detail=True) is None
    reads = []
    real_read = standing.read
    monkeypatch.setattr(standing, "read", lambda *args, **kwargs: reads.append(1) or real_read(*args, **kwargs))
    after = run("value", capture)
    assert reads == [1] and after.base_run_id == latest.pk
    copy_matches_rows(after)


def test_marking_replaced_rows_updates_them_in_place_on_postgresql(portfolio, admin, monkeypatch):  # noqa: F811
    """A run marks the rows it replaces ``superseded_by``, a column no index holds; the assignments' pages keep
    a quarter free (migration 0009), so PostgreSQL updates each such row in place (a heap-only tuple) instead of
    writing a new version into every one of the table's six indexes (3.5-5x the time at a million rows)."""
    if connection.vendor != "postgresql":
        pytest.skip("a page's fill factor and heap-only tuples are PostgreSQL's; SQLite's rows are rewritten")
    monkeypatch.setattr(services, "FULL_WRITE_SHARE", 1.0)  # build on the chain, however many rows move
    services.run_segmentation(actor=None, dimension="value", with_stability=False, full=True)
    services.run_segmentation(actor=None, dimension="value", with_stability=False)  # each client's previous label
    age_changes()
    for org in portfolio[:6]:  # a fifth of the clients moved by hand: their rows are replaced
        services.override_create(actor=admin, organization=org, dimension="value", label="high", reason="anchor",
                                 expires_at=timezone.now() + dt.timedelta(days=30))

    def updates() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                           "WHERE relname = 'segmentation_assignment'")
            row = cursor.fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    before = updates()
    report = services.run_segmentation(actor=None, dimension="value", with_stability=False)
    assert report.run is not None and report.run.base_run_id is not None
    replaced = Assignment.objects.filter(superseded_by=report.run).count()
    assert 6 <= replaced <= 8
    updated, in_place = (after - earlier for after, earlier in zip(updates(), before, strict=True))
    assert updated == replaced
    assert in_place == updated
