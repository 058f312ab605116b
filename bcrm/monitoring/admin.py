"""Admin views of the monitoring app: read-only logs (snapshot runs, management report deliveries) and the
monthly schedule switch. Snapshots are written by the service only."""

from django.contrib import admin

from bcrm.monitoring.models import ManagementReportDelivery, SnapshotRun, SnapshotSchedule


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SnapshotRun)
class SnapshotRunAdmin(ReadOnlyAdmin):
    list_display = ["period", "status", "trigger", "started_at", "duration_ms", "rows", "created_by"]
    list_filter = ["status", "trigger", "period"]


@admin.register(ManagementReportDelivery)
class ManagementReportDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["period", "email", "status", "attempts", "trigger", "languages", "queued_at", "sent_at"]
    list_filter = ["status", "period", "trigger"]
    search_fields = ["email"]


@admin.register(SnapshotSchedule)
class SnapshotScheduleAdmin(admin.ModelAdmin):
    list_display = ["key", "last_period", "enabled"]
    readonly_fields = ["key", "last_period"]

    def has_add_permission(self, request):
        return False
