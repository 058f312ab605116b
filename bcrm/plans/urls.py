from django.urls import path

from bcrm.plans import views

app_name = "plans"

urlpatterns = [
    path("plans/", views.plan_list, name="plan_list"),
    path("plans/new/", views.plan_create, name="plan_create"),
    path("plans/<int:pk>/", views.plan_detail, name="plan_detail"),
    path("plans/<int:pk>/terms/", views.plan_revise, name="plan_revise"),
    path("plans/<int:pk>/status/", views.plan_transition, name="plan_transition"),
    path("plans/<int:pk>/send/", views.plan_send, name="plan_send"),
    path("plans/<int:pk>/proposal.<str:fmt>", views.plan_proposal, name="plan_proposal"),
    path("plans/<int:pk>/save-template/", views.template_from_plan, name="template_from_plan"),
    path("plan-templates/<int:pk>/apply/", views.template_apply, name="template_apply"),
]
