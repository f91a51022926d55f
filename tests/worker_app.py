"""A Celery app for worker tests: the real one, with faults that only test archives trigger.

``celery -A tests.worker_app worker`` runs readerstudy.celery's app and tasks unchanged, so
production code carries no test hooks. With READERSTUDY_TEST_FAULTS=1, a job whose archive name
starts with

- ``fault-dberror-once``  meets an OperationalError once, right after unpacking (a database that
  dropped the connection), as a transient error would;
- ``fault-slow-unpack``   keeps unpacking (with heartbeats, as a large archive would) until a
  file of the archive's name appears in READERSTUDY_TEST_RELEASE_DIR, or for 120 s.

READERSTUDY_TEST_IMPORT_QUEUE, if set, routes the import task (and so its retries and the
sweep's resumptions) to that queue: tests with workers of their own keep them apart.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readerstudy.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.db import OperationalError  # noqa: E402

from readerstudy.celery import app  # noqa: E402
from readerstudy.cohorts import services  # noqa: E402

__all__ = ["app"]

FAULTS = os.environ.get("READERSTUDY_TEST_FAULTS") == "1"
RELEASE_DIR = Path(os.environ.get("READERSTUDY_TEST_RELEASE_DIR", "."))
QUEUE = os.environ.get("READERSTUDY_TEST_IMPORT_QUEUE")

if QUEUE:
    app.conf.task_routes = {
        "readerstudy.cohorts.tasks.import_cohort_archive": {"queue": QUEUE},
        **settings.CELERY_TASK_ROUTES,
    }

_failed_once: set[str] = set()
_real_safe_extract = services._safe_extract
_real_cohort_root = services._cohort_root


def _safe_extract(archive: Path, target: Path, *, shown: str, heartbeat=lambda: None) -> None:
    _real_safe_extract(archive, target, shown=shown, heartbeat=heartbeat)
    if FAULTS and shown.startswith("fault-slow-unpack"):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (RELEASE_DIR / shown).exists():
            heartbeat()
            time.sleep(0.1)


def _cohort_root(extracted: Path, *, shown: str) -> Path:
    if FAULTS and shown.startswith("fault-dberror-once") and shown not in _failed_once:
        _failed_once.add(shown)
        raise OperationalError("injected by tests/worker_app.py: server closed the connection")
    return _real_cohort_root(extracted, shown=shown)


services._safe_extract = _safe_extract
services._cohort_root = _cohort_root


# Model prediction runs (readerstudy.aimodels): a run over a cohort named
#
# - ``fault-predict-dberror-once...``  meets an OperationalError once, before its first chunk;
# - ``fault-predict-slow...``          reports progress (and so sees a cancel request) until a
#   file of the cohort's name appears in READERSTUDY_TEST_RELEASE_DIR, or for 120 s.
from readerstudy.aimodels import services as model_services  # noqa: E402

_real_prediction_work = model_services._prediction_work


def _prediction_work(run, attempt):
    name = run.cohort.name
    if FAULTS and name.startswith("fault-predict-dberror-once") and name not in _failed_once:
        _failed_once.add(name)
        raise OperationalError("injected by tests/worker_app.py: server closed the connection")
    if FAULTS and name.startswith("fault-predict-slow"):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (RELEASE_DIR / name).exists():
            attempt.report(0.01, "slow test chunk")
            time.sleep(0.1)
    return _real_prediction_work(run, attempt)


model_services._prediction_work = _prediction_work
