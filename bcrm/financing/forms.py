"""Forms for project and participation pages: parse input, hand it to financing.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from bcrm.financing.choices import ProjectStage
from bcrm.financing.models import Participation, Project
from bcrm.parties.choices import Sector
from bcrm.ui.forms import ServiceModelForm


class ProjectFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100, strip=True)
    sector = forms.ChoiceField(label=_("Sector"), required=False, choices=[("", _("All sectors"))] + Sector.choices)
    stage = forms.ChoiceField(label=_("Stage"), required=False, choices=[("", _("All stages"))] + ProjectStage.choices)


class ProjectForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = Project
        fields = [
            "name", "local_name", "external_id", "sector", "country", "stage", "currency", "total_cost",
            "financing_target", "expected_close", "description",
        ]


class ParticipationForm(ServiceModelForm):
    """One form for three doors: from a client (pick the project), from a project (pick the client), edit.

    The side that is fixed by the page is not a field; the view adds it to the service call.
    """

    class Meta(ServiceModelForm.Meta):
        model = Participation
        fields = [
            "project", "organization", "role", "tranche", "amount", "currency", "status", "probability",
            "fee_income", "notes",
        ]
        widgets = {"organization": forms.RadioSelect}

    def __init__(
        self, *args: Any, projects: QuerySet | None = None, organizations: QuerySet | None = None,
        organization_options: list | None = None, **kwargs: Any,
    ) -> None:
        """``organizations`` validates the choice; ``organization_options`` are the few rows shown.

        A client picker cannot list a million organisations, so it shows search matches only.
        """
        super().__init__(*args, **kwargs)
        if projects is None:
            del self.fields["project"]
        else:
            self.limit_choices("project", projects)
        if organizations is None:
            del self.fields["organization"]
        else:
            field = self.limit_choices("organization", organizations)
            field.widget.choices = [(org.pk, str(org)) for org in organization_options or []]
            field.help_text = _("Search above, then pick the client.")


class WallForm(forms.Form):
    """Raise or lift a project's deal wall (``financing.walls.wall_set_confidential``)."""

    confidential = forms.BooleanField(label=_("Confidential (deal wall)"), required=False)
    reason = forms.CharField(label=_("Reason"), max_length=500, strip=True)


class WallMemberForm(forms.Form):
    """Cross the wall: a user or a team joins the deal team, with the reason (``walls.wall_add_member``)."""

    user: forms.ModelChoiceField = forms.ModelChoiceField(label=_("User"), required=False, queryset=None)
    team: forms.ModelChoiceField = forms.ModelChoiceField(label=_("Team"), required=False, queryset=None)
    reason = forms.CharField(label=_("Reason"), max_length=500, strip=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from django.contrib.auth import get_user_model

        from bcrm.accounts.models import Team

        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")  # type: ignore[attr-defined]
        self.fields["team"].queryset = Team.objects.order_by("name")  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("user")) == bool(data.get("team")):
            raise forms.ValidationError(_("Give a user or a team, not both."))
        return data
