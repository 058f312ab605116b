from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "bcrm.demo"
    verbose_name = "Demo portfolio"
