from django.urls import path

from bcrm.dataquality import views as quality_views

app_name = "quality"

urlpatterns = [
    path("data-quality/", quality_views.quality_page, name="page"),
    path("data-quality/export.csv", quality_views.quality_export, name="export"),
]
