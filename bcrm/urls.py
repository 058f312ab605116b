from django.contrib import admin
from django.urls import include, path

from bcrm.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("bcrm.web.urls")),
    path("", include("bcrm.accounts.urls")),
    path("", include("bcrm.parties.urls")),
    path("", include("bcrm.financing.urls")),
    path("", include("bcrm.engagement.urls")),
    path("", include("bcrm.segmentation.urls")),
    path("", include("bcrm.dataquality.urls")),
    path("", include("bcrm.dataio.urls")),
    path("", include("bcrm.surveys.urls")),
    path("", include("bcrm.dedupe.urls")),
    path("", include("bcrm.intel.urls")),
    path("", include("bcrm.fileanalysis.urls")),
    path("", include("bcrm.playbooks.urls")),
    path("", include("bcrm.resources.urls")),
    path("", include("bcrm.progress.urls")),
    path("", include("bcrm.monitoring.urls")),
]
