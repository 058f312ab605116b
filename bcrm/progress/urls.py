from django.urls import path

from bcrm.progress import views

app_name = "progress"

urlpatterns = [
    # Public: the link in the report e-mail (no login); also the RFC 8058 one-click POST target.
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    # Staff
    path("projects/<int:pk>/progress/", views.project_progress, name="project_progress"),
    path("projects/<int:pk>/progress/report.pdf", views.report_pdf, name="report_pdf"),
    path("projects/<int:pk>/progress/send/", views.report_send, name="report_send"),
    path("projects/<int:pk>/progress/milestones/", views.milestone_add, name="milestone_add"),
    path("progress/milestones/<int:pk>/edit/", views.milestone_edit, name="milestone_edit"),
    path("progress/milestones/<int:pk>/delete/", views.milestone_delete, name="milestone_delete"),
    path("projects/<int:pk>/progress/updates/", views.update_add, name="update_add"),
    path("progress/updates/<int:pk>/edit/", views.update_edit, name="update_edit"),
    path("progress/updates/<int:pk>/delete/", views.update_delete, name="update_delete"),
    path("reports/deliveries/", views.delivery_list, name="delivery_list"),
]
