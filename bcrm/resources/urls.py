from django.urls import path

from bcrm.resources import views as resource_views

app_name = "resource"

urlpatterns = [
    path("resource-plan/", resource_views.resource_plan, name="plan"),
    path("calendars/", resource_views.calendar_list, name="calendars"),
]
