from django.urls import path

from bcrm.engagement import views

app_name = "engagement"

urlpatterns = [
    path("clients/<int:pk>/interactions/new/", views.interaction_create, name="interaction_create"),
    path("interactions/<int:pk>/edit/", views.interaction_edit, name="interaction_edit"),
    path("requests/", views.service_request_list, name="service_request_list"),
    path("clients/<int:pk>/requests/new/", views.service_request_create, name="service_request_create"),
    path("requests/<int:pk>/edit/", views.service_request_edit, name="service_request_edit"),
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/new/", views.task_create, name="task_create"),
    path("tasks/bulk/", views.task_bulk, name="task_bulk"),
    path("clients/<int:pk>/tasks/new/", views.task_create, name="task_create_for_organization"),
    path("tasks/<int:pk>/edit/", views.task_edit, name="task_edit"),
    path("tasks/<int:pk>/done/", views.task_done, name="task_done"),
]
