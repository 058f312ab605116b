"""The audit trail's hash chain (seals and signed checkpoints) and, on PostgreSQL, triggers that refuse
UPDATE and DELETE on the three audit tables: the trail is append-only."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TABLES = ("audit_auditentry", "audit_auditseal", "audit_auditcheckpoint", "audit_auditcheck")


def append_only(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite has no such guard: `bcrm audit verify` catches a change there
    schema_editor.execute("""
        CREATE OR REPLACE FUNCTION bcrm_audit_append_only() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION 'the bcrm audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END $$ LANGUAGE plpgsql""", params=None)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION bcrm_audit_append_only()")


def drop_append_only(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS bcrm_audit_append_only()")


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0003_login_lockout_actions'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditCheckpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.BigIntegerField()),
                ('digest', models.CharField(max_length=64)),
                ('at', models.DateTimeField()),
                ('mac', models.CharField(max_length=64)),
            ],
            options={
                'verbose_name': 'audit checkpoint',
                'verbose_name_plural': 'audit checkpoints',
                'ordering': ['position', 'id'],
            },
        ),
        migrations.AlterField(
            model_name='auditentry',
            name='actor',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.CreateModel(
            name='AuditSeal',
            fields=[
                ('position', models.BigIntegerField(primary_key=True, serialize=False)),
                ('digest', models.CharField(max_length=64)),
                ('entry', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='seal', to='audit.auditentry')),
            ],
            options={
                'verbose_name': 'audit seal',
                'verbose_name_plural': 'audit seals',
            },
        ),
        migrations.CreateModel(
            name='AuditCheck',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(db_index=True)),
                ('ok', models.BooleanField()),
                ('checked', models.BigIntegerField(default=0)),
                ('findings', models.JSONField(blank=True, default=list)),
            ],
            options={
                'verbose_name': 'audit check',
                'verbose_name_plural': 'audit checks',
                'ordering': ['-at', '-id'],
            },
        ),
        migrations.RunPython(append_only, drop_append_only),
    ]
