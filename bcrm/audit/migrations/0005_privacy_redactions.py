"""Erasure for privacy requests: the chain links over each entry's content digest (so an entry's personal values
can be rewritten and the chain still verifies through a signed redaction record), the "privacy.export" and
"privacy.erase" actions, and the redaction records. Existing seals are recomputed with the new link and existing
checkpoints signed again (same positions and times); on PostgreSQL the append-only trigger now lets through an
UPDATE of an entry's personal values when the erasure service has switched ``bcrm.audit_redaction`` on for its
transaction, and refuses every UPDATE and DELETE on the redaction records."""

import hashlib
import hmac
import json

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

FIELDS = ("id", "at", "actor_id", "actor_label", "action", "content_type_id", "object_id", "object_repr",
          "changes")

OLD_FUNCTION = """
    CREATE OR REPLACE FUNCTION bcrm_audit_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'the bcrm audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END $$ LANGUAGE plpgsql"""

NEW_FUNCTION = """
    CREATE OR REPLACE FUNCTION bcrm_audit_append_only() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'audit_auditentry'
           AND coalesce(current_setting('bcrm.audit_redaction', true), '') = 'on' THEN
            -- (nested: only audit_auditentry's rows have these fields)
            IF NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.action = OLD.action
               AND NEW.content_type_id = OLD.content_type_id AND NEW.object_id = OLD.object_id
               AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id THEN
                RETURN NEW;  -- an erasure rewriting personal values (recorded in audit_auditredaction)
            END IF;
        END IF;
        RAISE EXCEPTION 'the bcrm audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END $$ LANGUAGE plpgsql"""


def _utc(at):
    import datetime as dt

    if isinstance(at, str):
        at = at.replace(" ", "T")
        return (at if "." in at else at + ".000000") + "Z"
    if at.tzinfo is None:
        return at.isoformat(timespec="microseconds") + "Z"
    return at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def reseal(apps, schema_editor):
    """Recompute every seal with link = SHA-256(previous || content digest) and sign the checkpoints again."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # the append-only triggers (the table's owner may switch them off)
            for table in ("audit_auditseal", "audit_auditcheckpoint"):
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        cursor.execute(
            "SELECT s.position, " + ", ".join(f"e.{f}" for f in FIELDS) + " FROM audit_auditseal s "
            "LEFT JOIN audit_auditentry e ON e.id = s.entry_id ORDER BY s.position")
        previous = "0" * 64
        digests = {}
        updates = []
        for row in cursor.fetchall():
            position, values = row[0], dict(zip(FIELDS, row[1:], strict=True))
            if values["id"] is None:
                break  # a deleted entry: leave the rest as it was, the check names it
            values["at"] = _utc(values["at"])
            if isinstance(values["changes"], str | bytes):
                values["changes"] = json.loads(values["changes"])
            canonical = json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
            content = hashlib.sha256(canonical).hexdigest()
            previous = hashlib.sha256(previous.encode("ascii") + content.encode("ascii")).hexdigest()
            digests[position] = previous
            updates.append((previous, position))
        cursor.executemany("UPDATE audit_auditseal SET digest = %s WHERE position = %s", updates)
        key = settings.BCRM_AUDIT_KEY.encode()
        cursor.execute("SELECT id, position, at FROM audit_auditcheckpoint")
        signed = []
        for pk, position, at in cursor.fetchall():
            if position in digests:
                message = f"bcrm-audit-checkpoint:{position}:{digests[position]}:{_utc(at)}".encode()
                signed.append((digests[position], hmac.new(key, message, hashlib.sha256).hexdigest(), pk))
        cursor.executemany("UPDATE audit_auditcheckpoint SET digest = %s, mac = %s WHERE id = %s", signed)
        if connection.vendor == "postgresql":
            for table in ("audit_auditseal", "audit_auditcheckpoint"):
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")


def redaction_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(NEW_FUNCTION, params=None)
    schema_editor.execute(
        "CREATE TRIGGER audit_auditredaction_append_only BEFORE UPDATE OR DELETE ON audit_auditredaction "
        "FOR EACH ROW EXECUTE FUNCTION bcrm_audit_append_only()")


def drop_redaction_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP TRIGGER IF EXISTS audit_auditredaction_append_only ON audit_auditredaction")
    schema_editor.execute(OLD_FUNCTION, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0004_audit_chain'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditentry',
            name='action',
            field=models.CharField(choices=[('create', 'created'), ('update', 'updated'), ('delete', 'deleted'), ('import.create', 'created by import'), ('import.update', 'updated by import'), ('merge', 'merged'), ('lockout', 'locked out after failed sign-ins'), ('unlock', 'unlocked'), ('privacy.export', 'personal data exported'), ('privacy.erase', 'personal data erased')], max_length=16, verbose_name='action'),
        ),
        migrations.CreateModel(
            name='AuditRedaction',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('original_digest', models.CharField(max_length=64)),
                ('redacted_digest', models.CharField(max_length=64)),
                ('reference', models.CharField(max_length=64)),
                ('at', models.DateTimeField()),
                ('mac', models.CharField(max_length=64)),
                ('entry', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='redactions', to='audit.auditentry')),
            ],
            options={
                'verbose_name': 'audit redaction',
                'verbose_name_plural': 'audit redactions',
                'ordering': ['id'],
            },
        ),
        migrations.RunPython(redaction_trigger, drop_redaction_trigger),
        migrations.RunPython(reseal, migrations.RunPython.noop),
    ]
