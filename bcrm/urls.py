from django.contrib import admin
from django.urls import include, path

from bcrm.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("bcrm.web.urls")),
    path("", include("bcrm.parties.urls")),
    path("", include("bcrm.financing.urls")),
    path("", include("bcrm.engagement.urls")),
]
