"""Forms for the organisation and contact pages: parse input, hand it to parties.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from bcrm.accounts.choices import Role
from bcrm.parties.models import Contact, Organization
from bcrm.parties.services import tag_names
from bcrm.ui.forms import PersonChoiceField, ServiceModelForm


class OrganizationForm(ServiceModelForm):
    tags = forms.CharField(
        label=_("Tags"), required=False, max_length=1000, help_text=_("Separate tags with commas.")
    )

    class Meta(ServiceModelForm.Meta):
        model = Organization
        fields = [
            "legal_name", "local_name", "kind", "country", "sector", "website", "rating_agency", "rating_grade",
            "kyc_status", "kyc_expires_on", "sanctions_flag", "relationship_since", "team",
            "relationship_manager", "external_id", "notes",
        ]
        field_classes = {"relationship_manager": PersonChoiceField}

    field_order = [*Meta.fields[:-1], "tags", "notes"]

    def __init__(self, *args: Any, show_compliance: bool, compliance_only: bool = False, **kwargs: Any) -> None:
        """``show_compliance``: the KYC/sanctions fields are there at all; ``compliance_only``: nothing else is."""
        super().__init__(*args, **kwargs)
        self.compliance_only = compliance_only
        if compliance_only:
            for name in list(self.fields):
                if name not in Organization.COMPLIANCE_FIELDS and name != "version":
                    del self.fields[name]
            return
        if not show_compliance:
            for name in Organization.COMPLIANCE_FIELDS:
                del self.fields[name]
        self.limit_choices("relationship_manager", (
            get_user_model().objects.filter(groups__name=Role.RELATIONSHIP_MANAGER, is_active=True)
            .order_by("username")
        ))
        if self.instance.pk and not self.is_bound:
            self.initial["tags"] = ", ".join(tag.name for tag in self.instance.tags.all())

    def tag_names(self) -> list[str] | None:
        """The tags to set, or None to leave them alone (the compliance-only form has none)."""
        if self.compliance_only:
            return None
        return tag_names(self.cleaned_data.get("tags") or "")


class ContactForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = Contact
        fields = [
            "full_name", "local_name", "title", "seniority", "email", "phone", "language", "is_primary",
            "report_consent", "consent_given_at",
        ]
