from django.contrib import admin

from bcrm.financing.admin import WalledAdmin
from bcrm.progress.models import Milestone, ProjectUpdate, ReportDelivery


@admin.register(Milestone)
class MilestoneAdmin(WalledAdmin):
    real_page = "financing:project_list"
    list_display = ["project", "name", "local_name", "due_on", "completed_on", "position"]
    raw_id_fields = ["project"]
    search_fields = ["name", "local_name", "project__name"]


@admin.register(ProjectUpdate)
class ProjectUpdateAdmin(WalledAdmin):
    real_page = "financing:project_list"
    list_display = ["project", "written_at", "author", "language"]
    raw_id_fields = ["project", "author"]
    list_filter = ["language"]


@admin.register(ReportDelivery)
class ReportDeliveryAdmin(WalledAdmin):
    real_page = "progress:delivery_list"
    """Read-only: deliveries are written by the sending service, never by hand (at most once)."""

    list_display = ["key", "email", "status", "attempts", "queued_at", "sent_at"]
    list_filter = ["status", "period", "language"]
    search_fields = ["email", "key"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
