"""Forms that parse input for the survey pages; the services decide what is valid."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from bcrm.surveys.models import InvitationStatus
from bcrm.surveys.services import COMMENT_MAX_LENGTH, DEFAULT_EXPIRY_DAYS, MAX_EXPIRY_DAYS, MIN_EXPIRY_DAYS

NPS_CHOICES = [(str(n), str(n)) for n in range(11)]
CSAT_CHOICES = [
    ("1", _("Very dissatisfied")),
    ("2", _("Dissatisfied")),
    ("3", _("Neutral")),
    ("4", _("Satisfied")),
    ("5", _("Very satisfied")),
]


class AnswerForm(forms.Form):
    """The public survey: what the contact fills in. Rendered by hand in the template (big buttons)."""

    nps = forms.ChoiceField(
        label=_("How likely are you to recommend us to a colleague or a partner?"), choices=NPS_CHOICES,
        widget=forms.RadioSelect, error_messages={"required": _("Please choose a score from 0 to 10."),
                                                  "invalid_choice": _("Please choose a score from 0 to 10.")},
    )
    csat = forms.ChoiceField(
        label=_("Overall, how satisfied are you with our service?"), choices=CSAT_CHOICES, required=False,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("The satisfaction score is a whole number from 1 to 5.")},
    )
    comment = forms.CharField(
        label=_("Anything you would like to tell us?"), required=False, max_length=COMMENT_MAX_LENGTH,
        strip=True, widget=forms.Textarea(attrs={"rows": 4, "maxlength": COMMENT_MAX_LENGTH}),
    )


class InvitationFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("Any status"))] + list(InvitationStatus.choices))
    organization: forms.ModelChoiceField = forms.ModelChoiceField(label=_("Client"), required=False, queryset=None,
                                          empty_label=_("All clients"))
    project: forms.ModelChoiceField = forms.ModelChoiceField(label=_("Project"), required=False, queryset=None,
                                     empty_label=_("All projects"))

    def __init__(self, *args: Any, organizations, projects, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["organization"]).queryset = organizations
        cast(forms.ModelChoiceField, self.fields["project"]).queryset = projects

    def selector_filters(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "status": data.get("status") or None,
            "organization": data["organization"].pk if data.get("organization") else None,
            "project": data["project"].pk if data.get("project") else None,
        }


class ContactChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        name = f"{obj.full_name} ({obj.local_name})" if obj.local_name else obj.full_name
        return f"{name} <{obj.email}>" if obj.email else f"{name} — {_('no e-mail')}"


class SendForm(forms.Form):
    """Choose recipients among a client's (or a project's participants') contacts, and the expiry."""

    contacts = ContactChoiceField(label=_("Recipients"), queryset=None, widget=forms.CheckboxSelectMultiple,
                                  required=False)
    project: forms.ModelChoiceField = forms.ModelChoiceField(label=_("About the project"), queryset=None, required=False,
                                     empty_label=_("No particular project"),
                                     help_text=_("Optional: the survey asks about the work on this project."))
    expires_in_days = forms.IntegerField(
        label=_("Link valid for (days)"), initial=DEFAULT_EXPIRY_DAYS, min_value=MIN_EXPIRY_DAYS,
        max_value=MAX_EXPIRY_DAYS,
    )

    def __init__(self, *args: Any, contacts, projects=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["contacts"]).queryset = contacts
        if projects is None:
            del self.fields["project"]
        else:
            cast(forms.ModelChoiceField, self.fields["project"]).queryset = projects
