from django.contrib import admin
from django.urls import include, path, re_path

from bcrm.api import api, not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    re_path(r"^api/(?P<rest>.*)$", not_found),  # after the API's routes: a JSON 404, never the HTML page
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
    path("", include("bcrm.plans.urls")),
    path("", include("bcrm.closing.urls")),
    path("", include("bcrm.playbooks.urls")),
    path("", include("bcrm.book.urls")),
    path("", include("bcrm.resources.urls")),
    path("", include("bcrm.progress.urls")),
    path("", include("bcrm.monitoring.urls")),
    path("", include("bcrm.connect.urls")),
    path("", include("bcrm.privacy.urls")),
    path("", include("bcrm.backup.urls")),
]
