# The client-change triggers (migration 0005) on PostgreSQL stamp a client with the start of the writing
# transaction, and leave a stamp that is already as late alone. Before, every statement re-stamped every client
# it touched with the clock: an import of a million interactions, written in batches of 2,000 each inside its
# own savepoint, updated the same few thousand segmentation_clientchange rows once per batch, each time from a
# new subtransaction, and that upsert was half of the import's COPY time (issue 19). Now a client is stamped
# once per transaction. The incremental run takes its watermark no later than the start of the oldest
# transaction open in the database (bcrm.segmentation.feature_store.change_watermark), so a stamp that is a
# transaction's start is never behind a run that could not yet see that transaction's rows.

import importlib

from django.db import migrations, models

initial = importlib.import_module("bcrm.segmentation.migrations.0005_feature_store_and_client_changes")

ONCE = ("INSERT INTO segmentation_clientchange (organization_id, changed_at) {select} "
        "ON CONFLICT (organization_id) DO UPDATE SET changed_at = excluded.changed_at "
        "WHERE segmentation_clientchange.changed_at < excluded.changed_at")


def functions(upsert: str, stamp: str) -> list[str]:
    """The trigger functions of 0005 with ``upsert`` and ``stamp`` in place of its own (the triggers stay)."""
    out = []
    for spec in initial.WATCHED:
        function = initial.pg_sql(*spec)[0]
        assert function.startswith("CREATE FUNCTION ")
        function = function.replace("CREATE FUNCTION ", "CREATE OR REPLACE FUNCTION ", 1)
        tail = initial.UPSERT.split("{select}")[1]
        function = function.replace(tail, upsert.split("{select}")[1]).replace("clock_timestamp()", stamp)
        out.append(function)
    return out


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in functions(ONCE, "transaction_timestamp()"):
            schema_editor.execute(sql, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in functions(initial.UPSERT, "clock_timestamp()"):
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('segmentation', '0006_incremental_assignments'),
    ]

    operations = [
        migrations.AddField(
            model_name='featurestore',
            name='generation',
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
