from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "bcrm.web"
    verbose_name = "Web"
