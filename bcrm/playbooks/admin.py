"""The Django admin of the playbooks app: where working calendars and their days are edited."""

from django.contrib import admin

from bcrm.core.admin import ServiceOwnedAdmin, ServiceOwnedInline
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
              "lead_days", "only_dimension", "only_label", "is_active"]


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


class CalendarDayInline(admin.TabularInline):
    model = CalendarDay
    extra = 1
    fields = ["date", "kind", "name"]
    ordering = ["-date"]


@admin.register(WorkCalendar)
class WorkCalendarAdmin(admin.ModelAdmin):
    list_display = ["name", "timezone", "day_start", "day_end", "weekend", "country", "is_default"]
    inlines = [CalendarDayInline]


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ["date", "kind", "name", "calendar"]
    list_filter = ["calendar", "kind"]
    list_select_related = ["calendar"]
    date_hierarchy = "date"


@admin.register(TeamCalendar)
class TeamCalendarAdmin(admin.ModelAdmin):
    list_display = ["team", "calendar"]
    list_select_related = ["team", "calendar"]


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
