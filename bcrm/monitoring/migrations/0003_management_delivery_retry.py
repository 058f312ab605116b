# Written by hand (issue 14, item 3): management report deliveries move onto the shared delivery columns of
# bcrm.core.delivery (a "cancelled" status, and the time of the next attempt).

from django.db import migrations, models
from django.db.models import F


def due_now(apps, schema_editor):
    """A row still pending (never claimed) is due at once: the time it was queued."""
    Delivery = apps.get_model("monitoring", "ManagementReportDelivery")
    Delivery.objects.filter(status="pending", next_attempt_at__isnull=True).update(next_attempt_at=F("queued_at"))


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0002_management_report_delivery'),
    ]

    operations = [
        migrations.AddField(
            model_name='managementreportdelivery',
            name='next_attempt_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='next attempt'),
        ),
        migrations.AlterField(
            model_name='managementreportdelivery',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending'), ('sending', 'Sending'), ('sent', 'Sent'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='pending', max_length=12, verbose_name='status'),
        ),
        migrations.RunPython(due_now, migrations.RunPython.noop),
    ]
