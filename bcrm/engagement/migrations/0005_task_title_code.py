"""Task titles the system wrote keep a code and parameters (bcrm.core.texts), so they read in each reader's
language. Tasks written before keep their English title; this maps those titles to their codes."""

import re

from django.db import migrations, models

# The English labels of the playbook actions at the time of this migration (each label is its own code).
ACTION_LABELS = [
    "Personal contact", "Senior-level meeting", "Financing-plan review", "Progress report", "KYC refresh",
    "Due-diligence review", "Survey invitation", "Data collection",
]
SLA = re.compile(r"^SLA breached: (first response|resolution) overdue on request #(\d+)$")
OVERFLOW = re.compile(r"^Capacity overflow: (\d+) tasks \(([\d.]+) h\) without an owner in (.+)$")


def codes_for_old_titles(apps, schema_editor):
    Task = apps.get_model("engagement", "Task")
    generated = Task.objects.filter(source="playbook", title_code="")
    for label in ACTION_LABELS:
        generated.filter(title=label).update(title_code=label)
    for task in generated.filter(title__startswith="SLA breached: ").only("pk", "title").iterator():
        if match := SLA.match(task.title):
            which, request = match.groups()
            code = ("SLA breached: first response overdue on request #%(request)s" if which == "first response"
                    else "SLA breached: resolution overdue on request #%(request)s")
            Task.objects.filter(pk=task.pk).update(title_code=code, title_params={"request": request})
    for task in generated.filter(title__startswith="Capacity overflow: ").only("pk", "title").iterator():
        if match := OVERFLOW.match(task.title):
            count, hours, team = match.groups()
            if team == "No team":
                code = "Capacity overflow: %(tasks)s tasks (%(hours)s h) without an owner and without a team"
                params = {"tasks": int(count), "hours": float(hours)}
            else:
                code = "Capacity overflow: %(tasks)s tasks (%(hours)s h) without an owner in %(team)s"
                params = {"tasks": int(count), "hours": float(hours), "team": team}
            Task.objects.filter(pk=task.pk).update(title_code=code, title_params=params)


class Migration(migrations.Migration):

    dependencies = [
        ('engagement', '0004_task_step_team_and_due_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='task',
            name='title_code',
            field=models.CharField(blank=True, default='', max_length=200),
        ),
        migrations.AddField(
            model_name='task',
            name='title_params',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(codes_for_old_titles, migrations.RunPython.noop, elidable=True),
    ]
