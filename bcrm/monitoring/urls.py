from django.urls import path

from bcrm.monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/compute/", views.compute, name="compute"),
    path("dashboard/effect/", views.effect, name="effect"),
    path("dashboard/report/", views.management_report, name="management_report"),
]
