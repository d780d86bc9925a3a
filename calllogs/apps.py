from django.apps import AppConfig


class CalllogsConfig(AppConfig):
    name = "calllogs"
    verbose_name = "Calllogs"
