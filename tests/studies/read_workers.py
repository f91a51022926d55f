"""Child-process side of the read concurrency test: a fresh Django on the test database.

Kept apart from the test module so that a spawned child imports no Django model before
``django.setup()``.
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any


def submit_one(job: dict[str, Any]) -> dict[str, Any]:
    """Run one read_submit and describe its outcome; exceptions are reported, never raised."""
    from readerstudy.accounts.models import User
    from readerstudy.cohorts.models import Node
    from readerstudy.studies import services
    from readerstudy.studies.models import ReadingArm

    outcome: dict[str, Any] = {"label": job["label"], "key": job["key"]}
    try:
        read, changed = services.read_submit(
            reader=User.objects.get(pk=job["reader_id"]),
            arm=ReadingArm.objects.get(pk=job["arm_id"]),
            node=Node.objects.get(pk=job["node_id"]),
            call=job["call"],
            confidence=job["confidence"],
            signs=job["signs"],
            active_seconds=job["active_seconds"],
            idempotency_key=uuid.UUID(job["key"]),
        )
        outcome.update(read_id=read.pk, changed=changed, error=None)
    except Exception as exc:  # noqa: BLE001 - the test asserts that none reaches a caller
        outcome.update(read_id=None, changed=None, error=f"{type(exc).__name__}: {exc}")
    return outcome


def run_thread_jobs(jobs: list[dict[str, Any]], barrier, results: list) -> None:
    from django.db import connection

    try:
        barrier.wait(timeout=60)
        for job in jobs:
            results.append(submit_one(job))
    finally:
        connection.close()


def run_process(database_url: str, per_thread_jobs: list[list[dict]], barrier, queue) -> None:
    """Entry point of one spawned process: its threads start together with every other's."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "readerstudy.settings"
    import django

    django.setup()
    results: list[dict] = []
    threads = [
        threading.Thread(target=run_thread_jobs, args=(jobs, barrier, results))
        for jobs in per_thread_jobs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(results)
