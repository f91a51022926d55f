"""Reader-study platform: Django project, Celery app and the reader-study domain.

The Celery app is loaded with the project (Celery's standard Django layout), so that
``@shared_task`` binds to it whenever Django starts. The Django-free packages (``analysis``,
``inference``, ``synthetic``, ``cohortformat``) live beside this package, not inside it.
"""

from .celery import app as celery_app

__all__ = ["celery_app"]
