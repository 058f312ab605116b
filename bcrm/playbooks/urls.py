from django.urls import path

from bcrm.playbooks import views

app_name = "playbooks"

urlpatterns = [
    path("my-day/", views.my_day, name="my_day"),
    path("my-day/tasks/<int:pk>/complete/", views.task_complete, name="task_complete"),
    path("team-board/", views.team_board, name="team_board"),
    path("team-board/tasks/<int:pk>/assign/", views.task_assign, name="task_assign"),
    path("playbooks/", views.playbook_list, name="playbook_list"),
    path("playbooks/steps/<int:pk>/edit/", views.step_edit, name="step_edit"),
    path("playbooks/steps/<int:pk>/delete/", views.step_delete, name="step_delete"),
    path("playbooks/<str:code>/edit/", views.playbook_edit, name="playbook_edit"),
    path("playbooks/<str:code>/steps/new/", views.step_create, name="step_create"),
    path("tier-policy/", views.tier_policy, name="tier_policy"),
    path("automation/", views.automation, name="automation"),
]
