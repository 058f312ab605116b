from django.urls import path

from bcrm.connect import views

app_name = "connect"

urlpatterns = [
    path("connections/", views.connections, name="connections"),
    path("connections/feed/new/", views.feed_new, name="feed_new"),
    path("connections/feed/revoke/", views.feed_revoke, name="feed_revoke"),
    path("connections/vcard/export/", views.vcard_export, name="vcard_export"),
    path("connections/vcard/import/", views.vcard_import, name="vcard_import"),
    path("connections/webhooks/new/", views.webhook_new, name="webhook_new"),
    path("connections/webhooks/<int:pk>/toggle/", views.webhook_toggle, name="webhook_toggle"),
    path("connections/webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook_delete"),
    path("feeds/<str:token>.ics", views.feed, name="feed"),
]
