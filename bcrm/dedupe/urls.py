from django.urls import path

from bcrm.dedupe import views

app_name = "dedupe"

urlpatterns = [
    path("duplicates/", views.candidate_list, name="candidate_list"),
    path("duplicates/merge/", views.merge, name="merge"),
    path("duplicates/dismiss/", views.dismiss, name="dismiss"),
    path("duplicates/scan/", views.scan, name="scan"),
]
