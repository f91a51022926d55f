"""Import jobs on real Celery worker processes over Redis: a transient error, a killed worker.

Faults are injected by tests/worker_app.py (the real app; only archives named ``fault-...``
trigger them), so production code carries no test hooks.
"""

from __future__ import annotations

import io
import os
import signal
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from readerstudy.accounts.models import Role
from readerstudy.cohorts import services, tasks
from readerstudy.cohorts.models import JOB_ENDED, Cohort, CTSlice, ImportJob, JobStatus
from tests.cohort_factory import write_cohort
from tests.conftest import (
    WORKER_MEDIA,
    start_worker,
    stop_worker,
    stored_files,
    wait_for,
    worker_environment,
)

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    # WhiteNoise warns that STATIC_ROOT was never collected: tests serve static files unhashed.
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


def cohort_zip(tmp_path: Path, name: str) -> bytes:
    folder = write_cohort(tmp_path / f"src-{uuid.uuid4().hex[:6]}", name=name)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def work_folders(work_dir: Path, job: ImportJob) -> list[Path]:
    return sorted(Path(work_dir).glob(f"import-{job.pk}-*"))


def test_transient_database_error_is_retried_on_the_worker(
    tmp_path: Path, make_user, celery_worker_process: dict[str, Any], settings
) -> None:
    settings.MEDIA_ROOT = celery_worker_process["media_root"]
    work_dir = celery_worker_process["work_dir"]
    coordinator = make_user(Role.COORDINATOR)
    client = Client()
    client.force_login(coordinator)
    name = f"Retried {uuid.uuid4().hex[:8]}"
    archive = f"fault-dberror-once-{uuid.uuid4().hex[:8]}.zip"
    response = client.post(
        reverse("cohorts:upload"),
        {"archive": SimpleUploadedFile(archive, cohort_zip(tmp_path, name))},
    )
    assert response.status_code == 302
    job = ImportJob.objects.get(created_by=coordinator)

    # Watch the job as the page does; while it waits for its retry, look at what it kept.
    seen: list[str] = []
    while_retrying: list[tuple[bool, list[Path]]] = []

    def finished() -> bool:
        current = ImportJob.objects.get(pk=job.pk)
        seen.append(current.status)
        if current.status == JobStatus.RETRYING:
            kept = bool(current.archive) and default_storage.exists(current.archive.name)
            folders = work_folders(work_dir, job)
            # Counted only if the job was still waiting once they were looked at: the retry may
            # start meanwhile (it is claimed, then makes its work folder).
            still = ImportJob.objects.filter(
                pk=job.pk, status=JobStatus.RETRYING, attempts=current.attempts
            ).exists()
            if still:
                while_retrying.append((kept, folders))
        return current.has_ended and not current.archive  # the worker's last step: tidy up

    wait_for(finished, timeout=120, interval=0.1)

    job.refresh_from_db()
    assert (job.status, job.attempts, job.stage, job.error) == (
        JobStatus.SUCCEEDED,
        2,
        "imported",
        "",
    )
    assert JobStatus.RETRYING in seen, seen
    assert while_retrying and all(kept and folders == [] for kept, folders in while_retrying)
    assert Cohort.objects.filter(name=name).count() == 1
    assert CTSlice.objects.filter(series__patient__cohort__name=name).count() == 16
    assert not job.archive and work_folders(work_dir, job) == []
    assert client.get(reverse("cohorts:api-job", args=[job.pk])).json()["attempts"] == 2
    page = client.get(reverse("cohorts:job", args=[job.pk])).content.decode()
    assert '<span id="job-attempts" class="muted">(attempt 2)</span>' in page


def test_job_of_a_killed_worker_is_resumed_and_leaves_no_files(
    tmp_path: Path, make_user, settings, monkeypatch, record_property
) -> None:
    """SIGKILL a worker while it unpacks an upload: another worker resumes the job."""
    queue = f"imports-kill-{uuid.uuid4().hex[:6]}"
    work_dir = tmp_path / "work"
    stale_after = 4
    env = worker_environment(
        READERSTUDY_TEST_IMPORT_QUEUE=queue,
        COHORT_IMPORT_WORK_DIR=str(work_dir),
        COHORT_IMPORT_STALE_AFTER_SECONDS=str(stale_after),
        COHORT_IMPORT_SWEEP_INTERVAL_SECONDS="1",
    )
    settings.MEDIA_ROOT = WORKER_MEDIA
    WORKER_MEDIA.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(tasks.import_cohort_archive, "delay", lambda *args: None)
    name = f"Killed {uuid.uuid4().hex[:8]}"
    archive = f"fault-slow-unpack-{uuid.uuid4().hex[:8]}.zip"
    job = services.import_job_create(
        user=make_user(Role.COORDINATOR),
        upload=SimpleUploadedFile(archive, cohort_zip(tmp_path, name)),
    )
    archive_file = Path(WORKER_MEDIA) / job.archive.name

    first = start_worker(
        app="tests.worker_app",
        queues=queue,
        env={**env, "READERSTUDY_TEST_FAULTS": "1"},
        log_name="test-worker-killed.log",
    )
    second = None
    try:
        tasks.import_cohort_archive.apply_async(args=[job.pk], queue=queue)
        unpacked = work_dir / f"import-{job.pk}-1" / "cohort" / "manifest.csv"
        wait_for(unpacked.is_file, timeout=120, interval=0.1)  # it is unpacking now
        os.kill(first.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        first.wait(timeout=10)

        # What a killed worker leaves behind: a running job, its files, its archive.
        job.refresh_from_db()
        assert (job.status, job.attempts, job.stage) == (JobStatus.RUNNING, 1, "unpacking")
        assert unpacked.is_file() and archive_file.is_file()

        second = start_worker(
            app="tests.worker_app",
            queues=queue,
            env={**env, "READERSTUDY_TEST_FAULTS": "0"},
            log_name="test-worker-resumer.log",
        )
        detected = wait_for(
            lambda: (
                ImportJob.objects.filter(pk=job.pk).exclude(attempts=1).exists()
                or ImportJob.objects.filter(pk=job.pk, status=JobStatus.RETRYING).exists()
            ),
            timeout=120,
            interval=0.1,
        )
        detected_after = time.monotonic() - killed_at
        wait_for(  # ended, and tidied up: the archive is deleted right after the job ends
            lambda: ImportJob.objects.filter(pk=job.pk, archive="", status__in=JOB_ENDED).exists(),
            timeout=120,
            interval=0.1,
        )
        recovered_after = time.monotonic() - killed_at
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)

    record_property("stale_after_s", stale_after)
    record_property("detected_after_s", round(detected_after, 1))
    record_property("recovered_after_s", round(recovered_after, 1))
    print(  # the figures the issue asks for (pytest -s shows them)
        f"\nkilled worker: job {job.pk} taken up again {detected_after:.1f} s and imported "
        f"{recovered_after:.1f} s after SIGKILL (stale after {stale_after} s, sweep every 1 s)"
    )
    assert detected
    job.refresh_from_db()
    assert (job.status, job.attempts, job.stage, job.error) == (
        JobStatus.SUCCEEDED,
        2,
        "imported",
        "",
    )
    assert Cohort.objects.filter(name=name).count() == 1
    # No temporary files and no archive remain.
    assert list(work_dir.iterdir()) == []
    assert not job.archive and not archive_file.exists()
    uploads = [p for p in stored_files(WORKER_MEDIA) if p.name == archive_file.name]
    assert uploads == []
