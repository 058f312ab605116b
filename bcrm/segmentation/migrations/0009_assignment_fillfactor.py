# Leave a quarter of each new page of segmentation_assignment free (PostgreSQL's fillfactor; SQLite has none).
#
# A daily run marks the rows it replaces ``superseded_by``, a column no index holds: with room left in the row's
# page PostgreSQL updates it in place (a heap-only tuple, no new entry in the table's six indexes); a full page
# makes it write a new version elsewhere and index it six times. Measured on a copy of the 1M demo's value
# assignments (4M rows), marking a quarter of them: 20-29 s with full pages, 5.6 s with fillfactor 75 (99 % of
# the updates in place); the table is 23 % larger. A run supersedes about as many rows as the clients whose
# result a reader would see differently: 25 % of them a day for the value dimension, whose lifetime-value model
# moves everyone's a little with each refit (benchmarks/README.md, 2026-12-07 evening).
#
# Applies to pages written from now on (every run writes its own rows); existing pages keep what they have
# until the table is rewritten (VACUUM FULL, which locks it: left to the operator, not done here).

from django.db import migrations

FILLFACTOR = 75


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE segmentation_assignment SET (fillfactor = {FILLFACTOR})", params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE segmentation_assignment RESET (fillfactor)", params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('segmentation', '0008_assignment_epoch'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
