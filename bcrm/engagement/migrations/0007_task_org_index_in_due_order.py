"""One client's open tasks in due order come from one index (organization, status, due_at): the 360° page's
open tasks and its next playbook step. With (organization, status) only, SQLite and PostgreSQL (with stale
statistics) picked (status, source, step) and read every open task of the portfolio for one client (issue 19)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_roles'),
        ('engagement', '0006_interaction_summary_code'),
        ('financing', '0002_project_confidential_deal_walls'),
        ('parties', '0007_organization_email_domains'),
        ('playbooks', '0004_automationrun_heartbeat_reason'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='task',
            name='task_org_idx',
        ),
        migrations.AddIndex(
            model_name='task',
            index=models.Index(fields=['organization', 'status', 'due_at'], name='task_org_idx'),
        ),
    ]
