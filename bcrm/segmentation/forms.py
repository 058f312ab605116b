"""Forms of the segmentation pages. They parse; ``criteria.validate_spec`` and the services decide.

The criterion editor is one main form (method, parameters, evidence rules, names, schedule, note) and two
formsets (the score's features, the knock-out rules). Each formset renders blank extra rows, so rows can
be added without script ("Add a feature" re-renders the form with one more; htmx swaps just the form).
What ``validate_spec`` refuses comes back as ``InvalidInput.fields`` paths (``features.0.weight``,
``rules.1.value``, ``params``…) and lands next to the field it names.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bcrm.core.errors import ServiceError
from bcrm.segmentation import services, splits
from bcrm.segmentation.choices import (
    Dimension,
    Direction,
    Schedule,
    Transform,
    label_display,
    lower_label,
    upper_label,
)
from bcrm.segmentation.features import FEATURES
from bcrm.segmentation.scoring import OPS
from bcrm.ui.forms import DateInput

METHOD_NAMES = {
    "fixed": _("Fixed threshold"),
    "top_share": _("Top share of clients"),
    "top_k": _("Top k clients"),
    "pareto": _("Pareto (fewest clients holding share p of the total score)"),
    "natural_break": _("Natural break (least within-class variance)"),
    "capacity": _("Team capacity (hours budget)"),
    "information_gain": _("Information gain against an outcome"),
}
METHOD_SHORT_NAMES = {
    "fixed": _("Fixed threshold"),
    "top_share": _("Top share"),
    "top_k": _("Top k"),
    "pareto": _("Pareto"),
    "natural_break": _("Natural break"),
    "capacity": _("Team capacity"),
    "information_gain": _("Information gain"),
}
PARAM_LABELS = {
    "threshold": (_("Threshold θ"), _("fixed: clients with a score at or above θ")),
    "q": (_("Share q"), _("top share: e.g. 0.2 for the top fifth")),
    "k": (_("Number k"), _("top k: how many clients")),
    "p": (_("Value share p"), _("pareto: e.g. 0.8")),
    "budget": (_("Hours budget"), _("capacity: hours the dedicated team has")),
    "cost": (_("Hours per client"), _("capacity: hours each client costs")),
}
PARAM_NAMES = list(PARAM_LABELS)
EXTRA_FEATURE_ROWS = 2
EXTRA_RULE_ROWS = 1
MAX_ROWS = 40


def method_name(method: str, *, short: bool = True) -> str:
    names = METHOD_SHORT_NAMES if short else METHOD_NAMES
    return str(names.get(method, method))


def params_text(params: dict[str, Any] | None) -> str:
    return ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in (params or {}).items())


def set_choices(form: forms.BaseForm, name: str, choices: Any) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


def feature_choices(blank: str | None = None) -> list[tuple[str, str]]:
    choices = sorted(((name, str(spec.label)) for name, spec in FEATURES.items()), key=lambda c: c[1])
    return ([("", blank)] if blank is not None else []) + choices


class CriterionForm(forms.Form):
    method = forms.ChoiceField(label=_("Split method"))
    threshold = forms.CharField(required=False, max_length=30)
    q = forms.CharField(required=False, max_length=30)
    k = forms.CharField(required=False, max_length=30)
    p = forms.CharField(required=False, max_length=30)
    budget = forms.CharField(required=False, max_length=30)
    cost = forms.CharField(required=False, max_length=30)
    outcome_feature = forms.ChoiceField(label=_("Outcome feature"), required=False,
                                        help_text=_("For the information-gain method: a 0/1 feature."))
    required_features = forms.MultipleChoiceField(label=_("Required features"), required=False,
                                                  widget=forms.CheckboxSelectMultiple,
                                                  help_text=_("Clients missing any of these are “insufficient data”."))
    min_history_months = forms.CharField(label=_("Minimum months of history"), max_length=10,
                                         widget=forms.NumberInput(attrs={"step": "1", "min": "0"}))
    min_completeness = forms.CharField(label=_("Minimum evidence completeness"), max_length=20,
                                       widget=forms.NumberInput(attrs={"step": "any", "min": "0", "max": "1"}),
                                       help_text=_("Share of the score's weight a client must have data for, 0 to 1."))
    hysteresis_margin = forms.CharField(label=_("Hysteresis margin"), max_length=20,
                                        widget=forms.NumberInput(attrs={"step": "any", "min": "0"}),
                                        help_text=_("A client changes class only when its score crosses the line "
                                                    "by more than this."))
    upper_name = forms.CharField(label=_("Upper class name"), required=False, max_length=60)
    lower_name = forms.CharField(label=_("Lower class name"), required=False, max_length=60)
    schedule = forms.ChoiceField(label=_("Re-run schedule"), required=False, choices=Schedule.choices)
    note = forms.CharField(label=_("What changed"), required=False, max_length=300,
                           help_text=_("Saved with the new version, for the version history."))
    base_version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)

    def __init__(self, *args: Any, dimension: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dimension = dimension
        set_choices(self, "method", [(m, method_name(m, short=False)) for m in splits.METHODS])
        set_choices(self, "outcome_feature", feature_choices(blank=str(_("None"))))
        set_choices(self, "required_features", feature_choices())
        for name, (label, help_text) in PARAM_LABELS.items():
            self.fields[name].label = label
            self.fields[name].help_text = help_text
            self.fields[name].widget.attrs.update({"inputmode": "decimal", "data-param": name})
        self.fields["upper_name"].widget.attrs["placeholder"] = label_display(dimension, upper_label(dimension))
        self.fields["lower_name"].widget.attrs["placeholder"] = label_display(dimension, lower_label(dimension))

    def param_fields(self):
        return [self[name] for name in PARAM_NAMES]

    def main_fields(self):
        skip = {"method", "base_version", "note", *PARAM_NAMES}
        return [self[name] for name in self.fields if name not in skip]


class TermForm(forms.Form):
    feature = forms.ChoiceField(label=_("Feature"), required=False)
    transform = forms.ChoiceField(label=_("Transform"), required=False, choices=Transform.choices,
                                  initial=Transform.PCT_RANK)
    direction = forms.ChoiceField(label=_("Direction"), required=False, choices=Direction.choices,
                                  initial=Direction.HIGHER)
    weight = forms.CharField(label=_("Weight"), required=False, max_length=20,
                             widget=forms.NumberInput(attrs={"step": "any", "min": "0"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "feature", feature_choices(blank="—"))


class RuleForm(forms.Form):
    feature = forms.ChoiceField(label=_("Feature"), required=False)
    op = forms.ChoiceField(label=_("Operator"), required=False, choices=[(op, op) for op in OPS])
    value = forms.CharField(label=_("Compared with"), required=False, max_length=30,
                            widget=forms.NumberInput(attrs={"step": "any"}))
    label = forms.ChoiceField(label=_("Puts the client in"), required=False)

    def __init__(self, *args: Any, dimension: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "feature", feature_choices(blank="—"))
        set_choices(self, "label", [("lower", label_display(dimension, lower_label(dimension))),
                                    ("upper", label_display(dimension, upper_label(dimension)))])


TermFormSet = forms.formset_factory(TermForm, extra=EXTRA_FEATURE_ROWS, can_delete=True, max_num=MAX_ROWS,
                                    absolute_max=MAX_ROWS)
RuleFormSet = forms.formset_factory(RuleForm, extra=EXTRA_RULE_ROWS, can_delete=True, max_num=MAX_ROWS,
                                    absolute_max=MAX_ROWS)


def _initial_from(criterion) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "method": criterion.method, "outcome_feature": criterion.outcome_feature,
        "required_features": list(criterion.required_features),
        "min_history_months": criterion.min_history_months, "min_completeness": criterion.min_completeness,
        "hysteresis_margin": criterion.hysteresis_margin, "upper_name": criterion.upper_name,
        "lower_name": criterion.lower_name, "schedule": criterion.schedule, "base_version": criterion.version,
    }
    for name, value in (criterion.params or {}).items():
        if name in PARAM_NAMES:
            initial[name] = f"{value:g}" if isinstance(value, float) else str(value)
    return initial


class CriterionEditor:
    """The main form and the two formsets as one thing a view can bind, check and turn into a spec."""

    def __init__(self, *, dimension: str, criterion=None, data=None, add: str | None = None) -> None:
        self.dimension = dimension
        if data is not None and add in ("features", "rules"):
            data = data.copy()
            key = f"{add}-TOTAL_FORMS"
            try:
                total = int(data.get(key, "0"))
            except ValueError:
                total = MAX_ROWS
            if total < MAX_ROWS:
                data[key] = str(total + 1)
                if add == "features":  # the new blank row starts where an empty extra row starts
                    data.setdefault(f"features-{total}-transform", Transform.PCT_RANK)
                    data.setdefault(f"features-{total}-direction", Direction.HIGHER)
        self.errors: list[str] = []  # messages not tied to one field, shown above the form
        self.term_errors: list[str] = []  # about the features as a whole ("each feature may appear once")
        self.rule_errors: list[str] = []
        if data is None:
            self.form = CriterionForm(dimension=dimension, initial=_initial_from(criterion))
            self.terms = TermFormSet(prefix="features", initial=[
                {k: t.get(k) for k in ("feature", "transform", "direction")} | {"weight": f"{t['weight']:g}"}
                for t in criterion.features])
            self.rules = RuleFormSet(prefix="rules", form_kwargs={"dimension": dimension}, initial=[
                {"feature": r["feature"], "op": r["op"], "value": f"{r['value']:g}", "label": r["label"]}
                for r in criterion.rules])
        else:
            self.form = CriterionForm(data, dimension=dimension)
            self.terms = TermFormSet(data, prefix="features")
            self.rules = RuleFormSet(data, prefix="rules", form_kwargs={"dimension": dimension})
        self._term_rows: list[int] = []
        self._rule_rows: list[int] = []

    def is_valid(self) -> bool:
        ok = self.form.is_valid()
        ok = self.terms.is_valid() and ok
        return self.rules.is_valid() and ok

    @property
    def base_version(self) -> int | None:
        return self.form.cleaned_data.get("base_version")

    @property
    def note(self) -> str:
        return self.form.cleaned_data.get("note") or ""

    def spec(self) -> dict[str, Any]:
        """The criterion as ``validate_spec`` reads it; rows marked removed or left blank are skipped."""
        data = self.form.cleaned_data
        terms, self._term_rows = [], []
        for index, form in enumerate(self.terms.forms):
            row = getattr(form, "cleaned_data", {}) or {}
            if row.get("DELETE") or not (row.get("feature") or row.get("weight")):
                continue
            self._term_rows.append(index)
            terms.append({"feature": row.get("feature") or None, "transform": row.get("transform") or "raw",
                          "direction": row.get("direction") or "higher", "weight": row.get("weight") or ""})
        rules, self._rule_rows = [], []
        for index, rule_form in enumerate(self.rules.forms):
            row = getattr(rule_form, "cleaned_data", {}) or {}
            if row.get("DELETE") or not (row.get("feature") or row.get("value")):
                continue
            self._rule_rows.append(index)
            rules.append({"feature": row.get("feature") or None, "op": row.get("op"), "value": row.get("value"),
                          "label": row.get("label")})
        method = data.get("method")
        declared = splits.PARAMS.get(method or "", {})
        params = {name: data[name].strip() for name in declared if (data.get(name) or "").strip()}
        return {
            "features": terms, "method": method, "params": params, "rules": rules,
            "required_features": list(data.get("required_features") or []),
            "min_history_months": data.get("min_history_months"), "min_completeness": data.get("min_completeness"),
            "hysteresis_margin": data.get("hysteresis_margin"), "upper_name": data.get("upper_name") or "",
            "lower_name": data.get("lower_name") or "", "outcome_feature": data.get("outcome_feature") or "",
            "schedule": data.get("schedule") or "",
        }

    def add_error(self, exc: ServiceError) -> None:
        """Put each message of a refused spec next to the field its path names."""
        self.errors.append(exc.message)
        for path, messages in exc.fields.items():
            for message in messages:
                self._place(path, str(message))

    def _place(self, path: str, message: str) -> None:
        head, _sep, rest = path.partition(".")
        if head in ("features", "rules") and rest:
            index_text, _sep, field = rest.partition(".")
            rows, formset = (self._term_rows, self.terms) if head == "features" else (self._rule_rows, self.rules)
            try:
                form = formset.forms[rows[int(index_text)]]
            except (ValueError, IndexError):
                self.errors.append(message)
                return
            form.add_error(field if field in form.fields else None, message)
        elif head == "features":
            self.term_errors.append(message)
        elif head == "rules":
            self.rule_errors.append(message)
        elif head == "params":
            method = self.form.cleaned_data.get("method") if hasattr(self.form, "cleaned_data") else None
            names = list(splits.PARAMS.get(method or "", {})) or ["method"]
            for name in names[:1]:
                self.form.add_error(name, message)
        elif head in self.form.fields:
            self.form.add_error(head, message)
        else:
            self.errors.append(message)

    @property
    def has_errors(self) -> bool:
        return bool(self.errors or self.form.errors or any(f.errors for f in self.terms.forms)
                    or any(f.errors for f in self.rules.forms) or self.terms.non_form_errors()
                    or self.rules.non_form_errors() or self.term_errors or self.rule_errors)


# --- overrides ------------------------------------------------------------------------------------

def override_choices(user) -> list[tuple[str, list[tuple[str, str]]]]:
    """"dimension:label" choices grouped by dimension, only for dimensions ``user`` may override: one
    select cannot pair a dimension with another dimension's label (value "high" is not risk "high")."""
    groups = []
    for dimension in Dimension.values:
        if services.can_override(user, dimension):
            codes = (upper_label(dimension), lower_label(dimension))
            groups.append((str(Dimension(dimension).label),
                           [(f"{dimension}:{code}", label_display(dimension, code)) for code in codes]))
    return groups


class OverrideForm(forms.Form):
    target = forms.ChoiceField(label=_("New label"))
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    expires_on = forms.DateField(label=_("Until (inclusive)"), widget=DateInput,
                                 help_text=_("At most two years; renew it if it still holds."))

    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"expires_on": timezone.localdate() + dt.timedelta(days=90)})
        super().__init__(*args, **kwargs)
        set_choices(self, "target", override_choices(user))

    @property
    def dimension(self) -> str:
        return self.cleaned_data["target"].split(":", 1)[0]

    @property
    def label(self) -> str:
        return self.cleaned_data["target"].split(":", 1)[1]

    @property
    def expires_at(self) -> dt.datetime:
        """The end of the chosen day (23:59:59), in the display time zone."""
        return timezone.make_aware(dt.datetime.combine(self.cleaned_data["expires_on"], dt.time(23, 59, 59)))


class CompareForm(forms.Form):
    a = forms.TypedChoiceField(label=_("From run"), coerce=int)
    b = forms.TypedChoiceField(label=_("To run"), coerce=int)

    def __init__(self, *args: Any, runs, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(r.pk, run_option_label(r)) for r in runs]
        set_choices(self, "a", choices)
        set_choices(self, "b", choices)


def run_option_label(run) -> str:
    return _("#%(id)s · as of %(as_of)s · run %(date)s · %(method)s · v%(version)s") % {
        "id": run.pk, "as_of": run.as_of.isoformat(),
        "date": timezone.localtime(run.started_at).strftime("%Y-%m-%d %H:%M"),
        "method": run.method, "version": run.criterion.version}
