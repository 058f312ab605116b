from django.urls import path

from bcrm.financing import views

app_name = "financing"

urlpatterns = [
    path("projects/", views.project_list, name="project_list"),
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<int:pk>/", views.project_detail, name="project_detail"),
    path("projects/<int:pk>/edit/", views.project_edit, name="project_edit"),
    path("projects/<int:pk>/wall/", views.project_wall, name="project_wall"),
    path("compliance/walls/", views.wall_register, name="wall_register"),
    path("projects/<int:pk>/participations/new/", views.participation_create_for_project,
         name="participation_create_for_project"),
    path("clients/<int:pk>/participations/new/", views.participation_create_for_organization,
         name="participation_create_for_organization"),
    path("participations/<int:pk>/edit/", views.participation_edit, name="participation_edit"),
]
