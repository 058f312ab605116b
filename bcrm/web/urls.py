from django.contrib.auth import views as auth_views
from django.urls import path

from bcrm.web import client, views

# No namespace: settings name these directly (LOGIN_URL, LOGIN_REDIRECT_URL, LOGOUT_REDIRECT_URL).
urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    # the 360° client page composes many apps, so it is web's; its path stays under the client list's
    path("clients/<int:pk>/", client.client_detail, name="client_detail"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="web/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
