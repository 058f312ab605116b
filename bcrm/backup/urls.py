from django.urls import path

from bcrm.backup import views

app_name = "backup"

urlpatterns = [
    path("audit/", views.audit_page, name="audit"),
    path("audit/check/", views.audit_check, name="audit_check"),
    path("audit/backup/", views.backup_take, name="backup_take"),
]
