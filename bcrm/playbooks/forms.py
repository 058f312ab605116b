"""Forms of the playbook pages. They parse; the services validate and write (so the API and the pages refuse
the same things with the same messages)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from bcrm.engagement.choices import InteractionKind
from bcrm.playbooks.choices import AddOn
from bcrm.playbooks.models import Playbook, PlaybookStep
from bcrm.playbooks.policy import ANY_DIMENSION
from bcrm.segmentation.choices import INSUFFICIENT, Dimension, label_display, labels_for
from bcrm.ui.forms import PersonChoiceField, ServiceModelForm


class TaskCompleteForm(forms.Form):
    """What the person did: minutes, a summary, the outcome and, where there is a choice, the kind."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)
    kind = forms.ChoiceField(label=_("What was it"), required=False)
    minutes = forms.IntegerField(label=_("Minutes spent"), required=False, min_value=0, max_value=7 * 24 * 60)
    summary = forms.CharField(label=_("Summary"), required=False, max_length=5000,
                              widget=forms.Textarea(attrs={"rows": 2}))
    outcome = forms.CharField(label=_("Outcome"), required=False, max_length=5000,
                              widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, kinds: tuple[str, ...] = (), default_minutes: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = dict(InteractionKind.choices)
        self.logs_interaction = bool(kinds)
        if not kinds:
            for name in ("kind", "minutes", "summary", "outcome"):
                del self.fields[name]
            return
        kind = self.fields["kind"]
        assert isinstance(kind, forms.ChoiceField)
        kind.choices = [(k, names.get(k, k)) for k in kinds]
        self.fields["kind"].initial = kinds[0]
        if len(kinds) == 1:
            self.fields["kind"].widget = forms.HiddenInput()
        if default_minutes is not None:
            self.fields["minutes"].widget.attrs["placeholder"] = str(default_minutes)
            self.fields["minutes"].help_text = _("Leave empty for the planned %(n)s minutes.") % {"n": default_minutes}


class TaskAssignForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)
    assignee = PersonChoiceField(label=_("Assign to"), queryset=None)

    def __init__(self, *args: Any, members=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["assignee"]).queryset = members


class PlaybookForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = Playbook
        fields = ["description", "response_sla_hours", "resolution_sla_hours", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # a shipped description in the reader's language (kept as shipped unless edited)
            self.initial["description"] = self.instance.display_description
        if not self.instance.is_tier:
            del self.fields["response_sla_hours"]
            del self.fields["resolution_sla_hours"]


class StepForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = PlaybookStep
        fields = ["action", "trigger", "cadence_count", "cadence_unit", "channel", "owner_rule", "hours",
                  "lead_days", "only_dimension", "only_label", "position", "is_active", "phase_in_days",
                  "phase_in_from"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        only_label = self.fields["only_label"]
        assert isinstance(only_label, forms.ChoiceField)
        only_label.choices = [("", "—"), *condition_label_choices()]
        self.fields["position"].required = False
        self.fields["phase_in_days"].required = False  # empty: no phase-in

    def clean_phase_in_days(self) -> int:
        return self.cleaned_data.get("phase_in_days") or 0


def condition_label_choices() -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for dimension in Dimension.values:
        for code in labels_for(dimension):
            seen.setdefault(code, label_display(dimension, code) if code != "high" else str(_("High")))
    return list(seen.items())


def condition_choices(*, with_insufficient: bool) -> list[tuple[str, str]]:
    """``dimension:label`` choices, each in words; optionally "insufficient data on any dimension"."""
    choices = []
    for dimension in Dimension.values:
        for code in labels_for(dimension):
            if code == INSUFFICIENT and not with_insufficient:
                continue
            choices.append((f"{dimension}:{code}", f"{Dimension(dimension).label}: {label_display(dimension, code)}"))
    if with_insufficient:
        choices.append((f"{ANY_DIMENSION}:{INSUFFICIENT}", str(_("Insufficient data on any dimension"))))
    return choices


class TierPolicyForm(forms.Form):
    """The rules as checkboxes: which labels earn the dedicated tier (any or all of them), and which labels
    bring each add-on."""

    base_version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    dedicated = forms.MultipleChoiceField(label=_("Labels that earn the dedicated tier"),
                                          widget=forms.CheckboxSelectMultiple, required=False)
    match = forms.ChoiceField(label=_("A client needs"), widget=forms.RadioSelect,
                              choices=[("any", _("any of these labels")), ("all", _("all of these labels"))])
    note = forms.CharField(label=_("What changed and why"), required=False, max_length=300)

    def __init__(self, *args: Any, rules: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        dedicated = self.fields["dedicated"]
        assert isinstance(dedicated, forms.ChoiceField)
        dedicated.choices = condition_choices(with_insufficient=False)
        for code, name in AddOn.choices:
            self.fields[f"addon_{code}"] = forms.MultipleChoiceField(
                label=_("%(addon)s when the client has") % {"addon": name}, widget=forms.CheckboxSelectMultiple,
                required=False, choices=condition_choices(with_insufficient=True))
        self.order_fields(["base_version", "dedicated", "match", *(f"addon_{c}" for c in AddOn.values), "note"])
        if rules is not None and not self.is_bound:
            self.initial.update(self.initial_from(rules))

    @staticmethod
    def initial_from(rules: dict[str, Any]) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "dedicated": [f"{d}:{lab}" for d, lab in rules["dedicated"]["when"]],
            "match": rules["dedicated"].get("match", "any"),
        }
        for code in AddOn.values:
            initial[f"addon_{code}"] = [f"{a['when'][0]}:{a['when'][1]}" for a in rules["addons"] if a["addon"] == code]
        return initial

    @property
    def addon_fields(self) -> list:
        return [self[f"addon_{code}"] for code in AddOn.values]

    def rules(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "dedicated": {"match": data["match"], "when": [c.split(":", 1) for c in data["dedicated"]]},
            "addons": [{"addon": code, "when": c.split(":", 1)}
                       for code in AddOn.values for c in data.get(f"addon_{code}", [])],
        }

    # the service names rule paths ("dedicated.when.0", "addons.2.when"); map them onto the fields
    def field_for_path(self, path: str) -> str | None:
        if path.startswith("dedicated.match"):
            return "match"
        if path.startswith("dedicated"):
            return "dedicated"
        if path.startswith("addons."):
            try:
                index = int(path.split(".")[1])
                return f"addon_{self.rules()['addons'][index]['addon']}"
            except (ValueError, IndexError, KeyError):
                return None
        return None
