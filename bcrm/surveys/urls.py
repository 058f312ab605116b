from django.urls import path

from bcrm.surveys import views

app_name = "surveys"

urlpatterns = [
    # Public: the link in the invitation e-mail (no login). "thanks" comes first: tokens are 43 characters.
    path("s/thanks/", views.thanks, name="thanks"),
    path("s/<str:token>/", views.answer, name="answer"),
    # Staff
    path("surveys/", views.invitation_list, name="invitation_list"),
    path("surveys/send/", views.send, name="send"),
    path("surveys/invitations/<int:pk>/resend/", views.resend, name="resend"),
]
