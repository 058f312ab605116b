from django.urls import path

from bcrm.privacy import views

app_name = "privacy"

urlpatterns = [
    path("privacy/", views.privacy_page, name="page"),
    path("privacy/contacts/<int:pk>/export/", views.export, name="export"),
    path("privacy/contacts/<int:pk>/erase/", views.erase, name="erase"),
    path("privacy/contacts/<int:pk>/hold/", views.hold, name="hold"),
    path("privacy/purposes/", views.purpose_add, name="purpose_add"),
    path("privacy/purposes/<slug:code>/active/", views.purpose_active, name="purpose_active"),
]
