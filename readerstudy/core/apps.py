from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "readerstudy.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        # Bind @shared_task to our Celery app in every Django process (web and worker).
        from readerstudy.celery import app  # noqa: F401
