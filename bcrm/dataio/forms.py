"""Forms of the data page: upload a file to preview, save a column mapping."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from bcrm.dataio.choices import Entity
from bcrm.dataio.models import ColumnMapping
from bcrm.dataio.specs import spec_for
from bcrm.ui.widgets import PlainSelect


class UploadForm(forms.Form):
    entity = forms.ChoiceField(label=_("What the file holds"), choices=Entity.choices, widget=PlainSelect)
    file = forms.FileField(label=_("File (CSV or XLSX)"),
                           help_text=_("CSV in UTF-8, GB18030, Big5, Shift-JIS or EUC-KR (comma, semicolon, tab or pipe) "
                                       "or an Excel .xlsx workbook. Headers in English or Chinese."),
                           widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.tsv,.xlsx,.xlsm"}))
    mapping = forms.ModelChoiceField(label=_("Column mapping"), required=False, queryset=ColumnMapping.objects.all(),
                                     empty_label=_("None: match headers by name"), widget=PlainSelect)


class MappingForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    entity = forms.ChoiceField(label=_("For"), choices=Entity.choices, widget=PlainSelect)
    columns = forms.CharField(
        label=_("Columns"), widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text=_("One per line: file header = field name (leave the field empty to ignore the column)."),
    )

    def clean_columns(self) -> dict[str, str]:
        return parse_mapping_lines(self.cleaned_data["columns"])

    def clean(self):
        super().clean()
        data = self.cleaned_data
        columns, entity = data.get("columns"), data.get("entity")
        if columns and entity:
            valid = set(spec_for(entity).names)
            unknown = sorted({f for f in columns.values() if f and f not in valid})
            if unknown:
                self.add_error("columns", _("Not a column of this entity: %(fields)s. Known: %(known)s.")
                               % {"fields": ", ".join(unknown), "known": ", ".join(spec_for(entity).names)})
        return data


class SaveMappingForm(forms.Form):
    name = forms.CharField(label=_("Save these column matches as"), max_length=100)


def parse_mapping_lines(text: str) -> dict[str, str]:
    columns: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        header, sep, field = line.partition("=")
        if not sep or not header.strip():
            raise forms.ValidationError(_("Write each line as: header = field"))
        columns[header.strip()] = field.strip()
    if not columns:
        raise forms.ValidationError(_("Give at least one “file header → field” pair."))
    return columns
