from django.contrib import admin

from bcrm.core.admin import ServiceOwnedAdmin
from bcrm.engagement.models import Interaction, ServiceRequest, SurveyResponse, Task
from bcrm.financing.admin import WalledAdmin


@admin.register(Interaction)
class InteractionAdmin(WalledAdmin):
    real_page = "parties:organization_list"
    list_display = ["occurred_at", "kind", "organization", "owner", "minutes_spent"]
    list_filter = ["kind"]
    list_select_related = ["organization", "owner"]
    raw_id_fields = ["organization", "project", "contacts"]
    show_full_result_count = False


@admin.register(ServiceRequest)
class ServiceRequestAdmin(ServiceOwnedAdmin):
    real_page = "engagement:service_request_list"
    list_display = ["subject", "organization", "priority", "opened_at", "first_response_at", "resolved_at"]
    list_filter = ["priority"]
    list_select_related = ["organization"]
    raw_id_fields = ["organization", "contact"]
    show_full_result_count = False


@admin.register(Task)
class TaskAdmin(WalledAdmin):
    wall_field = "participation__project"
    real_page = "engagement:task_list"
    list_display = ["title", "assignee", "organization", "due_at", "status", "source"]
    list_filter = ["status", "source"]
    list_select_related = ["organization", "assignee"]
    raw_id_fields = ["organization"]
    show_full_result_count = False


@admin.register(SurveyResponse)
class SurveyResponseAdmin(ServiceOwnedAdmin):
    real_page = "surveys:invitation_list"
    list_display = ["responded_at", "organization", "contact", "nps", "csat"]
    list_select_related = ["organization", "contact"]
    raw_id_fields = ["organization", "contact"]
    show_full_result_count = False
