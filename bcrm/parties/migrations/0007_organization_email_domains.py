"""Organisations gain their e-mail domains (bcrm.intel matches captured mail by them).

On SQLite, adding a column rebuilds the organisation table, which drops the triggers that keep the FTS5
search index (0003) in step: they are created again and the index rebuilt.
"""

from importlib import import_module

from django.db import migrations, models

fts = import_module("bcrm.parties.migrations.0003_search_fts_sqlite")


class Migration(migrations.Migration):

    dependencies = [
        ('parties', '0006_saved_view'),
    ]

    operations = [
        migrations.AddField(
            model_name='organization',
            name='email_domains',
            field=models.JSONField(blank=True, default=list, verbose_name='e-mail domains'),
        ),
        migrations.RunPython(fts.forwards, migrations.RunPython.noop),
    ]
