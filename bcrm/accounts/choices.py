from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """Roles are Django groups of these names."""

    ADMIN = "admin", _("Administrator")
    LEAD = "lead", _("Team lead")
    RELATIONSHIP_MANAGER = "relationship_manager", _("Relationship manager")
    ANALYST = "analyst", _("Analyst")
    COMPLIANCE = "compliance", _("Compliance")
    VIEWER = "viewer", _("Viewer")
