# Written by hand (issue 14, item 3): one row per e-mail of a survey invitation, on the shared delivery
# columns of bcrm.core.delivery (claimed before sending, retried with backoff).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('surveys', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='SurveyMail',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('sending', 'Sending'), ('sent', 'Sent'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='pending', max_length=12, verbose_name='status')),
                ('attempts', models.PositiveSmallIntegerField(default=0, verbose_name='attempts')),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True, verbose_name='next attempt')),
                ('last_error', models.TextField(blank=True, verbose_name='last error')),
                ('queued_at', models.DateTimeField(verbose_name='queued')),
                ('sent_at', models.DateTimeField(blank=True, null=True, verbose_name='sent')),
                ('email', models.EmailField(max_length=254, verbose_name='e-mail')),
                ('invitation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='mails', to='surveys.surveyinvitation', verbose_name='survey invitation')),
            ],
            options={
                'verbose_name': 'survey e-mail',
                'verbose_name_plural': 'survey e-mails',
                'ordering': ['-queued_at', '-id'],
                'indexes': [models.Index(fields=['status', 'next_attempt_at'], name='survey_mail_due_idx')],
            },
        ),
    ]
