"""Forms for interactions, service requests and tasks: parse input, hand it to engagement.services."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bcrm.engagement.choices import InteractionKind, TaskStatus
from bcrm.engagement.models import Interaction, ServiceRequest, Task
from bcrm.engagement.selectors import TASK_SORTS
from bcrm.ui.forms import PersonChoiceField, ServiceModelForm, active_users


def this_minute() -> dt.datetime:
    return timezone.now().replace(second=0, microsecond=0)


class InteractionForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = Interaction
        fields = ["kind", "occurred_at", "minutes_spent", "project", "contacts", "summary", "outcome"]
        widgets = {
            "kind": forms.RadioSelect,
            "contacts": forms.CheckboxSelectMultiple,
            "summary": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args: Any, contacts: QuerySet, projects: QuerySet, **kwargs: Any) -> None:
        """``contacts``: the organisation's own people, offered as checkboxes; ``projects``: what it may concern."""
        super().__init__(*args, **kwargs)
        kind = self.fields["kind"]
        assert isinstance(kind, forms.ChoiceField)
        kind.choices = InteractionKind.choices  # no blank "---------" radio button
        self.limit_choices("contacts", contacts)
        self.limit_choices("project", projects).empty_label = _("No particular project")
        self.fields["minutes_spent"].widget.attrs.update({"min": 0, "step": 5})
        if not self.instance.pk:
            self.initial.setdefault("kind", InteractionKind.MEETING)
            self.initial.setdefault("occurred_at", this_minute())

    def service_data(self, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        return super().service_data(exclude=(*exclude, "contacts"))

    @property
    def contacts_present(self) -> list:
        return list(self.cleaned_data.get("contacts") or [])


class ServiceRequestForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = ServiceRequest
        fields = [
            "subject", "description", "priority", "contact", "owner", "opened_at", "first_response_at",
            "resolved_at",
        ]
        field_classes = {"owner": PersonChoiceField}

    def __init__(self, *args: Any, contacts: QuerySet, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_choices("contact", contacts)
        self.limit_choices("owner", active_users())
        if not self.instance.pk:
            # A new request is open: when it is answered and resolved is recorded later, on edit.
            del self.fields["first_response_at"]
            del self.fields["resolved_at"]
            self.initial.setdefault("opened_at", this_minute())


class TaskForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = Task
        fields = ["title", "description", "assignee", "due_at", "status"]
        field_classes = {"assignee": PersonChoiceField}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_choices("assignee", active_users())
        if self.instance.pk and self.instance.title_code:  # a generated title, shown in the reader's language
            self.initial["title"] = self.instance.display_title
        if not self.instance.pk:
            del self.fields["status"]
            tomorrow = timezone.localtime() + dt.timedelta(days=1)
            self.initial.setdefault("due_at", tomorrow.replace(hour=9, minute=0, second=0, microsecond=0))


class TaskFilterForm(forms.Form):
    """My open tasks unless asked otherwise."""

    MINE, EVERYONE = "mine", "all"
    DEFAULTS = {"who": MINE, "status": TaskStatus.OPEN}

    who = forms.ChoiceField(label=_("Assignee"), required=False,
                            choices=[(MINE, _("My tasks")), (EVERYONE, _("Everyone's tasks"))])
    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("Any status"))] + TaskStatus.choices)

    sort = forms.ChoiceField(required=False, choices=[(key, key) for key in TASK_SORTS])

    def selector_filters(self, user: Any) -> dict[str, Any]:
        data = self.cleaned_data
        filters: dict[str, Any] = {"status": data.get("status") or None, "sort": data.get("sort") or None}
        if data.get("who", self.MINE) != self.EVERYONE:
            filters["assignee"] = user.pk
        return filters


class TaskBulkForm(forms.Form):
    """The task list's bulk actions: complete the selected tasks, or give them to a colleague."""

    task = forms.TypedMultipleChoiceField(coerce=int, required=True, choices=())
    action = forms.ChoiceField(choices=[("complete", _("Complete")), ("reassign", _("Reassign"))])
    assignee = PersonChoiceField(label=_("Reassign to"), queryset=active_users(), required=False,
                                 empty_label=_("Choose a colleague"))

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        # any id parses; which tasks the user may change is the service's business
        cast(forms.ChoiceField, self.fields["task"]).choices = [
            (v, v) for v in (data.getlist("task") if data is not None else []) if str(v).isdigit()]
        self.fields["task"].error_messages["required"] = _("Select at least one task.")

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if data.get("action") == "reassign" and not data.get("assignee"):
            self.add_error("assignee", _("Choose a colleague to reassign the tasks to."))
        return data

    def versions(self) -> dict[int, int]:
        """The version each selected row was shown at (``version_<id>``), so a stale row is refused."""
        out = {}
        for pk in self.cleaned_data.get("task", []):
            value = self.data.get(f"version_{pk}", "")
            if str(value).isdigit():
                out[pk] = int(value)
        return out


class ServiceRequestFilterForm(forms.Form):
    """Open requests unless asked otherwise."""

    OPEN, RESOLVED, ALL = "open", "resolved", "all"
    DEFAULTS = {"state": OPEN}

    state = forms.ChoiceField(label=_("State"), required=False, choices=[
        (OPEN, _("Open")), (RESOLVED, _("Resolved")), (ALL, _("All requests")),
    ])

    def selector_filters(self) -> dict[str, Any]:
        state = self.cleaned_data.get("state") or self.OPEN
        return {"open": {self.OPEN: True, self.RESOLVED: False}.get(state)}
