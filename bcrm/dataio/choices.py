from django.db import models
from django.utils.translation import gettext_lazy as _


class Entity(models.TextChoices):
    ORGANIZATIONS = "organizations", _("Organisations")
    CONTACTS = "contacts", _("Contacts")
    PROJECTS = "projects", _("Projects")
    PARTICIPATIONS = "participations", _("Participations")
    INTERACTIONS = "interactions", _("Interactions")


class ImportMode(models.TextChoices):
    DRY_RUN = "dry_run", _("Dry run (preview, nothing saved)")
    COMMIT = "commit", _("All or nothing")
    SKIP_INVALID = "skip_invalid", _("Save valid rows, skip invalid ones")


class JobStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    ROLLED_BACK = "rolled_back", _("Rolled back")


class Outcome(models.TextChoices):
    CREATED = "created", _("Created")
    UPDATED = "updated", _("Updated")
    UNCHANGED = "unchanged", _("Unchanged")
    REJECTED = "rejected", _("Rejected")


class FileFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX"


class JobSource(models.TextChoices):
    WEB = "web", _("Web")
    API = "api", _("API")
    CLI = "cli", _("Command line")


# Other names an entity answers to on the command line and in the API.
ENTITY_ALIASES = {
    "organization": Entity.ORGANIZATIONS, "organisation": Entity.ORGANIZATIONS, "organisations": Entity.ORGANIZATIONS,
    "clients": Entity.ORGANIZATIONS, "client": Entity.ORGANIZATIONS,
    "contact": Entity.CONTACTS, "project": Entity.PROJECTS, "participation": Entity.PARTICIPATIONS,
    "interaction": Entity.INTERACTIONS,
}


def entity_from(value: str) -> str | None:
    value = (value or "").strip().lower()
    if value in Entity.values:
        return value
    alias = ENTITY_ALIASES.get(value)
    return str(alias) if alias else None
