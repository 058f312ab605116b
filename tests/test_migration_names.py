"""Migrations are named for what they do (issue 14, item 6). Two that Django had named were renamed; a database
that applied them under their old names must go on migrating as if nothing happened."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

ROOT = Path(__file__).resolve().parent.parent
RENAMED = [
    ("0003_servicerequest_escalated_at_and_more", "0003_request_deadlines_and_task_links"),
    ("0004_task_step_task_team_alter_interaction_kind_and_more", "0004_task_step_team_and_due_indexes"),
]
# What makemigrations calls a migration when it is not told a name.
AUTO_NAME = re.compile(r"^\d{4}_(auto_\d{8}_\d{4}|.*_and_more)$")


def test_no_migration_keeps_a_name_django_chose():
    names = [path.stem for path in (ROOT / "bcrm").glob("*/migrations/[0-9]*.py")]
    assert names and not [name for name in names if AUTO_NAME.match(name)]


@pytest.mark.django_db
def test_a_database_migrated_under_the_old_names_has_nothing_to_do_and_records_the_new_ones():
    recorder = MigrationRecorder(connection)
    for old, new in RENAMED:  # the history of a database deployed before the rename
        recorder.record_unapplied("engagement", new)
        recorder.record_applied("engagement", old)
    executor = MigrationExecutor(connection)
    targets = executor.loader.graph.leaf_nodes()
    assert executor.migration_plan(targets) == []  # the renamed migrations are not run again
    executor.migrate(targets)
    applied = recorder.applied_migrations()
    for old, new in RENAMED:
        assert ("engagement", old) in applied and ("engagement", new) in applied
