from django.urls import path

from bcrm.closing import views

app_name = "closing"

urlpatterns = [
    path("projects/<int:pk>/closing/", views.checklist_page, name="checklist"),
    path("projects/<int:pk>/closing/create/", views.checklist_create, name="checklist_create"),
    path("projects/<int:pk>/closing/sign-off/", views.sign_off, name="sign_off"),
    path("closing/items/<int:pk>/status/", views.item_status, name="item_status"),
    path("closing/items/<int:pk>/edit/", views.item_edit, name="item_edit"),
    path("closing/items/<int:pk>/evidence/", views.evidence_upload, name="evidence_upload"),
    path("closing/evidence/<int:pk>/", views.evidence_download, name="evidence_download"),
    path("closing/templates/<str:sector>/", views.template_page, name="template"),
]
