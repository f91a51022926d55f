"""Import jobs in-process: the status machine, real retries, recovery of lost jobs, the sweep.

The same behaviour on real worker processes (an injected transient error, a SIGKILLed worker) is
tested in test_import_jobs_worker.py.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from readerstudy.accounts.models import Role, User
from readerstudy.cohorts import services, tasks
from readerstudy.cohorts.models import (
    JOB_ENDED,
    JOB_TRANSITIONS,
    Cohort,
    CTSlice,
    ImportJob,
    JobStatus,
)
from tests.cohort_factory import write_cohort
from tests.conftest import stored_files

pytestmark = pytest.mark.django_db


def cohort_zip_bytes(tmp_path: Path, name: str = "Job cohort") -> bytes:
    import zipfile

    folder = write_cohort(tmp_path / f"src-{uuid.uuid4().hex[:6]}", name=name)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


@pytest.fixture
def queued(tmp_path: Path, make_user: Callable[..., User], monkeypatch) -> Callable[..., ImportJob]:
    """An uploaded, queued job (the task message itself is recorded, not sent)."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.import_cohort_archive, "delay", sent.append)
    user = make_user(Role.COORDINATOR)

    def make(name: str = "job.zip") -> ImportJob:
        upload = SimpleUploadedFile(name, cohort_zip_bytes(tmp_path), "application/zip")
        return services.import_job_create(user=user, upload=upload)

    make.sent = sent  # type: ignore[attr-defined]
    return make


def fail_once(monkeypatch, error: Exception) -> list[int]:
    """Make the step right after unpacking raise ``error`` once (a database that blinked)."""
    calls: list[int] = []
    real = services._cohort_root

    def flaky(extracted: Path, *, shown: str) -> Path:
        calls.append(1)
        if len(calls) == 1:
            raise error
        return real(extracted, shown=shown)

    monkeypatch.setattr(services, "_cohort_root", flaky)
    return calls


def work_folders(work_dir: Path) -> list[Path]:
    return sorted(work_dir.glob("import-*"))


# --- the status machine ---------------------------------------------------------------------


def test_ended_statuses_have_no_way_out_and_every_status_has_a_rule() -> None:
    assert set(JOB_TRANSITIONS) == {status.value for status in JobStatus}
    assert {JobStatus.SUCCEEDED, JobStatus.FAILED} == JOB_ENDED
    assert JobStatus.RUNNING in JOB_TRANSITIONS[JobStatus.RETRYING]
    assert JobStatus.RETRYING in JOB_TRANSITIONS[JobStatus.RUNNING]


def test_a_change_the_status_machine_forbids_is_refused(queued) -> None:
    job = queued()
    ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    job.refresh_from_db()
    with pytest.raises(ValueError, match="succeeded -> running is not allowed"):
        services._apply_change(job, JobStatus.RUNNING)
    assert services._job_change(job.pk, JobStatus.RUNNING) is None
    assert ImportJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED


def test_a_second_delivery_while_an_attempt_runs_is_a_noop(queued) -> None:
    job = queued()
    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, attempts=1, heartbeat_at=timezone.now()
    )
    before = ImportJob.objects.filter(pk=job.pk).values().get()

    services.import_job_run(job_id=job.pk)

    assert ImportJob.objects.filter(pk=job.pk).values().get() == before
    assert Cohort.objects.count() == 0


# --- transient errors: a real retry -----------------------------------------------------------


@pytest.mark.parametrize("error", [OperationalError("server closed"), InterfaceError("closed")])
def test_transient_database_error_queues_the_job_again_keeping_its_archive(
    queued, monkeypatch, settings, error: Exception
) -> None:
    job = queued()
    fail_once(monkeypatch, error)

    with pytest.raises(services.ImportJobTransientError) as raised:
        services.import_job_run(job_id=job.pk)

    assert (raised.value.attempt, raised.value.retry_in_seconds) == (1, 10)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error, job.finished_at) == (
        JobStatus.RETRYING,
        1,
        "",
        None,
    )
    assert job.stage == "database unavailable; trying again in 10 s (attempt 2 of 3)"
    assert job.archive and default_storage.exists(job.archive.name)  # kept for the retry
    assert work_folders(settings.COHORT_IMPORT_WORK_DIR) == []  # the unpacked copy is gone

    services.import_job_run(job_id=job.pk, retry_of_attempt=raised.value.attempt)

    job.refresh_from_db()
    assert (job.status, job.attempts, job.stage, job.error) == (
        JobStatus.SUCCEEDED,
        2,
        "imported",
        "",
    )
    assert Cohort.objects.count() == 1 and CTSlice.objects.count() == 16
    assert not job.archive
    assert not [p for p in stored_files(settings.MEDIA_ROOT) if "uploads" in p.parts]


def test_the_celery_task_really_retries(queued, monkeypatch) -> None:
    """The task turns the transient error into a Celery retry carrying the attempt number."""
    job = queued()
    calls = fail_once(monkeypatch, OperationalError("server closed"))

    # apply() runs the task eagerly, and Celery runs an eager task's retry at once.
    tasks.import_cohort_archive.apply(args=[job.pk], throw=False)

    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2), job.error
    assert len(calls) == 2
    assert Cohort.objects.count() == 1


def test_task_retries_when_the_database_is_down_before_the_attempt_begins(
    queued, monkeypatch
) -> None:
    job = queued()
    real_claim = services._job_claim
    calls: list[int] = []

    def claim_once_down(job_id: int, retry_of_attempt: int | None):
        calls.append(job_id)
        if len(calls) == 1:
            raise OperationalError("could not connect to server")
        return real_claim(job_id, retry_of_attempt)

    monkeypatch.setattr(services, "_job_claim", claim_once_down)
    tasks.import_cohort_archive.apply(args=[job.pk], throw=False)

    job.refresh_from_db()
    assert (job.status, job.attempts, len(calls)) == (JobStatus.SUCCEEDED, 1, 2)


def test_retry_takes_over_the_attempt_it_retries_when_the_database_stayed_down(queued) -> None:
    """If even recording the retry failed, the job still says running: the retry may take it."""
    job = queued()
    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, attempts=1, heartbeat_at=timezone.now()
    )

    services.import_job_run(job_id=job.pk, retry_of_attempt=1)

    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)


def test_transient_error_on_the_last_attempt_ends_the_job(queued, monkeypatch, settings) -> None:
    settings.COHORT_IMPORT_MAX_ATTEMPTS = 2
    job = queued()

    def always_down(extracted: Path, *, shown: str) -> Path:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(services, "_cohort_root", always_down)
    with pytest.raises(services.ImportJobTransientError):
        services.import_job_run(job_id=job.pk)
    services.import_job_run(job_id=job.pk, retry_of_attempt=1)  # no exception: ended for good

    job.refresh_from_db()
    assert (job.status, job.attempts, job.stage) == (JobStatus.FAILED, 2, "failed")
    assert job.error == (
        "the database was unavailable on each of 2 attempts; nothing was imported. "
        "Upload the archive again later."
    )
    assert not job.archive and job.finished_at is not None
    assert work_folders(settings.COHORT_IMPORT_WORK_DIR) == []


# --- lost workers and the sweep -------------------------------------------------------------


def lost_attempt(job: ImportJob, work_dir: Path, *, attempts: int = 1, age_s: float = 3600):
    """The state a killed worker leaves: running, an old heartbeat, a full work folder."""
    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING,
        attempts=attempts,
        started_at=timezone.now() - timedelta(seconds=age_s),
        heartbeat_at=timezone.now() - timedelta(seconds=age_s),
        stage="unpacking",
    )
    folder = work_dir / f"import-{job.pk}-{attempts}" / "cohort"
    folder.mkdir(parents=True)
    (folder / "big.dcm").write_bytes(b"\0" * 1024)
    return folder.parent


def test_sweep_resumes_a_job_whose_worker_stopped(queued, settings) -> None:
    job = queued()
    queued.sent.clear()
    folder = lost_attempt(job, settings.COHORT_IMPORT_WORK_DIR)

    report = services.import_job_sweep()

    assert report.resumed == (job.pk,) and report.failed == ()
    assert queued.sent == [job.pk]  # queued again
    assert not folder.exists()
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.RETRYING, 1)
    assert job.stage == "the worker stopped; resuming (attempt 2 of 3)"
    assert job.archive and default_storage.exists(job.archive.name)

    services.import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.attempts, job.error) == (JobStatus.SUCCEEDED, 2, "")
    assert not job.archive and work_folders(settings.COHORT_IMPORT_WORK_DIR) == []


def test_redelivered_task_takes_over_a_stale_job_without_the_sweep(queued, settings) -> None:
    job = queued()
    lost_attempt(job, settings.COHORT_IMPORT_WORK_DIR)

    services.import_job_run(job_id=job.pk)  # the broker's redelivery after its timeout

    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
    assert work_folders(settings.COHORT_IMPORT_WORK_DIR) == []


def test_sweep_leaves_a_live_job_alone(queued, settings) -> None:
    job = queued()
    queued.sent.clear()
    folder = lost_attempt(job, settings.COHORT_IMPORT_WORK_DIR, age_s=1)

    report = services.import_job_sweep()

    assert report == services.SweepReport((), (), (), 0, 0)
    assert folder.is_dir() and queued.sent == []
    assert ImportJob.objects.get(pk=job.pk).status == JobStatus.RUNNING


def test_sweep_fails_a_job_that_lost_its_worker_on_every_attempt(queued, settings) -> None:
    job = queued()
    queued.sent.clear()
    folder = lost_attempt(job, settings.COHORT_IMPORT_WORK_DIR, attempts=3)

    report = services.import_job_sweep()

    assert report.failed == (job.pk,) and report.resumed == ()
    job.refresh_from_db()
    assert (job.status, job.stage) == (JobStatus.FAILED, "failed")
    assert job.error.startswith(
        "the worker running this import stopped 3 times before finishing (for example, it was "
        "restarted or ran out of memory); nothing was imported."
    )
    assert str(settings.COHORT_IMPORT_WORK_DIR) not in job.error
    assert not folder.exists() and not job.archive and queued.sent == []


def test_sweep_removes_what_ended_jobs_left_behind(queued, settings, media_root: Path) -> None:
    work_dir = Path(settings.COHORT_IMPORT_WORK_DIR)
    ended = queued("ended.zip")
    ImportJob.objects.filter(pk=ended.pk).update(status=JobStatus.FAILED)  # archive still there
    running = queued("running.zip")
    live = lost_attempt(running, work_dir, attempts=2, age_s=1)
    leftovers = [
        work_dir / f"import-{ended.pk}-1",  # an ended job
        work_dir / f"import-{running.pk}-1",  # an earlier attempt of a running job
        work_dir / "import-999999-1",  # a job that no longer exists
    ]
    for folder in leftovers:
        (folder / "cohort").mkdir(parents=True)
    unrelated = work_dir / "notes"
    unrelated.mkdir()

    report = services.import_job_sweep()

    assert (report.folders_removed, report.archives_removed) == (3, 1)
    assert [folder for folder in leftovers if folder.exists()] == []
    assert live.is_dir() and unrelated.is_dir()
    ended.refresh_from_db()
    assert not ended.archive
    uploads = [p.name for p in stored_files(media_root) if "uploads" in p.parts]
    assert uploads == [f"import-{running.pk}.zip"]


def test_sweep_sends_again_a_queued_job_whose_message_was_lost(queued, settings) -> None:
    job = queued()  # its task message never reached a worker
    recent = queued()
    queued.sent.clear()
    long_ago = timezone.now() - timedelta(seconds=settings.COHORT_IMPORT_STALE_AFTER_SECONDS + 1)
    ImportJob.objects.filter(pk=job.pk).update(created_at=long_ago)

    assert services.import_job_sweep().requeued == (job.pk,)
    assert services.import_job_sweep().requeued == ()  # once per stale period, not each sweep

    assert queued.sent == [job.pk]
    assert ImportJob.objects.get(pk=recent.pk).heartbeat_at is None
    services.import_job_run(job_id=job.pk)
    assert ImportJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED


def test_sweep_command_reports_what_it_did(queued, settings, capsys) -> None:
    job = queued()
    lost_attempt(job, settings.COHORT_IMPORT_WORK_DIR)
    call_command("sweep_import_jobs")
    assert capsys.readouterr().out.strip() == (
        f"resumed 1 job(s) [{job.pk}], failed 0 job(s) [], queued 0 waiting job(s) again [], "
        "removed 0 work folder(s) and 0 archive(s)"
    )
