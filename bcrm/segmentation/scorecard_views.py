"""The expert risk scorecard page: the points in force, and a new version for compliance."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _

from bcrm.core.errors import Conflict, InvalidInput
from bcrm.parties.choices import KycStatus
from bcrm.segmentation import services
from bcrm.segmentation.models import ExpertScorecard
from bcrm.segmentation.selectors import require_portfolio_view
from bcrm.ui.shortcuts import page

PART_NAMES = {
    "rating": _("Credit rating grade (1 = AAA … 22 = D)"),
    "kyc_state": _("KYC state"),
    "kyc_age_months": _("Months since the last KYC review"),
    "sanctions": _("Sanctions screening"),
    "withdrawn_share": _("Declined or withdrawn share of commitments"),
    "country_risk": _("Country risk category (0 lowest … 7)"),
}


class ScorecardForm(forms.Form):
    base_version = forms.IntegerField(widget=forms.HiddenInput)
    config = forms.CharField(label=_("Points table (JSON)"), widget=forms.Textarea(attrs={"rows": 28, "spellcheck": "false"}))
    note = forms.CharField(label=_("What changed"), max_length=300, required=False)

    def clean_config(self):
        try:
            return json.loads(self.cleaned_data["config"])
        except ValueError as exc:
            raise forms.ValidationError(_("Not valid JSON: %(error)s") % {"error": exc}) from exc


def _rows(config: dict) -> list[dict]:
    """The points table as rows a person reads: part, condition, points."""
    rows = []
    # The conditions' codes in words (KYC states, a sanctions hit or not); the JSON keeps the codes.
    when = {**{code: str(label) for code, label in KycStatus.choices},
            "hit": _("sanctions hit"), "clear": _("no sanctions hit")}
    for part, spec in config.items():
        name = PART_NAMES.get(part, part)
        for band in spec.get("bands", []):
            upper = "…" if band.get("to") is None else band["to"]
            rows.append({"part": name, "when": f"{band['from']} – {upper}", "points": band["points"]})
        for key, points in (spec.get("points") or {}).items():
            rows.append({"part": name, "when": when.get(key, key), "points": points})
        for key in ("hit", "clear"):
            if key in spec:
                rows.append({"part": name, "when": when.get(key, key), "points": spec[key]})
        rows.append({"part": name, "when": _("missing"), "points": spec.get("missing", 0)})
    return rows


@page
def scorecard(request: HttpRequest) -> HttpResponse:
    require_portfolio_view(request.user)
    config, version = services.expert_scorecard_active()
    can_edit = services.can_edit_scorecard(request.user)
    initial = {"base_version": version, "config": json.dumps(config, indent=2, ensure_ascii=False)}
    form = ScorecardForm(initial=initial)
    if request.method == "POST":
        if not can_edit:
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        form = ScorecardForm(request.POST)
        if form.is_valid():
            try:
                row = services.expert_scorecard_save(
                    actor=request.user, config=form.cleaned_data["config"], note=form.cleaned_data["note"],
                    base_version=form.cleaned_data["base_version"])
            except (InvalidInput, Conflict) as exc:
                form.add_error("config", exc.message)
            else:
                messages.success(request, _("Version %(v)s of the expert scorecard is in force from the next run.")
                                 % {"v": row.version})
                return redirect("segmentation:scorecard")
    return render(request, "segmentation/scorecard.html", {
        "rows": _rows(config), "version": version, "form": form, "can_edit": can_edit,
        "history": ExpertScorecard.objects.select_related("created_by")[:20], "dimension": "risk",
    })
