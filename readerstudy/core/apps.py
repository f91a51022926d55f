from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "readerstudy.core"
    label = "core"
    verbose_name = "Core"
