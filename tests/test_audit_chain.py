"""The audit trail is append-only and tamper-evident: a hash chain with signed checkpoints, checked by
`bcrm audit verify`, exported for a regulator and checked again offline (issue 20)."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction
from hypothesis import given
from hypothesis import strategies as st

from bcrm.audit import chain, trail
from bcrm.audit.models import AuditCheckpoint, AuditEntry, AuditSeal
from bcrm.parties.services import organization_update
from tests.factories import make_org

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def trail_of_five(lead, team, settings, tmp_path):
    settings.BCRM_AUDIT_CHECKPOINTS = tmp_path / "checkpoints.jsonl"
    org = make_org(legal_name="Huaneng Capital", local_name="华能资本", team=team)
    for i in range(5):
        org = organization_update(actor=lead, organization=org, data={"notes": f"call {i} 电话"},
                                  expected_version=org.version)
    return list(AuditEntry.objects.order_by("id"))


def tamper(sql: str, params: list) -> None:
    """Change the audit tables behind bcrm's back, as someone with the database's owner rights would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # a superuser can switch triggers off for the transaction
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")


def run_verify(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit", "verify", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_an_intact_trail_verifies_and_each_entry_is_sealed_once(trail_of_five):
    n = len(trail_of_five)  # the five edits, and the creation of the lead and the team before them
    assert n >= 7 and trail.seal_pending() == n and trail.seal_pending() == 0
    assert list(AuditSeal.objects.order_by("position").values_list("position", "entry_id")) == [
        (i + 1, e.pk) for i, e in enumerate(trail_of_five)]
    code, out, err = run_verify()
    assert code == 0 and f"Checked {n} entries" in out and "intact" in out and err == ""


def test_entries_are_sealed_when_their_transaction_commits(transactional_db, lead, team):
    org = make_org(legal_name="Sealed Co", team=team)
    organization_update(actor=lead, organization=org, data={"notes": "x"}, expected_version=org.version)
    entry = AuditEntry.objects.get(object_id=str(org.pk), action="update")
    assert AuditSeal.objects.get(entry=entry).position == AuditEntry.objects.count()
    assert not AuditEntry.objects.filter(seal__isnull=True).exists()
    assert trail.verify(seal=False).ok


def test_one_seal_request_per_transaction(lead, team):
    org = make_org(legal_name="Once Co", team=team)
    with transaction.atomic():
        for i in range(3):
            org = organization_update(actor=lead, organization=org, data={"notes": str(i)}, expected_version=org.version)
        conn = transaction.get_connection()
        assert sum(1 for item in conn.run_on_commit if item[1] is trail._seal_after_commit) == 1


def test_a_changed_entry_is_named(trail_of_five):
    trail.seal_pending()
    third = trail_of_five[2]
    tamper("UPDATE audit_auditentry SET object_repr = %s WHERE id = %s", ["Someone else", third.pk])
    code, _out, err = run_verify()
    assert code == 1 and f"Entry #{third.pk} at position 3 does not match" in err


def test_a_deleted_entry_is_named(trail_of_five):
    trail.seal_pending()
    second = trail_of_five[1]
    tamper("DELETE FROM audit_auditentry WHERE id = %s", [second.pk])
    result = trail.verify()
    assert not result.ok and (result.findings[0].kind, result.findings[0].entry_id) == ("deleted", second.pk)
    assert "deleted" in result.findings[0].message


def test_entries_swapped_in_the_chain_are_caught(trail_of_five):
    trail.seal_pending()
    a, b = trail_of_five[1], trail_of_five[3]
    for old, new in ((a.pk, -1), (b.pk, a.pk), (-1, b.pk)):
        tamper("UPDATE audit_auditseal SET entry_id = %s WHERE entry_id = %s", [new, old])
    result = trail.verify()
    assert [(f.kind, f.position) for f in result.findings] == [("mismatch", 2)]


def test_a_trail_cut_short_fails_its_signed_checkpoint(trail_of_five):
    point = trail.checkpoint()
    n = len(trail_of_five)
    assert point is not None and point.position == n
    assert trail.verify().ok
    last = trail_of_five[-1]
    tamper("DELETE FROM audit_auditseal WHERE entry_id = %s", [last.pk])
    tamper("DELETE FROM audit_auditentry WHERE id = %s", [last.pk])
    result = trail.verify()
    assert [(f.kind, f.position) for f in result.findings] == [("checkpoint", n)]


def test_a_checkpoint_signed_with_another_key_is_refused(trail_of_five, settings):
    trail.checkpoint()
    settings.BCRM_AUDIT_KEY = "another key"
    result = trail.verify()
    assert [f.kind for f in result.findings] == ["signature"]


def test_checkpoints_are_also_written_outside_the_database(trail_of_five, settings):
    trail.checkpoint()
    lines = Path(settings.BCRM_AUDIT_CHECKPOINTS).read_text().splitlines()
    saved = json.loads(lines[-1])
    point = AuditCheckpoint.objects.get()
    assert (saved["position"], saved["digest"], saved["mac"]) == (point.position, point.digest, point.mac)
    assert chain.mac_matches(settings.BCRM_AUDIT_KEY.encode(), saved["position"], saved["digest"], saved["at"],
                             saved["mac"])


def test_the_database_refuses_to_change_or_delete_an_entry(trail_of_five):
    trail.seal_pending()
    if connection.vendor != "postgresql":
        # SQLite has no trigger language of its own for this; the chain catches the change instead.
        tamper("UPDATE audit_auditentry SET action = 'delete' WHERE id = %s", [trail_of_five[0].pk])
        assert not trail.verify().ok
        return
    for statement in ("UPDATE audit_auditentry SET action = 'delete' WHERE id = %s",
                      "DELETE FROM audit_auditentry WHERE id = %s",
                      "DELETE FROM audit_auditseal WHERE entry_id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [trail_of_five[0].pk])
    assert trail.verify().ok


def test_verify_from_a_date_checks_the_rest_of_the_chain(trail_of_five):
    trail.seal_pending()
    code, out, _err = run_verify("--from", "2000-01-01")
    assert code == 0 and f"Checked {len(trail_of_five)} entries" in out
    code, out, _err = run_verify("--from", "2999-01-01")
    assert code == 0 and "Checked 0 entries" in out


def test_verify_json_names_the_first_break(trail_of_five):
    trail.seal_pending()
    tamper("UPDATE audit_auditentry SET changes = %s WHERE id = %s", ['{"notes": ["", "forged"]}',
                                                                     trail_of_five[0].pk])
    code, out, _err = run_verify("--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False and data["findings"][0]["entry_id"] == trail_of_five[0].pk
    assert data["findings"][0]["kind"] == "mismatch" and data["checked"] == len(trail_of_five)


def test_bad_dates_are_refused_clearly(db):
    with pytest.raises(CommandError, match="Not a date"):
        call_command("audit", "verify", "--from", "yesterday")
    with pytest.raises(CommandError, match="offset"):
        call_command("audit", "export", "x.jsonl", "--from", "2026-01-01T08:00")


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_an_export_verifies_offline_and_a_changed_line_does_not(trail_of_five, tmp_path, suffix):
    path = tmp_path / f"audit.{suffix}"
    call_command("audit", "export", str(path), stdout=io.StringIO())
    tool = [sys.executable, str(ROOT / "tools" / "verify_audit_export.py"), str(path)]
    done = subprocess.run(tool, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and f"{len(trail_of_five)} entries verify" in done.stdout
    text = path.read_text(encoding="utf-8")
    assert "电话" in text
    path.write_text(text.replace("call 3", "call 9"), encoding="utf-8")
    done = subprocess.run(tool, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "digest does not match" in done.stderr


def test_an_export_of_a_period_starts_mid_chain_and_still_verifies(trail_of_five, tmp_path):
    trail.seal_pending()
    middle = trail_of_five[2].at
    rows = list(trail.export_rows(start=middle))
    assert [r["id"] for r in rows] == [e.pk for e in trail_of_five if e.at >= middle]
    assert rows[0]["previous"] == AuditSeal.objects.get(position=rows[0]["position"] - 1).digest
    assert all(chain.link(r["previous"], r) == r["digest"] for r in rows)
    assert list(trail.export_rows(end=trail_of_five[0].at)) == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="real concurrent sealers need PostgreSQL")
def test_two_sealers_at_once_give_one_unbroken_chain(transactional_db, lead, team):
    org = make_org(legal_name="Race Co", team=team)
    for i in range(40):
        org = organization_update(actor=lead, organization=org, data={"notes": str(i)}, expected_version=org.version)
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def sealer():
        try:
            barrier.wait(timeout=30)
            trail.seal_pending()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sealer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    total = AuditEntry.objects.count()
    assert list(AuditSeal.objects.order_by("position").values_list("position", flat=True)) == list(
        range(1, total + 1))
    assert trail.verify().ok


# --- the chain's pure functions ---------------------------------------------------------------------------

entries = st.lists(st.fixed_dictionaries({
    "id": st.integers(1, 10**12),
    "at": st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                       timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8))])),
    "actor_id": st.none() | st.integers(1, 10**6),
    "actor_label": st.text(max_size=20),
    "action": st.sampled_from(["create", "update", "delete", "import.create"]),
    "content_type_id": st.integers(1, 500),
    "object_id": st.text(min_size=1, max_size=12),
    "object_repr": st.text(max_size=40),
    "changes": st.dictionaries(st.text(max_size=8), st.lists(st.none() | st.integers() | st.text(max_size=8),
                                                             max_size=2), max_size=3),
}), min_size=1, max_size=8)


def digests_of(rows: list[dict]) -> list[str]:
    out, previous = [], chain.GENESIS
    for row in rows:
        previous = chain.link(previous, row)
        out.append(previous)
    return out


@given(entries)
def test_an_untouched_chain_has_no_break(rows):
    assert chain.first_break(rows, digests_of(rows)) is None


@given(entries, st.data())
def test_a_changed_field_breaks_the_chain_at_that_entry(rows, data):
    digests = digests_of(rows)
    index = data.draw(st.integers(0, len(rows) - 1))
    name = data.draw(st.sampled_from(["actor_label", "object_repr", "object_id", "action"]))
    changed = [dict(r) for r in rows]
    changed[index][name] = changed[index][name] + "·"
    assert chain.first_break(changed, digests) == index


@given(entries)
def test_the_same_moment_in_any_time_zone_gives_the_same_digest(rows):
    moved = [{**r, "at": r["at"].astimezone(dt.timezone(dt.timedelta(hours=-5)))} for r in rows]
    assert digests_of(moved) == digests_of(rows)


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError):
        chain.utc_text(dt.datetime(2026, 1, 1))


def test_the_scheduled_check_signs_an_intact_trail_and_records_a_broken_one(trail_of_five, caplog):
    first = trail.scheduled_check()
    assert first.ok and first.checked == len(trail_of_five) and AuditCheckpoint.objects.count() == 1
    tamper("UPDATE audit_auditentry SET actor_label = %s WHERE id = %s", ["nobody", trail_of_five[0].pk])
    second = trail.scheduled_check()
    assert not second.ok and second.findings[0]["entry_id"] == trail_of_five[0].pk
    assert AuditCheckpoint.objects.count() == 1  # a broken chain is not signed
    assert "audit trail check failed" in caplog.text
