from django.contrib import admin
from django.contrib.contenttypes.models import ContentType

from bcrm.audit.admin import AuditEntryAdmin
from bcrm.audit.models import AuditEntry
from bcrm.core.admin import ServiceOwnedAdmin, ServiceOwnedInline
from bcrm.financing.models import ExchangeRate, Participation, ParticipationStatusChange, Project
from bcrm.financing.walls import hidden_project_ids, restrict_projects


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


class WalledAuditEntryAdmin(AuditEntryAdmin):
    """The audit log's list without the entries on walled projects and their participations (their names are
    in ``object_repr``) for a user outside the wall. The audit app sits below financing, so financing puts
    this in its place (bcrm.audit is loaded first, INSTALLED_APPS)."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        hidden = hidden_project_ids(request.user)
        if not hidden:
            return queryset
        types = ContentType.objects.get_for_models(Project, Participation)
        parts = Participation.objects.filter(project_id__in=hidden).values_list("pk", flat=True)
        return (queryset.exclude(content_type=types[Project], object_id__in=[str(pk) for pk in hidden])
                .exclude(content_type=types[Participation], object_id__in=[str(pk) for pk in parts]))


if admin.site.is_registered(AuditEntry):
    admin.site.unregister(AuditEntry)
admin.site.register(AuditEntry, WalledAuditEntryAdmin)
