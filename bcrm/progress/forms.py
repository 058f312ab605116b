"""Forms of the progress pages: they parse; services validate and write."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from bcrm.parties.choices import Language
from bcrm.progress.models import DeliveryStatus, Milestone, ProjectUpdate
from bcrm.progress.periods import PERIOD_RE
from bcrm.ui.forms import ServiceModelForm

PERIOD_HELP = _("A month, YYYY-MM.")


class PeriodField(forms.RegexField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Period"))
        kwargs.setdefault("help_text", PERIOD_HELP)
        kwargs.setdefault("error_messages", {"invalid": _("Write the period as a month, YYYY-MM, e.g. 2026-04.")})
        kwargs.setdefault("widget", forms.TextInput(attrs={"placeholder": "YYYY-MM", "inputmode": "numeric",
                                                           "pattern": r"\d{4}-\d{2}", "size": 8}))
        super().__init__(PERIOD_RE, **kwargs)


class ReportForm(forms.Form):
    period = PeriodField()
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)


class SendForm(forms.Form):
    period = PeriodField()
    confirm = forms.BooleanField(label=_("Yes, e-mail the report to every consenting contact"), required=True)


class MilestoneForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = Milestone
        fields = ["name", "local_name", "due_on", "completed_on", "position"]


class UpdateForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = ProjectUpdate
        fields = ["body", "language", "written_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["written_at"].required = False
        self.fields["written_at"].help_text = _("Empty: now.")


class DeliveryFilterForm(forms.Form):
    project = forms.IntegerField(label=_("Project"), required=False, widget=forms.HiddenInput)
    period = PeriodField(required=False, help_text="")
    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("All statuses")), *DeliveryStatus.choices])
