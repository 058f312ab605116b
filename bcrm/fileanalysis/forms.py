"""The analyst tools' form: a file, the tool and the main options of each (the CLI's, by the same names)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from bcrm.fileanalysis.services import max_bytes
from bcrm.segmentation.forms import METHOD_SHORT_NAMES
from bcrm.segmentation.splits import METHODS
from bcrm.ui.forms import DateInput

UNITS = [("day", _("day")), ("week", _("week")), ("month", _("month"))]


def _pairs(text: str) -> list[str]:
    """``q=0.2, k=10`` or one per line → ["q=0.2", "k=10"]."""
    return [item.strip() for item in re.split(r"[,;\n]+", text or "") if item.strip()]


class AnalyseForm(forms.Form):
    file = forms.FileField(label=_("File"), help_text=_("CSV: UTF-8, UTF-8 with BOM or GB18030; the delimiter is detected."))
    tool = forms.ChoiceField(label=_("Tool"), widget=forms.RadioSelect, initial="clv", choices=[
        ("clv", _("Lifetime value (BG/NBD + Gamma-Gamma)")),
        ("scorecard", _("Credit-risk scorecard")),
        ("split", _("Split a column in two")),
        ("bgbb", _("Repeat business at fixed opportunities (BG/BB)")),
    ])
    # split
    column = forms.CharField(label=_("Score column (split)"), required=False, max_length=200)
    method = forms.ChoiceField(label=_("Split method"), required=False,
                               choices=[("", _("Natural break, compared with the others"))]
                               + [(m, METHOD_SHORT_NAMES.get(m, m)) for m in METHODS])
    param = forms.CharField(label=_("Method parameters"), required=False, max_length=500,
                            help_text=_("NAME=VALUE, comma separated, e.g. q=0.2 or budget=400, cost=2.5"))
    outcome = forms.CharField(label=_("Outcome column (0/1, optional)"), required=False, max_length=200)
    # clv
    mode = forms.ChoiceField(label=_("File layout (lifetime value)"), initial="auto", required=False, choices=[
        ("auto", _("Detect")), ("summary", _("One row per customer (frequency, recency, T)")),
        ("transactions", _("One row per purchase (customer, date, amount)"))])
    map = forms.CharField(label=_("Column names"), required=False, max_length=500,
                          help_text=_("NAME=COLUMN, comma separated, e.g. frequency=n_repeat, date=order_date"))
    horizon = forms.IntegerField(label=_("Horizon (months)"), initial=12, min_value=1, max_value=600, required=False)
    discount = forms.FloatField(label=_("Monthly discount rate"), initial=0.01, min_value=0, max_value=0.99,
                                required=False)
    unit = forms.ChoiceField(label=_("Time unit of recency and T"), choices=UNITS, initial="week", required=False)
    period = forms.ChoiceField(label=_("Purchases in one period count once"), choices=UNITS, initial="day",
                               required=False)
    calibration_end = forms.DateField(label=_("Calibration end (transaction log)"), required=False, widget=DateInput,
                                      help_text=_("Fit on purchases up to this date; later ones are the hold-out."))
    # scorecard
    target = forms.CharField(label=_("Target column (scorecard, 1 = bad)"), required=False, max_length=200)
    folds = forms.IntegerField(label=_("Cross-validation folds"), initial=5, min_value=2, max_value=20, required=False)
    min_iv = forms.FloatField(label=_("Minimum information value"), initial=0.02, min_value=0, max_value=10,
                              required=False)
    exclude = forms.CharField(label=_("Leave out columns"), required=False, max_length=500,
                              help_text=_("Comma separated"))
    bad = forms.CharField(label=_("Value of the target that means bad"), required=False, max_length=200,
                          help_text=_("Only when the target is not 0/1, e.g. defaulted"))
    # bgbb
    weights = forms.CharField(label=_("Column of counts (BG/BB, optional)"), required=False, max_length=200,
                              help_text=_("How many clients have each row's history"))
    opportunities = forms.IntegerField(label=_("Opportunities ahead (BG/BB)"), initial=5, min_value=0,
                                       max_value=1000, required=False)
    # reading: what the file cannot tell by itself
    decimal = forms.ChoiceField(label=_("Decimal mark"), required=False, initial="", choices=[
        ("", _("Decide from the file")), (".", _("Point (1.5)")), (",", _("Comma (1,5)"))])
    date_order = forms.ChoiceField(label=_("Dates like 01/02/2024"), required=False, initial="auto", choices=[
        ("auto", _("Decide from each column")), ("dmy", _("Day first (1 February)")),
        ("mdy", _("Month first (2 January)"))])

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        limit = max_bytes()
        if upload is not None and upload.size > limit:
            raise forms.ValidationError(_("The file is larger than %(limit)s MiB.") % {"limit": f"{limit / 1024 / 1024:g}"})
        return upload

    # Which tool each option belongs to: the page shows only the chosen tool's options (CSS :has(), so
    # without it, or without a modern browser, every option is simply shown).
    TOOL_FIELDS = {
        "split": ("column", "method", "param", "outcome"),
        "clv": ("mode", "map", "horizon", "discount", "unit", "period", "calibration_end", "date_order"),
        "scorecard": ("target", "folds", "min_iv", "exclude", "bad"),
        "bgbb": ("weights", "opportunities"),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for tool, names in self.TOOL_FIELDS.items():
            for name in names:
                self.fields[name].widget.attrs["data-tool"] = tool

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        tool = data.get("tool")
        if tool == "split" and not data.get("column"):
            self.add_error("column", _("Name the column holding the scores."))
        if tool == "scorecard" and not data.get("target"):
            self.add_error("target", _("Name the 0/1 outcome column."))
        if tool == "clv" and data.get("calibration_end") and data.get("mode") == "summary":
            self.add_error("calibration_end", _("A calibration end applies to a transaction log."))
        return data

    def options(self) -> dict[str, Any]:
        """The cleaned options of the chosen tool, as :func:`bcrm.fileanalysis.services.analyse_upload` takes them."""
        d = self.cleaned_data
        tool = d["tool"]
        decimal = d.get("decimal") or None
        if tool == "split":
            return {"column": d["column"], "method": d.get("method") or None, "param": _pairs(d.get("param", "")),
                    "outcome": d.get("outcome") or None, "decimal": decimal}
        if tool == "bgbb":
            return {"weights": d.get("weights") or None, "decimal": decimal,
                    "horizon": d["opportunities"] if d.get("opportunities") is not None else 5}
        if tool == "clv":
            end = d.get("calibration_end")
            mode = d.get("mode") or "auto"
            return {"summary": mode == "summary", "transactions": mode == "transactions",
                    "map": _pairs(d.get("map", "")),
                    "horizon": d["horizon"] if d.get("horizon") is not None else 12,
                    "discount": d["discount"] if d.get("discount") is not None else 0.01,
                    "unit": d.get("unit") or "week", "period": d.get("period") or "day",
                    "calibration_end": end.isoformat() if end else None, "decimal": decimal,
                    "dayfirst": None if d.get("date_order") in (None, "", "auto") else d["date_order"] == "dmy"}
        return {"target": d["target"], "folds": d.get("folds") or 5,
                "min_iv": d["min_iv"] if d.get("min_iv") is not None else 0.02,
                "exclude": _pairs(d.get("exclude", "")), "decimal": decimal, "bad": d.get("bad") or None}
