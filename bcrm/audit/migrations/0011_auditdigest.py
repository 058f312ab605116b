"""Content digests made as entries are written (issue 19): the sealer links them without reading the entries
back. Append-only on PostgreSQL like the other audit tables (migration 0004)."""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "audit_auditdigest"


def append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
                              f"FOR EACH ROW EXECUTE FUNCTION bcrm_audit_append_only()")


def drop_append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")


class Migration(migrations.Migration):

    dependencies = [("audit", "0010_audit_changes_lz4")]

    operations = [
        migrations.CreateModel(
            name="AuditDigest",
            fields=[
                ("entry", models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING,
                                               primary_key=True, related_name="+", serialize=False,
                                               to="audit.auditentry")),
                ("content", models.CharField(max_length=64)),
            ],
            options={"verbose_name": "audit entry digest", "verbose_name_plural": "audit entry digests"},
        ),
        migrations.RunPython(append_only, drop_append_only),
    ]
