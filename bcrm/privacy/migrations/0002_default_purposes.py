"""The register starts with the purposes bcrm already mails for: satisfaction surveys (legitimate interest, as
decided in the surveys app) and monthly progress reports (consent, ``Contact.report_consent``)."""

from django.db import migrations

DEFAULTS = [
    ("satisfaction-survey", "Satisfaction surveys about services received", "survey_invitation",
     "legitimate_interest"),
    ("progress-reports", "Monthly project progress reports", "progress_report", "consent"),
]


def add(apps, schema_editor):
    purpose = apps.get_model("privacy", "ProcessingPurpose")
    for code, name, kind, basis in DEFAULTS:
        purpose.objects.get_or_create(code=code, defaults={"name": name, "mail_kind": kind, "legal_basis": basis})


def remove(apps, schema_editor):
    apps.get_model("privacy", "ProcessingPurpose").objects.filter(code__in=[d[0] for d in DEFAULTS]).delete()


class Migration(migrations.Migration):

    dependencies = [("privacy", "0001_privacy_requests")]

    operations = [migrations.RunPython(add, remove)]
