from django.urls import path

from bcrm.intel import views

app_name = "intel"

urlpatterns = [
    path("me/accounts/", views.accounts, name="accounts"),
    path("me/accounts/do/", views.account_action, name="account_action"),
    path("contacts/suggestions/", views.suggestions, name="suggestions"),
    path("contacts/suggestions/<int:pk>/", views.suggestion_decide, name="suggestion_decide"),
    path("interactions/<int:pk>/mail/", views.interaction_mail, name="interaction_mail"),
]
