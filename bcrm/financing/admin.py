from django.contrib import admin

from bcrm.core.admin import ServiceOwnedAdmin, ServiceOwnedInline
from bcrm.financing.models import ExchangeRate, Participation, ParticipationStatusChange, Project
from bcrm.financing.walls import restrict_projects


class WalledAdmin(ServiceOwnedAdmin):
    """The admin's lists leave out rows on projects behind a wall the user is outside of (``financing.walls``);
    ``wall_field`` leads from the row to its project."""

    wall_field = "project"

    def get_queryset(self, request):
        return restrict_projects(request.user, super().get_queryset(request), self.wall_field)


@admin.register(Project)
class ProjectAdmin(WalledAdmin):
    wall_field = "pk"
    real_page = "financing:project_list"
    list_display = ["name", "local_name", "sector", "country", "stage", "currency", "financing_target"]
    list_filter = ["sector", "stage"]
    search_fields = ["name", "local_name", "external_id"]
    raw_id_fields = ["sponsor"]


class StatusChangeInline(ServiceOwnedInline):
    model = ParticipationStatusChange
    extra = 0
    readonly_fields = ["from_status", "to_status", "changed_at", "changed_by"]


@admin.register(Participation)
class ParticipationAdmin(WalledAdmin):
    real_page = "financing:project_list"
    list_display = ["organization", "project", "role", "tranche", "amount", "currency", "status"]
    list_filter = ["status", "role", "currency"]
    list_select_related = ["organization", "project"]
    raw_id_fields = ["organization", "project"]
    show_full_result_count = False
    inlines = [StatusChangeInline]


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    list_display = ["currency", "quote", "as_of", "rate"]
    list_filter = ["currency", "quote"]
