"""Form pieces every page shares: ModelForms that only parse, and service errors shown inline."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.translation import gettext_lazy as _

from bcrm.core.errors import ServiceError


class DateTimeLocalInput(forms.DateTimeInput):
    """The browser's own date-and-time picker; Django parses its ISO value."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class PersonChoiceField(forms.ModelChoiceField):
    """Users by full name where they have one: people pick colleagues by name, not by login."""

    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.get_username()


def active_users() -> models.QuerySet:
    return get_user_model().objects.filter(is_active=True).order_by("first_name", "last_name", "username")


def service_formfield(field: models.Field, **kwargs: Any) -> forms.Field | None:
    """Model field → form field with the browser's native pickers and short text areas."""
    if isinstance(field, models.DateTimeField):
        kwargs.setdefault("widget", DateTimeLocalInput)
    elif isinstance(field, models.DateField):
        kwargs.setdefault("widget", DateInput)
    elif isinstance(field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    elif isinstance(field, models.TextField):
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3}))
    return field.formfield(**kwargs)


class ServiceModelForm(forms.ModelForm):
    """A ModelForm that parses and type-checks input but leaves the row to the service.

    The service validates (full_clean) and writes, so the form, the API and the importer reject the
    same things with the same messages; the view hands ``service_data()`` to it and shows what it
    refuses with ``add_service_error``. Edit forms carry the ``version`` they were opened at.
    """

    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)

    class Meta:
        # Subclasses write ``class Meta(ServiceModelForm.Meta)`` to keep the native pickers.
        formfield_callback = service_formfield

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["version"].required = True
            self.initial["version"] = self.instance.version
        else:
            del self.fields["version"]

    def _post_clean(self) -> None:
        # No construct_instance()/full_clean() here: the instance stays as read, the service validates.
        pass

    def limit_choices(self, name: str, queryset: models.QuerySet) -> forms.ModelChoiceField:
        """Offer only ``queryset`` for ``name``: rows from a selector, already cut to what the user may see."""
        field = self.fields[name]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = queryset
        return field

    @property
    def expected_version(self) -> int | None:
        return self.cleaned_data.get("version")

    def service_data(self, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        """The model fields of the cleaned data, as the service's ``data`` argument."""
        model_fields = set(self._meta.fields or ())
        return {k: v for k, v in self.cleaned_data.items() if k in model_fields and k not in exclude}


def field_label(form: forms.BaseForm, name: str) -> str:
    if name in form.fields:
        return str(form.fields[name].label or name)
    model = getattr(getattr(form, "_meta", None), "model", None)
    if model is not None:
        try:
            return str(model._meta.get_field(name).verbose_name)
        except FieldDoesNotExist:
            pass
    return name.replace("_", " ")


def add_service_error(form: forms.BaseForm, exc: ServiceError) -> None:
    """Show what a service refused next to the fields it names, the rest above the form."""
    if not exc.fields:
        form.add_error(None, exc.message)
        return
    for name, messages in exc.fields.items():
        for message in messages:
            if name in form.fields:
                form.add_error(name, message)
            elif name == "__all__":
                form.add_error(None, message)
            else:
                form.add_error(None, _("%(field)s: %(message)s") % {"field": field_label(form, name), "message": message})
