"""Celery application.

Habits taken from grand-challenge.org: late acknowledgement (a task lost with its worker is
redelivered), one queue per kind of resource, retries only on named transient errors (set per
task), and tasks that are idempotent so a redelivery is harmless.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readerstudy.settings")

app = Celery("readerstudy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
