from django.urls import path

from bcrm.dataio import views

app_name = "dataio"

urlpatterns = [
    path("data/", views.data_home, name="home"),
    path("data/imports/<int:pk>/", views.job_detail, name="job_detail"),
    path("data/imports/<int:pk>/rerun/", views.job_rerun, name="job_rerun"),
    path("data/imports/<int:pk>/delete/", views.job_delete, name="job_delete"),
    path("data/imports/<int:pk>/errors/", views.job_errors, name="job_errors"),
    path("data/imports/<int:pk>/mapping/", views.job_save_mapping, name="job_save_mapping"),
    path("data/mappings/", views.mapping_list, name="mapping_list"),
    path("data/mappings/<int:pk>/delete/", views.mapping_delete, name="mapping_delete"),
    path("data/export/<str:entity>/", views.export, name="export"),
]
