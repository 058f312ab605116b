"""Forms of the plan pages: they parse; the services decide."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from bcrm.financing.models import Project
from bcrm.parties.models import Organization
from bcrm.plans.models import PlanStatus, PlanVersion
from bcrm.plans.terms import TERM_FIELDS
from bcrm.ui.forms import ServiceModelForm


class TermsForm(ServiceModelForm):
    """The terms of a new plan or of its next version, with why they change."""

    reason = forms.CharField(label=_("Why"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("Recorded with the version: what changed and why."))

    plan_version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)

    class Meta(ServiceModelForm.Meta):
        model = PlanVersion
        fields = list(TERM_FIELDS)

    def terms(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if k in TERM_FIELDS}


class NewPlanForm(TermsForm):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none(), label=_("Client"))
    project = forms.ModelChoiceField(queryset=Project.objects.none(), label=_("Project"))
    tranche = forms.CharField(label=_("Tranche"), required=False, max_length=60)

    field_order = ["organization", "project", "tranche"]

    def __init__(self, *args, organizations, projects, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit_choices("organization", organizations)
        self.limit_choices("project", projects)


class TransitionForm(forms.Form):
    to = forms.ChoiceField(choices=PlanStatus.choices)
    note = forms.CharField(required=False, max_length=2000)
    version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
