"""On SQLite, an FTS5 trigram index over ``search_text`` makes substring search of 3+ characters an
index lookup instead of a scan of every client (PostgreSQL has its trigram GIN index from 0002).

Triggers keep it in step with the table whatever writes the row (services, the bulk demo loader,
the admin): this is index maintenance, not business logic.
"""

from django.db import migrations

CREATE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS org_search USING fts5("
    "search_text, content='parties_organization', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS org_search_ai AFTER INSERT ON parties_organization BEGIN "
    "INSERT INTO org_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER IF NOT EXISTS org_search_ad AFTER DELETE ON parties_organization BEGIN "
    "INSERT INTO org_search(org_search, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER IF NOT EXISTS org_search_au AFTER UPDATE OF search_text ON parties_organization BEGIN "
    "INSERT INTO org_search(org_search, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO org_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    "INSERT INTO org_search(org_search) VALUES ('rebuild')",
]
DROP = [
    "DROP TRIGGER IF EXISTS org_search_ai",
    "DROP TRIGGER IF EXISTS org_search_ad",
    "DROP TRIGGER IF EXISTS org_search_au",
    "DROP TABLE IF EXISTS org_search",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in CREATE:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("parties", "0002_search_trigram")]
    operations = [migrations.RunPython(forwards, backwards)]
