from django.urls import path

from bcrm.parties import views

app_name = "parties"

urlpatterns = [
    path("clients/", views.organization_list, name="organization_list"),
    path("clients/bulk/", views.organization_bulk, name="organization_bulk"),
    path("pickers/<slug:kind>/", views.picker, name="picker"),
    path("clients/views/", views.saved_view_create, name="saved_view_create"),
    path("clients/views/<int:pk>/delete/", views.saved_view_delete, name="saved_view_delete"),
    path("clients/new/", views.organization_create, name="organization_create"),
    path("clients/<int:pk>/edit/", views.organization_edit, name="organization_edit"),
    path("clients/<int:pk>/contacts/new/", views.contact_create, name="contact_create"),
    path("contacts/<int:pk>/edit/", views.contact_edit, name="contact_edit"),
]
