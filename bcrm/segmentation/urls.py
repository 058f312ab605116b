from django.urls import path

from bcrm.segmentation import scorecard_views, views

app_name = "segmentation"

urlpatterns = [
    path("segmentation/", views.index, name="index"),
    path("segmentation/runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("segmentation/overrides/<int:pk>/end/", views.override_end, name="override_end"),
    path("segmentation/clients/<int:pk>/override/", views.override_create, name="override_create"),
    path("segmentation/risk/scorecard/", scorecard_views.scorecard, name="scorecard"),
    path("segmentation/<str:dimension>/", views.overview, name="overview"),
    path("segmentation/<str:dimension>/run/", views.run_now, name="run_now"),
    path("segmentation/<str:dimension>/criterion/", views.criterion_edit, name="criterion"),
    path("segmentation/<str:dimension>/runs/", views.run_list, name="runs"),
    path("segmentation/<str:dimension>/compare/", views.compare, name="compare"),
    path("segmentation/<str:dimension>/overrides/", views.override_list, name="overrides"),
]
