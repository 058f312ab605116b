"""The Django admin of the playbooks app: where working calendars and their days are edited (through the
calendar services); the rest is read-only here and edited on bcrm's own pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from bcrm.core.admin import ServiceOwnedAdmin, ServiceOwnedInline
from bcrm.core.errors import InvalidInput
from bcrm.playbooks import calendars
from bcrm.playbooks.models import (
    AutomationRun,
    AutomationSchedule,
    CalendarDay,
    ClientTier,
    Playbook,
    PlaybookStep,
    TeamCalendar,
    TierPolicy,
    WorkCalendar,
)


@admin.register(TierPolicy)
class TierPolicyAdmin(ServiceOwnedAdmin):
    real_page = "playbooks:tier_policy"
    list_display = ["version", "is_active", "note", "created_by", "created_at"]
    list_filter = ["is_active"]
    readonly_fields = ["created_at"]


class PlaybookStepInline(ServiceOwnedInline):
    model = PlaybookStep
    extra = 0
    fields = ["position", "action", "trigger", "cadence_count", "cadence_unit", "channel", "owner_rule", "hours",
              "lead_days", "only_dimension", "only_label", "is_active", "phase_in_days", "phase_in_from"]


@admin.register(Playbook)
class PlaybookAdmin(ServiceOwnedAdmin):
    real_page = "playbooks:playbook_list"
    list_display = ["code", "response_sla_hours", "resolution_sla_hours", "is_active"]
    inlines = [PlaybookStepInline]


@admin.register(PlaybookStep)
class PlaybookStepAdmin(ServiceOwnedAdmin):
    real_page = "playbooks:playbook_list"
    list_display = ["playbook", "position", "action", "trigger", "cadence_count", "cadence_unit", "hours",
                    "owner_rule", "is_active"]
    list_filter = ["playbook", "action", "is_active"]
    list_select_related = ["playbook"]


class CalendarEditing:
    """Calendars are edited here by hand, through the services of :mod:`bcrm.playbooks.calendars` (the rule of
    who may, validation, row lock, audit), as the `bcrm calendar` command does: staff with the model permission
    who are also a team lead or an administrator."""

    def has_add_permission(self, request, *args: Any) -> bool:
        allowed = super().has_add_permission(request, *args)  # type: ignore[misc]
        return bool(allowed) and calendars.can_edit_calendars(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)  # type: ignore[misc]
        return bool(allowed) and calendars.can_edit_calendars(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        allowed = super().has_delete_permission(request, obj)  # type: ignore[misc]
        return bool(allowed) and calendars.can_edit_calendars(request.user)


class WorkCalendarForm(forms.ModelForm):
    """The service's checks of the weekend days and the time zone, as field errors on the admin's form."""

    class Meta:
        model = WorkCalendar
        fields = ["name", "timezone", "day_start", "day_end", "weekend", "country", "is_default"]

    def _checked(self, name: str, check) -> Any:
        value = self.cleaned_data.get(name)
        try:
            check(value)
        except InvalidInput as exc:
            raise forms.ValidationError([m for messages in exc.fields.values() for m in messages] or exc.message) from exc
        return value

    def clean_weekend(self) -> Any:
        return self._checked("weekend", calendars.parse_weekend)

    def clean_timezone(self) -> Any:
        return self._checked("timezone", calendars.check_time_zone)


class CalendarDayInline(CalendarEditing, admin.TabularInline):
    model = CalendarDay
    extra = 1
    fields = ["date", "kind", "name"]
    ordering = ["-date"]


@admin.register(WorkCalendar)
class WorkCalendarAdmin(CalendarEditing, admin.ModelAdmin):
    form = WorkCalendarForm
    list_display = ["name", "timezone", "day_start", "day_end", "weekend", "country", "is_default"]
    inlines = [CalendarDayInline]

    def save_model(self, request, obj, form, change) -> None:
        calendars.calendar_save(actor=request.user, calendar=obj)

    def delete_model(self, request, obj) -> None:
        calendars.calendar_delete(actor=request.user, calendar=obj)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            calendars.calendar_delete(actor=request.user, calendar=obj)

    def save_formset(self, request, form, formset, change) -> None:
        days = formset.save(commit=False)
        calendars.calendar_days_write(actor=request.user, calendar=form.instance, save=days,
                                      delete=formset.deleted_objects)


@admin.register(CalendarDay)
class CalendarDayAdmin(CalendarEditing, admin.ModelAdmin):
    list_display = ["date", "kind", "name", "calendar"]
    list_filter = ["calendar", "kind"]
    list_select_related = ["calendar"]
    date_hierarchy = "date"

    def save_model(self, request, obj, form, change) -> None:
        calendars.calendar_days_write(actor=request.user, calendar=obj.calendar, save=[obj])

    def delete_model(self, request, obj) -> None:
        calendars.calendar_days_write(actor=request.user, calendar=obj.calendar, delete=[obj])

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset.select_related("calendar"):
            calendars.calendar_days_write(actor=request.user, calendar=obj.calendar, delete=[obj])


@admin.register(TeamCalendar)
class TeamCalendarAdmin(CalendarEditing, admin.ModelAdmin):
    list_display = ["team", "calendar"]
    list_select_related = ["team", "calendar"]

    def save_model(self, request, obj, form, change) -> None:
        calendars.team_calendar_set(actor=request.user, team=obj.team, calendar=obj.calendar)

    def delete_model(self, request, obj) -> None:
        calendars.team_calendar_clear(actor=request.user, team=obj.team)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset.select_related("team"):
            calendars.team_calendar_clear(actor=request.user, team=obj.team)


@admin.register(ClientTier)
class ClientTierAdmin(ServiceOwnedAdmin):
    real_page = "playbooks:tier_policy"
    list_display = ["organization", "tier", "addons", "policy_version", "since"]
    list_filter = ["tier"]
    list_select_related = ["organization"]
    raw_id_fields = ["organization"]
    show_full_result_count = False


@admin.register(AutomationRun)
class AutomationRunAdmin(ServiceOwnedAdmin):
    real_page = "playbooks:automation"
    list_display = ["started_at", "as_of", "status", "dry_run", "trigger", "duration_ms"]
    list_filter = ["status", "dry_run"]
    readonly_fields = [f.name for f in AutomationRun._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(AutomationSchedule)
class AutomationScheduleAdmin(admin.ModelAdmin):
    list_display = ["key", "last_day", "hour", "enabled"]
