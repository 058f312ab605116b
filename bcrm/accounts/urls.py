from django.urls import path

from bcrm.accounts import views

# No namespace, like the sign-in page they follow (bcrm.accounts.twofactor names them).
urlpatterns = [
    path("login/verify/", views.verify, name="two_factor_verify"),
    path("account/two-factor/", views.two_factor, name="two_factor"),
]
