from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The coordinator console: web pages that run studies through the services."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "readerstudy.console"
