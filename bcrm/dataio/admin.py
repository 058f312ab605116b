from django.contrib import admin

from bcrm.core.admin import ServiceOwnedAdmin
from bcrm.dataio.models import ColumnMapping, ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(ServiceOwnedAdmin):
    real_page = "dataio:home"
    """Read-only: imports are recorded by the importer, not edited by hand."""

    list_display = ("id", "entity", "mode", "status", "file_name", "rows", "created", "updated", "rejected",
                    "user_label", "created_at")
    list_filter = ("entity", "mode", "status", "source")
    search_fields = ("file_name", "file_sha256", "user_label")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ColumnMapping)
class ColumnMappingAdmin(ServiceOwnedAdmin):
    real_page = "dataio:mapping_list"
    list_display = ("name", "entity", "owner", "updated_at")
    list_filter = ("entity",)
