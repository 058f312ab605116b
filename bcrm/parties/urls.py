from django.urls import path

from bcrm.parties import views

app_name = "parties"

urlpatterns = [
    path("clients/", views.organization_list, name="organization_list"),
    path("clients/new/", views.organization_create, name="organization_create"),
    path("clients/<int:pk>/", views.organization_detail, name="organization_detail"),
    path("clients/<int:pk>/edit/", views.organization_edit, name="organization_edit"),
    path("clients/<int:pk>/contacts/new/", views.contact_create, name="contact_create"),
    path("contacts/<int:pk>/edit/", views.contact_edit, name="contact_edit"),
]
