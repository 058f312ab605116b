"""A project's closing checklist (conditions precedent, 先决条件): items made from an editable template per
sector, each with category, owner, due date, status, evidence files; sign-off by a lead."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bcrm.closing import readiness as r
from bcrm.core.models import VersionedModel
from bcrm.parties.choices import Sector


class Category(models.TextChoices):
    CORPORATE = "corporate", _("Corporate and KYC")
    FINANCE_DOCUMENTS = "finance_docs", _("Finance documents")
    SECURITY = "security", _("Security")
    PERMITS = "permits", _("Permits and consents")
    PROJECT_CONTRACTS = "contracts", _("Project contracts")
    TECHNICAL = "technical", _("Technical and environmental")
    INSURANCE = "insurance", _("Insurance")
    LEGAL_OPINIONS = "opinions", _("Legal opinions")
    FINANCIAL = "financial", _("Financial model and accounts")
    OTHER = "other", _("Other")


class ItemStatus(models.TextChoices):
    OPEN = r.OPEN, _("Open")
    SUBMITTED = r.SUBMITTED, _("Submitted")
    SATISFIED = r.SATISFIED, _("Satisfied")
    WAIVED = r.WAIVED, _("Waived")


#: the moves the service allows (a waiver needs a lead and a reason; reopening a satisfied item too)
ITEM_TRANSITIONS: dict[str, tuple[str, ...]] = {
    ItemStatus.OPEN: (ItemStatus.SUBMITTED, ItemStatus.WAIVED),
    ItemStatus.SUBMITTED: (ItemStatus.SATISFIED, ItemStatus.OPEN, ItemStatus.WAIVED),
    ItemStatus.SATISFIED: (ItemStatus.OPEN,),
    ItemStatus.WAIVED: (ItemStatus.OPEN,),
}


class ChecklistTemplate(VersionedModel):
    sector = models.CharField(_("sector"), max_length=16, choices=Sector.choices, unique=True)
    name = models.CharField(_("name"), max_length=120)

    class Meta:
        verbose_name = _("checklist template")
        verbose_name_plural = _("checklist templates")

    def __str__(self) -> str:
        return self.name


class TemplateItem(models.Model):
    template = models.ForeignKey(ChecklistTemplate, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField(_("position"), default=0)
    category = models.CharField(_("category"), max_length=16, choices=Category.choices)
    title = models.CharField(_("condition"), max_length=300)
    days_before_close = models.PositiveIntegerField(_("due days before close"), default=14)

    class Meta:
        ordering = ["template", "position", "id"]

    def __str__(self) -> str:
        return self.title


class Checklist(VersionedModel):
    project = models.OneToOneField("financing.Project", on_delete=models.CASCADE, related_name="closing_checklist",
                                   verbose_name=_("project"))
    template = models.ForeignKey(ChecklistTemplate, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    signed_off_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+", verbose_name=_("signed off by"))
    signed_off_at = models.DateTimeField(_("signed off at"), null=True, blank=True)

    class Meta:
        verbose_name = _("closing checklist")
        verbose_name_plural = _("closing checklists")

    def __str__(self) -> str:
        return f"checklist {self.project_id}"


class ChecklistItem(VersionedModel):
    checklist = models.ForeignKey(Checklist, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField(_("position"), default=0)
    category = models.CharField(_("category"), max_length=16, choices=Category.choices)
    title = models.CharField(_("condition"), max_length=300)
    owner_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="closing_items", verbose_name=_("owner (team member)"))
    owner_contact = models.ForeignKey("parties.Contact", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="closing_items", verbose_name=_("owner (client contact)"))
    due_on = models.DateField(_("due"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=ItemStatus.choices, default=ItemStatus.OPEN)
    waiver_reason = models.TextField(_("waiver reason"), blank=True)
    status_changed_at = models.DateTimeField(_("status changed"), null=True, blank=True)
    status_changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                          on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("checklist item")
        verbose_name_plural = _("checklist items")
        ordering = ["checklist", "position", "id"]
        indexes = [models.Index(fields=["owner_user", "status", "due_on"], name="closing_item_owner_idx")]
        constraints = [models.CheckConstraint(condition=~Q(status="waived") | ~Q(waiver_reason=""),
                                              name="closing_waiver_has_reason")]

    def __str__(self) -> str:
        return self.title


class Evidence(models.Model):
    item = models.ForeignKey(ChecklistItem, on_delete=models.CASCADE, related_name="evidence")
    file_name = models.CharField(_("file name"), max_length=200)
    stored_name = models.CharField(max_length=100, unique=True)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField(_("size"))
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    uploaded_at = models.DateTimeField(_("uploaded"))

    class Meta:
        verbose_name = _("evidence file")
        verbose_name_plural = _("evidence files")
        ordering = ["item", "uploaded_at", "id"]

    def __str__(self) -> str:
        return self.file_name
