from django.db import models


class WorkerHeartbeat(models.Model):
    """Written by a Celery worker when it runs the ping task: proof that a worker is alive."""

    marker = models.CharField(max_length=100, unique=True)
    seen_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.marker
