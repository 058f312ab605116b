"""Forms of the monitoring pages. They parse the filters; the selectors and services decide who may read what."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bcrm.core.errors import InvalidInput
from bcrm.monitoring.choices import TREND_FIGURES, Breakdown, Outcome
from bcrm.monitoring.services import parse_kpi_period
from bcrm.segmentation.choices import Dimension


class DashboardFilter(forms.Form):
    """Team, breakdown, period and the trend's figure. ``teams`` are the teams the user may choose;
    ``all_teams`` whether "All teams" is a choice (roles that see every client)."""

    team = forms.ChoiceField(label=_("Team"), required=False)
    breakdown = forms.ChoiceField(label=_("Breakdown"), choices=Breakdown.choices, required=False)
    period = forms.CharField(label=_("Period"), required=False, max_length=20)
    figure = forms.ChoiceField(label=_("Trend of"), required=False,
                               choices=[(k, v[0]) for k, v in TREND_FIGURES.items()])

    def __init__(self, data: Any, *, teams: list[Any], all_teams: bool, periods: list[str]) -> None:
        super().__init__(data)
        choices: list[tuple[str, Any]] = [("", _("All teams"))] if all_teams else []
        choices += [(str(t.pk), t.name) for t in teams]
        cast(forms.ChoiceField, self.fields["team"]).choices = choices
        self.periods = periods
        self.all_teams = all_teams
        self.teams = teams

    def clean_team(self) -> int | None:
        value = self.cleaned_data.get("team") or ""
        if value:
            return int(value)
        if self.all_teams or not self.teams:
            return None
        return int(self.teams[0].pk)  # a relationship manager reads their (first) own team by default

    def clean_breakdown(self) -> str:
        return self.cleaned_data.get("breakdown") or Breakdown.TIER.value

    def clean_figure(self) -> str:
        return self.cleaned_data.get("figure") or "sla_response"

    def clean_period(self) -> str | None:
        value = (self.cleaned_data.get("period") or "").strip()
        if not value:
            return default_period(self.periods)
        try:
            first, _last = parse_kpi_period(value)
        except InvalidInput as exc:
            raise forms.ValidationError([m for messages in exc.fields.values() for m in messages]) from exc
        return f"{first:%Y-%m}"


def default_period(periods: list[str]) -> str | None:
    """The period the dashboard opens on: the newest stored period that is over (the previous month, usually),
    not the current month, whose figures are partial; the newest stored one when no complete period is stored.
    ``periods`` newest first."""
    current = f"{timezone.localdate():%Y-%m}"
    return next((p for p in periods if p < current), periods[0] if periods else None)


class EffectForm(forms.Form):
    dimension = forms.ChoiceField(label=_("Dimension"), choices=Dimension.choices, required=False)
    outcome = forms.ChoiceField(label=_("Outcome"), choices=Outcome.choices, required=False)
    run = forms.IntegerField(label=_("Run"), required=False, min_value=1)

    def clean_dimension(self) -> str:
        return self.cleaned_data.get("dimension") or Dimension.VALUE.value

    def clean_outcome(self) -> str:
        return self.cleaned_data.get("outcome") or Outcome.NPS.value
