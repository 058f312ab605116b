from django.contrib import admin

from bcrm.core.admin import ServiceOwnedAdmin, ServiceOwnedInline
from bcrm.parties.models import Contact, Organization, Tag


class ContactInline(ServiceOwnedInline):
    model = Contact
    extra = 0
    fields = ["full_name", "local_name", "title", "seniority", "email", "is_primary"]


@admin.register(Organization)
class OrganizationAdmin(ServiceOwnedAdmin):
    real_page = "parties:organization_list"
    list_display = ["legal_name", "local_name", "kind", "country", "team", "relationship_manager", "kyc_status"]
    list_filter = ["kind", "kyc_status", "sanctions_flag", "team"]
    search_fields = ["legal_name", "local_name", "external_id"]
    list_select_related = ["team", "relationship_manager"]
    autocomplete_fields = ["relationship_manager"]
    readonly_fields = ["rating_score", "version", "created_at", "updated_at"]
    show_full_result_count = False  # no COUNT(*) over a million rows on every page
    inlines = [ContactInline]


@admin.register(Contact)
class ContactAdmin(ServiceOwnedAdmin):
    real_page = "parties:organization_list"
    list_display = ["full_name", "local_name", "organization", "seniority", "email", "is_primary"]
    search_fields = ["full_name", "local_name", "email"]
    list_select_related = ["organization"]
    raw_id_fields = ["organization"]
    show_full_result_count = False


admin.site.register(Tag)
